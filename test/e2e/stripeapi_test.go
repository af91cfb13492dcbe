package e2e

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/creditgate/creditgate/internal/stripeapi/stripemock"
	"github.com/creditgate/creditgate/internal/testkit"
)

// stripeMockPrice is the price of the line item stripe-mock v0.203.0 always returns
// (quantity 1).
const stripeMockPrice = "price_1PgafmB7WZ01zgkW02Hf9z6c"

const (
	user1 = "e747de39-1b54-4cd0-96eb-e68f155931e2"
	user2 = "5c2e1a94-7b3f-4d8e-a6c0-91f4d2b3e8a7"
)

// startAPIProxy starts creditgate like startProxy, with route as the whole body of
// the one route "main" after its name (stripe, events, extract, ...); forward is
// added. apiBase replaces ${API_BASE} in route (in the file itself, so other commands
// run on the config see it); apiKey is the file api-key.
func startAPIProxy(t *testing.T, b *backend, route, apiBase, apiKey string) *proxy {
	t.Helper()
	// The Stripe watch reads webhook endpoints, which most recorded APIs do not serve.
	return startAPIProxyWith(t, b, "watch:\n  disabled: true\n", route, apiBase, apiKey)
}

// startAPIProxyWith is startAPIProxy with top (YAML) at the top level of the config.
func startAPIProxyWith(t *testing.T, b *backend, top, route, apiBase, apiKey string) *proxy {
	t.Helper()
	dir := t.TempDir()
	p := newProxy(t, b, "redis://"+redisAddr+"/0")
	listen, admin := testkit.FreeAddr(t), testkit.FreeAddr(t)
	cfg := fmt.Sprintf(`listen: %q
admin_listen: %q
log_level: debug
redis:
  url: %q
  key_prefix: %q
%sroutes:
  - name: main
    path: /stripe/webhook
%s
    forward:
      url: %q
      signing_keys: [%q]
      timeout: 1s
      attempts: 2
      budget: 3s
`, listen, admin, p.redisURL, p.prefix, top, strings.ReplaceAll(route, "${API_BASE}", apiBase), b.srv.URL+"/internal/credits", forwardKey)
	must(t, os.WriteFile(filepath.Join(dir, "api-key"), []byte(apiKey+"\n"), 0o600))
	p.run(t, dir, listen, admin, cfg)
	return p
}

const apiRoute = `
    stripe:
      signing_secrets: ["${STRIPE_WEBHOOK_SECRET}"]
      api_key_file: api-key
      api_base_url: "${API_BASE}"
      api_timeout: 2s
`

// paidSession returns the basil paid fixture with fresh ids, the given payment
// intent and no credits in its metadata: credits must come from the line items.
func paidSession(t *testing.T, pi string) (raw []byte, evt, cs string) {
	evt, cs = newIDs()
	raw = mutate(t, withIDs(t, "checkout_session_completed_paid_2025-03-31.basil.json", evt, cs), func(o, _ map[string]any) {
		delete(o["metadata"].(map[string]any), "credits")
		o["payment_intent"] = pi
		o["amount_total"] = 5000
	})
	return raw, evt, cs
}

