package e2e

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	mrand "math/rand/v2"
	"strings"
	"testing"
	"time"
)

const subscriptionPrice = "price_e2e_pack100" // 100 credits a unit

// subscriptionRoute handles sessions and invoices on one route, credits from the
// price table, users from the default sources of an invoice route.
const subscriptionRoute = apiRoute + `
    events: [checkout.session.completed, checkout.session.async_payment_succeeded, invoice.paid]
    extract:
      user_id_format: uuid
      credits: [price_table]
      price_table: {` + subscriptionPrice + `: 100}
`

// purchaseWorld builds Stripe objects (in the fake API) and the events Stripe sends
// for them.
type purchaseWorld struct {
	t      *testing.T
	api    *fakeStripe
	events [][]byte
	// sessionOf maps an event id to the session it makes visible in the API's list
	// once delivered (a session the list lags on).
	reveals map[string]string
	// first are delivered before the shuffled rest (an invoice that beats its session).
	first [][]byte
}

func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6], b[8] = b[6]&0x0f|0x40, b[8]&0x3f|0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

func (w *purchaseWorld) event(typ string, obj map[string]any) string {
	id := "evt_e2e_" + randHex(10)
	raw, err := json.Marshal(map[string]any{
		"id": id, "object": "event", "api_version": "2023-10-16", "created": time.Now().Unix(),
		"livemode": false, "pending_webhooks": 1, "type": typ, "data": map[string]any{"object": obj},
	})
	must(w.t, err)
	w.events = append(w.events, raw)
	return id
}

// session adds a completed Checkout Session. userInSession puts the user id in its
// metadata; mode subscription links sub; pi is the payment mode's PaymentIntent.
func (w *purchaseWorld) session(user, cus, mode, status, sub, pi, invoice string, userInSession bool) string {
	cs := "cs_test_e2e_" + randHex(10)
	md := map[string]any{}
	if userInSession {
		md["user_id"] = user
	}
	obj := map[string]any{
		"id": cs, "object": "checkout.session", "mode": mode, "payment_status": status, "status": "complete",
		"customer": cus, "metadata": md, "client_reference_id": nil, "amount_total": 999, "currency": "eur",
		"subscription": nilIfEmpty(sub), "payment_intent": nilIfEmpty(pi), "invoice": nilIfEmpty(invoice),
	}
	w.api.put(cs, obj, priceLine(subscriptionPrice, false))
	w.event("checkout.session.completed", obj)
	return cs
}

// invoice adds a paid invoice and its invoice.paid event.
func (w *purchaseWorld) invoice(cus, sub, reason, pi string, total, paid int64, subMeta map[string]any, lines ...map[string]any) string {
	in := "in_e2e_" + randHex(10)
	var subObj any
	if sub != "" {
		subObj = map[string]any{"id": sub, "object": "subscription", "customer": cus, "metadata": subMeta,
			"created": time.Now().Add(-time.Minute).Unix(), "status": "active"}
	}
	w.api.put(in, map[string]any{
		"id": in, "object": "invoice", "billing_reason": reason, "customer": cus, "currency": "eur",
		"total": total, "amount_paid": paid, "amount_due": paid, "paid": true, "status": "paid",
		"payment_intent": nilIfEmpty(pi), "subscription": subObj, "metadata": map[string]any{},
	}, lines...)
	w.event("invoice.paid", map[string]any{
		"id": in, "object": "invoice", "billing_reason": reason, "customer": cus, "subscription": nilIfEmpty(sub),
		"total": total, "amount_paid": paid, "payment_intent": nilIfEmpty(pi), "status": "paid", "paid": true,
	})
	return in
}

func nilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// TestSubscriptionsExactlyOnce runs a month of a credit shop through the real program
// and a Stripe API that answers like Stripe: subscriptions (with and without a
// trial, renewals, a renewal paid from the customer's balance, a proration-only
// upgrade), the user only on the subscription, an invoice whose session the API does
// not list yet, and a one-time purchase with Checkout's post-payment invoice. Every
// event is delivered twice, in a shuffled order; a non-2xx answer is redelivered
// later, like Stripe does. In the end every user has exactly the credits they paid
// for and the dead-letter list is empty.
func TestSubscriptionsExactlyOnce(t *testing.T) {
	requireRedis(t)
	api := newFakeStripe(t)
	b := newBackend(t)
	p := startAPIProxy(t, b, subscriptionRoute, api.URL, "sk_test_fake")
	w := &purchaseWorld{t: t, api: api, reveals: map[string]string{}}
	line := func() map[string]any { return priceLine(subscriptionPrice, false) }
	want := map[string]int64{}
	firstKeys := map[string]string{} // user → the Idempotency-Key of the first purchase

	buyer := func(name string, credits int64) (user, cus, sub string) {
		user, cus, sub = newUUID(), "cus_e2e_"+name+randHex(6), "sub_e2e_"+name+randHex(6)
		api.put(cus, map[string]any{"id": cus, "object": "customer", "metadata": map[string]any{}})
		want[user] = credits
		return
	}
	{ // A subscription, then a renewal.
		u, cus, sub := buyer("plain", 200)
		in1 := "in_first_" + randHex(6)
		firstKeys[u] = w.session(u, cus, "subscription", "paid", sub, "", in1, true)
		w.invoice(cus, sub, "subscription_create", "pi_"+randHex(8), 999, 999, nil, line())
		w.invoice(cus, sub, "subscription_cycle", "pi_"+randHex(8), 999, 999, nil, line())
	}
	{ // A trial: the session pays nothing, the $0 first invoice grants nothing, the
		// first paid period does.
		u, cus, sub := buyer("trial", 100)
		w.session(u, cus, "subscription", "no_payment_required", sub, "", "", true)
		w.invoice(cus, sub, "subscription_create", "", 0, 0, nil, line())
		w.invoice(cus, sub, "subscription_cycle", "pi_"+randHex(8), 999, 999, nil, line())
	}
	{ // The user only on the subscription (subscription_data.metadata.user_id).
		u, cus, sub := buyer("submeta", 100)
		firstKeys[u] = w.session(u, cus, "subscription", "paid", sub, "", "", false)
		w.invoice(cus, sub, "subscription_create", "pi_"+randHex(8), 999, 999, map[string]any{"user_id": u}, line())
	}
	{ // A renewal paid from the customer's credit balance.
		u, cus, sub := buyer("balance", 200)
		w.session(u, cus, "subscription", "paid", sub, "", "", true)
		w.invoice(cus, sub, "subscription_create", "pi_"+randHex(8), 999, 999, nil, line())
		w.invoice(cus, sub, "subscription_cycle", "", 999, 0, nil, line())
	}
	{ // A proration-only upgrade invoice buys no period.
		u, cus, sub := buyer("upgrade", 100)
		w.session(u, cus, "subscription", "paid", sub, "", "", true)
		w.invoice(cus, sub, "subscription_create", "pi_"+randHex(8), 999, 999, nil, line())
		w.invoice(cus, sub, "subscription_update", "pi_"+randHex(8), 500, 500, nil, priceLine(subscriptionPrice, true), priceLine("price_e2e_old", true))
	}
	{ // The API does not list the session until its event arrived: the invoice waits
		// (409) and is granted on Stripe's retry.
		u, cus, sub := buyer("lagging", 100)
		cs := w.session(u, cus, "subscription", "paid", sub, "", "", true)
		api.setHidden(cs, true)
		var ev struct{ ID string }
		must(t, json.Unmarshal(w.events[len(w.events)-1], &ev))
		w.reveals[ev.ID] = cs
		w.invoice(cus, sub, "subscription_create", "pi_"+randHex(8), 999, 999, nil, line())
		w.first = append(w.first, w.events[len(w.events)-1])
	}
	{ // A one-time purchase with invoice_creation: its post-payment invoice is the
		// same purchase.
		u, cus, _ := buyer("onetime", 100)
		pi := "pi_e2e_" + randHex(8)
		firstKeys[u] = w.session(u, cus, "payment", "paid", "", pi, "", true)
		w.invoice(cus, "", "manual", pi, 999, 999, nil, line())
	}

	seed := time.Now().UnixNano()
	t.Logf("delivery order seed %d", seed)
	awaited := stripeDelivery(t, p, api, w, mrand.New(mrand.NewPCG(uint64(seed), 0)))
	if awaited == 0 {
		t.Error("no invoice waited for its user (409 awaiting_user); the lagging session case did not happen")
	}

	got := map[string]int64{}
	for key, r := range b.credited() {
		got[r.UserID] += r.Credits
		if strings.HasPrefix(key, "in_") && r.Stripe.SessionID != "" {
			t.Errorf("%s: an invoice granted under its own id although it is session %s's purchase", key, r.Stripe.SessionID)
		}
	}
	for u, n := range want {
		if got[u] != n {
			t.Errorf("user %s has %d credits, want %d", u, got[u], n)
		}
	}
	if len(got) != len(want) {
		t.Errorf("credited users %v, want %v", got, want)
	}
	credited := b.credited()
	for u, key := range firstKeys {
		if r, ok := credited[key]; !ok || r.UserID != u {
			t.Errorf("the first purchase of %s is not credited under its session %s: %+v", u, key, r)
		}
	}
	out, err := p.runCLI("dlq", "list", "--config", p.cfgPath)
	if err != nil || !strings.Contains(out, "0 entries") {
		t.Errorf("dead-letter list is not empty: %v\n%s", err, out)
	}
}

