package pipeline

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/creditgate/creditgate/internal/deadletter"
	"github.com/creditgate/creditgate/internal/dedup"
	"github.com/creditgate/creditgate/internal/forward"
	"github.com/creditgate/creditgate/internal/ledger"
)

// claims tracks the keys one delivery holds, so that every exit path of Process
// either settles them (done, parked) or releases them. settle, deferred, releases
// whatever is still held: a panic or a forgotten path cannot leave a claim behind
// beyond its lease.
type claims struct {
	p      *Pipeline
	ctx    context.Context
	held   []heldKey
	early  []dedup.Claim // answers of claimEach that claim has not handed out yet
	cctx   context.Context
	cancel context.CancelFunc
}

type heldKey struct{ key, token string }

// claim takes key for the lease, or hands out the answer claimEach got for it.
func (c *claims) claim(key string) (dedup.State, error) {
	for i, cl := range c.early {
		if cl.Key == key {
			c.early = append(c.early[:i], c.early[i+1:]...)
			return cl.State, cl.Err
		}
	}
	token := dedup.NewToken()
	st, err := c.p.Store.Claim(c.ctx, key, token, c.p.Lease)
	c.took(key, token, st, err)
	return st, err
}

// claimEach claims keys at once (one round trip with Redis); claim then hands out
// each key's answer in the order the path asks for them. A key the path never asks
// for is released with the rest: claiming it early only saves a round trip, it never
// changes an outcome.
func (c *claims) claimEach(keys ...string) {
	token := dedup.NewToken()
	cs := make([]dedup.Claim, len(keys))
	for i, k := range keys {
		cs[i] = dedup.Claim{Key: k, Token: token}
	}
	c.p.Store.ClaimEach(c.ctx, c.p.Lease, cs)
	for _, cl := range cs {
		c.took(cl.Key, token, cl.State, cl.Err)
	}
	c.early = cs
}

// took records the result of a claim: a claimed key is held; a failed claim is given
// back at once, since it may have landed before the answer was lost (a timeout),
// rather than leave the key in flight until the lease runs out. The release is
// token-guarded, so it can only remove our own claim.
func (c *claims) took(key, token string, st dedup.State, err error) {
	switch {
	case err != nil:
		_ = c.p.Store.Release(c.cleanupCtx(), key, token)
	case st == dedup.Claimed:
		c.held = append(c.held, heldKey{key, token})
	}
}

// cleanupCtx outlives the request: a claim is settled even when Stripe hung up or the
// server is shutting down.
func (c *claims) cleanupCtx() context.Context {
	if c.cctx == nil {
		c.cctx, c.cancel = context.WithTimeout(context.WithoutCancel(c.ctx), cleanupTimeout)
	}
	return c.cctx
}

// doneAll marks every held key done in one settlement (one round trip with Redis)
// together with entry, the grant's purchase record (written first, and with the rest
// or not at all: Pipeline.Book). A failure is tried once more, then logged: the
// backend has the credit, and its Idempotency-Key stops a second one if the key is
// retried. Only with strict (a route whose reversals will need the record) and a
// record that may be missing is the failure returned and the keys kept, for the
// caller to release them and answer so that Stripe retries.
func (c *claims) doneAll(entry *ledger.Entry, strict bool) error {
	st := dedup.Settlement{Keys: make([]string, len(c.held)), TTL: c.p.TTL}
	for i, h := range c.held {
		st.Keys[i] = h.key
	}
	book := c.p.book()
	err := book.Settle(c.cleanupCtx(), st, entry)
	if err != nil { // one more try: a lost done-marker leaves only the backend's idempotency
		err = book.Settle(c.cleanupCtx(), st, entry)
	}
	if err != nil && strict && errors.Is(err, ledger.ErrUnrecorded) {
		return err
	}
	c.held = nil
	if err != nil {
		c.p.logger().Error("could not settle after delivery; the backend's Idempotency-Key guards a repeat",
			"keys", st.Keys, "error", err)
	}
	return nil
}

// done settles the event key only (the purchase was not granted: pending, ignored,
// duplicate), and releases the purchase key if held.
func (c *claims) done(o Outcome) Outcome {
	for _, h := range c.held {
		if strings.HasPrefix(h.key, "event:") {
			if err := c.p.Store.Complete(c.cleanupCtx(), h.key, c.p.TTL); err != nil {
				// Not settled: Stripe must retry, so this is no 2xx.
				c.release()
				return c.storeFailed(o, err)
			}
		}
	}
	c.release()
	return o
}

// release gives back every held key (transient failure or in-flight elsewhere).
func (c *claims) release() {
	for _, h := range c.held {
		if err := c.p.Store.Release(c.cleanupCtx(), h.key, h.token); err != nil {
			c.p.logger().Warn("could not release claim; it heals when the lease expires", "key", h.key, "error", err)
		}
	}
	c.held = nil
}

// settle runs when Process returns: it releases anything still held.
func (c *claims) settle() {
	c.release()
	if c.cancel != nil {
		c.cancel()
	}
}

// fail answers a non-2xx so Stripe retries, releasing every claim.
func (c *claims) fail(o Outcome, r Result, reason string, err error) Outcome {
	c.release()
	if c.ctx.Err() != nil {
		// The caller is gone (Stripe hung up, or the shutdown grace ran out): the
		// store or the backend did nothing wrong, so the answer says so and no alert
		// about Redis or the backend fires. Stripe still sees a non-2xx and retries.
		r, reason = Cancelled, ReasonCancelled
	}
	o.Result, o.Reason, o.Err = r, reason, err
	if err != nil {
		o.Detail = err.Error()
	}
	return o
}

// ReasonCancelled marks a failure caused by the request's own cancellation.
const ReasonCancelled = "cancelled"

// ReasonDeployment marks a backend answer that is a fault of the deployment (a 3xx,
// 401, 403, 404, ...: forward.ErrDeployment); Stripe retries until it is fixed.
const ReasonDeployment = "deployment"

// backendFailed answers a forward that did not deliver: 503 so Stripe retries, with
// reason deployment or backend.
func (c *claims) backendFailed(o Outcome, err error) Outcome {
	if errors.Is(err, forward.ErrDeployment) {
		return c.fail(o, BackendUnavailable, ReasonDeployment, err)
	}
	return c.fail(o, BackendUnavailable, "backend", err)
}

func (c *claims) storeFailed(o Outcome, err error) Outcome {
	o.Result, o.Reason, o.Err, o.Detail = StoreUnavailable, "store", err, err.Error()
	return o
}

// park writes the delivery to the dead-letter list, then settles the event key and
// releases the purchase key (so a replay, or another event for the session, can still
// credit it once). Only a durable park earns Stripe a 2xx.
func (c *claims) park(o Outcome, rt *Route, d Delivery, reason, detail string) Outcome {
	e := deadletter.Entry{
		ID:        deadletter.EntryID(rt.Name, d.Event.ID),
		Route:     rt.Name,
		EventID:   d.Event.ID,
		EventType: d.Event.Type,
		Reason:    reason,
		Detail:    detail,
		ParkedAt:  c.p.now().UTC().Truncate(time.Millisecond),
		Payload:   string(d.Raw),
	}
	if d.Replay {
		e.Replays = d.Replays + 1
	}
	if err := c.p.DeadLetters.Park(c.cleanupCtx(), e); err != nil {
		return c.fail(o, StoreUnavailable, "dead_letter", fmt.Errorf("%w: park: %v", dedup.ErrUnavailable, err))
	}
	o.Result, o.Reason, o.Detail = DeadLettered, reason, detail
	return c.done(o)
}
