package billing

import (
	"fmt"
	"maps"
	"math/bits"
	"time"
)

// Reversal rules: how many of a purchase's credits the money that left it stands for.
//
// creditgate does not count events, it keeps the facts Stripe reported about the
// payment (Money) and derives the credits taken back from them:
//
//	taken = floor(credits × out / paid), at most credits; all of them once out >= paid
//
// where paid is the captured amount (amount_captured when less than the purchase's)
// and out is the money that really left: the refunds Stripe counts on the charge,
// less refunds that failed or were canceled since, plus the amount of every
// chargeback that is open or lost. Inquiries (warning_*) and won or refunded disputes
// move no money and count nothing. Each event merges its fact into Money (the merge
// is idempotent and commutative: a newer status or snapshot wins, whatever the
// delivery order), and the backend gets the difference between taken after and
// before. So redelivered and out-of-order events end at the same balance, a won
// dispute gives back exactly what it took, and a failed refund gives back its share
// once. Rounding down favours the customer by less than one credit.

// Money is what Stripe has reported about the money of one purchase's payment.
type Money struct {
	// Captured is the charge's amount_captured (a partial capture), 0 until a charge
	// event said it.
	Captured int64 `json:"captured,omitempty"`
	// Refunds is the charge's amount_refunded in the newest charge.refunded.
	Refunds Snapshot `json:"refunds,omitzero"`
	// Failed are the refunds that failed or were canceled, by refund id.
	Failed map[string]FailedRefund `json:"failed,omitempty"`
	// Disputes are the disputes of the payment, by dispute id.
	Disputes map[string]Dispute `json:"disputes,omitempty"`
	// Floor is credits taken back under rules that kept no facts (a record written
	// by an older creditgate): Taken never goes below it, so an upgrade never takes
	// the same money twice (what it took is given back by no later event).
	Floor int64 `json:"floor,omitempty"`
}

// Snapshot is the cumulative amount_refunded of a charge at one moment.
type Snapshot struct {
	At     int64 `json:"at"`     // the event's created, unix seconds
	Amount int64 `json:"amount"` // amount_refunded then
	Full   bool  `json:"full,omitempty"`
}

// FailedRefund is a refund that failed or was canceled: its money came back.
type FailedRefund struct {
	Amount  int64 `json:"amount"`
	Created int64 `json:"created"` // when the refund was made (the refund's created)
	At      int64 `json:"at"`      // when it failed (the event's created)
}

// Dispute is the newest status Stripe reported for one dispute, and its amount.
type Dispute struct {
	Status string `json:"status"`
	Amount int64  `json:"amount"`
}

// disputeStages orders a dispute's statuses: a status replaces a recorded one only
// when it is later in a dispute's life. takes marks the statuses whose money has left
// the merchant (a chargeback open or lost).
var disputeStages = map[string]struct {
	stage int
	takes bool
}{
	"warning_needs_response": {1, false}, // an inquiry: no money has left
	"warning_under_review":   {2, false},
	"needs_response":         {3, true}, // a chargeback: funds withdrawn
	"under_review":           {4, true},
	"warning_closed":         {5, false}, // final
	"won":                    {5, false}, // final: funds reinstated
	"lost":                   {5, true},  // final
	"charge_refunded":        {5, false}, // final (older API versions): the refund counts
	"prevented":              {5, false}, // final (2025-08-27.basil on): no money moved
}

// KnownDisputeStatus reports whether status is a dispute status these rules know.
func KnownDisputeStatus(status string) bool {
	_, ok := disputeStages[status]
	return ok
}

// FailedRefundStatus reports whether a refund in status gave its money back.
func FailedRefundStatus(status string) bool { return status == "failed" || status == "canceled" }

// AddDispute merges a dispute's status; it reports whether Money changed. The status
// must be known (KnownDisputeStatus). A status later in a dispute's life replaces an
// earlier one; between two of the same stage (which Stripe does not send) the larger
// one by (takes, status, amount) wins, so the merge is the same in any order.
func (m *Money) AddDispute(id, status string, amount int64) bool {
	d := Dispute{Status: status, Amount: max(amount, 0)}
	if cur, ok := m.Disputes[id]; ok && !laterDispute(d, cur) {
		return false
	}
	if m.Disputes == nil {
		m.Disputes = map[string]Dispute{}
	}
	m.Disputes[id] = d
	return true
}

// laterDispute orders dispute reports: by stage, then takes, status and amount.
func laterDispute(a, b Dispute) bool {
	sa, sb := disputeStages[a.Status], disputeStages[b.Status]
	switch {
	case sa.stage != sb.stage:
		return sa.stage > sb.stage
	case sa.takes != sb.takes:
		return sa.takes
	case a.Status != b.Status:
		return a.Status > b.Status
	}
	return a.Amount > b.Amount
}

