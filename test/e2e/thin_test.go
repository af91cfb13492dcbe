package e2e

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/creditgate/creditgate/internal/stripeapi/stripemock"
)

// thinEvent is a thin event (object v2.core.event) of type typ pointing at the
// related object id of type relType, as Stripe's event destinations send it.
func thinEvent(t *testing.T, typ, relType, id, account string) (raw []byte, evt string) {
	t.Helper()
	evt = "evt_test_thin" + randHex(8)
	ev := map[string]any{
		"id": evt, "object": "v2.core.event", "type": typ, "livemode": false,
		"created": time.Now().UTC().Format(time.RFC3339Nano),
		"reason":  map[string]any{"type": "request", "request": map[string]any{"id": "req_thin", "idempotency_key": nil}},
	}
	if account != "" {
		ev["context"] = account
	}
	if id != "" {
		ev["related_object"] = map[string]any{"id": id, "type": relType, "url": "/v1/checkout/sessions/" + id}
	}
	raw, err := json.Marshal(ev)
	must(t, err)
	return raw, evt
}

// sessionObject is data.object of a snapshot event: what GET /v1/checkout/sessions/id
// returns for the same session.
func sessionObject(t *testing.T, snapshot []byte) stripemock.Reply {
	t.Helper()
	var ev struct {
		Data struct {
			Object json.RawMessage `json:"object"`
		} `json:"data"`
	}
	must(t, json.Unmarshal(snapshot, &ev))
	return stripemock.Reply{Status: 200, Body: ev.Data.Object}
}

// TestThinEvents: a signed thin event is processed by reading the session it points
// at, deduplicated with the snapshot event of the same purchase in both orders (an
// endpoint switched from snapshot to thin mid-stream), and never answered 4xx.
func TestThinEvents(t *testing.T) {
	requireRedis(t)
	b := newBackend(t)
	api := stripemock.NewRecorded(t, map[string]stripemock.Reply{})
	p := startAPIProxy(t, b, apiRoute+`
    extract:
      user_id_format: uuid
`, api.URL, "sk_test_recorded")

	// Thin first, then the snapshot twin and a redelivery of the thin event.
	snap, _, cs := sessionEvent(t, "pi_e2e_"+randHex(6), true)
	api.Set(map[string]stripemock.Reply{"GET /v1/checkout/sessions/" + cs: sessionObject(t, snap)})
	thin, evt := thinEvent(t, "v1.checkout.session.completed", "checkout.session", cs, "")
	if a := p.deliver(thin); a.Code != 200 || a.Status != "forwarded" || a.EventID != evt {
		t.Fatalf("thin event: %d %s %s, want 200 forwarded %s", a.Code, a.Status, a.EventID, evt)
	}
	if got := b.credited()[cs]; got.Credits != 100 || got.UserID != user1 || got.Stripe.EventID != evt || got.Stripe.EventType != "checkout.session.completed" {
		t.Fatalf("credit = %+v", got)
	}
	if a := p.deliver(snap); a.Status != "duplicate" {
		t.Errorf("snapshot twin after thin: %s, want duplicate", a.Status)
	}
	reads := len(api.Requests())
	if a := p.deliver(thin); a.Status != "duplicate" {
		t.Errorf("thin redelivery: %s, want duplicate", a.Status)
	}
	if n := len(api.Requests()); n != reads {
		t.Errorf("a redelivered thin event read the API again (%d reads, want %d)", n, reads)
	}

	// Snapshot first, then the thin twin.
	snap2, _, cs2 := sessionEvent(t, "pi_e2e_"+randHex(6), true)
	api.Set(map[string]stripemock.Reply{"GET /v1/checkout/sessions/" + cs2: sessionObject(t, snap2)})
	if a := p.deliver(snap2); a.Status != "forwarded" {
		t.Fatalf("snapshot: %s", a.Status)
	}
	thin2, _ := thinEvent(t, "v1.checkout.session.completed", "checkout.session", cs2, "")
	if a := p.deliver(thin2); a.Code != 200 || a.Status != "duplicate" {
		t.Errorf("thin twin after snapshot: %d %s, want 200 duplicate", a.Code, a.Status)
	}
	if n := len(b.credited()); n != 2 {
		t.Errorf("backend credited %d purchases, want 2: %v", n, b.credited())
	}
	if reqs, _ := b.stats(); reqs != 2 {
		t.Errorf("backend got %d requests, want 2", reqs)
	}

	tests := []struct {
		name         string
		typ, relType string
		reply        *stripemock.Reply
		code         int
		status       string
		reason       string
	}{
		{"v2 health event", "v2.core.health.event_generation_failure.resolved", "", nil, 200, "ignored", "stripe_health_event"},
		{"other v2 event", "v2.core.account.created", "", nil, 200, "ignored", "thin_event_type"},
		{"v1 type the route does not handle", "v1.invoice.paid", "invoice", nil, 200, "ignored", "thin_event_type"},
		{"session not found", "v1.checkout.session.completed", "checkout.session", ptr(stripemock.Error(t, 404, "../../internal/stripeapi/testdata/error_not_found.json")), 200, "dead_lettered", "stripe_not_found"},
		{"rate limited", "v1.checkout.session.completed", "checkout.session", ptr(stripemock.Error(t, 429, "../../internal/stripeapi/testdata/error_rate_limit.json")), 503, "backend_unavailable", "stripe_api"},
		{"related object of another type", "v1.checkout.session.completed", "invoice", nil, 200, "dead_lettered", "thin_related_object"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := "cs_test_e2e_" + randHex(8)
			if tt.reply != nil {
				api.Set(map[string]stripemock.Reply{"GET /v1/checkout/sessions/" + id: *tt.reply})
			}
			if tt.relType == "" {
				id = ""
			}
			raw, evt := thinEvent(t, tt.typ, tt.relType, id, "")
			if a := p.deliver(raw); a.Code != tt.code || a.Status != tt.status {
				t.Fatalf("%d %s, want %d %s", a.Code, a.Status, tt.code, tt.status)
			}
			if r := logReason(p, evt); r != tt.reason {
				t.Errorf("logged reason %q, want %q", r, tt.reason)
			}
		})
	}

	// A thin event that is itself broken is the only 400.
	broken := []byte(`{"id":"evt_test_thinbroken","object":"v2.core.event","type":"v1.checkout.session.completed","created":1700000000}`)
	if a := p.deliver(broken); a.Code != 400 || a.Status != "malformed_event" {
		t.Errorf("broken thin event: %d %s, want 400 malformed_event", a.Code, a.Status)
	}
	if n := len(b.credited()); n != 2 {
		t.Errorf("backend credited %d purchases after the failures, want 2", n)
	}
}

