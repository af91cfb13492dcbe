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
func (r *run) reverse(ctx context.Context) Outcome {
	add, settled := r.moneyFact()
	if settled {
		return r.o
	}
	ev := r.d.Event
	pi := ev.Object.PaymentIntent
	switch {
	case pi == "":
		return r.park(outcome.ReasonNoPaymentIntent, ev.Type+" names no payment_intent: its purchase cannot be found")
	case r.p.Records == nil:
		return r.park(outcome.ReasonUnknownPurchase, "no purchase records are kept")
	}
	lock, settled := r.lockReversals(ctx, pi)
	defer r.unlock(lock)
	if settled {
		return r.o
	}
	rv, settled := r.readRecord(ctx, pi)
	if settled {
		return r.o
	}
	rv.apply(add)
	if rv.delta() == 0 {
		return r.nothingToMove(rv)
	}
	return r.sendReversal(ctx, rv)
}

// reversal is one reversal event's change to its purchase's record.
type reversal struct {
	pi, key   string        // the purchase's payment_intent and record key
	rec, next ledger.Record // the record before and after the event's fact
	changed   bool          // the fact is new to the record
}

// apply adds the event's fact (moneyFact) to a copy of the record: next, with the
// credits its money stands for and no event pending.
func (rv *reversal) apply(add func(*billing.Money) bool) {
	rv.next = rv.rec
	rv.next.Money = rv.rec.Money.Clone()
	rv.changed = add(&rv.next.Money)
	rv.next.Reversed, rv.next.Pending = rv.next.Taken(), ""
}

// delta is the credits to move: > 0 take back, < 0 give back.
func (rv reversal) delta() int64 { return rv.next.Reversed - rv.rec.Reversed }

// lockReversals takes the lock that runs the purchase's reversals one at a time;
// give it back with unlock in any case. settled is true when the outcome is final:
// another reversal of the purchase runs, or the store failed.
func (r *run) lockReversals(ctx context.Context, pi string) (lock heldKey, settled bool) {
	lock = heldKey{storekey.Reversal(r.rt.Name, pi), dedup.NewToken()}
	st, err := r.p.Store.Claim(ctx, lock.key, lock.token, r.p.Lease)
	switch {
	case err != nil:
		r.storeFailed(err)
		return lock, true
	case st != dedup.Claimed:
		r.fail(outcome.InFlight, outcome.ReasonReversal, errors.New("another reversal of "+pi+" is running"))
		return lock, true
	}
	return lock, false
}

// unlock gives back the lock lockReversals took (token-guarded: never another's).
func (r *run) unlock(lock heldKey) { _ = r.p.Store.Release(r.c.cleanupCtx(), lock.key, lock.token) }

// readRecord reads the purchase's record; settled is true when the outcome is final:
// no record (noRecord), the answer to an earlier reversal of it is not recorded yet,
// or the store failed.
func (r *run) readRecord(ctx context.Context, pi string) (_ reversal, settled bool) {
	key := storekey.Record(r.rt.Name, pi)
	rec, ok, err := r.p.Records.Get(ctx, key)
	switch {
	case err != nil:
		r.storeFailed(err)
		return reversal{}, true
	case !ok:
		r.noRecord(ctx, pi)
		return reversal{}, true
	case rec.Pending != "" && rec.Pending != r.d.Event.ID:
		r.fail(outcome.InFlight, outcome.ReasonReversal, fmt.Errorf("the result of an earlier reversal of %s (%s) is not recorded yet; it settles when Stripe redelivers that event", pi, rec.Pending))
		return reversal{}, true
	}
	r.o.SessionID = rec.PurchaseID
	return reversal{pi: pi, key: key, rec: rec}, false
}

// nothingToMove answers a reversal whose fact changes no credits: a duplicate when
// the record knew it, ignored when it is new (and recorded).
func (r *run) nothingToMove(rv reversal) Outcome {
	ev := r.d.Event
	if rv.changed || rv.rec.Pending == ev.ID {
		if err := r.p.Records.Put(r.c.cleanupCtx(), rv.key, rv.next, r.p.recordTTL()); err != nil {
			return r.storeFailed(err)
		}
	}
	res, reason := outcome.Duplicate, outcome.ReasonAlreadyApplied
	if rv.changed {
		res, reason = outcome.Ignored, outcome.ReasonNoCreditChange
	}
	r.set(res, reason, fmt.Sprintf("%s: the money that left %s still stands for %d of %d credits", describe(ev), rv.pi, rv.rec.Reversed, rv.rec.Credits))
	return r.finish()
}

// sendReversal names the event in the record (Pending), sends the credits to move,
// and records the answer.
func (r *run) sendReversal(ctx context.Context, rv reversal) Outcome {
	ev, rec := r.d.Event, rv.rec
	if rec.Pending != ev.ID {
		pending := rec
		pending.Pending = ev.ID
		if err := r.p.Records.Put(ctx, rv.key, pending, r.p.recordTTL()); err != nil {
			return r.storeFailed(err)
		}
	}
	typ, credits := forward.TypeReversed, -rv.delta()
	if rv.delta() < 0 {
		typ = forward.TypeGranted
	}
	res, err := r.rt.Forwarder.Send(ctx, forward.Request{
		ID: ev.ID, Type: typ, UserID: scopedUser(r.rt, rec.Account, rec.UserID), Credits: credits, Livemode: ev.Livemode,
		OccurredAt: time.Unix(ev.Created, 0).UTC(),
		Stripe: forward.StripeRef{
			EventID: ev.ID, EventType: ev.Type, SessionID: rec.SessionID, CustomerID: rec.CustomerID,
			PaymentIntentID: rv.pi, AmountTotal: rec.Amount, Currency: rec.Currency, Account: ev.Account,
		},
	})
	r.o.Attempts = res.Attempts
	switch {
	case errors.Is(err, forward.ErrRejected):
		// Refused, so not applied: the event no longer holds the purchase's reversals.
		rec.Pending = ""
		if perr := r.p.Records.Put(r.c.cleanupCtx(), rv.key, rec, r.p.recordTTL()); perr != nil {
			return r.storeFailed(perr)
		}
		return r.park(outcome.ReasonBackendRejected, err.Error())
	case err != nil:
		// Maybe applied: the record keeps naming this event, so only its redelivery
		// (the same request) moves this purchase's credits next.
		return r.backendFailed(fmt.Errorf("%w; reversals of %s wait until this event settles", err, rv.pi))
	}
	return r.reversed(rv, typ, res)
}