// AddRefunds merges a charge's cumulative amount_refunded at event time at: the
// newest snapshot wins (within one second, the larger amount, then a full refund).
// captured is amount_captured; the largest reported counts.
func (m *Money) AddRefunds(at, amountRefunded, captured int64, full bool) bool {
	changed := false
	if captured > m.Captured {
		m.Captured, changed = captured, true
	}
	s := Snapshot{At: at, Amount: max(amountRefunded, 0), Full: full}
	cur := m.Refunds
	if s.At > cur.At || s.At == cur.At && (s.Amount > cur.Amount || s.Amount == cur.Amount && s.Full && !cur.Full) {
		m.Refunds, changed = s, true
	}
	return changed
}

// AddFailedRefund merges a refund that failed or was canceled at at; created is when
// the refund was made. Reported twice (refund.updated and charge.refund.updated), the
// earliest times and the largest amount count, in any order.
func (m *Money) AddFailedRefund(id string, amount, created, at int64) bool {
	f := FailedRefund{Amount: max(amount, 0), Created: created, At: at}
	cur, ok := m.Failed[id]
	if ok {
		f = FailedRefund{Amount: max(f.Amount, cur.Amount), Created: min(f.Created, cur.Created), At: min(f.At, cur.At)}
		if f == cur {
			return false
		}
	}
	if m.Failed == nil {
		m.Failed = map[string]FailedRefund{}
	}
	m.Failed[id] = f
	return true
}

// Out is the money that has left the purchase, in the smallest currency unit; paid is
// the purchase's amount (the base when nothing was captured partially).
func (m Money) Out(paid int64) int64 {
	base := m.base(paid)
	refunded := m.Refunds.Amount
	if m.Refunds.Full {
		refunded = max(refunded, base)
	}
	for _, f := range m.Failed {
		// The snapshot counted the refund (made before it) and not its failure (after).
		if f.Created <= m.Refunds.At && m.Refunds.At < f.At {
			refunded -= f.Amount
		}
	}
	out := max(refunded, 0)
	for _, d := range m.Disputes {
		if disputeStages[d.Status].takes {
			out += d.Amount
		}
	}
	return out
}

// base is what was paid: amount_captured when a partial capture took less than the
// purchase's amount, else that amount.
func (m Money) base(paid int64) int64 {
	if m.Captured > 0 && (m.Captured < paid || paid <= 0) {
		return m.Captured
	}
	return paid
}

// Taken is how many of credits the money that left stands for: floor(credits × out /
// paid), all of them once out reaches what was paid.
func (m Money) Taken(credits, paid int64) int64 {
	return min(max(m.taken(credits, paid), m.Floor), max(credits, 0))
}

func (m Money) taken(credits, paid int64) int64 {
	out, base := m.Out(paid), m.base(paid)
	switch {
	case credits <= 0 || out <= 0:
		return 0
	case base <= 0 || out >= base: // all of it, or a purchase that cost nothing
		return credits
	}
	// credits × out / base in 128 bits: credits <= 2^53, out < base.
	hi, lo := bits.Mul64(uint64(credits), uint64(out))
	q, _ := bits.Div64(hi, lo, uint64(base))
	return int64(q)
}

// DescribeDispute says what a dispute status means for the credits, for an operator.
func DescribeDispute(id, status string, amount int64) string {
	switch {
	case !KnownDisputeStatus(status):
		return fmt.Sprintf("dispute %s has status %q, which these rules do not know", clip(id), clip(status))
	case disputeStages[status].takes:
		return fmt.Sprintf("dispute %s (%s) holds %d of the payment", clip(id), status, amount)
	case status == "warning_needs_response" || status == "warning_under_review" || status == "warning_closed":
		return fmt.Sprintf("dispute %s is an inquiry (%s): no money has left", clip(id), status)
	}
	return fmt.Sprintf("dispute %s is %s: its money is back", clip(id), status)
}

// Clone returns a copy of m that shares no map with it.
func (m Money) Clone() Money {
	c := m
	c.Failed = maps.Clone(m.Failed)
	c.Disputes = maps.Clone(m.Disputes)
	return c
}

// PurchaseWait is how long a live-mode reversal whose purchase has no record yet may
// be answered "try again" rather than parked: Stripe does not order events, and the
// purchase's own event may still be on its way (Stripe retries it for 3 days, an
// outage of creditgate or the backend queues both). It is well inside Stripe's 3 days
// of retries, so a reversal whose purchase never comes is still parked, not lost.
// TestPurchaseWait is the same for test mode, where Stripe retries for a few hours only.
const (
	PurchaseWait     = 24 * time.Hour
	TestPurchaseWait = time.Hour
)

// AwaitPurchase reports whether a reversal event, created at eventCreated, whose
// purchase has no record should still wait for it at now. It waits while the event is
// young and either its object is (a charge's created is the payment; a refund or
// dispute is never older than its payment) or a grant of the purchase is failing
// (granting: its mark is there).
func AwaitPurchase(eventCreated, objectCreated time.Time, livemode, granting bool, now time.Time) bool {
	wait := PurchaseWait
	if !livemode {
		wait = TestPurchaseWait
	}
	young := func(t time.Time) bool { return !t.IsZero() && now.Sub(t) < wait }
	return young(eventCreated) && (granting || young(objectCreated))
}
