package main

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// subscriptionKinds are the subscription purchases the plan mixes in.
var subscriptionKinds = []kind{kindSubscription, kindSubLate, kindTrial, kindRenewal}

const typeInvoicePaid = "invoice.paid"

// planSubscription fills in the events of a subscription purchase and puts the
// objects its invoices need into api (the Stripe API the replicas read).
//
//	kindSubscription  session (ignored: the invoices grant) and first invoice (forwarded under
//	                  the session's id), in random order
//	kindSubLate       the same, but the API lists the session only once its event was
//	                  acknowledged, and the invoice goes first: when the subscription has no
//	                  user id (half of them) it is answered 409 awaiting_user until then,
//	                  else it is granted at once, under the invoice's id
//	kindTrial         trial session, $0 first invoice (ignored), first paid renewal (forwarded)
//	kindRenewal       one renewal of a subscription that names its user
func planSubscription(p *purchase, rng *rand.Rand, hex func(int) string, ev func(typ, status string, ok ...string) *simEvent, api *stripeAPI) {
	sub := "sub_soak" + hex(14)
	session := func(status string) *simEvent {
		e := ev(typeCompleted, status, "ignored", "duplicate")
		e.body = eventBody(e.id, typeCompleted, map[string]any{
			"id": p.session, "object": "checkout.session", "mode": "subscription", "payment_status": status,
			"status": "complete", "customer": p.customer, "subscription": sub, "payment_intent": nil,
			"metadata": map[string]any{"user_id": p.user, "credits": fmt.Sprint(p.credits)},
		})
		return e
	}
	userOnSub := p.kind == kindRenewal || p.kind == kindSubLate && rng.IntN(2) == 0
	invoice := func(reason string, total int64, ok ...string) *simEvent {
		in := "in_soak" + hex(20)
		e := ev(typeInvoicePaid, "", ok...)
		e.body = eventBody(e.id, typeInvoicePaid, map[string]any{
			"id": in, "object": "invoice", "customer": p.customer, "subscription": sub, "billing_reason": reason,
		})
		e.invoice = in
		subMeta := map[string]any{}
		if userOnSub {
			subMeta["user_id"] = p.user
		}
		api.putInvoice(in, map[string]any{
			"id": in, "object": "invoice", "billing_reason": reason, "customer": p.customer, "currency": "eur",
			"total": total, "amount_paid": total, "paid": true, "status": "paid", "payment_intent": "pi_soak" + hex(20),
			"subscription": map[string]any{"id": sub, "object": "subscription", "customer": p.customer,
				"metadata": subMeta, "created": time.Now().Unix(), "status": "active"},
		}, p.credits)
		return e
	}
	switch p.kind {
	case kindSubscription, kindSubLate:
		s, first := session("paid"), invoice("subscription_create", 999, "forwarded", "duplicate")
		var late *simEvent
		if p.kind == kindSubLate {
			// Granted under the session's id, or, when the subscription names the
			// user or the customer map answered before the API listed the session,
			// under the invoice's: once either way.
			late, p.altID = s, first.invoice
			s.delay = time.Duration(rng.Int64N(int64(time.Second))) // the invoice goes first
		} else if rng.IntN(2) == 0 {
			s.after = first
		}
		api.putSession(p.session, sub, p.customer, map[string]any{"user_id": p.user, "credits": fmt.Sprint(p.credits)}, late)
		p.events = []*simEvent{s, first}
	case kindTrial:
		s, zero := session("no_payment_required"), invoice("subscription_create", 0, "ignored", "duplicate")
		paid := invoice("subscription_cycle", 999, "forwarded", "duplicate")
		paid.after = zero // the trial ends after it started
		api.putSession(p.session, sub, p.customer, map[string]any{"user_id": p.user}, nil)
		p.grantID = paid.invoice
		p.events = []*simEvent{s, zero, paid}
	case kindRenewal:
		renewal := invoice("subscription_cycle", 999, "forwarded", "duplicate")
		p.grantID = renewal.invoice
		p.events = []*simEvent{renewal}
	}
}

// lateFirstInvoices are the first invoices of the kindSubLate purchases of ps.
func lateFirstInvoices(ps []*purchase) map[string]bool {
	ids := map[string]bool{}
	for _, p := range ps {
		if p.kind == kindSubLate {
			ids[p.altID] = true
		}
	}
	return ids
}

