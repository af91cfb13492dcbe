// Package pipeline is the path of one verified webhook: livemode and type checks, the
// two dedup claims, payment-status gating, extraction, forwarding, and the dead-letter
// list, ending in exactly one Outcome. It knows nothing about HTTP: package outcome
// holds its words (results, reasons, event types) and maps results to answers.
//
// One delivery is one run (run.go): the route, the delivery, the keys it holds
// (claims.go) and the Outcome it builds, with the answers that end it (finish, park,
// fail). The paths are run's methods: grantSession and grant (pipeline.go),
// grantInvoice (invoice.go), reverse (reversal.go), and ProcessThin (thin.go) in front.
package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/creditgate/creditgate/internal/billing"
	"github.com/creditgate/creditgate/internal/deadletter"
	"github.com/creditgate/creditgate/internal/dedup"
	"github.com/creditgate/creditgate/internal/event"
	"github.com/creditgate/creditgate/internal/extract"
	"github.com/creditgate/creditgate/internal/forward"
	"github.com/creditgate/creditgate/internal/ledger"
	"github.com/creditgate/creditgate/internal/outcome"
	"github.com/creditgate/creditgate/internal/storekey"
	"github.com/creditgate/creditgate/internal/stripeapi"
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
		if outcome.ReversalEvents[t] {
			return true
		}
	}
	return false
}

// Pipeline processes deliveries for every route. All fields are required except Now
// (time.Now), Logger (discarded), Records (no purchase records: reversals park every
// event as unknown_purchase), Customers and Payments (see each) and Book (Store and
// Records apart).
type Pipeline struct {
	Store       dedup.Store
	DeadLetters deadletter.List
	Records     ledger.Store
	// Customers is the per-route customer map (nil: customer_map finds nothing and
	// nothing is learned); CustomerTTL is how long a mapping lives after the last
	// session or grant that named it (dedup.customer_ttl; zero: TTL).
	Customers   ledger.Customers
	CustomerTTL time.Duration
	// Payments holds the purchase id each payment that two paths could credit under
	// different ids was first forwarded under, for TTL (run.stick). Nil: not held;
	// a redelivery whose done markers were lost may then forward under the other id.
	Payments ledger.Payments
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
	// Unhurried marks the context of a settlement that no answer waits for
	// (Delivery.AnswerFirst), so that the store may send it with other calls rather
	// than at once (redisclient.Patient). Nil: sent as any other call.
	Unhurried func(context.Context) context.Context

	settling settling // settlements left to go on after Process returned (AnswerFirst)
}

// Delivery is one event to process: received from Stripe, or replayed from the
// dead-letter list (Replay: the event key was settled when it was parked, so only
// the purchase key decides; Replays counts earlier replays).
type Delivery struct {
	Raw     []byte
	Event   event.View
	Replay  bool
	Replays int
	// AnswerFirst lets Process return before the settlement of a grant whose answer
	// does not depend on it: on a route that takes no credits back, a failed
	// settlement is logged and the answer is forwarded all the same, so it goes on in
	// the background (Pipeline.WaitSettled) while the caller answers. The HTTP server
	// sets it; a caller that reports the store's state afterwards (a replay) does not.
	AnswerFirst bool
}

// of is d for another body and event view, everything else (replay, answer first)
// carried over: what ProcessThin hands Process for the thin event and its snapshot.
func (d Delivery) of(raw []byte, ev event.View) Delivery {
	d.Raw, d.Event = raw, ev
	return d
}