// TestThinEventWithoutAPIKey: a route without an API key answers a handled thin event
// 200 ignored, and the log line says which setting would process it.
func TestThinEventWithoutAPIKey(t *testing.T) {
	requireRedis(t)
	b := newBackend(t)
	p := startProxy(t, b, options{})
	raw, evt := thinEvent(t, "v1.checkout.session.completed", "checkout.session", "cs_test_e2e_"+randHex(8), "")
	if a := p.deliver(raw); a.Code != 200 || a.Status != "ignored" {
		t.Fatalf("%d %s, want 200 ignored", a.Code, a.Status)
	}
	line := logLine(p, evt)
	if line["reason"] != "thin_event_needs_api_key" || !strings.Contains(fmt.Sprint(line["detail"]), "stripe.api_key_file") {
		t.Errorf("log line %v does not name stripe.api_key_file", line)
	}
	if n, _ := b.stats(); n != 0 {
		t.Errorf("backend got %d requests", n)
	}
}

func logLine(p *proxy, evt string) map[string]any {
	for _, l := range p.logLines() {
		if l["event_id"] == evt {
			return l
		}
	}
	p.t.Errorf("no log line for %s", evt)
	return nil
}

func logReason(p *proxy, evt string) string {
	r, _ := logLine(p, evt)["reason"].(string)
	return r
}

func ptr[T any](v T) *T { return &v }

// TestThinParkedThenReplayed: a thin event whose session the API could not find is
// parked as it came; once the API finds it, `creditgate dlq replay` credits it once.
func TestThinParkedThenReplayed(t *testing.T) {
	requireRedis(t)
	b := newBackend(t)
	snap, _, cs := sessionEvent(t, "pi_e2e_"+randHex(6), true)
	api := stripemock.NewRecorded(t, map[string]stripemock.Reply{
		"GET /v1/checkout/sessions/" + cs: stripemock.Error(t, 404, "../../internal/stripeapi/testdata/error_not_found.json"),
	})
	p := startAPIProxy(t, b, apiRoute, api.URL, "sk_test_recorded")
	thin, evt := thinEvent(t, "v1.checkout.session.completed", "checkout.session", cs, "")
	if a := p.deliver(thin); a.Status != "dead_lettered" {
		t.Fatalf("thin event of a session the API cannot find: %s, want dead_lettered", a.Status)
	}
	api.Set(map[string]stripemock.Reply{"GET /v1/checkout/sessions/" + cs: sessionObject(t, snap)})
	out, err := p.runCLI("dlq", "replay", "main:"+evt, "--config", p.cfgPath)
	if err != nil || !strings.Contains(out, "forwarded") {
		t.Fatalf("replay: %v\n%s", err, out)
	}
	if got := b.credited()[cs]; got.Credits != 100 || got.UserID != user1 {
		t.Errorf("credit = %+v", got)
	}
	if out, _ := p.runCLI("dlq", "list", "--config", p.cfgPath); strings.Contains(out, evt) {
		t.Errorf("the replayed entry is still listed:\n%s", out)
	}
	if a := p.deliver(snap); a.Status != "duplicate" {
		t.Errorf("snapshot twin after the replay: %s, want duplicate", a.Status)
	}
}

// TestThinEventWithStripeMock reads the session of a thin event from stripe-mock
// (real response shapes; it echoes the requested id): its fixed session is not paid,
// so the answer is 200 pending_payment, and nothing is credited.
func TestThinEventWithStripeMock(t *testing.T) {
	requireRedis(t)
	base := stripemock.Start(t)
	b := newBackend(t)
	p := startAPIProxy(t, b, apiRoute, base, stripemock.Key)
	cs := "cs_test_e2e_" + randHex(8)
	raw, evt := thinEvent(t, "v1.checkout.session.completed", "checkout.session", cs, "")
	if a := p.deliver(raw); a.Code != 200 || a.Status != "pending_payment" {
		t.Fatalf("%d %s, want 200 pending_payment (stripe-mock's session is unpaid)", a.Code, a.Status)
	}
	line := logLine(p, evt)
	if line["event_type"] != "checkout.session.completed" || line["session_id"] != cs || line["reason"] != "unpaid" {
		t.Errorf("log line %v", line)
	}
	if n, _ := b.stats(); n != 0 {
		t.Errorf("backend got %d requests", n)
	}
}
