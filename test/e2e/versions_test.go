package e2e

import (
	"encoding/json"
	"testing"
)

// TestEveryAPIVersion delivers the real-shaped fixtures of every API version, signed
// with stripe-go, through the real program: each is credited with its own user and
// credits, whatever its api_version.
func TestEveryAPIVersion(t *testing.T) {
	requireRedis(t)
	cases := []struct {
		file    string
		user    string
		credits int64
	}{
		{"checkout_session_completed_paid_2020-08-27.json", "e747de39-1b54-4cd0-96eb-e68f155931e2", 100},
		{"checkout_session_completed_paid_2023-10-16.json", "e747de39-1b54-4cd0-96eb-e68f155931e2", 250},
		{"checkout_session_completed_paid_2024-06-20.json", "e747de39-1b54-4cd0-96eb-e68f155931e2", 100}, // client_reference_id only
		{"checkout_session_completed_paid_2025-03-31.basil.json", "e747de39-1b54-4cd0-96eb-e68f155931e2", 500},
		{"checkout_session_completed_paid_2026-dahlia.json", "e747de39-1b54-4cd0-96eb-e68f155931e2", 1000}, // payment_intent null
		{"checkout_session_completed_expanded_customer.json", "e747de39-1b54-4cd0-96eb-e68f155931e2", 100},
		{"checkout_session_async_payment_succeeded.json", "5c2e1a94-7b3f-4d8e-a6c0-91f4d2b3e8a7", 200},
	}
	b := newBackend(t)
	p := startProxy(t, b, options{})
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			raw := fixture(t, c.file) // the file's exact bytes, as Stripe would send them
			var ev struct {
				Data struct {
					Object struct {
						ID string `json:"id"`
					} `json:"object"`
				} `json:"data"`
			}
			must(t, json.Unmarshal(raw, &ev))
			a := p.deliver(raw)
			if a.Code != 200 || a.Status != "forwarded" {
				t.Fatalf("answer %d %s", a.Code, a.Status)
			}
			got, ok := b.credited()[ev.Data.Object.ID]
			if !ok || got.UserID != c.user || got.Credits != c.credits {
				t.Fatalf("credit = %+v, want user %s credits %d", got, c.user, c.credits)
			}
		})
	}
	// The same user learned through the customer map: a session without user id but
	// with a customer seen before (basil fixture's cus_D0zt9BcyQoAbxN) is credited.
	evt, cs := newIDs()
	mapped := mutate(t, withIDs(t, "checkout_session_completed_paid_2025-03-31.basil.json", evt, cs), func(o, _ map[string]any) {
		delete(o["metadata"].(map[string]any), "user_id")
		o["client_reference_id"] = nil
	})
	if a := p.deliver(mapped); a.Status != "forwarded" {
		t.Fatalf("customer_map delivery: %s", a.Status)
	}
	if got := b.credited()[cs]; got.UserID != "e747de39-1b54-4cd0-96eb-e68f155931e2" {
		t.Fatalf("customer_map credit = %+v", got)
	}
}
