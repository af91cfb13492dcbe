package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/creditgate/creditgate/internal/dedup"
	"github.com/creditgate/creditgate/internal/storekey"
	"github.com/creditgate/creditgate/internal/stripeapi/stripemock"
)

// refundJSON is a refund of the API (2023-10-16) with its charge expanded.
func refundJSON(t *testing.T, pi string, amount, refunded int64) []byte {
	t.Helper()
	b, err := json.Marshal(map[string]any{
		"id": "re_e2e_" + randHex(6), "object": "refund", "amount": refunded, "currency": "eur",
		"created": time.Now().Unix(), "payment_intent": pi, "status": "succeeded", "metadata": map[string]any{},
		"charge": map[string]any{"id": "ch_e2e_" + randHex(6), "object": "charge", "amount": amount, "amount_refunded": refunded,
			"refunded": refunded >= amount, "currency": "eur", "payment_intent": pi, "metadata": map[string]any{}},
	})
	must(t, err)
	return b
}

func disputeJSON(t *testing.T, pi, status string, amount int64) []byte {
	t.Helper()
	b, err := json.Marshal(map[string]any{
		"id": "dp_e2e_" + randHex(6), "object": "dispute", "amount": amount, "currency": "eur", "created": time.Now().Unix(),
		"charge": "ch_e2e_" + randHex(6), "payment_intent": pi, "status": status, "reason": "fraudulent",
		"is_charge_refundable": false, "livemode": false, "metadata": map[string]any{},
	})
	must(t, err)
	return b
}

