package pipeline

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/creditgate/creditgate/internal/billing"
	"github.com/creditgate/creditgate/internal/dedup"
	"github.com/creditgate/creditgate/internal/event"
	"github.com/creditgate/creditgate/internal/forward"
	"github.com/creditgate/creditgate/internal/ledger"
	"github.com/creditgate/creditgate/internal/outcome"
	"github.com/creditgate/creditgate/internal/storekey"
)

// reverse handles the events that report money leaving a purchase or coming back
// (outcome.ReversalEvents) for the purchase their payment_intent paid (its record was
// written when the purchase was credited).
//
// Each event adds its fact to the record's billing.Money (a charge's cumulative
// amount_refunded, a refund that failed, a dispute's status); the backend gets the
// difference between the credits the money stands for after and before
// (billing.Money.Taken): a credit.reversed when more left, a credit.granted when
// some came back. An event that changes nothing is a duplicate.
//
// Every request's idempotency key is its event id. Reversals of one purchase run one
// at a time (a claim on reversal:<route>:<pi>); the record names the event whose
// request is out (Pending) before it is sent and keeps naming it when the answer is
// lost (a timeout, a 5xx, a crash, a store outage after the backend answered): other
// reversals of the purchase wait (409) until that event is redelivered and settles
// with the same request (the backend answers 409, already applied). Only a definite
// refusal (4xx) clears it, since the backend did not apply it.
func (p *Pipeline) reverse(ctx context.Context, c *claims, o Outcome, rt *Route, d Delivery) Outcome {
	ev := d.Event
	obj := ev.Object
	add, o, settled := moneyFact(c, o, rt, d)
	if settled {
		return o
	}
	pi := obj.PaymentIntent
	if pi == "" {
		return c.park(o, rt, d, outcome.ReasonNoPaymentIntent, ev.Type+" names no payment_intent: its purchase cannot be found")
	}
	if p.Records == nil {
		return c.park(o, rt, d, outcome.ReasonUnknownPurchase, "no purchase records are kept")
	}

	lock := storekey.Reversal(rt.Name, pi)
	token := dedup.NewToken()
	st, err := p.Store.Claim(ctx, lock, token, p.Lease)
	defer func() { _ = p.Store.Release(c.cleanupCtx(), lock, token) }()
	switch {
	case err != nil:
		return c.fail(o, outcome.StoreUnavailable, outcome.ReasonStore, err)
	case st != dedup.Claimed:
		return c.fail(o, outcome.InFlight, outcome.ReasonReversal, errors.New("another reversal of "+pi+" is running"))
	}

	key := storekey.Record(rt.Name, pi)
	rec, ok, err := p.Records.Get(ctx, key)
	switch {
	case err != nil:
		return c.fail(o, outcome.StoreUnavailable, outcome.ReasonStore, err)
	case !ok:
		return p.noRecord(ctx, c, o, rt, d, pi)
	case rec.Pending != "" && rec.Pending != ev.ID:
		return c.fail(o, outcome.InFlight, outcome.ReasonReversal, fmt.Errorf("the result of an earlier reversal of %s (%s) is not recorded yet; it settles when Stripe redelivers that event", pi, rec.Pending))
	}
	o.SessionID = rec.PurchaseID

	next := rec
	next.Money = rec.Money.Clone()
	changed := add(&next.Money)
	next.Reversed, next.Pending = next.Taken(), ""
	delta := next.Reversed - rec.Reversed // > 0: take back; < 0: give back
	if delta == 0 {
		if changed || rec.Pending == ev.ID {
			if err := p.Records.Put(c.cleanupCtx(), key, next, p.recordTTL()); err != nil {
				return c.fail(o, outcome.StoreUnavailable, outcome.ReasonStore, err)
			}
		}
		o.Result, o.Reason = outcome.Duplicate, outcome.ReasonAlreadyApplied
		if changed {
			o.Result, o.Reason = outcome.Ignored, outcome.ReasonNoCreditChange
		}
		o.Detail = fmt.Sprintf("%s: the money that left %s still stands for %d of %d credits", describe(ev), pi, rec.Reversed, rec.Credits)
		return c.done(o)
	}

	if rec.Pending != ev.ID {
		pending := rec
		pending.Pending = ev.ID
		if err := p.Records.Put(ctx, key, pending, p.recordTTL()); err != nil {
			return c.fail(o, outcome.StoreUnavailable, outcome.ReasonStore, err)
		}
	}
	typ, credits := forward.TypeReversed, -delta
	if delta < 0 {
		typ = forward.TypeGranted
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
	switch {
	case errors.Is(err, forward.ErrRejected):
		// Refused, so not applied: the event no longer holds the purchase's reversals.
		rec.Pending = ""
		if perr := p.Records.Put(c.cleanupCtx(), key, rec, p.recordTTL()); perr != nil {
			return c.fail(o, outcome.StoreUnavailable, outcome.ReasonStore, perr)
		}
		return c.park(o, rt, d, outcome.ReasonBackendRejected, err.Error())
	case err != nil:
		// Maybe applied: the record keeps naming this event, so only its redelivery
		// (the same request) moves this purchase's credits next.
		return c.backendFailed(o, fmt.Errorf("%w; reversals of %s wait until this event settles", err, pi))
	}
	perr := p.Records.Put(c.cleanupCtx(), key, next, p.recordTTL())
	if perr != nil { // one more try: until it lands, this event holds the purchase
		perr = p.Records.Put(c.cleanupCtx(), key, next, p.recordTTL())
	}
	if perr != nil {
		return c.fail(o, outcome.StoreUnavailable, outcome.ReasonStore, perr)
	}
	o.Result, o.Detail = outcome.Forwarded, fmt.Sprintf("%s: %s %d credits of %s; backend answered %d after %d attempt(s)", describe(ev), verb(typ), abs(delta), rec.PurchaseID, res.Status, res.Attempts)
	if res.AlreadyCredited {
		o.Reason = outcome.ReasonAlreadyCredited
	}
	if typ == forward.TypeGranted {
		o.Credits = -delta
	} else {
		o.Reversed = delta
	}
	return c.done(o)
}

// moneyFact reads the fact a reversal event reports, as a change to billing.Money;
// settled is true when o is final (nothing to apply, or parked).
func moneyFact(c *claims, o Outcome, rt *Route, d Delivery) (add func(*billing.Money) bool, _ Outcome, settled bool) {
	ev := d.Event
	obj := ev.Object
	switch ev.Type {
	case outcome.EventChargeRefunded:
		return func(m *billing.Money) bool {
			return m.AddRefunds(ev.Created, obj.AmountRefunded, obj.AmountCaptured, obj.Refunded)
		}, o, false
	case outcome.EventChargeRefundUpdated, outcome.EventRefundUpdated:
		if !billing.FailedRefundStatus(obj.Status) {
			o.Result, o.Reason = outcome.Ignored, outcome.ReasonRefundNotFailed
			o.Detail = fmt.Sprintf("refund %s is %q: charge.refunded counts its money", clip(obj.ID), clip(obj.Status))
			return nil, c.done(o), true
		}
		if obj.ID == "" {
			return nil, c.park(o, rt, d, outcome.ReasonNoObjectID, ev.Type+": the refund has no id"), true
		}
		return func(m *billing.Money) bool {
			return m.AddFailedRefund(obj.ID, obj.Amount, obj.Created, ev.Created)
		}, o, false
	}
	// charge.dispute.*: every one carries the dispute with its current status.
	switch {
	case !billing.KnownDisputeStatus(obj.Status):
		return nil, c.park(o, rt, d, outcome.ReasonUnknownDisputeStatus, billing.DescribeDispute(obj.ID, obj.Status, obj.Amount)), true
	case obj.ID == "":
		return nil, c.park(o, rt, d, outcome.ReasonNoObjectID, ev.Type+": the dispute has no id"), true
	}
	return func(m *billing.Money) bool { return m.AddDispute(obj.ID, obj.Status, obj.Amount) }, o, false
}

// noRecord answers a reversal whose purchase has no record: "try again" while the
// purchase may still be granted (billing.AwaitPurchase), else parked.
func (p *Pipeline) noRecord(ctx context.Context, c *claims, o Outcome, rt *Route, d Delivery, pi string) Outcome {
	ev := d.Event
	_, granting, err := p.Records.Get(ctx, storekey.Awaiting(rt.Name, pi))
	if err != nil {
		return c.fail(o, outcome.StoreUnavailable, outcome.ReasonStore, err)
	}
	created, objCreated := unix(ev.Created), unix(ev.Object.Created)
	if !d.Replay && billing.AwaitPurchase(created, objCreated, ev.Livemode, granting, p.now()) {
		why := "its payment is recent"
		if granting {
			why = "its grant failed and Stripe retries it"
		}
		return c.fail(o, outcome.InFlight, outcome.ReasonAwaitingPurchase, fmt.Errorf(
			"no purchase record for %s yet (%s): Stripe retries this event, parked if still unknown after %s",
			clip(pi), why, created.Add(purchaseWait(ev.Livemode)).UTC().Format(time.RFC3339)))
	}
	return c.park(o, rt, d, outcome.ReasonUnknownPurchase, fmt.Sprintf("no purchase record for %s: not credited by route %q, or longer ago than dedup.record_ttl", clip(pi), rt.Name))
}

func unix(sec int64) time.Time {
	if sec <= 0 {
		return time.Time{}
	}
	return time.Unix(sec, 0)
}

func purchaseWait(livemode bool) time.Duration {
	if livemode {
		return billing.PurchaseWait
	}
	return billing.TestPurchaseWait
}

// awaitPurchase marks a purchase whose grant failed and will be retried, so that its
// reversals wait for it (noRecord). Best effort: without the mark a reversal that
// comes first is parked, and a replay applies it.
func (p *Pipeline) awaitPurchase(c *claims, rt *Route, pu purchase) {
	pi := pu.ref.PaymentIntentID
	if p.Records == nil || pi == "" || !rt.reversals() {
		return
	}
	err := p.Records.Put(c.cleanupCtx(), storekey.Awaiting(rt.Name, pi), ledger.Record{PurchaseID: pu.id}, billing.PurchaseWait)
	// (the mark lives the live wait; AwaitPurchase bounds a test-mode wait by the event)
	if err != nil {
		p.logger().Warn("could not mark the purchase as awaited; a reversal that comes before its grant is parked", "route", rt.Name, "purchase", pu.id, "error", err)
	}
}

// describe names a reversal event's fact for an operator.
func describe(ev event.View) string {
	obj := ev.Object
	switch ev.Type {
	case outcome.EventChargeRefunded:
		return fmt.Sprintf("charge %s refunded %d of %d", clip(obj.ID), obj.AmountRefunded, obj.Amount)
	case outcome.EventChargeRefundUpdated, outcome.EventRefundUpdated:
		return fmt.Sprintf("refund %s of %d is %s", clip(obj.ID), obj.Amount, clip(obj.Status))
	}
	return billing.DescribeDispute(obj.ID, obj.Status, obj.Amount)
}

func verb(typ string) string {
	if typ == forward.TypeGranted {
		return "gave back"
	}
	return "reversed"
}

func abs(n int64) int64 { return max(n, -n) }
