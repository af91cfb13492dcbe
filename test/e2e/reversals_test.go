package e2e

import (
	"math/rand/v2"
	"net/http"
	"testing"
	"time"
)

// reversalRoute lists every reversal event type.
const reversalRoute = `    events: [checkout.session.completed, charge.refunded, refund.updated, charge.refund.updated,
      charge.dispute.created, charge.dispute.updated, charge.dispute.funds_withdrawn,
      charge.dispute.funds_reinstated, charge.dispute.closed]
`

// purchase is one paid Checkout Session (100 credits for 999) and builders of the
// Stripe events of its money, on the fixtures' 2023-10-16 shapes.
type purchase struct {
	t       *testing.T
	pi, cs  string
	grant   []byte
	created int64 // event times count up from here
}

func newPurchase(t *testing.T) *purchase {
	evt, cs := newIDs()
	pi := "pi_e2e_" + randHex(8)
	grant := mutate(t, withIDs(t, paidFixture, evt, cs), func(o, _ map[string]any) { o["payment_intent"] = pi })
	return &purchase{t: t, pi: pi, cs: cs, grant: grant, created: time.Now().Unix() - 600}
}

// refunded: charge.refunded with the charge's cumulative amount_refunded, at sec.
func (p *purchase) refunded(sec, amountRefunded int64) []byte {
	return mutate(p.t, withIDs(p.t, "charge_refunded.json", "evt_e2e_ch_"+randHex(8), "ch_e2e_"+p.pi), func(o, ev map[string]any) {
		ev["created"] = p.created + sec
		o["payment_intent"], o["amount"], o["amount_captured"], o["created"] = p.pi, 999, 999, p.created
		o["amount_refunded"], o["refunded"] = amountRefunded, amountRefunded == 999
	})
}

// refundFailed: refund.updated of refund re (made at made) now failed, at sec.
func (p *purchase) refundFailed(re string, sec, made, amount int64) []byte {
	return mutate(p.t, withIDs(p.t, "refund_updated_failed_2023-10-16.json", "evt_e2e_re_"+randHex(8), re), func(o, ev map[string]any) {
		ev["created"] = p.created + sec
		o["payment_intent"], o["amount"], o["created"] = p.pi, amount, p.created+made
	})
}

// dispute: a charge.dispute.* event of dispute dp with its status and amount.
func (p *purchase) dispute(typ, dp, status string, sec, amount int64) []byte {
	return mutate(p.t, withIDs(p.t, "charge_dispute_created_2023-10-16.json", "evt_e2e_dp_"+randHex(8), dp), func(o, ev map[string]any) {
		ev["type"], ev["created"] = typ, p.created+sec
		o["payment_intent"], o["status"], o["amount"], o["created"] = p.pi, status, amount, p.created+5
	})
}

// net is the credits the backend holds for the purchase: its grant less reversals.
func (p *purchase) net(b *backend) int64 {
	var n int64
	for _, r := range b.credited() {
		if r.Stripe.PaymentIntentID == p.pi {
			n += r.Credits
		}
	}
	return n
}

// stripe delivers events like Stripe: in a shuffled order, every non-2xx again later,
// some 2xx ones again (Stripe delivers at least once), until each got a 2xx. It fails
// on an answer that is neither 2xx nor a retry request (409, 503).
func stripeDeliver(t *testing.T, p *proxy, rng *rand.Rand, events [][]byte) {
	t.Helper()
	queue := append([][]byte(nil), events...)
	deadline := time.Now().Add(60 * time.Second)
	for len(queue) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d events still not accepted after 60s", len(queue))
		}
		i := rng.IntN(len(queue))
		a := p.deliver(queue[i])
		switch {
		case a.Code == http.StatusOK:
			if rng.IntN(4) != 0 { // else: delivered once more later
				queue = append(queue[:i], queue[i+1:]...)
			}
		case a.Code == http.StatusConflict || a.Code == http.StatusServiceUnavailable:
			time.Sleep(5 * time.Millisecond)
		default:
			t.Fatalf("answer %d %s (%s)", a.Code, a.Status, a.Raw)
		}
	}
}