// Process runs one delivery to its Outcome. It never panics on event content and
// leaves no claim behind: every exit either settles (done / parked), releases, or
// hands the settlement to the background (Delivery.AnswerFirst).
func (p *Pipeline) Process(ctx context.Context, rt *Route, d Delivery) Outcome {
	ev := d.Event
	o := Outcome{EventID: ev.ID, EventType: ev.Type, SessionID: ev.Object.ID}
	if res, reason, detail := screen(rt, ev); res != "" {
		o.Result, o.Reason, o.Detail = res, reason, detail
		return o
	}

	r := p.newRun(ctx, rt, d, o)
	defer r.c.close()
	defer r.dropEarly()

	evKey := storekey.Event(rt.Name, ev.ID)
	if id := expectedPurchase(rt, ev); id != "" && !d.Replay {
		r.learnEarly(ctx)
		r.c.claimEach(evKey, storekey.Purchase(rt.Name, id))
	}
	if !d.Replay && r.claimEvent(evKey) {
		return r.o
	}
	if rt.Connect {
		switch {
		case ev.Account == "":
			return r.park(outcome.ReasonNoAccount, "event on a Connect route names no connected account")
		case rt.ConnectAccounts != nil && !rt.ConnectAccounts[ev.Account]:
			r.set(outcome.Ignored, outcome.ReasonAccountNotAllowed, fmt.Sprintf("account %s is not in connect_accounts", clip(ev.Account)))
			return r.finish()
		}
	}
	ctx, cancel := rt.budget(ctx)
	defer cancel()

	switch {
	case ev.Type == outcome.EventInvoicePaid:
		return r.grantInvoice(ctx)
	case outcome.ReversalEvents[ev.Type]:
		return r.reverse(ctx)
	}
	return r.grantSession(ctx)
}

// screen answers an event the route does not take (another mode, a type it does not
// list) before any claim; res is "" when the route takes it.
func screen(rt *Route, ev event.View) (res outcome.Result, reason outcome.Reason, detail string) {
	switch {
	case ev.Livemode != rt.Livemode && rt.Connect && rt.Livemode:
		// A live Connect endpoint also receives its accounts' test events.
		return outcome.Ignored, outcome.ReasonTestEvent, "test-mode event on a live Connect route"
	case ev.Livemode != rt.Livemode:
		return outcome.LivemodeMismatch, outcome.ReasonLivemode,
			fmt.Sprintf("event livemode=%t but route %q accepts livemode=%t", ev.Livemode, rt.Name, rt.Livemode)
	case !rt.Handles(ev.Type):
		return outcome.Ignored, outcome.ReasonEventType, fmt.Sprintf("route %q does not handle %s", rt.Name, ev.Type)
	}
	return "", "", ""
}

// budget bounds the Stripe API calls and the forward together (Route.Budget).
func (rt *Route) budget(ctx context.Context) (context.Context, context.CancelFunc) {
	if rt.API != nil && rt.Budget > 0 {
		return context.WithTimeout(ctx, rt.Budget)
	}
	return ctx, func() {}
}

// grantSession credits a Checkout Session, or learns its buyer when the billing
// rules say it grants nothing (package billing).
func (r *run) grantSession(ctx context.Context) Outcome {
	rt, ev := r.rt, r.d.Event
	obj := ev.Object
	dec := sessionDecision(rt, ev)
	account, id := ev.Account, obj.ID // the closure copies these, not the whole event
	lookup := &lookup{api: rt.API, account: account, customer: obj.Customer,
		lines: func(ctx context.Context) ([]stripeapi.Line, error) {
			return rt.API.SessionLines(ctx, account, id)
		}}
	switch dec.Verdict {
	case billing.Park:
		return r.park(dec.Reason, dec.Detail)
	case billing.Pending, billing.Ignore, billing.Learn:
		r.set(outcome.Ignored, dec.Reason, dec.Detail)
		if dec.Verdict == billing.Pending {
			r.o.Result = outcome.PendingPayment
		}
		return r.learnOnly(ctx, lookup)
	}
	if obj.ID == "" {
		return r.park(outcome.ReasonNoSessionID, "data.object has no id")
	}
	pu := purchase{
		id: obj.ID, obj: obj, lookup: lookup, session: true,
		ref: forward.StripeRef{SessionID: obj.ID, CustomerID: obj.Customer, PaymentIntentID: obj.PaymentIntent,
			AmountTotal: obj.AmountTotal, Currency: obj.Currency},
	}
	if rt.Events[outcome.EventInvoicePaid] {
		pu.payment = obj.PaymentIntent // Checkout's post-payment invoice pays with it too
	}
	return r.grant(ctx, pu)
}

