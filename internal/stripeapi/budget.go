package stripeapi

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"
)

// Budget is a token bucket that bounds the reads creditgate makes with one API key,
// whoever makes them: webhook lookups, thin events, `creditgate reconcile`. Stripe
// limits reads per account (and more tightly in test mode); a burst of thin events
// or a long reconcile must not spend the budget the webhook path needs, or cause 429s
// for the backend's own Stripe calls under the same account.
//
// A read waits for a token. When its context's deadline comes before the token, it
// fails at once with ErrUnavailable (a webhook answers 503 and Stripe redelivers
// later) rather than wait in vain; a caller without a deadline (reconcile) simply
// goes at the budget's pace. The zero value is not usable; use NewBudget.
type Budget struct {
	mu     sync.Mutex
	rate   float64 // tokens per second
	burst  float64
	tokens float64
	last   time.Time
	now    func() time.Time
}

// NewBudget allows perSecond reads a second on average and bursts of as many.
func NewBudget(perSecond int) *Budget {
	r := float64(max(perSecond, 1))
	return &Budget{rate: r, burst: r, tokens: r, now: time.Now}
}

// Wait takes one token, waiting for it if needed (see Budget).
func (b *Budget) Wait(ctx context.Context) error {
	b.mu.Lock()
	now := b.now()
	if !b.last.IsZero() {
		b.tokens = min(b.burst, b.tokens+now.Sub(b.last).Seconds()*b.rate)
	}
	b.last = now
	b.tokens--
	if b.tokens >= 0 {
		b.mu.Unlock()
		return nil
	}
	wait := time.Duration(-b.tokens / b.rate * float64(time.Second))
	if dl, ok := ctx.Deadline(); ok && now.Add(wait).After(dl) {
		b.tokens++
		b.mu.Unlock()
		return fmt.Errorf("%w: the API read budget (%.0f/s) has no room before the deadline", ErrUnavailable, b.rate)
	}
	b.mu.Unlock()
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		b.mu.Lock()
		b.tokens++
		b.mu.Unlock()
		return fmt.Errorf("%w: waiting for the API read budget: %w", ErrUnavailable, ctx.Err())
	}
}

// budgeted spends one token of b per request sent through next.
type budgeted struct {
	next http.RoundTripper
	b    *Budget
}

func (t budgeted) RoundTrip(req *http.Request) (*http.Response, error) {
	if err := t.b.Wait(req.Context()); err != nil {
		if req.Body != nil {
			_ = req.Body.Close()
		}
		return nil, err
	}
	return t.next.RoundTrip(req)
}

// withBudget returns a copy of hc whose requests spend b; hc itself when b is nil.
func withBudget(hc *http.Client, b *Budget) *http.Client {
	if b == nil {
		return hc
	}
	next := hc.Transport
	if next == nil {
		next = http.DefaultTransport
	}
	c := *hc
	c.Transport = budgeted{next: next, b: b}
	return &c
}
