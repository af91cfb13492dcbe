package e2e

import (
	"net/http"
	"strings"
	"testing"
)

// TestStoreUnavailable: with Redis unreachable, Stripe gets 503 store_unavailable,
// /readyz says not ready, and nothing reaches the backend.
func TestStoreUnavailable(t *testing.T) {
	b := newBackend(t)
	p := startProxy(t, b, options{redisURL: "redis://127.0.0.1:1/0"})
	evt, cs := newIDs()
	a := p.deliver(withIDs(t, paidFixture, evt, cs))
	if a.Code != 503 || a.Status != "store_unavailable" {
		t.Fatalf("answer = %d %s", a.Code, a.Status)
	}
	if n, _ := b.stats(); n != 0 {
		t.Fatalf("backend got %d requests without a claim", n)
	}
	resp, err := http.Get(p.admin + "/readyz")
	must(t, err)
	resp.Body.Close()
	if resp.StatusCode != 503 {
		t.Fatalf("/readyz = %d, want 503", resp.StatusCode)
	}
	if strings.Contains(p.logs.String(), "127.0.0.1:1") == false {
		t.Log("note: the store error in the log does not name the address")
	}
}

// TestAdminIsNotOnWebhookPort: /metrics, /healthz and /readyz are only on the admin
// listener.
func TestAdminIsNotOnWebhookPort(t *testing.T) {
	requireRedis(t)
	p := startProxy(t, newBackend(t), options{})
	for _, path := range []string{"/metrics", "/healthz", "/readyz"} {
		a := p.do(http.MethodGet, path, nil, nil)
		if a.Code != 404 {
			t.Errorf("webhook port GET %s = %d, want 404", path, a.Code)
		}
		resp, err := http.Get(p.admin + path)
		must(t, err)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("admin GET %s = %d", path, resp.StatusCode)
		}
	}
}

// TestDeadLetterReplay: a credit the backend rejected is parked; after the backend is
// fixed, `creditgate dlq replay` credits it once and removes the entry; a replay of an
// entry whose purchase was credited meanwhile is a duplicate and is removed too.
func TestDeadLetterReplay(t *testing.T) {
	requireRedis(t)
	for _, store := range []string{"redis", "memory"} {
		t.Run(store, func(t *testing.T) {
			b := newBackend(t)
			b.set(func(b *backend) { b.answer = func(int) int { return http.StatusUnprocessableEntity } })
			o := options{}
			if store == "memory" {
				o.redisURL = "memory"
			}
			p := startProxy(t, b, o)
			evt, cs := newIDs()
			payload := withIDs(t, paidFixture, evt, cs)
			if a := p.deliver(payload); a.Status != "dead_lettered" {
				t.Fatalf("first delivery: %s", a.Status)
			}
			// A second purchase parked for a missing user id.
			evt2, cs2 := newIDs()
			noUser := mutate(t, withIDs(t, paidFixture, evt2, cs2), func(o, _ map[string]any) {
				delete(o["metadata"].(map[string]any), "user_id")
				o["customer"] = nil
			})
			if a := p.deliver(noUser); a.Status != "dead_lettered" {
				t.Fatalf("no user: %s", a.Status)
			}
			// Redelivery of a parked event is a duplicate: it is durably parked.
			if a := p.deliver(payload); a.Status != "duplicate" {
				t.Fatalf("redelivery of a parked event: %s", a.Status)
			}

			out, err := p.runCLI("dlq", "list", "--config", p.cfgPath)
			if err != nil {
				t.Fatalf("dlq list: %v\n%s", err, out)
			}
			for _, want := range []string{"main:" + evt, "backend_rejected", "main:" + evt2, "no_user_id", "2 entries"} {
				if !strings.Contains(out, want) {
					t.Errorf("dlq list lacks %q:\n%s", want, out)
				}
			}
			out, err = p.runCLI("dlq", "show", "main:"+evt, "--config", p.cfgPath)
			if err != nil || !strings.Contains(out, `"reason": "backend_rejected"`) || !strings.Contains(out, cs) {
				t.Fatalf("dlq show: %v\n%s", err, out)
			}

			// Replay while the backend still rejects: parked again, replay counted, and
			// the command fails so a script or an operator notices.
			out, err = p.runCLI("dlq", "replay", "main:"+evt, "--config", p.cfgPath)
			if err == nil || !strings.Contains(err.Error(), "1 of 1 entries were parked again") || !strings.Contains(out, "parked again: backend_rejected") {
				t.Fatalf("replay during rejection: %v\n%s", err, out)
			}

			// Backend fixed: replay credits once and removes the entry.
			b.set(func(b *backend) { b.answer = nil })
			out, err = p.runCLI("dlq", "replay", "main:"+evt, "--config", p.cfgPath)
			if err != nil || !strings.Contains(out, "forwarded") || !strings.Contains(out, "entry removed") {
				t.Fatalf("replay after fix: %v\n%s", err, out)
			}
			if req, ok := b.credited()[cs]; !ok || req.Credits != 100 {
				t.Fatalf("replayed credit not delivered: %+v", b.credited())
			}
			// Replay of an entry whose purchase is credited meanwhile: duplicate, removed.
			if store == "redis" {
				out, err = p.runCLI("dlq", "drop", "main:"+evt2, "--config", p.cfgPath)
				if err != nil || !strings.Contains(out, "dropped") {
					t.Fatalf("drop: %v\n%s", err, out)
				}
			} else {
				// The missing user id cannot be fixed by a replay alone: parked again,
				// and the command fails (dlq replay ID --user U is the fix).
				out, err = p.runCLI("dlq", "replay", "--all", "--config", p.cfgPath)
				if err == nil || !strings.Contains(out, "parked again: no_user_id") {
					t.Fatalf("replay --all: %v\n%s", err, out)
				}
			}
			if n := len(b.credited()); n != 1 {
				t.Fatalf("credited %d", n)
			}
		})
	}
}

// TestReplayOfCreditedPurchaseIsDuplicate: the purchase was credited through another
// event while its first event sat in the dead-letter list; the replay must not credit
// again.
func TestReplayOfCreditedPurchaseIsDuplicate(t *testing.T) {
	requireRedis(t)
	b := newBackend(t)
	b.set(func(b *backend) { b.answer = func(int) int { return http.StatusBadRequest } })
	p := startProxy(t, b, options{})
	_, cs := newIDs()
	first := withIDs(t, paidFixture, "evt_e2e_a_"+randHex(4), cs)
	second := mutate(t, withIDs(t, paidFixture, "evt_e2e_b_"+randHex(4), cs), func(_, ev map[string]any) {
		ev["type"] = "checkout.session.async_payment_succeeded"
	})
	if a := p.deliver(first); a.Status != "dead_lettered" {
		t.Fatalf("first: %s", a.Status)
	}
	b.set(func(b *backend) { b.answer = nil })
	if a := p.deliver(second); a.Status != "forwarded" {
		t.Fatalf("second: %s", a.Status)
	}
	out, err := p.runCLI("dlq", "replay", "--all", "--config", p.cfgPath)
	if err != nil || !strings.Contains(out, "duplicate") || !strings.Contains(out, "entry removed") {
		t.Fatalf("replay: %v\n%s", err, out)
	}
	if n := len(b.credited()); n != 1 {
		t.Fatalf("credited %d", n)
	}
	if requests, _ := b.stats(); requests != 2 {
		t.Fatalf("backend requests = %d, want 2 (the rejected one and the credit)", requests)
	}
}
