package pipeline

import (
	"github.com/creditgate/creditgate/internal/event"
	"github.com/creditgate/creditgate/internal/ledger"
)

// PurchaseKey is the dedup key that marks purchase id (cs_..., in_...) of route as
// credited, for readers outside the pipeline (`creditgate audit`).
func PurchaseKey(route, id string) string { return purchaseKey(route, id) }

// RefundedCredits is the share of rec's credits that a charge's cumulative refunds
// stand for, by the rule the pipeline reverses with (see reverse).
func RefundedCredits(rec ledger.Record, charge event.Object) int64 {
	return refundedCredits(rec, charge)
}