// stripeDelivery delivers w.first, then every event twice in a shuffled order, and redelivers each
// non-2xx answer later, as Stripe does, until nothing is left (bounded). It returns
// how many answers were 409 awaiting_user.
func stripeDelivery(t *testing.T, p *proxy, api *fakeStripe, w *purchaseWorld, rng *mrand.Rand) (awaited int) {
	t.Helper()
	queue := append(append([][]byte(nil), w.events...), w.events...)
	rng.Shuffle(len(queue), func(i, j int) { queue[i], queue[j] = queue[j], queue[i] })
	queue = append(append([][]byte(nil), w.first...), queue...)
	deadline := time.Now().Add(60 * time.Second)
	for n := 0; len(queue) > 0; n++ {
		if n > 20*len(w.events) || time.Now().After(deadline) {
			t.Fatalf("%d deliveries left after %d attempts", len(queue), n)
		}
		raw := queue[0]
		queue = queue[1:]
		a := p.deliver(raw)
		if cs, ok := w.reveals[a.EventID]; ok && a.Code == 200 {
			api.setHidden(cs, false)
		}
		switch {
		case a.Code == 200:
		case a.Code == 409 && strings.Contains(a.Raw, "in_flight"):
			awaited++
			at := len(queue)
			if at > 0 {
				at = rng.IntN(len(queue) + 1)
			}
			queue = append(queue[:at], append([][]byte{raw}, queue[at:]...)...)
		default:
			t.Fatalf("event %s: %d %s (%s)", a.EventID, a.Code, a.Status, a.Raw)
		}
	}
	return awaited
}

