// Package pipeline is the path of one verified webhook (DESIGN §1 steps 4-8): livemode
// and type checks, the two dedup claims, payment-status gating, extraction, forwarding,
// and the dead-letter list, ending in exactly one Outcome. It knows nothing about HTTP;
// outcome.go maps its results to answers in one place.
package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/creditgate/creditgate/internal/deadletter"
	"github.com/creditgate/creditgate/internal/dedup"
	"github.com/creditgate/creditgate/internal/event"
	"github.com/creditgate/creditgate/internal/extract"
	"github.com/creditgate/creditgate/internal/forward"
)

// Event types the pipeline grants on.
const (
	TypeSessionCompleted      = "checkout.session.completed"
	TypeAsyncPaymentSucceeded = "checkout.session.async_payment_succeeded"
)

// Forwarder delivers a credit to the backend (forward.Client in production).
type Forwarder interface {
	Send(ctx context.Context, r forward.Request) (forward.Result, error)
}

// Route is one configured webhook route, compiled.
type Route struct {
	Name                   string
	Livemode               bool
	Events                 map[string]bool
	GrantNoPaymentRequired bool
	Extractor              *extract.Extractor
	Forwarder              Forwarder
}

// Pipeline processes deliveries for every route. All fields are required except Now
// (time.Now) and Logger (discarded).
type Pipeline struct {
	Store       dedup.Store
	DeadLetters deadletter.List
	TTL         time.Duration // done-marker lifetime (dedup.ttl)
	Lease       time.Duration // claim lease (dedup.lease)
	Now         func() time.Time
	Logger      *slog.Logger
}

// Delivery is one event to process: received from Stripe, or replayed from the
// dead-letter list (Replay: the event key was settled when it was parked, so only
// the purchase key decides; Replays counts earlier replays).
type Delivery struct {
	Raw     []byte
	Event   event.View
	Replay  bool
	Replays int
}

// cleanupTimeout bounds the store calls that settle a claim after the request's
// context may be gone (shutdown, client disconnect).
const cleanupTimeout = 2 * time.Second

// Process runs one delivery to its Outcome. It never panics on event content and
// leaves no claim behind: every exit either settles (done / parked) or releases.
func (p *Pipeline) Process(ctx context.Context, rt *Route, d Delivery) Outcome {
	ev := d.Event
	o := Outcome{EventID: ev.ID, EventType: ev.Type, SessionID: ev.Object.ID}
	if ev.Livemode != rt.Livemode {
		o.Result, o.Reason = LivemodeMismatch, "livemode"
		o.Detail = fmt.Sprintf("event livemode=%t but route %q accepts livemode=%t", ev.Livemode, rt.Name, rt.Livemode)
		return o
	}
	if !rt.Events[ev.Type] {
		o.Result, o.Reason, o.Detail = Ignored, "event_type", fmt.Sprintf("route %q does not handle %s", rt.Name, ev.Type)
		return o
	}

	c := claims{p: p, ctx: ctx}
	defer c.settle()

	if !d.Replay {
		switch st, err := c.claim("event:" + rt.Name + ":" + ev.ID); {
		case err != nil:
			return c.fail(o, StoreUnavailable, "store", err)
		case st == dedup.Done:
			o.Result, o.Reason, o.Detail = Duplicate, "event", "event already handled"
			return o
		case st == dedup.InFlight:
			o.Result, o.Reason, o.Detail = InFlight, "event", "event is being handled by another request"
			return o
		}
	}

	// Payment-status gating (DESIGN §3).
	obj := ev.Object
	if ev.Type == TypeSessionCompleted {
		switch obj.PaymentStatus {
		case "paid":
		case "unpaid":
			o.Result, o.Reason, o.Detail = PendingPayment, "unpaid", "session completed, payment pending; waiting for checkout.session.async_payment_succeeded"
			return c.done(o)
		case "no_payment_required":
			if !rt.GrantNoPaymentRequired {
				o.Result, o.Reason, o.Detail = Ignored, "no_payment_required", "no payment required and the route does not grant free sessions (grant_no_payment_required)"
				return c.done(o)
			}
		default:
			return c.park(o, rt, d, "unknown_payment_status", fmt.Sprintf("payment_status %q is not paid, unpaid or no_payment_required", clip(obj.PaymentStatus)))
		}
	}
	if obj.ID == "" {
		return c.park(o, rt, d, "no_session_id", "data.object has no id")
	}

	switch st, err := c.claim("purchase:" + rt.Name + ":" + obj.ID); {
	case err != nil:
		return c.fail(o, StoreUnavailable, "store", err)
	case st == dedup.Done:
		o.Result, o.Reason, o.Detail = Duplicate, "purchase", "session "+obj.ID+" was already credited"
		return c.done(o)
	case st == dedup.InFlight:
		return c.fail(o, InFlight, "purchase", errors.New("session "+obj.ID+" is being credited by another request"))
	}

	g, err := rt.Extractor.Extract(ctx, obj, p.Store)
	if err != nil {
		if reason := extract.Reason(err); reason != "" {
			return c.park(o, rt, d, reason, err.Error())
		}
		return c.fail(o, StoreUnavailable, "store", err)
	}
	o.Credits = g.Credits

	res, err := rt.Forwarder.Send(ctx, forward.Request{
		ID:         obj.ID,
		Type:       forward.TypeGranted,
		UserID:     g.UserID,
		Credits:    g.Credits,
		Livemode:   ev.Livemode,
		OccurredAt: time.Unix(ev.Created, 0).UTC(),
		Stripe: forward.StripeRef{
			EventID: ev.ID, EventType: ev.Type, SessionID: obj.ID,
			CustomerID: obj.Customer, PaymentIntentID: obj.PaymentIntent,
			AmountTotal: obj.AmountTotal, Currency: obj.Currency, Account: ev.Account,
		},
	})
	o.Attempts = res.Attempts
	switch {
	case err == nil:
		o.Result, o.Detail = Forwarded, fmt.Sprintf("backend answered %d after %d attempt(s)", res.Status, res.Attempts)
		if res.AlreadyCredited {
			o.Reason = "already_credited"
		}
		c.doneAll()
		if obj.Customer != "" && g.UserSource != "customer_map" {
			if err := p.Store.RememberCustomer(c.cleanupCtx(), obj.Customer, g.UserID, p.TTL); err != nil {
				p.logger().Warn("could not remember customer", "route", rt.Name, "event_id", ev.ID, "error", err)
			}
		}
		return o
	case errors.Is(err, forward.ErrRejected):
		return c.park(o, rt, d, "backend_rejected", err.Error())
	default:
		return c.fail(o, BackendUnavailable, "backend", err)
	}
}

func (p *Pipeline) logger() *slog.Logger {
	if p.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return p.Logger
}

func (p *Pipeline) now() time.Time {
	if p.Now == nil {
		return time.Now()
	}
	return p.Now()
}

// clip bounds an untrusted value quoted in an operator message.
func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}
