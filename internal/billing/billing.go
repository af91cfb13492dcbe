// Package billing holds Stripe's billing rules as creditgate applies them, apart from
// the pipeline's claim, forward and park plumbing:
//
//   - which Checkout Sessions grant, by mode and payment_status (Session);
//   - which paid invoices grant, by billing_reason and total (Invoice);
//   - which objects make one purchase and so share one purchase key: a Checkout
//     Session, the invoice Checkout creates after a one-time payment
//     (invoice_creation, Payment Links with invoices) and the first invoice of the
//     subscription it started are one purchase, keyed by the session (PurchaseID);
//   - how a Stripe customer maps to a user, and when a second user is a conflict
//     (Conflict);
//   - how long an invoice whose user nobody can name yet is answered "try again"
//     instead of parked (AwaitUser);
//   - how many credits the money that left a purchase stands for, from what Stripe
//     reported about its refunds and disputes, and how long a reversal waits for its
//     purchase (reversal.go: Money, AwaitPurchase).
//
// Everything here is a pure function of what Stripe sent or the API answered: no I/O,
// no store. docs/config.md ("Subscriptions and invoices") and the README's
// "Reversals" are the user's version of these rules; keep them in step.
package billing

import (
	"fmt"
	"time"

	"github.com/creditgate/creditgate/internal/outcome"
)

// Verdict is what a rule decides for one object.
type Verdict int

const (
	// Grant: the object is a paid purchase; credit it once.
	Grant Verdict = iota + 1
	// Pending: paid later (an unpaid session waits for async_payment_succeeded).
	Pending
	// Ignore: nothing to credit, deliberately; Reason says why.
	Ignore
	// Learn: nothing to credit on this object, but it names the buyer: remember the
	// customer's user (a subscription session on a route whose invoices grant).
	Learn
	// Park: Stripe sent something these rules do not know; a human decides.
	Park
)

// Decision is a Verdict with a bounded Reason (a metric label) and an operator Detail.
type Decision struct {
	Verdict Verdict
	Reason  outcome.Reason
	Detail  string
}

// Session facts the session rule reads.
type SessionFacts struct {
	// Completed is true for checkout.session.completed, false for
	// checkout.session.async_payment_succeeded (which always reports a payment).
	Completed     bool
	Mode          string // payment, subscription or setup; "" on very old bodies (payment)
	PaymentStatus string
	// GrantNoPaymentRequired is the route's grant_no_payment_required.
	GrantNoPaymentRequired bool
	// InvoicesGrant: the route handles invoice.paid, so a subscription's invoices
	// carry its credits, its first period included.
	InvoicesGrant bool
}

// Session decides what a Checkout Session event is worth.
//
//	mode subscription, route handles invoice.paid → Learn (the first invoice grants)
//	mode setup                                    → Ignore setup_session (nothing was sold)
//	async_payment_succeeded                       → Grant
//	payment_status paid                           → Grant
//	payment_status unpaid                         → Pending
//	payment_status no_payment_required            → Grant for a payment-mode session on a
//	                                                route with grant_no_payment_required,
//	                                                else Ignore no_payment_required (a trial
//	                                                or a 100 % discount)
//	anything else                                 → Park unknown_payment_status
func Session(f SessionFacts) Decision {
	switch {
	case f.Mode == "subscription" && f.InvoicesGrant:
		return Decision{Learn, outcome.ReasonSubscriptionSession, "subscription checkout: its invoices carry the credits (invoice.paid), the first period included"}
	case f.Mode == "setup":
		return Decision{Ignore, outcome.ReasonSetupSession, "setup-mode checkout sells nothing"}
	case !f.Completed:
		return Decision{Verdict: Grant}
	}
	switch f.PaymentStatus {
	case "paid":
		return Decision{Verdict: Grant}
	case "unpaid":
		return Decision{Pending, outcome.ReasonUnpaid, "session completed, payment pending; waiting for checkout.session.async_payment_succeeded"}
	case "no_payment_required":
		if f.GrantNoPaymentRequired && f.Mode != "subscription" {
			return Decision{Verdict: Grant}
		}
		if f.Mode == "subscription" {
			return Decision{Ignore, outcome.ReasonNoPaymentRequired, "subscription checkout without a payment (a trial): the first paid invoice grants"}
		}
		return Decision{Ignore, outcome.ReasonNoPaymentRequired, "no payment required and the route does not grant free sessions (grant_no_payment_required)"}
	}
	return Decision{Park, outcome.ReasonUnknownPaymentStatus, fmt.Sprintf("payment_status %q is not paid, unpaid or no_payment_required", clip(f.PaymentStatus))}
}

// Invoice is what the invoice rules read of a paid invoice (the API's view, at API
// version 2023-10-16).
type Invoice struct {
	ID            string
	BillingReason string
	Subscription  string
	PaymentIntent string
	// Total is what the period costs after discounts and taxes, before the
	// customer's balance; AmountPaid is what was charged (0 when the balance paid).
	Total      int64
	AmountPaid int64
	// Lines counts the invoice's lines; Prorations how many of them are prorations.
	Lines, Prorations int
}