// TestSubscriptionSessionRefund: on a route without invoice.paid a subscription's
// Checkout Session grants itself; its purchase record takes the PaymentIntent of the
// session's invoice (the session's own is null), so a refund of the first period
// finds it and takes the credits back.
func TestSubscriptionSessionRefund(t *testing.T) {
	requireRedis(t)
	api := newFakeStripe(t)
	b := newBackend(t)
	p := startAPIProxy(t, b, apiRoute+`
    events: [checkout.session.completed, charge.refunded]
    extract:
      user_id_format: uuid
      credits: [price_table]
      price_table: {`+subscriptionPrice+`: 100}
`, api.URL, "sk_test_fake")
	w := &purchaseWorld{t: t, api: api}
	user, cus, sub, pi := newUUID(), "cus_e2e_"+randHex(6), "sub_e2e_"+randHex(6), "pi_e2e_first_"+randHex(6)
	in := w.invoice(cus, sub, "subscription_create", pi, 999, 999, nil, priceLine(subscriptionPrice, false))
	cs := w.session(user, cus, "subscription", "paid", sub, "", in, true)
	if a := p.deliver(w.events[1]); a.Code != 200 || a.Status != "forwarded" {
		t.Fatalf("session: %d %s (%s)", a.Code, a.Status, a.Raw)
	}
	if got := b.credited()[cs]; got.Credits != 100 || got.UserID != user || got.Stripe.PaymentIntentID != pi {
		t.Fatalf("grant %+v", got)
	}
	evt := "evt_e2e_refund_" + randHex(6)
	refund := mutate(t, withIDs(t, "charge_refunded_partial.json", evt, "ch_e2e_"+randHex(6)), func(o, _ map[string]any) {
		o["payment_intent"], o["amount"], o["amount_refunded"], o["refunded"] = pi, 999, 999, true
	})
	if a := p.deliver(refund); a.Code != 200 || a.Status != "forwarded" {
		t.Fatalf("refund: %d %s (%s)", a.Code, a.Status, a.Raw)
	}
	if got := b.credited()[evt]; got.Credits != -100 || got.UserID != user || got.Stripe.SessionID != cs {
		t.Fatalf("reversal %+v", got)
	}
}

// TestCustomerConflict: a second user for a customer the route already maps is parked
// customer_conflict, never credited and never a redirect of the customer's next
// invoice; another route keeps a map of its own.
func TestCustomerConflict(t *testing.T) {
	requireRedis(t)
	api := newFakeStripe(t)
	b := newBackend(t)
	p := startAPIProxy(t, b, subscriptionRoute, api.URL, "sk_test_fake")
	w := &purchaseWorld{t: t, api: api}
	owner, other, cus := newUUID(), newUUID(), "cus_e2e_"+randHex(6)
	w.session(owner, cus, "payment", "paid", "", "pi_e2e_"+randHex(6), "", true)
	w.session(other, cus, "payment", "paid", "", "pi_e2e_"+randHex(6), "", true)
	if a := p.deliver(w.events[0]); a.Status != "forwarded" {
		t.Fatalf("owner's purchase: %d %s", a.Code, a.Status)
	}
	if a := p.deliver(w.events[1]); a.Code != 200 || a.Status != "dead_lettered" {
		t.Fatalf("other user's purchase: %d %s, want 200 dead_lettered", a.Code, a.Status)
	}
	// A renewal of a subscription that names nobody (and that no Checkout Session
	// started) goes to the owner, through the map.
	sub := "sub_e2e_" + randHex(6)
	in := w.invoice(cus, sub, "subscription_cycle", "pi_e2e_"+randHex(6), 999, 999, nil, priceLine(subscriptionPrice, false))
	if a := p.deliver(w.events[2]); a.Status != "forwarded" {
		t.Fatalf("renewal: %d %s (%s)", a.Code, a.Status, a.Raw)
	}
	if got := b.credited()[in]; got.UserID != owner {
		t.Errorf("renewal credited to %s, want the customer's first user %s", got.UserID, owner)
	}
	for _, r := range b.credited() {
		if r.UserID == other {
			t.Errorf("the conflicting user was credited: %+v", r)
		}
	}
	out, err := p.runCLI("dlq", "list", "--config", p.cfgPath)
	if err != nil || !strings.Contains(out, "customer_conflict") || !strings.Contains(out, "1 entries") {
		t.Errorf("dlq list: %v\n%s", err, out)
	}
}
