package e2e

import (
	"net/http"
	"sync"
	"testing"
	"time"
)

// TestConcurrentDeliveriesCreditOnce: 50 concurrent deliveries of one purchase (the
// same event, and a second event for the same session) credit exactly once, and every
// answer is one that keeps Stripe's retry semantics right.
func TestConcurrentDeliveriesCreditOnce(t *testing.T) {
	requireRedis(t)
	b := newBackend(t)
	b.set(func(b *backend) { b.delay = 50 * time.Millisecond }) // widen the race window
	p := startProxy(t, b, options{})
	evt, cs := newIDs()
	completed := withIDs(t, paidFixture, evt, cs)
	async := mutate(t, withIDs(t, paidFixture, "evt_e2e_async_"+randHex(6), cs), func(_, ev map[string]any) {
		ev["type"] = "checkout.session.async_payment_succeeded"
	})

	var wg sync.WaitGroup
	answers := make(chan answer, 50)
	for i := 0; i < 50; i++ {
		payload := completed
		if i%5 == 4 {
			payload = async
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			answers <- p.deliver(payload)
		}()
	}
	wg.Wait()
	close(answers)
	counts := map[string]int{}
	for a := range answers {
		counts[a.Status]++
		switch a.Status {
		case "forwarded", "duplicate":
			if a.Code != 200 {
				t.Errorf("%s answered %d", a.Status, a.Code)
			}
		case "in_flight":
			if a.Code != http.StatusConflict {
				t.Errorf("in_flight answered %d", a.Code)
			}
		default:
			t.Errorf("unexpected answer %d %s", a.Code, a.Status)
		}
	}
	if counts["forwarded"] != 1 {
		t.Errorf("forwarded answers = %d, want exactly 1 (%v)", counts["forwarded"], counts)
	}
	credited := b.credited()
	if len(credited) != 1 {
		t.Fatalf("backend credited %d purchases, want 1", len(credited))
	}
	if req := credited[cs]; req.Credits != 100 || req.UserID != "e747de39-1b54-4cd0-96eb-e68f155931e2" {
		t.Errorf("credit = %+v", req)
	}
	if requests, _ := b.stats(); requests != 1 {
		t.Errorf("backend got %d requests, want 1: the dedup claims must stop the rest before forwarding", requests)
	}
	// Stripe's later retries of both events are duplicates.
	for _, payload := range [][]byte{completed, async} {
		if a := p.deliver(payload); a.Code != 200 || a.Status != "duplicate" {
			t.Errorf("retry answered %d %s, want 200 duplicate", a.Code, a.Status)
		}
	}
	t.Logf("answers: %v", counts)
}

// TestOutageThenRetry: a backend outage answers 503 and releases the claim; Stripe's
// retry after the outage credits exactly once.
func TestOutageThenRetry(t *testing.T) {
	requireRedis(t)
	b := newBackend(t)
	b.set(func(b *backend) { b.answer = func(int) int { return http.StatusServiceUnavailable } })
	p := startProxy(t, b, options{budget: "1s"})
	evt, cs := newIDs()
	payload := withIDs(t, paidFixture, evt, cs)
	for i := 0; i < 2; i++ {
		if a := p.deliver(payload); a.Code != 503 || a.Status != "backend_unavailable" {
			t.Fatalf("during the outage: %d %s", a.Code, a.Status)
		}
	}
	b.set(func(b *backend) { b.answer = nil })
	if a := p.deliver(payload); a.Code != 200 || a.Status != "forwarded" {
		t.Fatalf("after the outage: %d %s", a.Code, a.Status)
	}
	if a := p.deliver(payload); a.Status != "duplicate" {
		t.Fatalf("retry after success: %s", a.Status)
	}
	if n := len(b.credited()); n != 1 {
		t.Fatalf("credited %d times", n)
	}
}

// TestSecondEventForSessionIsDuplicate: completed (paid) and then
// async_payment_succeeded for the same session credit once.
func TestSecondEventForSessionIsDuplicate(t *testing.T) {
	requireRedis(t)
	b := newBackend(t)
	p := startProxy(t, b, options{})
	_, cs := newIDs()
	first := withIDs(t, paidFixture, "evt_e2e_first_"+randHex(4), cs)
	second := mutate(t, withIDs(t, paidFixture, "evt_e2e_second_"+randHex(4), cs), func(_, ev map[string]any) {
		ev["type"] = "checkout.session.async_payment_succeeded"
	})
	if a := p.deliver(first); a.Status != "forwarded" {
		t.Fatalf("first: %s", a.Status)
	}
	if a := p.deliver(second); a.Code != 200 || a.Status != "duplicate" {
		t.Fatalf("second event for the session: %d %s", a.Code, a.Status)
	}
	if n := len(b.credited()); n != 1 {
		t.Fatalf("credited %d times", n)
	}
}