// Billing reasons, as Stripe names them.
const (
	SubscriptionCreate    = "subscription_create"
	SubscriptionCycle     = "subscription_cycle"
	SubscriptionUpdate    = "subscription_update"
	SubscriptionThreshold = "subscription_threshold"
	SubscriptionLegacy    = "subscription" // before 2018: any subscription invoice
	Manual                = "manual"
	QuoteAccept           = "quote_accept"
	Upcoming              = "upcoming"
	PendingItems          = "automatic_pending_invoice_item_invoice"
)

// InvoicePolicy is the documented policy per billing_reason (docs/config.md shows
// the same table): true grants the invoice's period, false ignores it with
// reason billing_reason. A reason not listed is parked (unknown_billing_reason).
var InvoicePolicy = map[string]bool{
	SubscriptionCreate:    true,  // the first period (its session is the same purchase)
	SubscriptionCycle:     true,  // a renewal, also the first paid period after a trial
	SubscriptionLegacy:    true,  // old API versions' name for both
	SubscriptionUpdate:    true,  // a plan change that starts a new period; proration-only: ignored
	Manual:                true,  // a one-off invoice (or Checkout's post-payment invoice: its session)
	QuoteAccept:           true,  // an accepted quote's invoice
	SubscriptionThreshold: false, // metered usage billed at a threshold: no period bought
	PendingItems:          false, // pending invoice items swept into an invoice
	Upcoming:              false, // a preview, never paid
}

// InvoiceDecision decides what a paid invoice is worth:
//
//	total <= 0                       → Ignore zero_total (a trial's $0 invoice, a 100 % discount);
//	                                   grant_no_payment_required never applies to invoices
//	every line a proration           → Ignore proration (a mid-cycle plan change)
//	billing_reason not granting      → Ignore billing_reason
//	billing_reason unknown           → Park unknown_billing_reason
//	otherwise                        → Grant; amount_paid 0 with total > 0 (paid from the
//	                                   customer's credit balance) is a paid period
func InvoiceDecision(inv Invoice) Decision {
	grants, known := InvoicePolicy[inv.BillingReason]
	switch {
	case !known:
		return Decision{Park, outcome.ReasonUnknownBillingReason, fmt.Sprintf("billing_reason %q has no policy", clip(inv.BillingReason))}
	case !grants:
		return Decision{Ignore, outcome.ReasonBillingReason, fmt.Sprintf("billing_reason %s buys no credits", inv.BillingReason)}
	case inv.Total <= 0:
		return Decision{Ignore, outcome.ReasonZeroTotal, fmt.Sprintf("invoice totals %d (a trial or a full discount): no period was paid", inv.Total)}
	case inv.Lines > 0 && inv.Prorations == inv.Lines:
		return Decision{Ignore, outcome.ReasonProration, "every line is a proration (a mid-cycle plan change): no new period was bought"}
	}
	return Decision{Verdict: Grant}
}

// SessionQuery says how to find the Checkout Session an invoice may belong to:
// by its subscription (any subscription invoice: the session names the buyer), or
// by its PaymentIntent (an invoice Checkout created after a one-time payment). Both
// empty: no session to look for.
func SessionQuery(inv Invoice) (subscription, paymentIntent string) {
	switch {
	case inv.Subscription != "":
		return inv.Subscription, ""
	case inv.PaymentIntent != "" && (inv.BillingReason == Manual || inv.BillingReason == QuoteAccept):
		return "", inv.PaymentIntent
	}
	return "", ""
}

// PurchaseID is the purchase key (and the backend's Idempotency-Key) of a granted
// invoice, given the Checkout Session found for it ("" when none): the session's id
// when the invoice is the same purchase as the session (Checkout's post-payment
// invoice, or the first invoice of the subscription the session started), else the
// invoice's own id (a renewal, a one-off invoice).
func PurchaseID(inv Invoice, sessionID string) string {
	if sessionID != "" && SameAsSession(inv) {
		return sessionID
	}
	return inv.ID
}

// SameAsSession reports whether the invoice, when a Checkout Session is found for it,
// is that session's purchase rather than a purchase of its own.
func SameAsSession(inv Invoice) bool {
	return inv.Subscription == "" || inv.BillingReason == SubscriptionCreate
}

// Conflict reports whether learning user for a customer the map already holds as
// known would redirect the customer: a second user is never taken silently.
func Conflict(known, user string) bool { return known != "" && known != user }

// DefaultUserWait is how long after its subscription started an invoice whose user
// no source names is answered "try again" (Stripe retries) rather than parked.
const DefaultUserWait = 24 * time.Hour

// AwaitUser reports whether an invoice whose user is unknown should be retried by
// Stripe: its subscription started within wait of now (its Checkout Session may not
// have reached creditgate yet). Invoices without a subscription never wait.
func AwaitUser(subscriptionStarted, now time.Time, wait time.Duration) bool {
	if subscriptionStarted.IsZero() {
		return false
	}
	return now.Sub(subscriptionStarted) < wait
}

// clip bounds an untrusted value quoted in an operator message.
func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}