// reversed records a reversal the backend applied and answers forwarded.
func (r *run) reversed(rv reversal, typ string, res forward.Result) Outcome {
	perr := r.p.Records.Put(r.c.cleanupCtx(), rv.key, rv.next, r.p.recordTTL())
	if perr != nil { // one more try: until it lands, this event holds the purchase
		perr = r.p.Records.Put(r.c.cleanupCtx(), rv.key, rv.next, r.p.recordTTL())
	}
	if perr != nil {
		return r.storeFailed(perr)
	}
	delta := rv.delta()
	r.o.Result, r.o.Detail = outcome.Forwarded, fmt.Sprintf("%s: %s %d credits of %s; backend answered %d after %d attempt(s)", describe(r.d.Event), verb(typ), abs(delta), rv.rec.PurchaseID, res.Status, res.Attempts)
	if res.AlreadyCredited {
		r.o.Reason = outcome.ReasonAlreadyCredited
	}
	if typ == forward.TypeGranted {
		r.o.Credits = -delta
	} else {
		r.o.Reversed = delta
	}
	return r.finish()
}

// moneyFact reads the fact a reversal event reports, as a change to billing.Money;
// settled is true when the outcome is final (nothing to apply, or parked).
func (r *run) moneyFact() (add func(*billing.Money) bool, settled bool) {
	ev := r.d.Event
	obj := ev.Object
	switch ev.Type {
	case outcome.EventChargeRefunded:
		return func(m *billing.Money) bool {
			return m.AddRefunds(ev.Created, obj.AmountRefunded, obj.AmountCaptured, obj.Refunded)
		}, false
	case outcome.EventChargeRefundUpdated, outcome.EventRefundUpdated:
		if !billing.FailedRefundStatus(obj.Status) {
			r.set(outcome.Ignored, outcome.ReasonRefundNotFailed, fmt.Sprintf("refund %s is %q: charge.refunded counts its money", clip(obj.ID), clip(obj.Status)))
			r.finish()
			return nil, true
		}
		if obj.ID == "" {
			r.park(outcome.ReasonNoObjectID, ev.Type+": the refund has no id")
			return nil, true
		}
		return func(m *billing.Money) bool {
			return m.AddFailedRefund(obj.ID, obj.Amount, obj.Created, ev.Created)
		}, false
	}
	// charge.dispute.*: every one carries the dispute with its current status.
	switch {
	case !billing.KnownDisputeStatus(obj.Status):
		r.park(outcome.ReasonUnknownDisputeStatus, billing.DescribeDispute(obj.ID, obj.Status, obj.Amount))
		return nil, true
	case obj.ID == "":
		r.park(outcome.ReasonNoObjectID, ev.Type+": the dispute has no id")
		return nil, true
	}
	return func(m *billing.Money) bool { return m.AddDispute(obj.ID, obj.Status, obj.Amount) }, false
}

// noRecord answers a reversal whose purchase has no record: "try again" while the
// purchase may still be granted (billing.AwaitPurchase), else parked.
func (r *run) noRecord(ctx context.Context, pi string) Outcome {
	ev := r.d.Event
	_, granting, err := r.p.Records.Get(ctx, storekey.Awaiting(r.rt.Name, pi))
	if err != nil {
		return r.storeFailed(err)
	}
	created, objCreated := unix(ev.Created), unix(ev.Object.Created)
	if !r.d.Replay && billing.AwaitPurchase(created, objCreated, ev.Livemode, granting, r.p.now()) {
		why := "its payment is recent"
		if granting {
			why = "its grant failed and Stripe retries it"
		}
		return r.fail(outcome.InFlight, outcome.ReasonAwaitingPurchase, fmt.Errorf(
			"no purchase record for %s yet (%s): Stripe retries this event, parked if still unknown after %s",
			clip(pi), why, created.Add(purchaseWait(ev.Livemode)).UTC().Format(time.RFC3339)))
	}
	return r.park(outcome.ReasonUnknownPurchase, fmt.Sprintf("no purchase record for %s: not credited by route %q, or longer ago than dedup.record_ttl", clip(pi), r.rt.Name))
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
func (r *run) awaitPurchase(pu purchase) {
	pi := pu.ref.PaymentIntentID
	if r.p.Records == nil || pi == "" || !r.rt.reversals() {
		return
	}
	err := r.p.Records.Put(r.c.cleanupCtx(), storekey.Awaiting(r.rt.Name, pi), ledger.Record{PurchaseID: pu.id}, billing.PurchaseWait)
	// (the mark lives the live wait; AwaitPurchase bounds a test-mode wait by the event)
	if err != nil {
		r.p.logger().Warn("could not mark the purchase as awaited; a reversal that comes before its grant is parked", "route", r.rt.Name, "purchase", pu.id, "error", err)
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
