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

	"github.com/creditgate/creditgate/internal/billing"
	"github.com/creditgate/creditgate/internal/config"
	"github.com/creditgate/creditgate/internal/deadletter"
	"github.com/creditgate/creditgate/internal/dedup"
	"github.com/creditgate/creditgate/internal/event"
	"github.com/creditgate/creditgate/internal/extract"
	"github.com/creditgate/creditgate/internal/forward"
	"github.com/creditgate/creditgate/internal/ledger"
	"github.com/creditgate/creditgate/internal/stripeapi"
)

// Event types the pipeline handles.
const (
	TypeSessionCompleted      = config.EventSessionCompleted
	TypeAsyncPaymentSucceeded = config.EventAsyncPaymentSucceeded
	TypeInvoicePaid           = config.EventInvoicePaid
	TypeChargeRefunded        = config.EventChargeRefunded
	TypeDisputeCreated        = config.EventDisputeCreated
	TypeDisputeClosed         = config.EventDisputeClosed
	TypeDisputeUpdated        = config.EventDisputeUpdated
	TypeDisputeWithdrawn      = config.EventDisputeFundsWithdrawn
	TypeDisputeReinstated     = config.EventDisputeFundsReinstated
	TypeChargeRefundUpdated   = config.EventChargeRefundUpdated
	TypeRefundUpdated         = config.EventRefundUpdated
)

// API is the part of the Stripe API the pipeline reads (stripeapi.Client).
type API interface {
	SessionLines(ctx context.Context, account, sessionID string) ([]stripeapi.Line, error)
	Invoice(ctx context.Context, account, invoiceID string) (stripeapi.Invoice, error)
	CustomerMetadata(ctx context.Context, account, customerID string) (map[string]string, error)
	SessionFor(ctx context.Context, account, subscription, paymentIntent string) (stripeapi.Session, bool, error)
	SessionPaymentIntent(ctx context.Context, account, sessionID string) (string, error)
}

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
	// Connect: every event must name its connected account; a live route ignores the
	// test events Stripe also sends a live Connect endpoint.
	Connect bool
	// ConnectAccounts, when not nil, are the only accounts credited.
	ConnectAccounts map[string]bool
	// API reads the Stripe API; nil when the route has no API key.
	API API
	// Budget bounds the Stripe API calls and the forward together (forward.budget);
	// zero means no bound beyond the forwarder's own.
	Budget time.Duration
	// UserWait is extract.invoice_user_wait (billing.AwaitUser); zero: never wait.
	UserWait time.Duration
}

// Handles reports whether the route processes events of type t (others are ignored).
func (rt *Route) Handles(t string) bool { return rt.Events[t] }

// reversals reports whether the route takes credits back.
func (rt *Route) reversals() bool {
	for t := range rt.Events {
		if config.ReversalEvents[t] {
			return true
		}
	}
	return false
}

