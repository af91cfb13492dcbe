package pipeline

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/creditgate/creditgate/internal/deadletter"
	"github.com/creditgate/creditgate/internal/dedup"
	"github.com/creditgate/creditgate/internal/extract"
	"github.com/creditgate/creditgate/internal/forward"
	"github.com/creditgate/creditgate/internal/outcome"
	"github.com/creditgate/creditgate/internal/storekey"
	"github.com/creditgate/creditgate/internal/stripeapi"
)

// run is one delivery on its way through the pipeline: the route it came in on, the
// delivery itself, the keys it holds, and the Outcome it is building. Every step of
// the path is a method of run and ends, when it decides, in one of the answers
// below (finish, park, fail and the failures built on it), each of which leaves the
// claims settled or released and returns the Outcome.
type run struct {
	p     *Pipeline
	rt    *Route
	d     Delivery
	o     Outcome
	c     claims
	early *earlyLearn // the customer map's learn sent with the claims (learnEarly)
}

// newRun starts a run of d on rt with the outcome so far; close its claims when done.
// (A value, so that it stays on the caller's stack.)
func (p *Pipeline) newRun(ctx context.Context, rt *Route, d Delivery, o Outcome) run {
	return run{p: p, rt: rt, d: d, o: o, c: claims{p: p, ctx: ctx}}
}

// set gives the outcome its result, reason and detail; an answer below ends the run.
func (r *run) set(res outcome.Result, reason outcome.Reason, detail string) {
	r.o.Result, r.o.Reason, r.o.Detail = res, reason, detail
}

// finish ends a run that credits nothing (pending, ignored, duplicate, parked): the
// event key is marked done and the purchase key, if held, released. When the mark
// does not land, the answer is store_unavailable, so that Stripe retries.
func (r *run) finish() Outcome {
	if err := r.c.completeEvent(); err != nil {
		r.o.Result, r.o.Reason, r.o.Err, r.o.Detail = outcome.StoreUnavailable, outcome.ReasonStore, err, err.Error()
	}
	return r.o
}

// park writes the delivery to the dead-letter list, then settles the event key and
// releases the purchase key (so a replay, or another event for the session, can still
// credit it once). Only a durable park earns Stripe a 2xx.
func (r *run) park(reason outcome.Reason, detail string) Outcome {
	d := r.d
	e := deadletter.Entry{
		ID:        deadletter.EntryID(r.rt.Name, d.Event.ID),
		Route:     r.rt.Name,
		EventID:   d.Event.ID,
		EventType: d.Event.Type,
		Reason:    string(reason),
		Detail:    detail,
		ParkedAt:  r.p.now().UTC().Truncate(time.Millisecond),
		Payload:   string(d.Raw),
	}
	if d.Replay {
		e.Replays = d.Replays + 1
	}
	if err := r.p.DeadLetters.Park(r.c.cleanupCtx(), e); err != nil {
		return r.fail(outcome.StoreUnavailable, outcome.ReasonDeadLetter, fmt.Errorf("%w: park: %v", dedup.ErrUnavailable, err))
	}
	r.set(outcome.DeadLettered, reason, detail)
	return r.finish()
}

// fail answers a non-2xx so Stripe retries, releasing every claim.
func (r *run) fail(res outcome.Result, reason outcome.Reason, err error) Outcome {
	r.c.release()
	if r.c.ctx.Err() != nil {
		// The caller is gone (Stripe hung up, or the shutdown grace ran out): the
		// store or the backend did nothing wrong, so the answer says so and no alert
		// about Redis or the backend fires. Stripe still sees a non-2xx and retries.
		res, reason = outcome.Cancelled, outcome.ReasonCancelled
	}
	r.o.Result, r.o.Reason, r.o.Err = res, reason, err
	if err != nil {
		r.o.Detail = err.Error()
	}
	return r.o
}

// storeFailed answers a store outage: 503, Stripe retries.
func (r *run) storeFailed(err error) Outcome {
	return r.fail(outcome.StoreUnavailable, outcome.ReasonStore, err)
}

// backendFailed answers a forward that did not deliver: 503 so Stripe retries, with
// reason deployment or backend.
func (r *run) backendFailed(err error) Outcome {
	if errors.Is(err, forward.ErrDeployment) {
		return r.fail(outcome.BackendUnavailable, outcome.ReasonDeployment, err)
	}
	return r.fail(outcome.BackendUnavailable, outcome.ReasonBackend, err)
}

// apiFailed maps a Stripe API error: permanent ones are parked with their reason
// (stripe_auth, ...), transient ones answer 503 so Stripe redelivers.
func (r *run) apiFailed(err error) Outcome {
	if reason := stripeapi.Reason(err); reason != "" {
		return r.park(reason, err.Error())
	}
	return r.fail(outcome.BackendUnavailable, outcome.ReasonStripeAPI, err)
}

// extractFailed maps an extraction error: permanent ones park with their reason, an
// API outage and a store outage answer 503.
func (r *run) extractFailed(err error) Outcome {
	if reason := extract.Reason(err); reason != "" {
		return r.park(reason, err.Error())
	}
	if errors.Is(err, stripeapi.ErrUnavailable) {
		return r.fail(outcome.BackendUnavailable, outcome.ReasonStripeAPI, err)
	}
	return r.storeFailed(err)
}

// claimEvent takes the event key; it reports true when the outcome is final: the
// event was handled before (duplicate), is being handled elsewhere (in flight), or
// the store failed.
func (r *run) claimEvent(key string) bool {
	switch st, err := r.c.claim(key); {
	case err != nil:
		r.storeFailed(err)
		return true
	case st == dedup.Done:
		r.set(outcome.Duplicate, outcome.ReasonEvent, "event already handled")
		return true
	case st == dedup.InFlight:
		r.set(outcome.InFlight, outcome.ReasonEvent, "event is being handled by another request")
		return true
	}
	return false
}

// claimPurchase takes the purchase key of id; it reports true when the outcome is
// final.
func (r *run) claimPurchase(id string) bool {
	switch st, err := r.c.claim(storekey.Purchase(r.rt.Name, id)); {
	case err != nil:
		r.storeFailed(err)
		return true
	case st == dedup.Done:
		r.set(outcome.Duplicate, outcome.ReasonPurchase, "purchase "+id+" was already credited")
		r.finish()
		return true
	case st == dedup.InFlight:
		r.fail(outcome.InFlight, outcome.ReasonPurchase, errors.New("purchase "+id+" is being credited by another request"))
		return true
	}
	return false
}