// TestReversalsStripeLikeDelivery: purchases and the events of their money (refunds,
// failed refunds, inquiries, chargebacks won and lost, partial disputes) delivered
// like Stripe delivers them, shuffled and redelivered, while the backend is down for a
// while: each purchase ends with the credits its money stands for.
func TestReversalsStripeLikeDelivery(t *testing.T) {
	requireRedis(t)
	b := newBackend(t)
	p := startProxy(t, b, options{extraRoute: reversalRoute})
	const (
		created   = "charge.dispute.created"
		updated   = "charge.dispute.updated"
		withdrawn = "charge.dispute.funds_withdrawn"
		reinstate = "charge.dispute.funds_reinstated"
		closed    = "charge.dispute.closed"
	)
	type scenario struct {
		name   string
		events func(p *purchase) [][]byte
		net    int64
	}
	scenarios := []scenario{
		{"inquiry closed: nothing taken", func(u *purchase) [][]byte {
			return [][]byte{u.dispute(created, "dp_e2e_"+u.pi, "warning_needs_response", 10, 999),
				u.dispute(updated, "dp_e2e_"+u.pi, "warning_under_review", 20, 999),
				u.dispute(closed, "dp_e2e_"+u.pi, "warning_closed", 30, 999)}
		}, 100},
		{"refund during an inquiry", func(u *purchase) [][]byte {
			return [][]byte{u.dispute(created, "dp_e2e_"+u.pi, "warning_needs_response", 10, 999),
				u.refunded(20, 400),
				u.dispute(closed, "dp_e2e_"+u.pi, "warning_closed", 30, 999)}
		}, 60},
		{"partial chargeback lost", func(u *purchase) [][]byte {
			return [][]byte{u.dispute(created, "dp_e2e_"+u.pi, "needs_response", 10, 333),
				u.dispute(withdrawn, "dp_e2e_"+u.pi, "needs_response", 11, 333),
				u.dispute(closed, "dp_e2e_"+u.pi, "lost", 30, 333)}
		}, 67},
		{"chargeback won, a refund meanwhile", func(u *purchase) [][]byte {
			return [][]byte{u.dispute(created, "dp_e2e_"+u.pi, "needs_response", 10, 500),
				u.refunded(20, 250),
				u.dispute(reinstate, "dp_e2e_"+u.pi, "won", 30, 500),
				u.dispute(closed, "dp_e2e_"+u.pi, "won", 31, 500)}
		}, 75},
		{"failed refund, then another", func(u *purchase) [][]byte {
			re := "re_e2e_" + u.pi
			return [][]byte{u.refunded(10, 500), u.refundFailed(re, 20, 10, 500), u.refunded(30, 300)}
		}, 70},
		{"partial capture: half refunded, a partial chargeback won", func(u *purchase) [][]byte {
			captured := mutate(t, u.refunded(10, 250), func(o, _ map[string]any) { o["amount_captured"] = 500 })
			return [][]byte{captured, u.dispute(created, "dp_e2e_"+u.pi, "needs_response", 20, 100),
				u.dispute(closed, "dp_e2e_"+u.pi, "won", 30, 100)}
		}, 50},
		{"refunded in full", func(u *purchase) [][]byte {
			return [][]byte{u.refunded(10, 333), u.refunded(20, 666), u.refunded(30, 999)}
		}, 0},
	}
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 12))
	type bought struct {
		s scenario
		u *purchase
	}
	var all []bought
	var events [][]byte
	for _, s := range scenarios {
		for range 2 {
			u := newPurchase(t)
			all = append(all, bought{s, u})
			events = append(events, u.grant)
			events = append(events, s.events(u)...)
		}
	}
	// The backend is down for its first 12 requests: grants fail (Stripe retries them),
	// their reversals wait for them (409), nothing is parked.
	b.set(func(b *backend) {
		b.answer = func(n int) int {
			if n <= 12 {
				return http.StatusServiceUnavailable
			}
			return http.StatusOK
		}
	})
	stripeDeliver(t, p, rng, events)
	for _, x := range all {
		if got := x.u.net(b); got != x.s.net {
			t.Errorf("%s (%s): backend holds %d, want %d", x.s.name, x.u.pi, got, x.s.net)
		}
	}
	for _, l := range p.logLines() {
		if l["result"] == "dead_lettered" {
			t.Errorf("parked: %v", l)
		}
	}
}