// TestPriceTableAndReversalsWithStripeMock: credits from the session's line items
// read from stripe-mock, then partial refunds, a dispute and its win, each signed like
// Stripe and reversed in proportion, exactly once.
func TestPriceTableAndReversalsWithStripeMock(t *testing.T) {
	requireRedis(t)
	base := stripemock.Start(t)
	b := newBackend(t)
	p := startAPIProxy(t, b, apiRoute+`
    events: [checkout.session.completed, charge.refunded, charge.dispute.created, charge.dispute.closed]
    extract:
      user_id_format: uuid
      credits: [price_table]
      price_table: {`+stripeMockPrice+`: 400}
`, base, stripemock.Key)

	pi := "pi_e2e_" + randHex(8)
	raw, _, cs := paidSession(t, pi)
	if a := p.deliver(raw); a.Code != 200 || a.Status != "forwarded" {
		t.Fatalf("purchase: %d %s", a.Code, a.Status)
	}
	if got := b.credited()[cs]; got.Credits != 400 || got.UserID != user1 {
		t.Fatalf("credit = %+v, want 400 for %s", got, user1)
	}

	refund := func(amountRefunded int64) []byte {
		evt := "evt_e2e_refund_" + randHex(6)
		return mutate(t, withIDs(t, "charge_refunded_partial.json", evt, "ch_e2e_"+randHex(6)), func(o, _ map[string]any) {
			o["payment_intent"] = pi
			o["amount"] = 5000
			o["amount_refunded"] = amountRefunded
			o["refunded"] = amountRefunded == 5000
		})
	}
	dp := "dp_e2e_" + randHex(6) // one dispute: its status moves on
	dispute := func(typ, status string) []byte {
		evt := "evt_e2e_dispute_" + randHex(6)
		return mutate(t, withIDs(t, "charge_refunded_partial.json", evt, dp), func(o, ev map[string]any) {
			ev["type"] = typ
			o["object"], o["status"], o["payment_intent"], o["amount"] = "dispute", status, pi, 5000
		})
	}
	first := refund(1250) // a quarter
	steps := []struct {
		name    string
		raw     []byte
		status  string
		balance int64 // the user's credits at the backend afterwards
	}{
		{"quarter refunded", first, "forwarded", 300},
		{"same refund event again", first, "duplicate", 300},
		{"half refunded (cumulative)", refund(2500), "forwarded", 200},
		{"older refund state arrives late", refund(1250), "duplicate", 200},
		{"dispute takes the rest", dispute("charge.dispute.created", "needs_response"), "forwarded", 0},
		{"dispute won gives it back", dispute("charge.dispute.closed", "won"), "forwarded", 200},
	}
	for _, s := range steps {
		a := p.deliver(s.raw)
		if a.Code != 200 || a.Status != s.status {
			t.Fatalf("%s: %d %s, want 200 %s", s.name, a.Code, a.Status, s.status)
		}
		var bal int64
		for _, r := range b.credited() {
			if r.UserID == user1 {
				bal += r.Credits
			}
		}
		if bal != s.balance {
			t.Fatalf("%s: balance %d, want %d (%v)", s.name, bal, s.balance, b.credited())
		}
	}
	for id, r := range b.credited() {
		if r.Type == "credit.reversed" && (r.ID != id || !strings.HasPrefix(id, "evt_e2e_") || r.Stripe.SessionID != cs || r.Stripe.PaymentIntentID != pi) {
			t.Errorf("reversal %s: %+v", id, r)
		}
	}
}

// TestInvoicePaid grants a subscription period from recorded API responses (an
// expanded subscription with the user id, lines with product credits and a proration
// that is skipped), for the event shapes of three API versions (the API itself is read
// at 2023-10-16 whatever the webhook's version).
func TestInvoicePaid(t *testing.T) {
	requireRedis(t)
	for _, file := range []string{"invoice_paid_2023-10-16.json", "invoice_paid_2025-03-31.basil.json", "invoice_paid_2026-03-25.dahlia.json"} {
		t.Run(file, func(t *testing.T) {
			api := stripemock.NewRecorded(t, map[string]stripemock.Reply{
				"GET /v1/invoices/in_1PgdInvoiceRecorded01":       stripemock.File(t, "../../internal/stripeapi/testdata/invoice.json"),
				"GET /v1/invoices/in_1PgdInvoiceRecorded01/lines": stripemock.File(t, "../../internal/stripeapi/testdata/invoice_lines.json"),
				// The subscription's Checkout Session (which names the buyer) is found.
				"GET /v1/checkout/sessions": stripemock.File(t, "../../internal/stripeapi/testdata/checkout_sessions_by_subscription.json"),
			})
			b := newBackend(t)
			p := startAPIProxy(t, b, apiRoute+`
    events: [invoice.paid]
    extract:
      user_id: [subscription.metadata.user_id, customer_map]
      credits: [price_metadata]
`, api.URL, "sk_test_recorded")
			raw, err := os.ReadFile(filepath.Join("testdata", file))
			must(t, err)
			if a := p.deliver(raw); a.Code != 200 || a.Status != "forwarded" {
				t.Fatalf("%d %s", a.Code, a.Status)
			}
			got := b.credited()["in_1PgdInvoiceRecorded01"]
			if got.Credits != 500 || got.UserID != user2 || got.Stripe.PaymentIntentID != "pi_3PgdInvoicePaymentInt" {
				t.Fatalf("credit = %+v", got)
			}
		})
	}
}