// Pipeline processes deliveries for every route. All fields are required except Now
// (time.Now), Logger (discarded), Records (no purchase records: reversals park every
// event as unknown_purchase) and Book (Store and Records apart).
type Pipeline struct {
	Store       dedup.Store
	DeadLetters deadletter.List
	Records     ledger.Store
	// Customers is the per-route customer map (nil: customer_map finds nothing and
	// nothing is learned); CustomerTTL is how long a mapping lives after the last
	// session or grant that named it (dedup.customer_ttl; zero: TTL).
	Customers   ledger.Customers
	CustomerTTL time.Duration
	// Book settles a credited grant: its claimed keys done and its purchase record
	// created, in one write where Store and Records share one Redis
	// (ledger.RedisBook). Nil: ledger.NewBook(Store, Records), the record first.
	Book ledger.Book
	TTL  time.Duration // done-marker lifetime (dedup.ttl)
	// RecordTTL is how long a purchase record lives after its last change
	// (dedup.record_ttl); zero: TTL.
	RecordTTL time.Duration
	Lease     time.Duration // claim lease (dedup.lease)
	Now       func() time.Time
	Logger    *slog.Logger
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
	o := Outcome{EventID: ev.ID, EventType: ev.Type, SessionID: ev.Object.ID, route: rt.Name}
	if ev.Livemode != rt.Livemode {
		if rt.Connect && rt.Livemode && !ev.Livemode {
			// A live Connect endpoint also receives its accounts' test events.
			o.Result, o.Reason, o.Detail = Ignored, "test_event", "test-mode event on a live Connect route"
			return o
		}
		o.Result, o.Reason = LivemodeMismatch, "livemode"
		o.Detail = fmt.Sprintf("event livemode=%t but route %q accepts livemode=%t", ev.Livemode, rt.Name, rt.Livemode)
		return o
	}
	if !rt.Handles(ev.Type) {
		o.Result, o.Reason, o.Detail = Ignored, "event_type", fmt.Sprintf("route %q does not handle %s", rt.Name, ev.Type)
		return o
	}

	c := claims{p: p, ctx: ctx}
	defer c.settle()

	evKey := eventKey(rt.Name, ev.ID)
	if id := expectedPurchase(rt, ev); id != "" && !d.Replay {
		c.claimEach(evKey, purchaseKey(rt.Name, id))
	}
	if !d.Replay {
		if o, settled := c.claimEvent(o, evKey); settled {
			return o
		}
	}
	if rt.Connect {
		switch {
		case ev.Account == "":
			return c.park(o, rt, d, "no_account", "event on a Connect route names no connected account")
		case rt.ConnectAccounts != nil && !rt.ConnectAccounts[ev.Account]:
			o.Result, o.Reason, o.Detail = Ignored, "account_not_allowed", fmt.Sprintf("account %s is not in connect_accounts", clip(ev.Account))
			return c.done(o)
		}
	}
	// The Stripe API calls and the forward share the answer budget.
	if rt.API != nil && rt.Budget > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, rt.Budget)
		defer cancel()
	}

	switch ev.Type {
	case TypeInvoicePaid:
		return p.grantInvoice(ctx, &c, o, rt, d)
	}
	if config.ReversalEvents[ev.Type] {
		return p.reverse(ctx, &c, o, rt, d)
	}
	return p.grantSession(ctx, &c, o, rt, d)
}

// grantSession credits a Checkout Session, or learns its buyer when the billing
// rules say it grants nothing (package billing).
func (p *Pipeline) grantSession(ctx context.Context, c *claims, o Outcome, rt *Route, d Delivery) Outcome {
	ev := d.Event
	obj := ev.Object
	dec := sessionDecision(rt, ev)
	lookup := &lookup{api: rt.API, account: ev.Account, customer: obj.Customer,
		lines: func(ctx context.Context) ([]stripeapi.Line, error) {
			return rt.API.SessionLines(ctx, ev.Account, obj.ID)
		}}
	switch dec.Verdict {
	case billing.Park:
		return c.park(o, rt, d, dec.Reason, dec.Detail)
	case billing.Pending, billing.Ignore, billing.Learn:
		o.Result, o.Reason, o.Detail = Ignored, dec.Reason, dec.Detail
		if dec.Verdict == billing.Pending {
			o.Result = PendingPayment
		}
		return p.learnOnly(ctx, c, o, rt, d, lookup)
	}
	if obj.ID == "" {
		return c.park(o, rt, d, "no_session_id", "data.object has no id")
	}
	return p.grant(ctx, c, o, rt, d, purchase{
		id: obj.ID, obj: obj, lookup: lookup, session: true,
		ref: forward.StripeRef{SessionID: obj.ID, CustomerID: obj.Customer, PaymentIntentID: obj.PaymentIntent,
			AmountTotal: obj.AmountTotal, Currency: obj.Currency},
	})
}

