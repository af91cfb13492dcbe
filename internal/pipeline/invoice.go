package pipeline

import (
	"context"
	"fmt"
	"maps"
	"time"

	"github.com/creditgate/creditgate/internal/billing"
	"github.com/creditgate/creditgate/internal/event"
	"github.com/creditgate/creditgate/internal/extract"
	"github.com/creditgate/creditgate/internal/forward"
	"github.com/creditgate/creditgate/internal/outcome"
	"github.com/creditgate/creditgate/internal/storekey"
	"github.com/creditgate/creditgate/internal/stripeapi"
)

// grantInvoice credits a paid invoice as the billing rules say: the invoice and its
// lines come from the API; its Checkout Session, found through the API, names the
// buyer and, for Checkout's post-payment invoice and a subscription's first
// invoice, is the purchase itself (one purchase key with the session's own event).
func (r *run) grantInvoice(ctx context.Context) Outcome {
	rt, ev := r.rt, r.d.Event
	obj := ev.Object
	if obj.ID == "" {
		return r.park(outcome.ReasonNoInvoiceID, "data.object has no id")
	}
	if rt.API == nil {
		return r.park(outcome.ReasonNoAPIKey, "invoice.paid needs the Stripe API (stripe.api_key_file)")
	}
	inv, err := rt.API.Invoice(ctx, ev.Account, obj.ID)
	if err != nil {
		return r.apiFailed(err)
	}
	facts := billing.Invoice{ID: obj.ID, BillingReason: inv.BillingReason, Subscription: inv.Subscription,
		PaymentIntent: inv.PaymentIntent, Total: inv.Total, AmountPaid: inv.AmountPaid,
		Lines: len(inv.Lines), Prorations: inv.Prorations()}
	switch dec := billing.InvoiceDecision(facts); dec.Verdict {
	case billing.Park:
		return r.park(dec.Reason, dec.Detail)
	case billing.Ignore:
		r.set(outcome.Ignored, dec.Reason, dec.Detail)
		return r.finish()
	}
	var cs stripeapi.Session
	if sub, pi := billing.SessionQuery(facts); sub != "" || pi != "" {
		if cs, _, err = rt.API.SessionFor(ctx, ev.Account, sub, pi); err != nil {
			return r.apiFailed(err)
		}
	}
	if obj.Customer == "" {
		obj.Customer = inv.Customer
	}
	id := billing.PurchaseID(facts, cs.ID)
	ref := forward.StripeRef{InvoiceID: obj.ID, CustomerID: obj.Customer, PaymentIntentID: inv.PaymentIntent,
		AmountTotal: inv.AmountPaid, Currency: inv.Currency}
	if id == cs.ID {
		// The session's purchase: extract as its own event would, credits included.
		obj = event.Object{ID: cs.ID, Object: "checkout.session", ClientReferenceID: cs.ClientReferenceID,
			Metadata: cs.Metadata, Customer: obj.Customer}
		ref.SessionID = cs.ID
	} else if cs.ID != "" {
		obj = withBuyer(obj, cs)
	}
	if r.claimPurchase(id) {
		return r.o
	}
	if cs.ID == "" && billing.SameAsSession(facts) && r.paidBefore(facts.PaymentIntent, id) {
		return r.o
	}
	lookup := &lookup{api: rt.API, account: ev.Account, customer: obj.Customer, subscription: inv.SubscriptionMetadata,
		lines: func(context.Context) ([]stripeapi.Line, error) { return inv.Lines, nil }}
	pu := purchase{id: id, obj: obj, lookup: lookup, claimed: true, ref: ref}
	if billing.SameAsSession(facts) {
		// Its id depends on whether the API lists the session: the first one holds.
		if pu.payment = inv.PaymentIntent; pu.payment == "" {
			pu.payment = facts.ID
		}
	}
	if cs.ID == "" {
		// Only a session still to come can name the user later: a session that was
		// found and names nobody never will.
		pu.started = inv.SubscriptionStarted
	}
	return r.grant(ctx, pu)
}

// paidBefore is a second guard for the one-time purchases whose session and
// post-payment invoice could each be granted under its own key, should the API not
// name the invoice's session: if the route already recorded a grant paid by
// paymentIntent under another purchase id, this one is that purchase, a duplicate.
// It reports true when the outcome is final. (Two deliveries in flight at once,
// before either recorded its grant, are caught by stick, just before the forward: the
// second finds the payment held by the first one's purchase.)
func (r *run) paidBefore(paymentIntent, id string) bool {
	if paymentIntent == "" || r.p.Records == nil {
		return false
	}
	rec, ok, err := r.p.Records.Get(r.c.cleanupCtx(), storekey.Record(r.rt.Name, paymentIntent))
	switch {
	case err != nil:
		r.storeFailed(err)
		return true
	case ok && rec.PurchaseID != id:
		r.set(outcome.Duplicate, outcome.ReasonPurchase, fmt.Sprintf("payment %s was already credited as %s", clip(paymentIntent), clip(rec.PurchaseID)))
		r.finish()
		return true
	}
	return false
}

