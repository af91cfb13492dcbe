package outcome

// Reason says why a delivery got its Result: a bounded label for metrics and the
// canonical log line, and a dead-letter entry's reason. Every reason creditgate answers
// or parks with is declared here; Parked lists those of dead_lettered.
type Reason string

// Reasons of a Result that does not credit, by who gives them.
const (
	// The edge (package server): the request itself.
	ReasonRead              Reason = "read"                // malformed_event: the body could not be read
	ReasonDecode            Reason = "decode"              // malformed_event: not a Stripe event
	ReasonBody              Reason = "body"                // too_large
	ReasonInflightBodyBytes Reason = "inflight_body_bytes" // overloaded
	ReasonHeader            Reason = "header"              // invalid_signature: Stripe-Signature twice
	ReasonNotSigned         Reason = "not_signed"
	ReasonInvalidHeader     Reason = "invalid_header"
	ReasonTooOld            Reason = "too_old"
	ReasonTooNew            Reason = "too_new"
	ReasonNoValidSignature  Reason = "no_valid_signature"

	// The route's screen (package pipeline).
	ReasonLivemode          Reason = "livemode"            // livemode_mismatch
	ReasonTestEvent         Reason = "test_event"          // ignored: a test event on a live Connect route
	ReasonEventType         Reason = "event_type"          // ignored: the route does not list the type
	ReasonAccountNotAllowed Reason = "account_not_allowed" // ignored: not in connect_accounts
	ReasonThinNoAPI         Reason = "thin_event_needs_api_key"
	ReasonThinUnknown       Reason = "thin_event_type"
	ReasonStripeHealth      Reason = "stripe_health_event"

	// The claims: duplicate or in_flight by the key that decided.
	ReasonEvent    Reason = "event"
	ReasonPurchase Reason = "purchase"
	ReasonReversal Reason = "reversal" // another reversal of the purchase runs or is unsettled

	// Failures Stripe retries.
	ReasonStore      Reason = "store"       // store_unavailable: the dedup store or the records
	ReasonDeadLetter Reason = "dead_letter" // store_unavailable: the park did not land
	ReasonBackend    Reason = "backend"     // backend_unavailable: the backend did not answer
	// ReasonDeployment marks a backend answer that is a fault of the deployment (a
	// 3xx, 401, 403, 404, ...); Stripe retries until it is fixed.
	ReasonDeployment Reason = "deployment"
	ReasonStripeAPI  Reason = "stripe_api" // backend_unavailable: the Stripe API is out
	// ReasonCancelled marks a failure caused by the request's own cancellation.
	ReasonCancelled Reason = "cancelled"
	// ReasonAwaitingUser answers an invoice of a young subscription whose user no
	// source can name yet (its session has not taught the map): Stripe retries.
	ReasonAwaitingUser Reason = "awaiting_user"
	// ReasonAwaitingPurchase answers a reversal whose purchase is being granted (its
	// grant failed and Stripe retries it): Stripe retries the reversal too.
	ReasonAwaitingPurchase Reason = "awaiting_purchase"

	// Forwarded or settled without a new credit.
	ReasonAlreadyCredited Reason = "already_credited" // the backend answered 409
	ReasonAlreadyApplied  Reason = "already_applied"  // duplicate: the reversal's money is counted
	ReasonNoCreditChange  Reason = "no_credit_change" // ignored: new money fact, same credits

	// The billing rules (package billing): pending_payment or ignored.
	ReasonUnpaid              Reason = "unpaid"
	ReasonNoPaymentRequired   Reason = "no_payment_required"
	ReasonSetupSession        Reason = "setup_session"
	ReasonSubscriptionSession Reason = "subscription_session"
	ReasonZeroTotal           Reason = "zero_total"
	ReasonProration           Reason = "proration"
	ReasonBillingReason       Reason = "billing_reason"
	ReasonRefundNotFailed     Reason = "refund_not_failed"

	// `creditgate reconcile`: the event waits in the dead-letter list.
	ReasonParkedEarlier Reason = "parked_earlier"
	// The dead-letter list: a stored entry that does not decode is shown with it.
	ReasonUndecodable Reason = "undecodable"
)

// Reasons of dead_lettered: the event is parked for a human.
const (
	// Extraction (package extract).
	ReasonNoUserID     Reason = "no_user_id"
	ReasonBadUserID    Reason = "bad_user_id"
	ReasonNoCredits    Reason = "no_credits"
	ReasonBadCredits   Reason = "bad_credits"
	ReasonUnknownPrice Reason = "unknown_price"
	// The backend refused the credit (4xx).
	ReasonBackendRejected Reason = "backend_rejected"
	// The billing rules: something they do not know.
	ReasonUnknownPaymentStatus Reason = "unknown_payment_status"
	ReasonUnknownBillingReason Reason = "unknown_billing_reason"
	ReasonUnknownDisputeStatus Reason = "unknown_dispute_status"
	// ReasonCustomerConflict parks an event that names a second user for a customer
	// the route already maps to another one.
	ReasonCustomerConflict Reason = "customer_conflict"
	// The event lacks what its path needs.
	ReasonNoSessionID       Reason = "no_session_id"
	ReasonNoInvoiceID       Reason = "no_invoice_id"
	ReasonNoObjectID        Reason = "no_object_id"
	ReasonNoAPIKey          Reason = "no_api_key"
	ReasonNoAccount         Reason = "no_account"
	ReasonNoPaymentIntent   Reason = "no_payment_intent"
	ReasonUnknownPurchase   Reason = "unknown_purchase"
	ReasonThinRelatedObject Reason = "thin_related_object"
	// The Stripe API refused for good (package stripeapi).
	ReasonStripeAuth           Reason = "stripe_auth"
	ReasonStripePermission     Reason = "stripe_permission"
	ReasonStripeNotFound       Reason = "stripe_not_found"
	ReasonStripeInvalidRequest Reason = "stripe_invalid_request"
)

// Parked are the reasons of dead_lettered, in the order above: the reason labels of
// creditgate_dead_lettered_total and creditgate_dead_letters, created at 0.
var Parked = []Reason{
	ReasonNoUserID, ReasonBadUserID, ReasonNoCredits, ReasonBadCredits, ReasonUnknownPrice,
	ReasonBackendRejected,
	ReasonUnknownPaymentStatus, ReasonUnknownBillingReason, ReasonUnknownDisputeStatus, ReasonCustomerConflict,
	ReasonNoSessionID, ReasonNoInvoiceID, ReasonNoObjectID, ReasonNoAPIKey, ReasonNoAccount,
	ReasonNoPaymentIntent, ReasonUnknownPurchase, ReasonThinRelatedObject,
	ReasonStripeAuth, ReasonStripePermission, ReasonStripeNotFound, ReasonStripeInvalidRequest,
}

// Strings returns rs as plain strings (metric label values).
func Strings(rs []Reason) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = string(r)
	}
	return out
}