func sessionDecision(rt *Route, ev event.View) billing.Decision {
	return billing.Session(billing.SessionFacts{
		Completed: ev.Type == outcome.EventSessionCompleted, Mode: ev.Object.Mode, PaymentStatus: ev.Object.PaymentStatus,
		GrantNoPaymentRequired: rt.GrantNoPaymentRequired, InvoicesGrant: rt.Events[outcome.EventInvoicePaid],
	})
}

// purchase is what grant needs to credit one session or invoice.
type purchase struct {
	id      string // the purchase key and idempotency key: cs_... or in_...
	obj     event.Object
	lookup  *lookup
	ref     forward.StripeRef
	claimed bool // the purchase key is held already
	// payment is what pays the purchase when another path may credit it under another
	// id (a PaymentIntent, or an invoice paid without one): the first id forwarded
	// holds it (run.stick). "" when the id cannot vary.
	payment string
	session bool // a Checkout Session event: a subscription's PaymentIntent is on its invoice
	// started is when the invoice's subscription began; an unknown user of a young
	// subscription is answered "retry" (billing.AwaitUser). Zero: never.
	started time.Time
}

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
	case outcome.EventSessionCompleted, outcome.EventAsyncPaymentSucceeded:
		if sessionDecision(rt, ev).Verdict == billing.Grant {
			return obj.ID
		}
	}
	// An invoice's purchase may be its Checkout Session's: known after the API call.
	return ""
}

// grant claims the purchase, extracts its user and credits, learns the customer,
// then forwards (sendGrant) and records (granted).
func (r *run) grant(ctx context.Context, pu purchase) Outcome {
	rt, ev := r.rt, r.d.Event
	if !pu.claimed && r.claimPurchase(pu.id) {
		return r.o
	}
	// Its post-payment invoice may have been granted first, under its own id.
	if pu.session && rt.Events[outcome.EventInvoicePaid] && r.paidBefore(pu.ref.PaymentIntentID, pu.id) {
		return r.o
	}
	g, err := r.extract(ctx, pu)
	if err != nil {
		if errors.Is(err, extract.ErrNoUserID) && billing.AwaitUser(pu.started, r.p.now(), rt.UserWait) {
			return r.fail(outcome.InFlight, outcome.ReasonAwaitingUser, fmt.Errorf("%w; the subscription started at %s, so its Checkout Session may still be on its way: Stripe retries until %s",
				err, pu.started.Format(time.RFC3339), pu.started.Add(rt.UserWait).Format(time.RFC3339)))
		}
		return r.extractFailed(err)
	}
	r.o.Credits = g.Credits
	if r.learn(ctx, pu.obj.Customer, g.UserID) {
		return r.o
	}
	if pu.ref.PaymentIntentID == "" && pu.session && pu.obj.Mode == "subscription" && rt.API != nil && rt.reversals() {
		// A subscription session's payment_intent is null; its first invoice's is not,
		// and a refund of the period will name it.
		pi, err := rt.API.SessionPaymentIntent(ctx, ev.Account, pu.id)
		if err != nil {
			return r.apiFailed(err)
		}
		pu.ref.PaymentIntentID = pi
	}
	if r.stick(ctx, &pu) {
		return r.o
	}
	return r.sendGrant(ctx, pu, g)
}

// stick makes pu's id the one its payment was first forwarded under (Payments), just
// before the forward: when another delivery chose another id for the same payment
// (the API listed no session then, or the other event of a one-time purchase came
// first), this one claims and forwards under that id. So a redelivery whose first
// attempt reached the backend but lost its done markers carries the same
// Idempotency-Key, and the backend answers 409. It reports true when the outcome is
// final: that purchase is credited (duplicate) or being credited (in flight), or the
// store failed.
func (r *run) stick(ctx context.Context, pu *purchase) bool {
	if pu.payment == "" || r.p.Payments == nil {
		return false
	}
	held, err := r.p.Payments.Hold(ctx, r.rt.Name, pu.payment, pu.id, r.p.TTL)
	switch {
	case err != nil:
		r.storeFailed(err)
		return true
	case held == pu.id:
		return false
	case r.claimPurchase(held):
		return true
	}
	pu.id = held
	return false
}