// TestReversalBeforeItsGrant: the backend is down when a purchase arrives (503, Stripe
// retries it); its refund arrives meanwhile and is answered 409 awaiting_purchase, not
// parked; after the grant lands, the refund's retry takes the credits back. A refund of
// a payment made long ago that creditgate never credited is parked at once.
func TestReversalBeforeItsGrant(t *testing.T) {
	requireRedis(t)
	b := newBackend(t)
	p := startProxy(t, b, options{extraRoute: reversalRoute})
	u := newPurchase(t)
	b.set(func(b *backend) { b.answer = func(int) int { return http.StatusServiceUnavailable } })
	if a := p.deliver(u.grant); a.Code != 503 {
		t.Fatalf("grant while the backend is down: %d %s", a.Code, a.Status)
	}
	refund := u.refunded(10, 999)
	if a := p.deliver(refund); a.Code != 409 || a.Status != "in_flight" {
		t.Fatalf("refund before its grant: %d %s (%s)", a.Code, a.Status, a.Raw)
	}
	b.set(func(b *backend) { b.answer = nil })
	if a := p.deliver(u.grant); a.Code != 200 || a.Status != "forwarded" {
		t.Fatalf("grant retried: %d %s", a.Code, a.Status)
	}
	if a := p.deliver(refund); a.Code != 200 || a.Status != "forwarded" || u.net(b) != 0 {
		t.Fatalf("refund retried: %d %s, backend holds %d", a.Code, a.Status, u.net(b))
	}

	old := newPurchase(t)
	old.created -= 30 * 24 * 3600
	stale := mutate(t, old.refunded(0, 999), func(_, ev map[string]any) { ev["created"] = time.Now().Unix() })
	if a := p.deliver(stale); a.Code != 200 || a.Status != "dead_lettered" {
		t.Fatalf("refund of a payment never credited: %d %s", a.Code, a.Status)
	}
	var waited bool
	for _, l := range p.logLines() {
		waited = waited || l["reason"] == "awaiting_purchase" && l["event_type"] == "charge.refunded"
	}
	if !waited {
		t.Error("no log line with reason awaiting_purchase")
	}
}

// TestReversalAnswerLost: the backend applies a refund's reversal but its answers come
// too late (every attempt times out): creditgate answers 503, and until Stripe
// redelivers that refund every other reversal of the purchase waits (409), so the
// credits are taken back once, and the next refund takes only its own share.
func TestReversalAnswerLost(t *testing.T) {
	requireRedis(t)
	b := newBackend(t)
	p := startProxy(t, b, options{extraRoute: reversalRoute})
	u := newPurchase(t)
	if a := p.deliver(u.grant); a.Status != "forwarded" {
		t.Fatalf("grant: %d %s", a.Code, a.Status)
	}
	first, second := u.refunded(10, 500), u.refunded(20, 700)
	b.set(func(b *backend) { b.delay = 1200 * time.Millisecond }) // past forward.timeout (1s)
	if a := p.deliver(first); a.Code != 503 || a.Status != "backend_unavailable" {
		t.Fatalf("refund with its answers lost: %d %s", a.Code, a.Status)
	}
	b.set(func(b *backend) { b.delay = 0 })
	deadline := time.Now().Add(10 * time.Second)
	for u.net(b) != 50 { // the late attempts land after creditgate gave up
		if time.Now().After(deadline) {
			t.Fatalf("the backend never applied the first refund: holds %d", u.net(b))
		}
		time.Sleep(20 * time.Millisecond)
	}
	if a := p.deliver(second); a.Code != 409 || a.Status != "in_flight" {
		t.Fatalf("another refund while the first is unsettled: %d %s (%s)", a.Code, a.Status, a.Raw)
	}
	if a := p.deliver(first); a.Code != 200 || a.Status != "forwarded" {
		t.Fatalf("the first, redelivered: %d %s", a.Code, a.Status)
	}
	if a := p.deliver(second); a.Code != 200 || a.Status != "forwarded" {
		t.Fatalf("the second, redelivered: %d %s", a.Code, a.Status)
	}
	if got := u.net(b); got != 30 {
		t.Errorf("backend holds %d, want 30 (%v)", got, b.credited())
	}
}
