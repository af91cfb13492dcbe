package signature

import (
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v76/webhook"
)

func TestSignRoundTrip(t *testing.T) {
	for _, keys := range [][]string{{secretA}, {secretA, secretB}, {secretB, secretA, secretC}} {
		header := Sign(event, secrets(keys...), now)
		for _, k := range keys {
			if err := Verify(event, header, secrets(k), 0, now); err != nil {
				t.Errorf("Sign with %d keys, Verify with one of them: %v", len(keys), err)
			}
		}
		if err := Verify(event, header, secrets("whsec_other"), 0, now); !errors.Is(err, ErrNoValidSignature) {
			t.Errorf("Verify with a key not signed with: %v, want ErrNoValidSignature", err)
		}
		if err := Verify(append([]byte(" "), event...), header, secrets(keys...), 0, now); !errors.Is(err, ErrNoValidSignature) {
			t.Errorf("Verify of another payload: %v, want ErrNoValidSignature", err)
		}
	}
}

func TestSignSeveralKeysInOrder(t *testing.T) {
	header := Sign(event, secrets(secretA, secretB, secretC), now)
	want := "t=1700000000" +
		",v1=" + stripeV1(event, secretA, now) +
		",v1=" + stripeV1(event, secretB, now) +
		",v1=" + stripeV1(event, secretC, now)
	if header != want {
		t.Errorf("Sign() =\n%s\nwant\n%s", header, want)
	}
	if !regexp.MustCompile(`^t=\d+(,v1=[0-9a-f]{64}){3}$`).MatchString(header) {
		t.Errorf("Sign() = %q, not in Stripe's format", header)
	}
}

func TestSignTruncatesToSeconds(t *testing.T) {
	if a, b := Sign(event, secrets(secretA), now), Sign(event, secrets(secretA), now.Add(999*time.Millisecond)); a != b {
		t.Errorf("sub-second times sign differently: %s vs %s", a, b)
	}
}

func TestSignNoKeys(t *testing.T) {
	header := Sign(event, nil, now)
	if header != "t=1700000000" {
		t.Errorf("Sign() with no keys = %q", header)
	}
	if err := Verify(event, header, secrets(secretA), 0, now); err == nil {
		t.Error("a header without v1 verified")
	}
}

// TestSignAcceptedByStripe is the contract with the backend: stripe-go's own webhook
// helper accepts what Sign produces, with one key and with each of two keys.
func TestSignAcceptedByStripe(t *testing.T) {
	payload := bigPayload()
	for _, keys := range [][]string{{secretA}, {secretA, secretB}} {
		header := Sign(payload, secrets(keys...), time.Now())
		for _, k := range keys {
			if err := webhook.ValidatePayload(payload, header, k); err != nil {
				t.Errorf("stripe-go rejects Sign with %d keys for key %s…: %v", len(keys), k[:12], err)
			}
		}
		if err := webhook.ValidatePayload(payload, header, secretC); err == nil {
			t.Error("stripe-go accepts a key that was not signed with")
		}
		if strings.Count(header, ",v1=") != len(keys) {
			t.Errorf("header %q: want %d v1", header, len(keys))
		}
	}
}
