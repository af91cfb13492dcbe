package e2e

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v76/webhook"
)

const paidFixture = "checkout_session_completed_paid_2020-08-27.json"

// TestEveryOutcome covers each row of docs/design.md §2: status code, status word, and what
// reached the backend.
func TestEveryOutcome(t *testing.T) {
	requireRedis(t)
	type row struct {
		name       string
		setup      func(b *backend)
		payload    func(t *testing.T) []byte
		send       func(p *proxy, payload []byte) answer // default: p.deliver
		wantCode   int
		wantStatus string
		wantCredit bool // the backend holds a credit for the session afterwards
	}
	paid := func(t *testing.T) []byte { e, s := newIDs(); return withIDs(t, paidFixture, e, s) }
	rows := []row{
		{name: "credit delivered", payload: paid, wantCode: 200, wantStatus: "forwarded", wantCredit: true},
		{name: "backend says already credited (409)", setup: func(b *backend) { b.answer = func(int) int { return 409 } },
			payload: paid, wantCode: 200, wantStatus: "forwarded"},
		{name: "event type not handled", payload: func(t *testing.T) []byte { return fixture(t, "payment_intent_succeeded.json") },
			wantCode: 200, wantStatus: "ignored"},
		{name: "unpaid session waits", payload: func(t *testing.T) []byte {
			e, s := newIDs()
			return withIDs(t, "checkout_session_completed_unpaid.json", e, s)
		}, wantCode: 200, wantStatus: "pending_payment"},
		{name: "no user id", payload: func(t *testing.T) []byte {
			return mutate(t, paid(t), func(o, _ map[string]any) {
				delete(o["metadata"].(map[string]any), "user_id")
				o["client_reference_id"] = nil
				o["customer"] = nil
			})
		}, wantCode: 200, wantStatus: "dead_lettered"},
		{name: "user id not a uuid", payload: func(t *testing.T) []byte {
			return mutate(t, paid(t), func(o, _ map[string]any) { o["metadata"].(map[string]any)["user_id"] = "jenny@example.com" })
		}, wantCode: 200, wantStatus: "dead_lettered"},
		{name: "credits not an integer", payload: func(t *testing.T) []byte {
			return mutate(t, paid(t), func(o, _ map[string]any) { o["metadata"].(map[string]any)["credits"] = "1e9" })
		}, wantCode: 200, wantStatus: "dead_lettered"},
		{name: "credits above max_credits", payload: func(t *testing.T) []byte {
			return mutate(t, paid(t), func(o, _ map[string]any) { o["metadata"].(map[string]any)["credits"] = "100001" })
		}, wantCode: 200, wantStatus: "dead_lettered"},
		{name: "backend rejects (422)", setup: func(b *backend) { b.answer = func(int) int { return 422 } },
			payload: paid, wantCode: 200, wantStatus: "dead_lettered"},
		{name: "backend 500 after the retry budget", setup: func(b *backend) { b.answer = func(int) int { return 500 } },
			payload: paid, wantCode: 503, wantStatus: "backend_unavailable"},
		{name: "backend 429", setup: func(b *backend) { b.answer = func(int) int { return 429 } },
			payload: paid, wantCode: 503, wantStatus: "backend_unavailable"},
		{name: "backend 408", setup: func(b *backend) { b.answer = func(int) int { return 408 } },
			payload: paid, wantCode: 503, wantStatus: "backend_unavailable"},
		{name: "backend timeout", setup: func(b *backend) {
			b.delay = 1500 * time.Millisecond
			b.answer = func(int) int { return 500 } // answers only after creditgate gave up
		},
			payload: paid, wantCode: 503, wantStatus: "backend_unavailable"},
		{name: "no Stripe-Signature", payload: paid, send: func(p *proxy, pl []byte) answer { return p.post("/stripe/webhook", pl, nil) },
			wantCode: 400, wantStatus: "invalid_signature"},
		{name: "malformed Stripe-Signature", payload: paid, send: func(p *proxy, pl []byte) answer {
			return p.post("/stripe/webhook", pl, map[string]string{"Stripe-Signature": "garbage"})
		}, wantCode: 400, wantStatus: "invalid_signature"},
		{name: "signed with another secret", payload: paid, send: func(p *proxy, pl []byte) answer {
			sp := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: pl, Secret: "whsec_attacker", Timestamp: time.Now()})
			return p.post("/stripe/webhook", pl, map[string]string{"Stripe-Signature": sp.Header})
		}, wantCode: 400, wantStatus: "invalid_signature"},
		{name: "timestamp too old", payload: paid, send: func(p *proxy, pl []byte) answer {
			sp := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: pl, Secret: stripeSecret, Timestamp: time.Now().Add(-301 * time.Second)})
			return p.post("/stripe/webhook", pl, map[string]string{"Stripe-Signature": sp.Header})
		}, wantCode: 400, wantStatus: "invalid_signature"},
		{name: "timestamp in the future", payload: paid, send: func(p *proxy, pl []byte) answer {
			sp := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: pl, Secret: stripeSecret, Timestamp: time.Now().Add(301 * time.Second)})
			return p.post("/stripe/webhook", pl, map[string]string{"Stripe-Signature": sp.Header})
		}, wantCode: 400, wantStatus: "invalid_signature"},
		{name: "body re-encoded after signing", payload: paid, send: func(p *proxy, pl []byte) answer {
			sp := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: pl, Secret: stripeSecret, Timestamp: time.Now()})
			return p.post("/stripe/webhook", append(pl, '\n'), map[string]string{"Stripe-Signature": sp.Header})
		}, wantCode: 400, wantStatus: "invalid_signature"},
		{name: "livemode event on a test route", payload: func(t *testing.T) []byte {
			return mutate(t, paid(t), func(_, ev map[string]any) { ev["livemode"] = true })
		}, wantCode: 400, wantStatus: "livemode_mismatch"},
		{name: "signed body that is not an event", payload: func(*testing.T) []byte { return []byte(`{"hello":"world"}`) },
			wantCode: 400, wantStatus: "malformed_event"},
		{name: "body larger than the limit", payload: func(*testing.T) []byte { return []byte(strings.Repeat("x", 65537)) },
			wantCode: 413, wantStatus: "too_large"},
		{name: "unknown path", payload: paid, send: func(p *proxy, pl []byte) answer { return p.post("/other", pl, nil) },
			wantCode: 404, wantStatus: "not_found"},
		{name: "wrong method", payload: paid, send: func(p *proxy, pl []byte) answer { return p.do(http.MethodGet, "/stripe/webhook", nil, nil) },
			wantCode: 405, wantStatus: "method_not_allowed"},
	}
	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			b := newBackend(t)
			if r.setup != nil {
				b.set(r.setup)
			}
			p := startProxy(t, b, options{budget: "2s"})
			payload := r.payload(t)
			send := r.send
			if send == nil {
				send = (*proxy).deliver
			}
			got := send(p, payload)
			if got.Code != r.wantCode || got.Status != r.wantStatus {
				t.Fatalf("answer = %d %q, want %d %q (body %s)", got.Code, got.Status, r.wantCode, r.wantStatus, got.Raw)
			}
			if n := len(b.credited()); (n == 1) != r.wantCredit || n > 1 {
				t.Errorf("backend holds %d credits, want credited=%v", n, r.wantCredit)
			}
			if _, bad := b.stats(); bad != 0 {
				t.Errorf("backend saw %d requests with an invalid Creditgate-Signature", bad)
			}
			if strings.Contains(got.Raw, stripeSecret) || strings.Contains(got.Raw, forwardKey) {
				t.Errorf("answer leaks a secret: %s", got.Raw)
			}
			if strings.Contains(p.logs.String(), stripeSecret) || strings.Contains(p.logs.String(), forwardKey) {
				t.Errorf("logs leak a secret")
			}
			// One canonical log line per webhook, carrying the same result.
			lines := p.logLines()
			if len(lines) != 1 || lines[0]["result"] != r.wantStatus {
				t.Errorf("canonical log lines = %v, want one with result %s", lines, r.wantStatus)
			}
			// The metric counts it under the same label.
			metrics := p.metrics(t)
			route := "main"
			if r.wantStatus == "not_found" {
				route = ""
			}
			want := fmt.Sprintf("creditgate_webhooks_total{result=%q,route=%q} 1\n", r.wantStatus, route)
			if !strings.Contains(metrics, want) {
				t.Errorf("metrics lack %q", want)
			}
		})
	}
}

func (p *proxy) metrics(t *testing.T) string {
	t.Helper()
	resp, err := http.Get(p.admin + "/metrics")
	must(t, err)
	defer resp.Body.Close()
	var sb strings.Builder
	buf := make([]byte, 32<<10)
	for {
		n, err := resp.Body.Read(buf)
		sb.Write(buf[:n])
		if err != nil {
			break
		}
	}
	return sb.String()
}