// TestStripeAPIErrors: an auth error parks the delivery (200 dead_lettered, reason
// stripe_auth, counted for alerts); a rate limit answers 503 so Stripe redelivers.
func TestStripeAPIErrors(t *testing.T) {
	requireRedis(t)
	tests := []struct {
		name   string
		reply  stripemock.Reply
		code   int
		status string
		metric string
	}{
		{"auth", stripemock.Error(t, 401, "../../internal/stripeapi/testdata/error_auth.json"), 200, "dead_lettered", `creditgate_dead_lettered_total{reason="stripe_auth",route="main"} 1`},
		{"rate limit", stripemock.Error(t, 429, "../../internal/stripeapi/testdata/error_rate_limit.json"), 503, "backend_unavailable", `creditgate_webhooks_total{result="backend_unavailable",route="main"} 1`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newBackend(t)
			raw, _, cs := paidSession(t, "pi_e2e_"+randHex(8))
			api := stripemock.NewRecorded(t, map[string]stripemock.Reply{"GET /v1/checkout/sessions/" + cs + "/line_items": tt.reply})
			p := startAPIProxy(t, b, apiRoute+`
    extract:
      credits: [price_metadata]
`, api.URL, "sk_test_recorded")
			if a := p.deliver(raw); a.Code != tt.code || a.Status != tt.status {
				t.Fatalf("%d %s, want %d %s", a.Code, a.Status, tt.code, tt.status)
			}
			resp, err := http.Get(p.admin + "/metrics")
			must(t, err)
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if !strings.Contains(string(body), tt.metric) {
				t.Errorf("metrics lack %s", tt.metric)
			}
			if n, _ := b.stats(); n != 0 {
				t.Errorf("backend got %d requests, want none", n)
			}
		})
	}
}

// TestConnectRoute: the account is required, copied and allow-listed; a route that
// trusts its accounts' metadata says so in check-config, and the user id reaches the
// backend scoped by the account.
func TestConnectRoute(t *testing.T) {
	requireRedis(t)
	b := newBackend(t)
	p := startAPIProxy(t, b, `
    stripe:
      signing_secrets: ["${STRIPE_WEBHOOK_SECRET}"]
    connect: true
    connect_accounts: [acct_1bYhhkDlE8OUkVJV]
    connect_trust_accounts: true
`, "", "unused")
	out, err := p.runCLI("check-config", "--config", p.cfgPath)
	if err != nil || !strings.Contains(out, "note: TRUSTS acct_1bYhhkDlE8OUkVJV to set its own credits (metadata.credits; connect_trust_accounts: true)") {
		t.Errorf("check-config does not name the trust: %v\n%s", err, out)
	}
	tests := []struct {
		name    string
		account any
		status  string
	}{
		{"allowed account", "acct_1bYhhkDlE8OUkVJV", "forwarded"},
		{"other account", "acct_1OtherAccount00", "ignored"},
		{"no account", nil, "dead_lettered"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			evt, cs := newIDs()
			raw := mutate(t, withIDs(t, "checkout_session_completed_connect.json", evt, cs), func(_, ev map[string]any) {
				ev["account"] = tt.account
			})
			if a := p.deliver(raw); a.Code != 200 || a.Status != tt.status {
				t.Fatalf("%d %s, want 200 %s", a.Code, a.Status, tt.status)
			}
			got, ok := b.credited()[cs]
			if ok != (tt.status == "forwarded") || (ok && got.Stripe.Account != tt.account) {
				t.Errorf("credit = %+v (%t)", got, ok)
			}
			if ok && !strings.HasPrefix(got.UserID, "acct_1bYhhkDlE8OUkVJV:") {
				t.Errorf("user id %q is not scoped by the account", got.UserID)
			}
		})
	}
}

