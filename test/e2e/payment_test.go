package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/creditgate/creditgate/internal/testkit"
)

// TestFirstInvoiceRedisRestart is the double credit the soak found, on the real
// program and a real Redis: a subscription's first invoice arrives while the Stripe
// API does not list its Checkout Session yet, so it is forwarded under the invoice's
// id; Redis is killed while the backend answers 200, so the settlement is lost and
// Stripe gets 503. Redis comes back (AOF), the API now lists the session, and Stripe
// redelivers: the redelivery must go out under the invoice's id again, so that the
// backend answers 409 and the purchase is credited once.
func TestFirstInvoiceRedisRestart(t *testing.T) {
	requireRedis(t)
	r := newOwnRedis(t)
	r.start()
	api := newFakeStripe(t)
	b := newBackend(t)
	b.set(func(b *backend) {
		b.answer = func(n int) int {
			if n == 1 {
				r.stop() // the backend applies the credit; Redis is gone before creditgate settles
			}
			return 200
		}
	})
	p := startRestartProxy(t, b, r.addr, api.URL)

	w := &purchaseWorld{t: t, api: api}
	user, cus, sub, pi := newUUID(), "cus_e2e_"+randHex(6), "sub_e2e_"+randHex(6), "pi_e2e_"+randHex(6)
	in := w.invoice(cus, sub, "subscription_create", pi, 999, 999, nil, priceLine(subscriptionPrice, false))
	cs := w.session(user, cus, "subscription", "paid", sub, "", in, true)
	api.setHidden(cs, true)
	invoicePaid, session := w.events[0], w.events[1]
	if a := p.deliver(session); a.Code != 200 || a.Status != "ignored" {
		t.Fatalf("session: %d %s (%s)", a.Code, a.Status, a.Raw) // it teaches the customer map
	}
	if a := p.deliver(invoicePaid); a.Code != 503 || a.Status != "store_unavailable" {
		t.Fatalf("first invoice with Redis killed after the forward: %d %s (%s)", a.Code, a.Status, a.Raw)
	}
	if got := b.credited(); len(got) != 1 || got[in].Credits != 100 {
		t.Fatalf("backend after the first forward: %+v, want 100 credits under %s", got, in)
	}

	r.start()
	api.setHidden(cs, false)
	// Stripe redelivers until a 2xx; the lost delivery's claims hold until their lease
	// (6s) runs out, answered 409 meanwhile.
	deadline := time.Now().Add(20 * time.Second)
	var a answer
	for a = p.deliver(invoicePaid); a.Code != 200 && time.Now().Before(deadline); a = p.deliver(invoicePaid) {
		if a.Code != 409 && a.Code != 503 {
			t.Fatalf("redelivery: %d %s (%s)", a.Code, a.Status, a.Raw)
		}
		time.Sleep(250 * time.Millisecond)
	}
	if a.Code != 200 || a.Status != "forwarded" {
		t.Fatalf("redelivery after the restart: %d %s (%s)", a.Code, a.Status, a.Raw)
	}
	got := b.credited()
	if len(got) != 1 || got[in].Credits != 100 || got[in].UserID != user {
		t.Fatalf("backend: %+v; want one credit of 100 for %s under %s (the session is %s)", got, user, in, cs)
	}
	if a := p.deliver(invoicePaid); a.Code != 200 || a.Status != "duplicate" {
		t.Fatalf("after the settlement: %d %s", a.Code, a.Status)
	}
}

// startRestartProxy starts creditgate on the Redis at addr with a route that takes
// subscriptions and refunds (so a lost settlement answers 503), and timeouts short
// enough for a 6s lease.
func startRestartProxy(t *testing.T, b *backend, addr, apiBase string) *proxy {
	t.Helper()
	dir := t.TempDir()
	p := newProxy(t, b, "redis://"+addr+"/0")
	listen, admin := testkit.FreeAddr(t), testkit.FreeAddr(t)
	cfg := fmt.Sprintf(`listen: %q
admin_listen: %q
log_level: debug
watch:
  disabled: true
redis:
  url: %q
  key_prefix: %q
  dial_timeout: 200ms
  read_timeout: 200ms
  write_timeout: 200ms
dedup:
  lease: 6s
routes:
  - name: main
    path: /stripe/webhook
    events: [checkout.session.completed, invoice.paid, charge.refunded]
    stripe:
      signing_secrets: ["${STRIPE_WEBHOOK_SECRET}"]
      api_key_file: api-key
      api_base_url: %q
      api_timeout: 1s
    extract:
      user_id_format: uuid
      credits: [price_table]
      price_table: {%s: 100}
    forward:
      url: %q
      signing_keys: [%q]
      timeout: 500ms
      attempts: 1
      budget: 1s
`, listen, admin, p.redisURL, p.prefix, apiBase, subscriptionPrice, b.srv.URL+"/internal/credits", forwardKey)
	must(t, os.WriteFile(filepath.Join(dir, "api-key"), []byte("sk_test_fake\n"), 0o600))
	p.run(t, dir, listen, admin, cfg)
	return p
}
