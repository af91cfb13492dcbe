// Package outcome is the vocabulary of creditgate's answers: the Result Stripe gets
// (its status word and its one HTTP status), the bounded Reason that says why (a
// metric label, a log field, a dead-letter entry's reason), and the words of Stripe's
// events the routes are configured with (event types, user and credit sources).
//
// It owns words, not behaviour: every package that answers, parks, counts or
// configures names things from here, so a word is declared once. It imports nothing of
// creditgate's.
package outcome

import "net/http"

// Result is the status word of an answer to Stripe and the metric label `result`.
// The set is closed; every Result has exactly one HTTP status, in Status below, the
// only place where outcomes become HTTP answers.
type Result string

// Results.
const (
	Forwarded          Result = "forwarded"
	Duplicate          Result = "duplicate"
	Ignored            Result = "ignored"
	PendingPayment     Result = "pending_payment"
	DeadLettered       Result = "dead_lettered"
	InFlight           Result = "in_flight"
	BackendUnavailable Result = "backend_unavailable"
	StoreUnavailable   Result = "store_unavailable"
	InvalidSignature   Result = "invalid_signature"
	LivemodeMismatch   Result = "livemode_mismatch"
	MalformedEvent     Result = "malformed_event"
	TooLarge           Result = "too_large"
	NotFound           Result = "not_found"
	MethodNotAllowed   Result = "method_not_allowed"
	// Overloaded: the server's in-flight body budget is spent; Stripe retries.
	Overloaded Result = "overloaded"
	// Cancelled: the caller hung up (or the shutdown grace ran out) before the
	// delivery was settled; nothing was credited, the claims are released, and no
	// dependency is to blame.
	Cancelled Result = "cancelled"
)

// AllResults lists every Result, for metrics initialisation and tests.
var AllResults = []Result{
	Forwarded, Duplicate, Ignored, PendingPayment, DeadLettered, InFlight,
	BackendUnavailable, StoreUnavailable, InvalidSignature, LivemodeMismatch,
	MalformedEvent, TooLarge, NotFound, MethodNotAllowed,
	Overloaded, Cancelled,
}

// Status is the HTTP status Stripe gets for r. A 2xx means "do not send this again",
// so it is given only when the credit is delivered, was delivered before, is
// deliberately ignored, or is parked durably in the dead-letter list.
func (r Result) Status() int {
	switch r {
	case Forwarded, Duplicate, Ignored, PendingPayment, DeadLettered:
		return http.StatusOK
	case InFlight:
		return http.StatusConflict
	case BackendUnavailable, StoreUnavailable, Overloaded, Cancelled:
		return http.StatusServiceUnavailable
	case InvalidSignature, LivemodeMismatch, MalformedEvent:
		return http.StatusBadRequest
	case TooLarge:
		return http.StatusRequestEntityTooLarge
	case NotFound:
		return http.StatusNotFound
	case MethodNotAllowed:
		return http.StatusMethodNotAllowed
	}
	return http.StatusInternalServerError
}

// Word is the status word of the answer's body: the Result itself.
func (r Result) Word() string { return string(r) }
