package forward

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/creditgate/creditgate/internal/plainjson"
)

// Request types, the value of Request.Type.
const (
	// TypeGranted adds credits for a paid purchase; Credits is positive.
	TypeGranted = "credit.granted"
	// TypeReversed takes credits back after a refund or dispute; Credits is negative.
	TypeReversed = "credit.reversed"
)

// maxIDLen bounds Request.ID, which travels as the Idempotency-Key header.
const maxIDLen = 255

// Request is the JSON body creditgate sends to the backend (docs/design.md §5). Fields marshal in
// the order declared here; OccurredAt always marshals as RFC 3339 in UTC, whole seconds.
type Request struct {
	// ID is the idempotency key, sent again as the Idempotency-Key header: the Checkout
	// Session id (cs_...) for a grant, the Stripe event id (evt_...) for a reversal.
	ID string `json:"id"`
	// Type is TypeGranted or TypeReversed.
	Type string `json:"type"`
	// UserID is the backend's user id, validated by the extraction stage.
	UserID string `json:"user_id"`
	// Credits is the amount to add; negative for a reversal, never zero.
	Credits int64 `json:"credits"`
	// Livemode is the Stripe mode of the event.
	Livemode bool `json:"livemode"`
	// OccurredAt is when Stripe created the event.
	OccurredAt time.Time `json:"occurred_at"`
	// Stripe points back at the Stripe objects, for the backend's records.
	Stripe StripeRef `json:"stripe"`
}

// StripeRef names the Stripe objects a Request came from. Empty optional fields are left
// out of the JSON.
type StripeRef struct {
	// EventID is the Stripe event id (evt_...).
	EventID string `json:"event_id"`
	// EventType is the Stripe event type, e.g. "checkout.session.completed".
	EventType string `json:"event_type"`
	// SessionID is the Checkout Session (cs_...) of the purchase.
	SessionID string `json:"session_id"`
	// InvoiceID is the invoice (in_...) of a subscription period; SessionID is then "".
	InvoiceID string `json:"invoice_id,omitempty"`
	// CustomerID is the Stripe customer (cus_...), when there is one.
	CustomerID string `json:"customer_id,omitempty"`
	// PaymentIntentID is the PaymentIntent (pi_...), when there is one.
	PaymentIntentID string `json:"payment_intent_id,omitempty"`
	// AmountTotal is the amount in the currency's smallest unit.
	AmountTotal int64 `json:"amount_total"`
	// Currency is the lower-case ISO currency code, e.g. "eur".
	Currency string `json:"currency,omitempty"`
	// Account is the connected account (acct_...), for Connect events.
	Account string `json:"account,omitempty"`
}

// MarshalJSON writes the fields in declaration order with OccurredAt normalized to UTC
// and truncated to whole seconds, so every copy of a Request (the wire, the dead-letter
// list, a replay) has the same bytes.
func (r Request) MarshalJSON() ([]byte, error) { return r.marshal() }

// marshal is MarshalJSON's work. Send calls it directly: json.Marshal(r) would take
// the same bytes and then validate and copy them once more, as it does with the
// output of every MarshalJSON method. When every string is plain (plainjson.Is: ids,
// Stripe's words, a user id of a uuid format) it writes the bytes by hand, else
// through encoding/json; FuzzRequestJSON holds the two equal.
func (r Request) marshal() ([]byte, error) {
	r.OccurredAt = r.OccurredAt.UTC().Truncate(time.Second)
	if !r.plain() {
		type plain Request // same fields, no MarshalJSON method
		return json.Marshal(plain(r))
	}
	s := &r.Stripe
	// Room for the keys, punctuation, numbers and time (under 320 bytes) and the strings.
	b := make([]byte, 0, 320+len(r.ID)+len(r.Type)+len(r.UserID)+len(s.EventID)+len(s.EventType)+len(s.SessionID)+
		len(s.InvoiceID)+len(s.CustomerID)+len(s.PaymentIntentID)+len(s.Currency)+len(s.Account))
	b = plainjson.String(append(b, '{'), "id", r.ID)
	b = plainjson.String(append(b, ','), "type", r.Type)
	b = plainjson.String(append(b, ','), "user_id", r.UserID)
	b = plainjson.Int(append(b, ','), "credits", r.Credits)
	b = plainjson.Bool(append(b, ','), "livemode", r.Livemode)
	b = append(b, `,"occurred_at":"`...)
	b = append(r.OccurredAt.AppendFormat(b, time.RFC3339Nano), `","stripe":{`...)
	b = plainjson.String(b, "event_id", s.EventID)
	b = plainjson.String(append(b, ','), "event_type", s.EventType)
	b = plainjson.String(append(b, ','), "session_id", s.SessionID)
	b = plainjson.Omitempty(b, "invoice_id", s.InvoiceID)
	b = plainjson.Omitempty(b, "customer_id", s.CustomerID)
	b = plainjson.Omitempty(b, "payment_intent_id", s.PaymentIntentID)
	b = plainjson.Int(append(b, ','), "amount_total", s.AmountTotal)
	b = plainjson.Omitempty(b, "currency", s.Currency)
	b = plainjson.Omitempty(b, "account", s.Account)
	return append(b, "}}"...), nil
}

// plain reports whether marshal may write r by hand: every string plain, and a year
// that encoding/json accepts (0 to 9999; it refuses others).
func (r Request) plain() bool {
	s := &r.Stripe
	y := r.OccurredAt.Year()
	return y >= 0 && y <= 9999 && plainjson.All(r.ID, r.Type, r.UserID, s.EventID, s.EventType,
		s.SessionID, s.InvoiceID, s.CustomerID, s.PaymentIntentID, s.Currency, s.Account)
}

// Validate reports the first problem that makes r unsendable: an ID that cannot be an
// Idempotency-Key header (empty, longer than 255 bytes, not printable ASCII without
// spaces), an unknown Type, an empty UserID or EventID, or Credits whose sign does not
// match the Type. Send calls it; the error wraps ErrRejected and ErrInvalid.
func (r Request) Validate() error {
	switch {
	case r.ID == "":
		return invalid("id is empty")
	case len(r.ID) > maxIDLen:
		return invalid("id is longer than %d bytes", maxIDLen)
	case !headerSafe(r.ID):
		return invalid("id has characters outside printable ASCII")
	case r.UserID == "":
		return invalid("user_id is empty")
	case r.Stripe.EventID == "":
		return invalid("stripe.event_id is empty")
	}
	switch r.Type {
	case TypeGranted:
		if r.Credits <= 0 {
			return invalid("credits must be positive for %s, got %d", TypeGranted, r.Credits)
		}
	case TypeReversed:
		if r.Credits >= 0 {
			return invalid("credits must be negative for %s, got %d", TypeReversed, r.Credits)
		}
	default:
		return invalid("unknown type %q", r.Type)
	}
	return nil
}

// headerSafe reports whether s is visible ASCII (0x21..0x7e), safe as a header value.
func headerSafe(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// invalidError is a Request that was never sent. It is both ErrInvalid and ErrRejected:
// retrying cannot fix it, so it belongs in the dead-letter list.
type invalidError struct{ msg string }

func invalid(format string, args ...any) error {
	return &invalidError{msg: fmt.Sprintf(format, args...)}
}

func (e *invalidError) Error() string { return ErrInvalid.Error() + ", not sent: " + e.msg }

func (e *invalidError) Is(target error) bool { return target == ErrInvalid || target == ErrRejected }