// TestAudit: purchases credited, missed, parked, credited twice (a session and its
// invoice), refunded and disputed behind creditgate's back; `creditgate audit` lists
// each difference per purchase, exits 1, pushes its counts, and changes nothing.
func TestAudit(t *testing.T) {
	requireRedis(t)
	b := newBackend(t)
	api := stripemock.NewRecorded(t, map[string]stripemock.Reply{})
	p := startAPIProxy(t, b, apiRoute+`
    events: [checkout.session.completed, invoice.paid, charge.refunded, charge.dispute.created]
    extract:
      user_id: [metadata.user_id, subscription.metadata.user_id, customer_map]
      credits: [metadata.credits, price_metadata]
`, api.URL, "sk_test_recorded")

	pi := func() string { return "pi_e2e_" + randHex(6) }
	piA, piD, piE := pi(), pi(), pi()
	credited, _, csA := sessionEvent(t, piA, true)                    // credited, then refunded in full behind our back
	missed, _, csB := sessionEvent(t, pi(), true)                     // paid, never delivered
	noUser, _, csC := sessionEvent(t, pi(), false)                    // parked: no user id
	disputed, _, csD := sessionEvent(t, piD, true)                    // credited, then disputed behind our back
	reversed, _, _ := sessionEvent(t, piE, true)                      // credited and its refund reversed: no difference
	twin, _, csF := sessionEvent(t, "pi_3PgdInvoicePaymentInt", true) // credited, and its invoice too
	for name, raw := range map[string][]byte{"A": credited, "C": noUser, "D": disputed, "E": reversed, "F": twin} {
		if a := p.deliver(raw); a.Code != 200 {
			t.Fatalf("delivery %s: %d %s", name, a.Code, a.Status)
		}
	}
	// The session's post-payment invoice was credited as well, under its own id (what
	// a route listing both event types did before it learned to tell them apart).
	rc := redis.NewClient(&redis.Options{Addr: redisAddr})
	defer rc.Close()
	must(t, dedup.NewRedis(rc, p.prefix).Complete(context.Background(), storekey.Purchase("main", "in_1PgdInvoiceRecorded01"), time.Hour))
	refundE := mutate(t, withIDs(t, "charge_refunded_partial.json", "evt_e2e_"+randHex(6), "ch_e2e_"+randHex(6)), func(o, _ map[string]any) {
		o["payment_intent"], o["amount"], o["amount_refunded"], o["refunded"] = piE, 999, 999, true
	})
	if a := p.deliver(refundE); a.Status != "forwarded" {
		t.Fatalf("refund of E: %s", a.Status)
	}
	requests, _ := b.stats()

	sessions := make([][]byte, 0, 6)
	for _, raw := range [][]byte{credited, missed, noUser, disputed, reversed, twin} {
		sessions = append(sessions, sessionObject(t, raw).Body)
	}
	inv := stripemock.File(t, "../../internal/stripeapi/testdata/invoice.json").Body
	api.Set(map[string]stripemock.Reply{
		"GET /v1/checkout/sessions": listPage(t, "/v1/checkout/sessions", false, sessions...),
		"GET /v1/invoices":          listPage(t, "/v1/invoices", false, inv),
		"GET /v1/refunds":           listPage(t, "/v1/refunds", false, refundJSON(t, piA, 999, 999), refundJSON(t, piE, 999, 999)),
		"GET /v1/disputes":          listPage(t, "/v1/disputes", false, disputeJSON(t, piD, "needs_response", 999)),
	})
	var mu sync.Mutex
	var pushed []string
	gw := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		pushed = append(pushed, fmt.Sprintf("%s %s %d", r.Method, r.URL.Path, len(body)))
		mu.Unlock()
		w.WriteHeader(http.StatusOK)
	}))
	defer gw.Close()

	out, err := p.runCLI("audit", "--config", p.cfgPath, "--route", "main", "--since", "24h", "--push-url", gw.URL)
	if err == nil || !strings.Contains(err.Error(), "5 differences") {
		t.Errorf("audit: err = %v, want 5 differences (exit 1)", err)
	}
	rows := map[string][]string{ // purchase → what its row must say
		csB: {"paid_not_credited", "not credited: creditgate reconcile --route main"},
		csC: {"parked", "(no_user_id): creditgate dlq show main:"},
		csF: {"credited_twice", "pi_3PgdInvoicePaymentInt", "in_1PgdInvoiceRecorded01"},
		csA: {"refunded_not_reversed", "100 credits due back, 0 taken back"},
		csD: {"disputed_not_reversed", "needs_response"},
	}
	for cs, want := range rows {
		line := grepLines(out, cs)
		for _, w := range want {
			if !strings.Contains(line, w) {
				t.Errorf("row of %s lacks %q:\n%s", cs, w, out)
			}
		}
	}
	if !strings.Contains(out, "7 paid, 5 credited, 2 refunds, 1 disputes; 5 differences, 1 paid_not_credited, 1 parked, 1 credited_twice, 1 refunded_not_reversed, 1 disputed_not_reversed") {
		t.Errorf("summary:\n%s", out)
	}
	mu.Lock()
	if len(pushed) != 1 || !strings.HasPrefix(pushed[0], "PUT /metrics/job/creditgate_audit/route/main ") {
		t.Errorf("pushes %q, want one PUT to /metrics/job/creditgate_audit/route/main", pushed)
	}
	mu.Unlock()
	if n, _ := b.stats(); n != requests {
		t.Errorf("audit sent %d requests to the backend; it must only read", n-requests)
	}
	for _, r := range api.Requests() {
		if r.Method != http.MethodGet {
			t.Errorf("audit wrote to Stripe: %s %s", r.Method, r.URL.Path)
		}
	}
	// Read-only: a second run finds the same.
	out2, _ := p.runCLI("audit", "--config", p.cfgPath, "--route", "main", "--since", "24h")
	if !strings.Contains(out2, "5 differences") {
		t.Errorf("second audit:\n%s", out2)
	}
}

// TestAuditRefuses: a window beyond dedup.ttl and the in-memory store are refused
// with messages naming the setting.
func TestAuditRefuses(t *testing.T) {
	requireRedis(t)
	api := stripemock.NewRecorded(t, map[string]stripemock.Reply{})
	p := startAPIProxy(t, newBackend(t), apiRoute, api.URL, "sk_test_recorded")
	withDedupTTL(t, p, "100h")
	if _, err := p.runCLI("audit", "--config", p.cfgPath, "--route", "main", "--since", "200h"); err == nil || !strings.Contains(err.Error(), "beyond dedup.ttl (100h0m0s)") {
		t.Errorf("--since beyond dedup.ttl: %v", err)
	}
	m := startProxy(t, newBackend(t), options{redisURL: "memory"})
	if _, err := m.runCLI("audit", "--config", m.cfgPath, "--route", "main"); err == nil || !strings.Contains(err.Error(), "redis.url") {
		t.Errorf("audit on the in-memory store: %v", err)
	}
	if len(api.Requests()) != 0 {
		t.Errorf("a refused audit read the API")
	}
}
