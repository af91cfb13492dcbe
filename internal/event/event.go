// Package event owns the small, API-version-agnostic view of a Stripe event that
// creditgate works with after the signature has been verified.
//
// Decode reads only the handful of fields creditgate needs (the event envelope and a
// few fields of data.object) straight from the raw body bytes with encoding/json. It
// never looks at api_version, so events rendered for any Stripe API version, old style
// ("2020-08-27") or new style ("2025-03-31.basil"), decode the same way. Unknown
// fields, null fields and missing optional fields are fine; only a body that cannot be
// a Stripe event is rejected, with an error that wraps ErrMalformed.
//
// Security note: Decode is meant to run after the Stripe-Signature has been verified,
// but it is safe on arbitrary bytes (it is fuzzed): it does not panic, its memory use
// is proportional to the input, and its error messages never quote more than a few
// bytes of the payload.
package event

import "errors"

// ErrMalformed means the body is not a Stripe event. Every error returned by Decode
// wraps it (test with errors.Is); the message after it says precisely what is wrong,
// for the operator, without echoing the payload.
var ErrMalformed = errors.New("not a stripe event")

// MaxTokenLen is the most bytes an identifier may have: the event id and type, the
// account, and the ids of data.object, its customer and its payment_intent. Stripe's
// own identifiers are far shorter.
const MaxTokenLen = 255

// View is the part of a Stripe event that creditgate uses. The zero value is not a
// valid event: a View returned by Decode without error always has ID and Type set.
type View struct {
	// ID is the event id (evt_...). Never empty.
	ID string
	// Type is the event type, e.g. "checkout.session.completed". Never empty.
	Type string
	// APIVersion is api_version as sent; it may be empty and is never validated.
	APIVersion string
	// Created is the event's creation time in unix seconds; 0 when absent.
	Created int64
	// Livemode reports a live-mode event; false when absent or null.
	Livemode bool
	// Account is the Connect account (acct_...) the event belongs to; empty for
	// events of the platform account itself.
	Account string
	// Object is the view of data.object.
	Object Object
}

// Object is the part of data.object that creditgate uses. Which fields are set
// depends on the object: a checkout.session has all of them, a charge has no Mode
// and no PaymentStatus, a balance has not even an ID. Absent and null fields are the
// zero value.
type Object struct {
	// ID is the object's id (cs_..., ch_..., pi_...); empty when the object has none.
	ID string
	// Object is the object's type, e.g. "checkout.session" or "charge".
	Object string
	// ClientReferenceID is the checkout session's client_reference_id.
	ClientReferenceID string
	// Customer is the customer id (cus_...), also when the event carries the customer
	// as an expanded object ({"id": "cus_...", ...}); empty when null or absent.
	Customer string
	// PaymentIntent is the PaymentIntent id (pi_...), by the same rule as Customer.
	// Newer API versions may send null on checkout sessions.
	PaymentIntent string
	// PaymentStatus is a checkout session's payment_status: "paid", "unpaid" or
	// "no_payment_required".
	PaymentStatus string
	// Status is the object's status, e.g. "complete" or "succeeded".
	Status string
	// Mode is a checkout session's mode: "payment", "subscription" or "setup".
	Mode string
	// AmountTotal is amount_total in the currency's smallest unit (cents).
	AmountTotal int64
	// Currency is the lowercase ISO currency code, e.g. "eur".
	Currency string
	// Amount is a charge's or dispute's amount in the currency's smallest unit.
	Amount int64
	// AmountRefunded is a charge's amount_refunded: cumulative, every refund so far.
	AmountRefunded int64
	// Refunded reports a charge refunded in full.
	Refunded bool
	// AmountCaptured is a charge's amount_captured: less than Amount after a partial
	// capture.
	AmountCaptured int64
	// Created is the object's own created (unix seconds), e.g. when a refund was made.
	Created int64
	// Metadata holds the object's metadata. Only string values are kept: Stripe
	// metadata values are always strings, so a null, number, boolean, array or object
	// value is dropped rather than guessed at. Nil when there is no string value.
	Metadata map[string]string
}
