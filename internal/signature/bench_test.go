package signature

import (
	"testing"
	"time"

	"github.com/stripe/stripe-go/v76/webhook"
)

// BenchmarkVerify verifies a ~3 KB event: with one secret, and mid-rotation with two
// secrets and two v1 values (the worst case the contract expects).
func BenchmarkVerify(b *testing.B) {
	payload := bigPayload()
	b.Run("one-secret", func(b *testing.B) {
		header, keys := stripeSigned(payload, secretA, now), secrets(secretA)
		b.SetBytes(int64(len(payload)))
		b.ReportAllocs()
		for b.Loop() {
			if err := Verify(payload, header, keys, 0, now); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("rotation", func(b *testing.B) {
		header := stripeSigned(payload, secretB, now) + ",v1=" + stripeV1(payload, secretA, now)
		keys := secrets(secretA, secretB)
		b.SetBytes(int64(len(payload)))
		b.ReportAllocs()
		for b.Loop() {
			if err := Verify(payload, header, keys, 0, now); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("stripe-go-ValidatePayload", func(b *testing.B) { // for comparison
		header := stripeSigned(payload, secretA, time.Now())
		b.SetBytes(int64(len(payload)))
		b.ReportAllocs()
		for b.Loop() {
			if err := webhook.ValidatePayload(payload, header, secretA); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkMAC compares the pooled HMAC with stripe-go's ComputeSignature on ~3 KB.
func BenchmarkMAC(b *testing.B) {
	payload := bigPayload()
	b.Run("pooled", func(b *testing.B) {
		b.SetBytes(int64(len(payload)))
		b.ReportAllocs()
		for b.Loop() {
			st := getMAC()
			st.sum(secretA, now.Unix(), payload)
			putMAC(st)
		}
	})
	b.Run("stripe-go-ComputeSignature", func(b *testing.B) {
		b.SetBytes(int64(len(payload)))
		b.ReportAllocs()
		for b.Loop() {
			webhook.ComputeSignature(now, payload, secretA)
		}
	})
}

func BenchmarkSign(b *testing.B) {
	payload, keys := bigPayload(), secrets(secretA, secretB)
	b.SetBytes(int64(len(payload)))
	b.ReportAllocs()
	for b.Loop() {
		Sign(payload, keys, now)
	}
}

func BenchmarkParseHeader(b *testing.B) {
	header := stripeSigned(event, secretA, now) + ",v0=" + stripeV1(event, secretB, now)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseHeader(header); err != nil {
			b.Fatal(err)
		}
	}
}