func eventBody(id, typ string, obj map[string]any) []byte {
	b, err := json.Marshal(map[string]any{
		"id": id, "object": "event", "api_version": "2023-10-16", "created": time.Now().Unix(),
		"livemode": false, "pending_webhooks": 1, "type": typ, "data": map[string]any{"object": obj},
	})
	if err != nil {
		panic(err)
	}
	return b
}

// stripeAPI is the Stripe API of the soak's subscriptions, answering like Stripe at
// API version 2023-10-16: invoices with their subscription expanded, their lines
// (one price whose metadata gives the purchase's credits), and the Checkout Session
// list filtered by subscription. Never faulted: the soak's faults are Redis, the
// replicas and the backend.
type stripeAPI struct {
	srv      *http.Server
	addr     string
	mu       sync.Mutex
	invoices map[string][]byte         // id → the invoice
	lines    map[string][]byte         // invoice id → its lines
	sessions map[string]map[string]any // subscription → its Checkout Session
	lateBy   map[string]*simEvent      // subscription → the event that must be acknowledged first
	calls    map[string]int            // requests by kind, for the report
	unknown  []string                  // requests it could not answer
}

func newStripeAPI(addr string) *stripeAPI {
	a := &stripeAPI{addr: addr, invoices: map[string][]byte{}, lines: map[string][]byte{},
		sessions: map[string]map[string]any{}, lateBy: map[string]*simEvent{}, calls: map[string]int{}}
	a.srv = &http.Server{Addr: addr, Handler: a, ReadHeaderTimeout: 5 * time.Second}
	return a
}

func (a *stripeAPI) up() error {
	ln, err := net.Listen("tcp", a.addr)
	if err != nil {
		return err
	}
	go func() { _ = a.srv.Serve(ln) }()
	return nil
}

func (a *stripeAPI) close() { _ = a.srv.Close() }

func (a *stripeAPI) putInvoice(id string, inv map[string]any, credits int64) {
	b, _ := json.Marshal(inv)
	l, _ := json.Marshal(map[string]any{"object": "list", "has_more": false, "url": "/v1/invoices/" + id + "/lines",
		"data": []any{map[string]any{"id": "il_" + id, "object": "line_item", "quantity": 1, "proration": false,
			"price": map[string]any{"id": "price_soak_plan", "object": "price", "metadata": map[string]any{"credits": fmt.Sprint(credits)},
				"product": map[string]any{"id": "prod_soak", "object": "product", "metadata": map[string]any{}}}}}})
	a.mu.Lock()
	defer a.mu.Unlock()
	a.invoices[id], a.lines[id] = b, l
}

func (a *stripeAPI) putSession(id, sub, customer string, md map[string]any, late *simEvent) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.sessions[sub] = map[string]any{"id": id, "object": "checkout.session", "mode": "subscription", "status": "complete",
		"customer": customer, "subscription": sub, "payment_intent": nil, "metadata": md}
	if late != nil {
		a.lateBy[sub] = late
	}
}

func (a *stripeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Request-Id", "req_soak")
	path := strings.TrimPrefix(r.URL.Path, "/v1/")
	a.mu.Lock()
	defer a.mu.Unlock()
	var body []byte
	switch {
	case path == "checkout/sessions":
		a.calls["sessions"]++
		sub := r.URL.Query().Get("subscription")
		data := []any{}
		if cs, ok := a.sessions[sub]; ok && (a.lateBy[sub] == nil || a.lateBy[sub].acked.Load()) {
			data = append(data, cs)
		}
		body, _ = json.Marshal(map[string]any{"object": "list", "data": data, "has_more": false, "url": "/v1/checkout/sessions"})
	case strings.HasPrefix(path, "invoices/") && strings.HasSuffix(path, "/lines"):
		a.calls["lines"]++
		body = a.lines[strings.TrimSuffix(strings.TrimPrefix(path, "invoices/"), "/lines")]
	case strings.HasPrefix(path, "invoices/"):
		a.calls["invoices"]++
		body = a.invoices[strings.TrimPrefix(path, "invoices/")]
	}
	if body == nil {
		if len(a.unknown) < 10 {
			a.unknown = append(a.unknown, r.Method+" "+r.URL.String())
		}
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte(`{"error":{"type":"invalid_request_error","message":"No such object"}}`))
		return
	}
	_, _ = w.Write(body)
}

// unknownRequests are the requests the API could not answer (a wrong path or id).
func (a *stripeAPI) unknownRequests() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.unknown...)
}