// TestReconcile lists events from recorded Events API pages (two pages, newest
// first) and runs them through the pipeline: one delivered before, one missed, one
// that parks, and a refund of the missed purchase listed before it (newer).
func TestReconcile(t *testing.T) {
	requireRedis(t)
	b := newBackend(t)
	api := stripemock.NewRecorded(t, map[string]stripemock.Reply{})
	p := startAPIProxy(t, b, apiRoute+`
    events: [checkout.session.completed, charge.refunded]
    extract:
      user_id_format: uuid
`, api.URL, "sk_test_recorded")

	delivered, evtDelivered, csDelivered := sessionEvent(t, "pi_e2e_"+randHex(6), true)
	if a := p.deliver(delivered); a.Status != "forwarded" {
		t.Fatalf("first delivery: %s", a.Status)
	}
	piMissed := "pi_e2e_" + randHex(6)
	missed, evtMissed, csMissed := sessionEvent(t, piMissed, true)
	noUser, evtNoUser, _ := sessionEvent(t, "pi_e2e_"+randHex(6), false)
	evtRefund := "evt_e2e_refund_" + randHex(6)
	refund := mutate(t, withIDs(t, "charge_refunded_partial.json", evtRefund, "ch_e2e_"+randHex(6)), func(o, _ map[string]any) {
		o["payment_intent"], o["amount"], o["amount_refunded"] = piMissed, 999, 999
	})
	api.Set(map[string]stripemock.Reply{
		"GET /v1/events": listPage(t, "/v1/events", true, refund, noUser),
		"GET /v1/events?starting_after=" + evtNoUser: listPage(t, "/v1/events", false, missed, delivered),
	})

	out, err := p.runCLI("reconcile", "--config", p.cfgPath, "--route", "main", "--since", "72h")
	if err != nil {
		t.Fatalf("reconcile: %v\n%s", err, out)
	}
	rows := []struct{ id, typ, result string }{
		{evtDelivered, "checkout.session.completed", "duplicate"},
		{evtMissed, "checkout.session.completed", "forwarded"},
		{evtNoUser, "checkout.session.completed", "dead_lettered"},
		{evtRefund, "charge.refunded", "forwarded"},
	}
	lines := strings.Split(out, "\n")
	for i, r := range rows { // oldest first: the purchase is credited before its refund
		f := strings.Fields(lines[1+i])
		if len(f) < 4 || f[0] != r.id || f[1] != r.typ || f[3] != r.result {
			t.Errorf("row %d = %q, want %s %s … %s", i, lines[1+i], r.id, r.typ, r.result)
		}
	}
	if !strings.Contains(out, "4 events since") || !strings.Contains(out, "1 already done, 2 credited now, 1 parked, 0 ignored, 0 failed") {
		t.Errorf("summary:\n%s", out)
	}
	credited := b.credited()
	if credited[csMissed].Credits != 100 || credited[evtRefund].Credits != -100 || credited[csDelivered].Credits != 100 || len(credited) != 3 {
		t.Errorf("credited %v", credited)
	}
	var q string
	for _, r := range api.Requests() {
		if r.URL.Path == "/v1/events" {
			q = r.URL.RawQuery
			break
		}
	}
	if !strings.Contains(q, "types") || !strings.Contains(q, "created") {
		t.Errorf("events query %q lacks the types and created filters", q)
	}
	// Running it again changes nothing; the event parked the first time is reported
	// as parked, not as done.
	out, err = p.runCLI("reconcile", "--config", p.cfgPath, "--route", "main", "--since", "72h")
	if err != nil || !strings.Contains(out, "3 already done, 0 credited now, 1 parked") || !strings.Contains(out, "parked_earlier") {
		t.Errorf("second run: %v\n%s", err, out)
	}
	if len(b.credited()) != 3 {
		t.Errorf("second run credited more: %v", b.credited())
	}
}

// sessionEvent is a paid session event for user1 with 100 credits in its metadata.
func sessionEvent(t *testing.T, pi string, withUser bool) (raw []byte, evt, cs string) {
	evt, cs = newIDs()
	raw = mutate(t, withIDs(t, "checkout_session_completed_paid_2025-03-31.basil.json", evt, cs), func(o, _ map[string]any) {
		md := o["metadata"].(map[string]any)
		md["credits"] = "100"
		o["payment_intent"] = pi
		o["amount_total"] = 999
		o["customer"] = nil
		if !withUser {
			delete(md, "user_id")
			o["client_reference_id"] = nil
		}
	})
	return raw, evt, cs
}

// TestReconcileWithStripeMock checks the Events API wiring against stripe-mock, whose
// one event (plan.created) the route does not handle.
func TestReconcileWithStripeMock(t *testing.T) {
	requireRedis(t)
	base := stripemock.Start(t)
	p := startAPIProxy(t, newBackend(t), apiRoute, base, stripemock.Key)
	out, err := p.runCLI("reconcile", "--config", p.cfgPath, "--route", "main", "--since", "720h")
	if err != nil || !strings.Contains(out, "plan.created") || !strings.Contains(out, "1 ignored") {
		t.Fatalf("reconcile: %v\n%s", err, out)
	}
	if _, err := p.runCLI("reconcile", "--config", p.cfgPath, "--route", "main", "--since", "721h"); err == nil {
		t.Error("--since beyond 30 days accepted")
	}
}
