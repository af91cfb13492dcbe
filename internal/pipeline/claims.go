package pipeline

import (
	"context"
	"errors"
	"time"

	"github.com/creditgate/creditgate/internal/dedup"
	"github.com/creditgate/creditgate/internal/ledger"
	"github.com/creditgate/creditgate/internal/storekey"
)

// claims tracks the keys one delivery holds, so that every exit path of Process
// either settles them (done, parked) or releases them. close, deferred, releases
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
	c.p.settling.await(c.ctx, key)
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
		c.p.settling.await(c.ctx, k)
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

// settle marks every held key done in one settlement (one round trip with Redis)
// together with entry, the grant's purchase record (written first, and with the rest
// or not at all: Pipeline.Book). A failure is tried once more, then logged: the
// backend has the credit, and its Idempotency-Key stops a second one if the key is
// retried. Only with strict (a route whose reversals will need the record) and a
// record that may be missing is the failure returned and the keys kept, for the
// caller to release them and answer so that Stripe retries.
func (c *claims) settle(entry *ledger.Entry, strict bool) error {
	st := c.settlement()
	err := c.p.settle(c.cleanupCtx(), st, entry)
	if err != nil && strict && errors.Is(err, ledger.ErrUnrecorded) {
		return err
	}
	c.held = nil
	if err != nil {
		c.p.settleFailed(st, err)
	}
	return nil
}

// settleLater is settle without strict, left to go on after Process returned
// (Delivery.AnswerFirst): the keys pass to the pipeline's settling, which makes a
// delivery of this process that claims one of them wait for the settlement.
func (c *claims) settleLater(entry *ledger.Entry) {
	st := c.settlement()
	c.held = nil
	p, ctx := c.p, context.WithoutCancel(c.ctx)
	if p.Unhurried != nil {
		ctx = p.Unhurried(ctx)
	}
	p.settling.start(st.Keys, func() {
		ctx, cancel := context.WithTimeout(ctx, cleanupTimeout)
		defer cancel()
		if err := p.settle(ctx, st, entry); err != nil {
			p.settleFailed(st, err)
		}
	})
}

// settlement is every held key, to be marked done.
func (c *claims) settlement() dedup.Settlement {
	st := dedup.Settlement{Keys: make([]string, len(c.held)), TTL: c.p.TTL}
	for i, h := range c.held {
		st.Keys[i] = h.key
	}
	return st
}

// settle writes st and entry (Book), and tries once more on a failure: a lost
// done-marker leaves only the backend's idempotency.
func (p *Pipeline) settle(ctx context.Context, st dedup.Settlement, entry *ledger.Entry) error {
	book := p.book()
	err := book.Settle(ctx, st, entry)
	if err != nil {
		err = book.Settle(ctx, st, entry)
	}
	return err
}

func (p *Pipeline) settleFailed(st dedup.Settlement, err error) {
	p.logger().Error("could not settle after delivery; the backend's Idempotency-Key guards a repeat",
		"keys", st.Keys, "error", err)
}

// completeEvent marks the held event key done (the purchase was not granted:
// pending, ignored, duplicate, parked) and releases every other held key. On a
// failure everything is released and the error returned: the event is not settled.
func (c *claims) completeEvent() error {
	for _, h := range c.held {
		if storekey.IsEvent(h.key) {
			if err := c.p.Store.Complete(c.cleanupCtx(), h.key, c.p.TTL); err != nil {
				c.release()
				return err
			}
		}
	}
	c.release()
	return nil
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

// close runs when the delivery's path returns: it releases anything still held and
// ends the cleanup context.
func (c *claims) close() {
	c.release()
	if c.cancel != nil {
		c.cancel()
	}
}

// cleanupTimeout bounds the store calls that settle a claim after the request's
// context may be gone (shutdown, client disconnect).
const cleanupTimeout = 2 * time.Second
