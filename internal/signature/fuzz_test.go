package signature

import (
	"bytes"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v76/webhook"
)

var sentinels = []error{ErrNotSigned, ErrInvalidHeader, ErrNoValidSignature, ErrTooOld, ErrTooNew}

func isSentinel(err error) bool {
	for _, s := range sentinels {
		if errors.Is(err, s) {
			return true
		}
	}
	return false
}

// FuzzParseHeader: no panic; a success has t >= 0 and 1..MaxSignatures v1 that all
// appear in the header; a failure is one of the sentinels.
// Seeds are in testdata/fuzz/FuzzParseHeader.
func FuzzParseHeader(f *testing.F) {
	f.Fuzz(func(t *testing.T, header string) {
		h, err := ParseHeader(header)
		if err != nil {
			if !isSentinel(err) {
				t.Fatalf("error %v is not a sentinel", err)
			}
			return
		}
		if len(header) > MaxHeaderBytes {
			t.Fatalf("accepted a header of %d bytes", len(header))
		}
		if h.Timestamp < 0 {
			t.Fatalf("negative timestamp %d", h.Timestamp)
		}
		if n := len(h.V1()); n < 1 || n > MaxSignatures {
			t.Fatalf("%d v1 values", n)
		}
		lower := strings.ToLower(header)
		for _, sig := range h.V1() {
			if !strings.Contains(lower, "v1="+hex.EncodeToString(sig[:])) {
				t.Fatalf("v1 %x is not in the header", sig)
			}
		}
	})
}

// FuzzVerify: no panic; the pooled HMAC equals stripe-go's; Sign always round-trips
// through Verify and stripe-go; a parse failure is Verify's error; and Verify accepts a
// header only if it carries the true v1 of payload under key.
func FuzzVerify(f *testing.F) {
	f.Add(stripeSigned(event, secretA, now), event, secretA)
	f.Add(stripeSigned(event, secretA, now)+",v1="+stripeV1(event, secretB, now), event, secretB)
	f.Add("t=1700000000,v0=00", []byte("{}"), "k")
	f.Add("t=1,t=2,v1=", []byte(nil), "")
	f.Add(" t=0 ,v1="+strings.Repeat("A", 64), []byte("x"), strings.Repeat("k", 65))
	f.Fuzz(func(t *testing.T, header string, payload []byte, key string) {
		ts := now.Unix()
		h, perr := ParseHeader(header)
		if perr == nil {
			ts = h.Timestamp
		}
		clock := now
		if ts <= maxTimestamp {
			clock = time.Unix(ts, 0)
		}

		want := webhook.ComputeSignature(time.Unix(ts, 0), payload, key)
		st := getMAC()
		got := *st.sum(key, ts, payload)
		putMAC(st)
		if !bytes.Equal(got[:], want) {
			t.Fatalf("HMAC %x, stripe-go %x", got, want)
		}

		if key != "" {
			signed := Sign(payload, secrets(key), clock)
			if err := Verify(payload, signed, secrets(key), 0, clock); err != nil {
				t.Fatalf("Sign did not round-trip: %v", err)
			}
			if err := webhook.ValidatePayloadIgnoringTolerance(payload, signed, key); err != nil {
				t.Fatalf("stripe-go rejects Sign: %v", err)
			}
		}

		err := Verify(payload, header, secrets(key), 0, clock)
		switch {
		case perr != nil:
			if err != perr {
				t.Fatalf("Verify = %v, ParseHeader = %v", err, perr)
			}
		case err == nil:
			if key == "" {
				t.Fatal("verified with an empty secret")
			}
			if !strings.Contains(strings.ToLower(header), "v1="+hex.EncodeToString(want)) {
				t.Fatal("verified a header that lacks the true v1")
			}
		case !isSentinel(err):
			t.Fatalf("error %v is not a sentinel", err)
		}
	})
}