// withBuyer gives a renewal the buyer its subscription's Checkout Session named: the
// session's client_reference_id, and its metadata.user_id when the invoice has none.
// Credits stay the invoice's own.
func withBuyer(obj event.Object, cs stripeapi.Session) event.Object {
	obj.ClientReferenceID = cs.ClientReferenceID
	if u, ok := cs.Metadata["user_id"]; ok && obj.Metadata["user_id"] == "" {
		obj.Metadata = maps.Clone(obj.Metadata)
		if obj.Metadata == nil {
			obj.Metadata = map[string]string{}
		}
		obj.Metadata["user_id"] = u
	}
	return obj
}

// learnOnly answers the outcome set (pending, ignored) for a session that grants
// nothing, after learning its customer's user: a trial, an unpaid or a free session
// still names the buyer of the invoices to come.
func (r *run) learnOnly(ctx context.Context, lk *lookup) Outcome {
	rt, obj := r.rt, r.d.Event.Object
	if obj.Customer == "" || r.p.Customers == nil {
		return r.finish()
	}
	var api extract.Lookup
	if rt.API != nil {
		api = lk
	}
	user, _, err := rt.Extractor.User(ctx, obj, r.p.customers(rt), api)
	switch {
	case err == nil:
		if r.learn(ctx, obj.Customer, user) {
			return r.o
		}
		r.o.Detail += "; customer " + clip(obj.Customer) + " belongs to the user it names"
	case extract.Reason(err) == "":
		return r.extractFailed(err)
	}
	return r.finish()
}

// learn maps customer to user on the route (or refreshes the mapping); it reports
// true when the outcome is final: the customer belongs to another user (parked
// customer_conflict), or the store failed.
func (r *run) learn(ctx context.Context, customer, user string) bool {
	p, rt := r.p, r.rt
	if customer == "" || p.Customers == nil {
		return false
	}
	held, err := r.learnNow(ctx, customer, user)
	switch {
	case err != nil:
		r.storeFailed(err)
		return true
	case billing.Conflict(held, user):
		r.park(outcome.ReasonCustomerConflict, fmt.Sprintf(
			"customer %s belongs to user %s on route %s, but this event names user %s; nothing was credited: drop it, or, if the customer really changed hands, delete the mapping (key %s under redis.key_prefix) and replay",
			clip(customer), clip(held), rt.Name, clip(user), storekey.CustomerMap(rt.Name, clip(customer))))
		return true
	}
	return false
}

// learnNow learns customer for user: the answer of the learn that went out with the
// claims (learnEarly) when it was for the same customer and user, else a learn of its
// own.
func (r *run) learnNow(ctx context.Context, customer, user string) (string, error) {
	if e := r.early; e != nil && e.customer == customer && e.user == user {
		r.early = nil
		return e.wait()
	}
	return r.p.Customers.Learn(ctx, r.rt.Name, customer, user, r.p.customerTTL())
}

// learnEarly queues the customer map's learn of a paid session whose event alone names
// its user (extract.LocalUser), so that it goes to Redis in the claims' round trip
// instead of one of its own; grant's learn then takes its answer (learnNow). Learning
// before the claims changes nothing that matters: the map only ever learns the user a
// session names, and a duplicate or in-flight delivery names the same one.
func (r *run) learnEarly(ctx context.Context) {
	obj := r.d.Event.Object
	l, ok := r.p.Customers.(earlyLearner)
	if !ok || obj.Customer == "" {
		return
	}
	user, ok := r.rt.Extractor.LocalUser(obj)
	if !ok {
		return
	}
	if wait, ok := l.LearnLater(ctx, r.rt.Name, obj.Customer, user, r.p.customerTTL()); ok {
		r.early = &earlyLearn{customer: obj.Customer, user: user, wait: wait}
	}
}

// dropEarly collects a learn that learnEarly queued and the path never asked for.
func (r *run) dropEarly() {
	if r.early != nil {
		_, _ = r.early.wait()
		r.early = nil
	}
}

// earlyLearner is a customer map that can send a learn with the caller's next round
// trip (ledger.RedisCustomers on a redisclient.Batch); ok is false when it cannot.
type earlyLearner interface {
	LearnLater(ctx context.Context, route, customerID, userID string, ttl time.Duration) (wait func() (string, error), ok bool)
}

// earlyLearn is a learn on its way (learnEarly).
type earlyLearn struct {
	customer, user string
	wait           func() (string, error)
}

func (p *Pipeline) customerTTL() time.Duration {
	if p.CustomerTTL > 0 {
		return p.CustomerTTL
	}
	return p.TTL
}

// customers is the route's customer map as the extractor reads it.
func (p *Pipeline) customers(rt *Route) extract.Customers {
	if p.Customers == nil {
		return nil
	}
	return routeCustomers{p.Customers, rt.Name}
}

type routeCustomers struct {
	m interface {
		Customer(ctx context.Context, route, customerID string) (string, bool, error)
	}
	route string
}

func (r routeCustomers) Customer(ctx context.Context, customerID string) (string, bool, error) {
	return r.m.Customer(ctx, r.route, customerID)
}
