package pipeline

import (
	"context"
	"errors"
	"fmt"
	"math/bits"
	"time"

	"github.com/creditgate/creditgate/internal/dedup"
	"github.com/creditgate/creditgate/internal/event"
	"github.com/creditgate/creditgate/internal/forward"
	"github.com/creditgate/creditgate/internal/ledger"
)

// reverse handles charge.refunded, charge.dispute.created and a won
// charge.dispute.closed for the purchase their payment_intent paid (its record was
// written when the purchase was credited).
//
//   - charge.refunded: Stripe's amount_refunded is cumulative. The credits refunded so
//     far are floor(credits × amount_refunded / amount) (amount: the charge's, else the
//     purchase's); a full refund (refunded: true) is all credits. Each event reverses
//     the difference to what the record says was reversed already, so every partial
//     refund is taken back once, a redelivered or older event reverses nothing, and
//     the parts always add up to exactly the credits of a full refund. Rounding down
//     favours the customer by less than one credit until the refund is complete.
//   - charge.dispute.created reverses everything not reversed yet; a won
//     charge.dispute.closed grants exactly that back (credit.granted); other closings
//     are ignored.
//
// Every request's idempotency key is its event id (DESIGN §5). Reversals of one
// purchase run one at a time (a claim on reversal:<route>:<pi>); the record names the
// event whose request is out (Pending) before it is sent, so a result that was never
// recorded (a crash, a store outage after the backend answered) holds back other
// reversals of the purchase until that event is redelivered and settles with the same
// request (the backend answers 409).
func (p *Pipeline) reverse(ctx context.Context, c *claims, o Outcome, rt *Route, d Delivery) Outcome {
	ev := d.Event
	obj := ev.Object
	if ev.Type == TypeDisputeClosed && obj.Status != "won" {
		o.Result, o.Reason, o.Detail = Ignored, "dispute_not_won", fmt.Sprintf("dispute closed with status %q: nothing to give back", clip(obj.Status))
		return c.done(o)
	}
	pi := obj.PaymentIntent
	if pi == "" {
		return c.park(o, rt, d, "no_payment_intent", ev.Type+" names no payment_intent: its purchase cannot be found")
	}
	if p.Records == nil {
		return c.park(o, rt, d, "unknown_purchase", "no purchase records are kept")
	}

	lock := "reversal:" + rt.Name + ":" + pi
	token := dedup.NewToken()
	st, err := p.Store.Claim(ctx, lock, token, p.Lease)
	defer func() { _ = p.Store.Release(c.cleanupCtx(), lock, token) }()
	switch {
	case err != nil:
		return c.fail(o, StoreUnavailable, "store", err)
	case st != dedup.Claimed:
		return c.fail(o, InFlight, "reversal", errors.New("another reversal of "+pi+" is running"))
	}

	key := ledger.Key(rt.Name, pi)
	rec, ok, err := p.Records.Get(ctx, key)
	switch {
	case err != nil:
		return c.fail(o, StoreUnavailable, "store", err)
	case !ok:
		return c.park(o, rt, d, "unknown_purchase", fmt.Sprintf("no purchase record for %s: not credited by route %q, or longer ago than dedup.ttl", clip(pi), rt.Name))
	case rec.Pending != "" && rec.Pending != ev.ID:
		return c.fail(o, InFlight, "reversal", fmt.Errorf("the result of an earlier reversal of %s (%s) is not recorded yet; it settles when Stripe redelivers that event", pi, rec.Pending))
	}
	o.SessionID = rec.PurchaseID

	next := rec
	next.Pending = ""
	typ := forward.TypeReversed
	var n int64 // credits to take back (or give back)
	switch ev.Type {
	case TypeChargeRefunded:
		n = min(refundedCredits(rec, obj)-rec.Refunded, rec.Left())
		next.Refunded += max(n, 0)
	case TypeDisputeCreated:
		n = rec.Left()
		next.Disputed += n
	case TypeDisputeClosed:
		n = rec.Disputed
		next.Disputed = 0
		typ = forward.TypeGranted
	}
	if n <= 0 {
		if rec.Pending == ev.ID { // cannot happen (same event, same numbers); stay safe
			if err := p.Records.Put(c.cleanupCtx(), key, next, p.TTL); err != nil {
				return c.fail(o, StoreUnavailable, "store", err)
			}
		}
		o.Result, o.Reason = Duplicate, "already_reversed"
		o.Detail = fmt.Sprintf("nothing left to %s for %s (credits %d, refunded %d, disputed %d)", verb(typ), pi, rec.Credits, rec.Refunded, rec.Disputed)
		_ = c.doneAll(nil, false)
		return o
	}

	pending := rec
	pending.Pending = ev.ID
	if err := p.Records.Put(ctx, key, pending, p.TTL); err != nil {
		return c.fail(o, StoreUnavailable, "store", err)
	}
	credits := -n
	if typ == forward.TypeGranted {
		credits = n
	}
	res, err := rt.Forwarder.Send(ctx, forward.Request{
		ID: ev.ID, Type: typ, UserID: scopedUser(rt, rec.Account, rec.UserID), Credits: credits, Livemode: ev.Livemode,
		OccurredAt: time.Unix(ev.Created, 0).UTC(),
		Stripe: forward.StripeRef{
			EventID: ev.ID, EventType: ev.Type, SessionID: rec.SessionID, CustomerID: rec.CustomerID,
			PaymentIntentID: pi, AmountTotal: rec.Amount, Currency: rec.Currency, Account: ev.Account,
		},
	})
	o.Attempts = res.Attempts
	if err != nil {
		// Not delivered: the event no longer holds the purchase's reversals.
		if perr := p.Records.Put(c.cleanupCtx(), key, rec, p.TTL); perr != nil {
			return c.fail(o, StoreUnavailable, "store", perr)
		}
		if errors.Is(err, forward.ErrRejected) {
			return c.park(o, rt, d, "backend_rejected", err.Error())
		}
		return c.backendFailed(o, err)
	}
	perr := p.Records.Put(c.cleanupCtx(), key, next, p.TTL)
	if perr != nil { // one more try: until it lands, this event holds the purchase
		perr = p.Records.Put(c.cleanupCtx(), key, next, p.TTL)
	}
	if perr != nil {
		return c.fail(o, StoreUnavailable, "store", perr)
	}
	o.Result, o.Detail = Forwarded, fmt.Sprintf("%s %d credits of %s; backend answered %d after %d attempt(s)", verb(typ), n, rec.PurchaseID, res.Status, res.Attempts)
	if res.AlreadyCredited {
		o.Reason = "already_credited"
	}
	if typ == forward.TypeGranted {
		o.Credits = n
	} else {
		o.Reversed = n
	}
	_ = c.doneAll(nil, false)
	return o
}

func verb(typ string) string {
	if typ == forward.TypeGranted {
		return "gave back"
	}
	return "reversed"
}

// refundedCredits is the share of the purchase's credits that the charge's cumulative
// amount_refunded stands for, rounded down; all of them once the charge is refunded
// in full.
func refundedCredits(rec ledger.Record, ch event.Object) int64 {
	amount := ch.Amount
	if amount <= 0 {
		amount = rec.Amount
	}
	switch {
	case ch.Refunded, amount > 0 && ch.AmountRefunded >= amount:
		return rec.Credits
	case ch.AmountRefunded <= 0 || rec.Credits <= 0:
		return 0
	case amount <= 0: // a refund of a purchase that cost nothing: all of it
		return rec.Credits
	}
	// credits × refunded / amount in 128 bits: credits <= 2^53, refunded < amount.
	hi, lo := bits.Mul64(uint64(rec.Credits), uint64(ch.AmountRefunded))
	q, _ := bits.Div64(hi, lo, uint64(amount))
	return int64(q)
}