// TestUnpaidThenPaid: an unpaid session is held, and its async_payment_succeeded
// credits it once.
func TestUnpaidThenPaid(t *testing.T) {
	requireRedis(t)
	b := newBackend(t)
	p := startProxy(t, b, options{})
	_, cs := newIDs()
	unpaid := withIDs(t, "checkout_session_completed_unpaid.json", "evt_e2e_unpaid_"+randHex(4), cs)
	paid := withIDs(t, "checkout_session_async_payment_succeeded.json", "evt_e2e_paid_"+randHex(4), cs)
	if a := p.deliver(unpaid); a.Status != "pending_payment" {
		t.Fatalf("unpaid: %s", a.Status)
	}
	if a := p.deliver(unpaid); a.Status != "duplicate" {
		t.Fatalf("unpaid again: %s", a.Status)
	}
	if len(b.credited()) != 0 {
		t.Fatal("an unpaid session was credited")
	}
	if a := p.deliver(paid); a.Status != "forwarded" {
		t.Fatalf("async_payment_succeeded: %s", a.Status)
	}
	req := b.credited()[cs]
	if req.Credits != 200 || req.UserID != "5c2e1a94-7b3f-4d8e-a6c0-91f4d2b3e8a7" || req.Stripe.EventType != "checkout.session.async_payment_succeeded" {
		t.Fatalf("credit = %+v", req)
	}
}

// TestInFlightElsewhere: while one delivery is still forwarding, a redelivery gets
// 409 in_flight (so Stripe retries later), and nothing is doubled.
func TestInFlightElsewhere(t *testing.T) {
	requireRedis(t)
	b := newBackend(t)
	release := make(chan struct{})
	var once sync.Once
	unblock := func() { once.Do(func() { close(release) }) }
	b.set(func(b *backend) { b.block = release })
	p := startProxy(t, b, options{})
	// Registered after startProxy, so it runs before the proxy's cleanup: a failing
	// test releases the backend instead of leaving the shutdown waiting on it.
	t.Cleanup(unblock)
	evt, cs := newIDs()
	payload := withIDs(t, paidFixture, evt, cs)
	first := make(chan answer, 1)
	go func() { first <- p.deliver(payload) }()
	waitUntil(t, "the first delivery to reach the backend", func() bool { n, _ := b.stats(); return n > 0 })
	if a := p.deliver(payload); a.Code != 409 || a.Status != "in_flight" {
		t.Fatalf("concurrent redelivery: %d %s", a.Code, a.Status)
	}
	unblock()
	if a := receive(t, first, "the first delivery's answer"); a.Status != "forwarded" {
		t.Fatalf("first: %s", a.Status)
	}
	if n := len(b.credited()); n != 1 {
		t.Fatalf("credited %d", n)
	}
}

// TestSigtermLetsInFlightFinish: a webhook in flight when the server is told to stop
// completes and is answered 200.
func TestSigtermLetsInFlightFinish(t *testing.T) {
	requireRedis(t)
	b := newBackend(t)
	b.set(func(b *backend) { b.delay = 700 * time.Millisecond })
	p := startProxy(t, b, options{})
	evt, cs := newIDs()
	got := make(chan answer, 1)
	go func() { got <- p.deliver(withIDs(t, paidFixture, evt, cs)) }()
	waitUntil(t, "the delivery to reach the backend", func() bool { n, _ := b.stats(); return n > 0 })
	stopped := make(chan error, 1)
	go func() { stopped <- p.stop() }()
	a := receive(t, got, "the in-flight webhook's answer")
	if a.Code != 200 || a.Status != "forwarded" {
		t.Fatalf("in-flight webhook during shutdown: %d %s", a.Code, a.Status)
	}
	if err := receive(t, stopped, "serve to return"); err != nil {
		t.Fatalf("serve returned %v", err)
	}
	if len(b.credited()) != 1 {
		t.Fatal("not credited")
	}
}
