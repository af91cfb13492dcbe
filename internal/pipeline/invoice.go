package pipeline

import (
	"context"
	"errors"
	"fmt"
	"maps"

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
func (p *Pipeline) grantInvoice(ctx context.Context, c *claims, o Outcome, rt *Route, d Delivery) Outcome {
	ev := d.Event
	obj := ev.Object
	if obj.ID == "" {
		return c.park(o, rt, d, outcome.ReasonNoInvoiceID, "data.object has no id")
	}
	if rt.API == nil {
		return c.park(o, rt, d, outcome.ReasonNoAPIKey, "invoice.paid needs the Stripe API (stripe.api_key_file)")
	}
	inv, err := rt.API.Invoice(ctx, ev.Account, obj.ID)
	if err != nil {
		return p.apiFailed(c, o, rt, d, err)
	}
	facts := billing.Invoice{ID: obj.ID, BillingReason: inv.BillingReason, Subscription: inv.Subscription,
		PaymentIntent: inv.PaymentIntent, Total: inv.Total, AmountPaid: inv.AmountPaid,
		Lines: len(inv.Lines), Prorations: inv.Prorations()}
	switch dec := billing.InvoiceDecision(facts); dec.Verdict {
	case billing.Park:
		return c.park(o, rt, d, dec.Reason, dec.Detail)
	case billing.Ignore:
		o.Result, o.Reason, o.Detail = outcome.Ignored, dec.Reason, dec.Detail
		return c.done(o)
	}
	var cs stripeapi.Session
	if sub, pi := billing.SessionQuery(facts); sub != "" || pi != "" {
		if cs, _, err = rt.API.SessionFor(ctx, ev.Account, sub, pi); err != nil {
			return p.apiFailed(c, o, rt, d, err)
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
	if o, settled := p.claimPurchase(c, o, id); settled {
		return o
	}
	if cs.ID == "" && billing.SameAsSession(facts) {
		if o, settled := p.paidBefore(c, o, rt, facts.PaymentIntent, id); settled {
			return o
		}
	}
	lookup := &lookup{api: rt.API, account: ev.Account, customer: obj.Customer, subscription: inv.SubscriptionMetadata,
		lines: func(context.Context) ([]stripeapi.Line, error) { return inv.Lines, nil }}
	pu := purchase{id: id, obj: obj, lookup: lookup, claimed: true, ref: ref}
	if cs.ID == "" {
		// Only a session still to come can name the user later: a session that was
		// found and names nobody never will.
		pu.started = inv.SubscriptionStarted
	}
	return p.grant(ctx, c, o, rt, d, pu)
}

// paidBefore is a second guard for the one-time purchases whose session and
// post-payment invoice could each be granted under its own key, should the API not
// name the invoice's session: if the route already recorded a grant paid by
// paymentIntent under another purchase id, this one is that purchase, a duplicate.
// settled is true when o is final. (Two deliveries in flight at once, before either
// recorded its grant, are not caught here.)
func (p *Pipeline) paidBefore(c *claims, o Outcome, rt *Route, paymentIntent, id string) (Outcome, bool) {
	if paymentIntent == "" || p.Records == nil {
		return o, false
	}
	rec, ok, err := p.Records.Get(c.cleanupCtx(), storekey.Record(rt.Name, paymentIntent))
	switch {
	case err != nil:
		return c.fail(o, outcome.StoreUnavailable, outcome.ReasonStore, err), true
	case ok && rec.PurchaseID != id:
		o.Result, o.Reason, o.Detail = outcome.Duplicate, outcome.ReasonPurchase, fmt.Sprintf("payment %s was already credited as %s", clip(paymentIntent), clip(rec.PurchaseID))
		return c.done(o), true
	}
	return o, false
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

// learnOnly answers o (pending, ignored) for a session that grants nothing, after
// learning its customer's user: a trial, an unpaid or a free session still names
// the buyer of the invoices to come.
func (p *Pipeline) learnOnly(ctx context.Context, c *claims, o Outcome, rt *Route, d Delivery, lk *lookup) Outcome {
	obj := d.Event.Object
	if obj.Customer == "" || p.Customers == nil {
		return c.done(o)
	}
	var api extract.Lookup
	if rt.API != nil {
		api = lk
	}
	user, _, err := rt.Extractor.User(ctx, obj, p.customers(rt), api)
	switch {
	case err == nil:
		if o, settled := p.learn(ctx, c, o, rt, d, obj.Customer, user); settled {
			return o
		}
		o.Detail += "; customer " + clip(obj.Customer) + " belongs to the user it names"
	case extract.Reason(err) == "":
		return p.extractFailed(c, o, rt, d, err)
	}
	return c.done(o)
}

// learn maps customer to user on the route (or refreshes the mapping); settled is
// true when o is final: the customer belongs to another user (parked
// customer_conflict), or the store failed.
func (p *Pipeline) learn(ctx context.Context, c *claims, o Outcome, rt *Route, d Delivery, customer, user string) (Outcome, bool) {
	if customer == "" || p.Customers == nil {
		return o, false
	}
	ttl := p.CustomerTTL
	if ttl <= 0 {
		ttl = p.TTL
	}
	held, err := p.Customers.Learn(ctx, rt.Name, customer, user, ttl)
	switch {
	case err != nil:
		return c.fail(o, outcome.StoreUnavailable, outcome.ReasonStore, err), true
	case billing.Conflict(held, user):
		return c.park(o, rt, d, outcome.ReasonCustomerConflict, fmt.Sprintf(
			"customer %s belongs to user %s on route %s, but this event names user %s; nothing was credited: drop it, or, if the customer really changed hands, delete the mapping (key customermap:%s:%s under redis.key_prefix) and replay",
			clip(customer), clip(held), rt.Name, clip(user), rt.Name, clip(customer))), true
	}
	return o, false
}

// extractFailed maps an extraction error: permanent ones park with their reason, an
// API outage and a store outage answer 503.
func (p *Pipeline) extractFailed(c *claims, o Outcome, rt *Route, d Delivery, err error) Outcome {
	if reason := extract.Reason(err); reason != "" {
		return c.park(o, rt, d, reason, err.Error())
	}
	if errors.Is(err, stripeapi.ErrUnavailable) {
		return c.fail(o, outcome.BackendUnavailable, outcome.ReasonStripeAPI, err)
	}
	return c.fail(o, outcome.StoreUnavailable, outcome.ReasonStore, err)
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
