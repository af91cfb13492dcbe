package config

import "github.com/creditgate/creditgate/internal/outcome"

// The words the configuration is written in are package outcome's (one home for
// every event type and source name); these names let the validation read as before.
const (
	SourceMetadataUserID     = outcome.SourceMetadataUserID
	SourceClientReferenceID  = outcome.SourceClientReferenceID
	SourceCustomerMap        = outcome.SourceCustomerMap
	SourceSubscriptionUserID = outcome.SourceSubscriptionUserID
	SourceCustomerUserID     = outcome.SourceCustomerUserID
	SourceMetadataCredits    = outcome.SourceMetadataCredits
	SourcePriceTable         = outcome.SourcePriceTable
	SourcePriceMetadata      = outcome.SourcePriceMetadata

	EventSessionCompleted       = outcome.EventSessionCompleted
	EventAsyncPaymentSucceeded  = outcome.EventAsyncPaymentSucceeded
	EventInvoicePaid            = outcome.EventInvoicePaid
	EventChargeRefunded         = outcome.EventChargeRefunded
	EventDisputeCreated         = outcome.EventDisputeCreated
	EventDisputeClosed          = outcome.EventDisputeClosed
	EventDisputeUpdated         = outcome.EventDisputeUpdated
	EventDisputeFundsWithdrawn  = outcome.EventDisputeFundsWithdrawn
	EventDisputeFundsReinstated = outcome.EventDisputeFundsReinstated
	EventChargeRefundUpdated    = outcome.EventChargeRefundUpdated
	EventRefundUpdated          = outcome.EventRefundUpdated
)

// SupportedEvents and ReversalEvents are outcome's.
var (
	SupportedEvents = outcome.SupportedEvents
	ReversalEvents  = outcome.ReversalEvents
)
