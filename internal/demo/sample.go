// Package demo holds what `creditgate demo` and `creditgate trigger` need without
// Stripe: Stripe-shaped sample events signed like Stripe signs them, and a small
// backend that verifies creditgate's signature and keeps balances.
package demo

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"time"

	"github.com/creditgate/creditgate/internal/outcome"
)

// Session describes a sample Checkout Session event.
type Session struct {
	EventID       string // default: a fresh evt_...
	Type          string // default checkout.session.completed
	SessionID     string // default: a fresh cs_test_...
	UserID        string // metadata.user_id (and client_reference_id)
	Credits       string // metadata.credits, as Stripe carries it: a string
	Customer      string // default: a fresh cus_...
	PaymentStatus string // default paid
	Livemode      bool
	APIVersion    string // default 2024-06-20
	Created       time.Time
	AmountTotal   int64 // default 999
	Currency      string
	Account       string // the connected account (acct_...) of a Connect event; "": the platform's
}

// NewID returns prefix + 24 random hex characters, like Stripe's ids.
func NewID(prefix string) string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// Event returns the JSON body of the event, shaped like Stripe's.
func (s Session) Event() []byte {
	if s.EventID == "" {
		s.EventID = NewID("evt_")
	}
	if s.Type == "" {
		s.Type = outcome.EventSessionCompleted
	}
	if s.SessionID == "" {
		s.SessionID = NewID("cs_test_")
	}
	if s.Customer == "" {
		s.Customer = NewID("cus_")
	}
	if s.PaymentStatus == "" {
		s.PaymentStatus = "paid"
	}
	if s.APIVersion == "" {
		s.APIVersion = "2024-06-20"
	}
	if s.Created.IsZero() {
		s.Created = time.Now()
	}
	if s.AmountTotal == 0 {
		s.AmountTotal = 999
	}
	if s.Currency == "" {
		s.Currency = "eur"
	}
	meta := map[string]string{}
	if s.UserID != "" {
		meta["user_id"] = s.UserID
	}
	if s.Credits != "" {
		meta["credits"] = s.Credits
	}
	var clientRef any
	if s.UserID != "" {
		clientRef = s.UserID
	}
	status := "complete"
	pi := any(NewID("pi_"))
	if s.PaymentStatus == "no_payment_required" {
		pi = nil
	}
	ev := map[string]any{
		"id":               s.EventID,
		"object":           "event",
		"api_version":      s.APIVersion,
		"created":          s.Created.Unix(),
		"livemode":         s.Livemode,
		"pending_webhooks": 1,
		"request":          map[string]any{"id": nil, "idempotency_key": nil},
		"type":             s.Type,
		"data": map[string]any{"object": map[string]any{
			"id":                  s.SessionID,
			"object":              "checkout.session",
			"amount_subtotal":     s.AmountTotal,
			"amount_total":        s.AmountTotal,
			"client_reference_id": clientRef,
			"currency":            s.Currency,
			"customer":            s.Customer,
			"customer_details":    map[string]any{"email": "jenny.rosen@example.com", "name": "Jenny Rosen"},
			"livemode":            s.Livemode,
			"metadata":            meta,
			"mode":                "payment",
			"payment_intent":      pi,
			"payment_status":      s.PaymentStatus,
			"status":              status,
			"success_url":         "https://example.com/success",
		}},
	}
	if s.Account != "" {
		ev["account"] = s.Account
	}
	b, _ := json.MarshalIndent(ev, "", "  ")
	return b
}