func sessionDecision(rt *Route, ev event.View) billing.Decision {
	return billing.Session(billing.SessionFacts{
		Completed: ev.Type == TypeSessionCompleted, Mode: ev.Object.Mode, PaymentStatus: ev.Object.PaymentStatus,
		GrantNoPaymentRequired: rt.GrantNoPaymentRequired, InvoicesGrant: rt.Events[TypeInvoicePaid],
	})
}

// purchase is what grant needs to credit one session or invoice.
type purchase struct {
	id      string // the purchase key and idempotency key: cs_... or in_...
	obj     event.Object
	lookup  *lookup
	ref     forward.StripeRef
	claimed bool // the purchase key is held already
	session bool // a Checkout Session event: a subscription's PaymentIntent is on its invoice
	// started is when the invoice's subscription began; an unknown user of a young
	// subscription is answered "retry" (billing.AwaitUser). Zero: never.
	started time.Time
}

func purchaseKey(route, id string) string { return "purchase:" + route + ":" + id }

// expectedPurchase is the purchase id Process will claim for ev when everything the
// event itself says holds (a paid session, an invoice with the API at hand), so that
// the event and purchase claims can go out in one round trip; "" when the path may not
// claim one. A wrong guess costs a release, never an outcome.
func expectedPurchase(rt *Route, ev event.View) string {
	obj := ev.Object
	if obj.ID == "" || rt.Connect && (ev.Account == "" || rt.ConnectAccounts != nil && !rt.ConnectAccounts[ev.Account]) {
		return ""
	}
	switch ev.Type {
	case TypeSessionCompleted, TypeAsyncPaymentSucceeded:
		if sessionDecision(rt, ev).Verdict == billing.Grant {
			return obj.ID
		}
	}
	// An invoice's purchase may be its Checkout Session's: known after the API call.
	return ""
}

// claimPurchase takes the purchase key; settled is true when o is final.
func (p *Pipeline) claimPurchase(c *claims, o Outcome, id string) (Outcome, bool) {
	switch st, err := c.claim(purchaseKey(o.route, id)); {
	case err != nil:
		return c.fail(o, StoreUnavailable, "store", err), true
	case st == dedup.Done:
		o.Result, o.Reason, o.Detail = Duplicate, "purchase", "purchase "+id+" was already credited"
		return c.done(o), true
	case st == dedup.InFlight:
		return c.fail(o, InFlight, "purchase", errors.New("purchase "+id+" is being credited by another request")), true
	}
	return o, false
}

