package outcome

import "maps"

// Event types a route may list.
const (
	EventSessionCompleted      = "checkout.session.completed"
	EventAsyncPaymentSucceeded = "checkout.session.async_payment_succeeded"
	EventInvoicePaid           = "invoice.paid"
	EventChargeRefunded        = "charge.refunded"
	EventDisputeCreated        = "charge.dispute.created"
	EventDisputeClosed         = "charge.dispute.closed"
	// Reversal events that report a dispute's or a refund's later status.
	EventDisputeUpdated         = "charge.dispute.updated"
	EventDisputeFundsWithdrawn  = "charge.dispute.funds_withdrawn"
	EventDisputeFundsReinstated = "charge.dispute.funds_reinstated"
	EventChargeRefundUpdated    = "charge.refund.updated"
	EventRefundUpdated          = "refund.updated"
)

// ReversalEvents are the event types that take credits back (or give them back after a
// won dispute or a failed refund). Listing one turns reversals on for a route.
var ReversalEvents = map[string]bool{
	EventChargeRefunded:         true,
	EventDisputeCreated:         true,
	EventDisputeClosed:          true,
	EventDisputeUpdated:         true,
	EventDisputeFundsWithdrawn:  true,
	EventDisputeFundsReinstated: true,
	EventChargeRefundUpdated:    true,
	EventRefundUpdated:          true,
}

// SupportedEvents are the event types a route may list: the purchases' and
// ReversalEvents.
var SupportedEvents = func() map[string]bool {
	m := map[string]bool{EventSessionCompleted: true, EventAsyncPaymentSucceeded: true, EventInvoicePaid: true}
	maps.Copy(m, ReversalEvents)
	return m
}()

// Source names: where extract.user_id and extract.credits look.
const (
	SourceMetadataUserID     = "metadata.user_id"
	SourceClientReferenceID  = "client_reference_id"
	SourceCustomerMap        = "customer_map"
	SourceSubscriptionUserID = "subscription.metadata.user_id"
	SourceCustomerUserID     = "customer.metadata.user_id"
	SourceMetadataCredits    = "metadata.credits"
	SourcePriceTable         = "price_table"
	SourcePriceMetadata      = "price_metadata"
)