// sendGrant forwards the credit and records the answer.
func (r *run) sendGrant(ctx context.Context, pu purchase, g extract.Grant) Outcome {
	ev := r.d.Event
	ref := pu.ref
	ref.EventID, ref.EventType, ref.Account = ev.ID, ev.Type, ev.Account
	res, err := r.rt.Forwarder.Send(ctx, forward.Request{
		ID:         pu.id,
		Type:       forward.TypeGranted,
		UserID:     scopedUser(r.rt, ev.Account, g.UserID),
		Credits:    g.Credits,
		Livemode:   ev.Livemode,
		OccurredAt: time.Unix(ev.Created, 0).UTC(),
		Stripe:     ref,
	})
	r.o.Attempts = res.Attempts
	switch {
	case errors.Is(err, forward.ErrRejected):
		return r.park(outcome.ReasonBackendRejected, err.Error())
	case err != nil:
		r.awaitPurchase(pu)
		return r.backendFailed(err)
	}
	return r.granted(pu, g, res)
}

// granted records a credit the backend has (the purchase record and every held key
// settled done) and answers forwarded. When the purchase record, which a refund
// would look for, cannot be written on a route that takes credits back, Stripe must
// redeliver: the backend answers 409 and the record is written then. On any other
// route the answer is forwarded whatever the settlement does, so with AnswerFirst it
// is returned without waiting for it.
func (r *run) granted(pu purchase, g extract.Grant, res forward.Result) Outcome {
	r.o.Result, r.o.Detail = outcome.Forwarded, answeredAfter(res)
	if res.AlreadyCredited {
		r.o.Reason = outcome.ReasonAlreadyCredited
	}
	entry, err := r.record(pu, g)
	strict := r.rt.reversals()
	if err == nil && r.d.AnswerFirst && !strict {
		r.c.settleLater(entry)
		return r.o
	}
	if err == nil {
		err = r.c.settle(entry, strict)
	}
	if err != nil {
		r.awaitPurchase(pu)
		return r.storeFailed(err)
	}
	return r.o
}

// answeredAfter is a grant's detail, "backend answered 200 after 1 attempt(s)" (once
// per credited webhook: concatenated, not formatted).
func answeredAfter(res forward.Result) string {
	return "backend answered " + strconv.Itoa(res.Status) + " after " + strconv.Itoa(res.Attempts) + " attempt(s)"
}

// extract reads the purchase's user and credits (with the API when the route has one).
func (r *run) extract(ctx context.Context, pu purchase) (extract.Grant, error) {
	var api extract.Lookup
	if r.rt.API != nil {
		api = pu.lookup
	}
	return r.rt.Extractor.ExtractWith(ctx, pu.obj, r.p.customers(r.rt), api)
}

// record is the purchase record a later refund or dispute will look for, for the
// settlement to create (Book). Only a route that takes credits back fails on it;
// others log and go on.
func (r *run) record(pu purchase, g extract.Grant) (*ledger.Entry, error) {
	p, rt, ev := r.p, r.rt, r.d.Event
	pi := pu.ref.PaymentIntentID
	if p.Records == nil || pi == "" {
		return nil, nil
	}
	rec := ledger.Record{
		PurchaseID: pu.id, SessionID: pu.ref.SessionID, UserID: g.UserID, Credits: g.Credits,
		Amount: pu.ref.AmountTotal, Currency: pu.ref.Currency, CustomerID: pu.obj.Customer,
		Account: ev.Account, Livemode: ev.Livemode,
	}
	e, err := ledger.NewEntry(storekey.Record(rt.Name, pi), rec, p.recordTTL())
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