// grant claims the purchase, extracts, forwards, records and settles.
func (p *Pipeline) grant(ctx context.Context, c *claims, o Outcome, rt *Route, d Delivery, pu purchase) Outcome {
	ev := d.Event
	if !pu.claimed {
		if o, settled := p.claimPurchase(c, o, pu.id); settled {
			return o
		}
	}
	if pu.session && rt.Events[TypeInvoicePaid] {
		// Its post-payment invoice may have been granted first, under its own id.
		if o, settled := p.paidBefore(c, o, rt, pu.ref.PaymentIntentID, pu.id); settled {
			return o
		}
	}
	var api extract.Lookup
	if rt.API != nil {
		api = pu.lookup
	}
	g, err := rt.Extractor.ExtractWith(ctx, pu.obj, p.customers(rt), api)
	if err != nil {
		if errors.Is(err, extract.ErrNoUserID) && billing.AwaitUser(pu.started, p.now(), rt.UserWait) {
			return c.fail(o, InFlight, billing.ReasonAwaitingUser, fmt.Errorf("%w; the subscription started at %s, so its Checkout Session may still be on its way: Stripe retries until %s",
				err, pu.started.Format(time.RFC3339), pu.started.Add(rt.UserWait).Format(time.RFC3339)))
		}
		return p.extractFailed(c, o, rt, d, err)
	}
	o.Credits = g.Credits
	if o, settled := p.learn(ctx, c, o, rt, d, pu.obj.Customer, g.UserID); settled {
		return o
	}
	if pu.ref.PaymentIntentID == "" && pu.session && pu.obj.Mode == "subscription" && rt.API != nil && rt.reversals() {
		// A subscription session's payment_intent is null; its first invoice's is not,
		// and a refund of the period will name it.
		pi, err := rt.API.SessionPaymentIntent(ctx, ev.Account, pu.id)
		if err != nil {
			return p.apiFailed(c, o, rt, d, err)
		}
		pu.ref.PaymentIntentID = pi
	}

	ref := pu.ref
	ref.EventID, ref.EventType, ref.Account = ev.ID, ev.Type, ev.Account
	res, err := rt.Forwarder.Send(ctx, forward.Request{
		ID:         pu.id,
		Type:       forward.TypeGranted,
		UserID:     scopedUser(rt, ev.Account, g.UserID),
		Credits:    g.Credits,
		Livemode:   ev.Livemode,
		OccurredAt: time.Unix(ev.Created, 0).UTC(),
		Stripe:     ref,
	})
	o.Attempts = res.Attempts
	switch {
	case err == nil:
	case errors.Is(err, forward.ErrRejected):
		return c.park(o, rt, d, "backend_rejected", err.Error())
	default:
		p.awaitPurchase(c, rt, pu)
		return c.backendFailed(o, err)
	}
	o.Result, o.Detail = Forwarded, fmt.Sprintf("backend answered %d after %d attempt(s)", res.Status, res.Attempts)
	if res.AlreadyCredited {
		o.Reason = "already_credited"
	}
	// The backend has the credit. When the purchase record, which a refund would
	// look for, cannot be written on a route that takes credits back, Stripe must
	// redeliver: the backend answers 409 and the record is written then.
	entry, err := p.record(rt, pu, ev, g)
	if err == nil {
		err = c.doneAll(entry, rt.reversals())
	}
	if err != nil {
		p.awaitPurchase(c, rt, pu)
		return c.fail(o, StoreUnavailable, "store", err)
	}
	return o
}

// record is the purchase record a later refund or dispute will look for, for the
// settlement to create (Book). Only a route that takes credits back fails on it;
// others log and go on.
func (p *Pipeline) record(rt *Route, pu purchase, ev event.View, g extract.Grant) (*ledger.Entry, error) {
	pi := pu.ref.PaymentIntentID
	if p.Records == nil || pi == "" {
		return nil, nil
	}
	r := ledger.Record{
		PurchaseID: pu.id, SessionID: pu.ref.SessionID, UserID: g.UserID, Credits: g.Credits,
		Amount: pu.ref.AmountTotal, Currency: pu.ref.Currency, CustomerID: pu.obj.Customer,
		Account: ev.Account, Livemode: ev.Livemode,
	}
	e, err := ledger.NewEntry(ledger.Key(rt.Name, pi), r, p.recordTTL())
	if err != nil && !rt.reversals() {
		p.logger().Warn("could not write the purchase record; a refund of it will not be found", "route", rt.Name, "event_id", ev.ID, "error", err)
		return nil, nil
	}
	return e, err
}

// book is Book, or the Book of Store and Records apart.
func (p *Pipeline) book() ledger.Book {
	if p.Book != nil {
		return p.Book
	}
	return ledger.NewBook(p.Store, p.Records)
}

// apiFailed maps a Stripe API error: permanent ones are parked with their reason
// (stripe_auth, ...), transient ones answer 503 so Stripe redelivers.
func (p *Pipeline) apiFailed(c *claims, o Outcome, rt *Route, d Delivery, err error) Outcome {
	if reason := stripeapi.Reason(err); reason != "" {
		return c.park(o, rt, d, reason, err.Error())
	}
	return c.fail(o, BackendUnavailable, "stripe_api", err)
}

func (p *Pipeline) logger() *slog.Logger {
	if p.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return p.Logger
}

func (p *Pipeline) recordTTL() time.Duration {
	if p.RecordTTL > 0 {
		return p.RecordTTL
	}
	return p.TTL
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
