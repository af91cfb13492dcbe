package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/creditgate/creditgate/internal/deadletter"
	"github.com/creditgate/creditgate/internal/forward"
)

// wantBody is the exact answer body: the status word and, when known, the event id;
// nothing else (no detail, no payload, no secret).
func wantBody(status, eventID string) string {
	if eventID == "" {
		return fmt.Sprintf(`{"status":%q}`+"\n", status)
	}
	return fmt.Sprintf(`{"status":%q,"event_id":%q}`+"\n", status, eventID)
}

// TestOutcomes drives every answer the handler gives (docs/design.md §2) and checks the
// answer, the canonical log line, the metric and what reached the backend.
func TestOutcomes(t *testing.T) {
	noUser := func(t *testing.T) []byte {
		return mutate(t, fixture(t, paidFixture), func(o map[string]any) {
			o["client_reference_id"] = nil
			delete(o["metadata"].(map[string]any), "user_id")
		})
	}
	paid := func(t *testing.T) []byte { return fixture(t, paidFixture) }
	tests := []struct {
		name      string
		maxBody   int64
		setup     func(t *testing.T, h *harness) // runs before the request under test
		req       func(t *testing.T) *http.Request
		code      int
		status    string
		eventID   string
		eventType string
		level     string
		reason    string // "" : no reason key in the log line
		forwards  int    // requests the backend got, setup included
		parked    string // dead-letter entry id expected afterwards
	}{
		{
			name: "credit delivered", req: func(t *testing.T) *http.Request {
				return signedRequest("/stripe/webhook", paid(t), stripeSecret, time.Now())
			},
			code: 200, status: "forwarded", eventID: paidEventID, eventType: "checkout.session.completed", level: "INFO", forwards: 1,
		},
		{
			name: "same event again",
			setup: func(t *testing.T, h *harness) {
				if r := h.post("/stripe/webhook", paid(t), stripeSecret, time.Now()); r.code != 200 {
					t.Fatalf("first delivery: %d %s", r.code, r.body)
				}
			},
			req: func(t *testing.T) *http.Request {
				return signedRequest("/stripe/webhook", paid(t), stripeSecret, time.Now())
			},
			code: 200, status: "duplicate", eventID: paidEventID, eventType: "checkout.session.completed", level: "INFO", reason: "event", forwards: 1,
		},
		{
			name: "event type not handled", req: func(t *testing.T) *http.Request {
				return signedRequest("/stripe/webhook", fixture(t, otherTypeFixture), stripeSecret, time.Now())
			},
			code: 200, status: "ignored", eventID: otherTypeEventID, eventType: "payment_intent.succeeded", level: "INFO", reason: "event_type",
		},
		{
			name: "session not paid yet", req: func(t *testing.T) *http.Request {
				return signedRequest("/stripe/webhook", fixture(t, unpaidFixture), stripeSecret, time.Now())
			},
			code: 200, status: "pending_payment", eventID: unpaidEventID, eventType: "checkout.session.completed", level: "INFO", reason: "unpaid",
		},
		{
			name: "no user id", req: func(t *testing.T) *http.Request {
				return signedRequest("/stripe/webhook", noUser(t), stripeSecret, time.Now())
			},
			code: 200, status: "dead_lettered", eventID: paidEventID, eventType: "checkout.session.completed", level: "ERROR", reason: "no_user_id",
			parked: "main:" + paidEventID,
		},
		{
			name: "backend rejects",
			setup: func(t *testing.T, h *harness) {
				h.fw.err = fmt.Errorf("%w: backend answered 422", forward.ErrRejected)
			},
			req: func(t *testing.T) *http.Request {
				return signedRequest("/stripe/webhook", paid(t), stripeSecret, time.Now())
			},
			code: 200, status: "dead_lettered", eventID: paidEventID, eventType: "checkout.session.completed", level: "ERROR", reason: "backend_rejected",
			forwards: 1, parked: "main:" + paidEventID,
		},
		{
			name: "backend unavailable",
			setup: func(t *testing.T, h *harness) {
				h.fw.err = fmt.Errorf("%w: backend answered 502 three times", forward.ErrUnavailable)
			},
			req: func(t *testing.T) *http.Request {
				return signedRequest("/stripe/webhook", paid(t), stripeSecret, time.Now())
			},
			code: 503, status: "backend_unavailable", eventID: paidEventID, eventType: "checkout.session.completed", level: "WARN", reason: "backend",
			forwards: 1,
		},
		{
			name: "signed with another secret", req: func(t *testing.T) *http.Request {
				return signedRequest("/stripe/webhook", paid(t), "whsec_someone_else_0123456789", time.Now())
			},
			code: 400, status: "invalid_signature", level: "WARN", reason: "no_valid_signature",
		},
		{
			name: "no signature header", req: func(t *testing.T) *http.Request {
				r := signedRequest("/stripe/webhook", paid(t), stripeSecret, time.Now())
				r.Header.Del("Stripe-Signature")
				return r
			},
			code: 400, status: "invalid_signature", level: "WARN", reason: "not_signed",
		},
		{
			name: "malformed signature header", req: func(t *testing.T) *http.Request {
				r := signedRequest("/stripe/webhook", paid(t), stripeSecret, time.Now())
				r.Header.Set("Stripe-Signature", "garbage")
				return r
			},
			code: 400, status: "invalid_signature", level: "WARN", reason: "invalid_header",
		},
		{
			name: "signature older than the tolerance", req: func(t *testing.T) *http.Request {
				return signedRequest("/stripe/webhook", paid(t), stripeSecret, time.Now().Add(-time.Hour))
			},
			code: 400, status: "invalid_signature", level: "WARN", reason: "too_old",
		},
		{
			name: "signature from the future", req: func(t *testing.T) *http.Request {
				return signedRequest("/stripe/webhook", paid(t), stripeSecret, time.Now().Add(time.Hour))
			},
			code: 400, status: "invalid_signature", level: "WARN", reason: "too_new",
		},
		{
			name: "live event on a test route", req: func(t *testing.T) *http.Request {
				return signedRequest("/stripe/webhook", fixture(t, liveFixture), stripeSecret, time.Now())
			},
			code: 400, status: "livemode_mismatch", eventID: liveEventID, eventType: "checkout.session.completed", level: "WARN", reason: "livemode",
		},
		{
			name: "signed body that is not an event", req: func(t *testing.T) *http.Request {
				return signedRequest("/stripe/webhook", []byte(`{"object":"balance"}`), stripeSecret, time.Now())
			},
			code: 400, status: "malformed_event", level: "WARN", reason: "decode",
		},
		{
			name: "body over the limit", maxBody: 1024, req: func(t *testing.T) *http.Request {
				return signedRequest("/stripe/webhook", paid(t), stripeSecret, time.Now())
			},
			code: 413, status: "too_large", level: "WARN", reason: "body",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, tt.maxBody)
			if tt.setup != nil {
				tt.setup(t, h)
				h.lines(t) // forget the setup's lines
			}
			req := tt.req(t)
			sigHeader := req.Header.Get("Stripe-Signature")
			got := h.do(req)

			if got.code != tt.code {
				t.Errorf("code = %d, want %d", got.code, tt.code)
			}
			if ct := got.header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q, want application/json", ct)
			}
			if got.body != wantBody(tt.status, tt.eventID) {
				t.Errorf("body = %q, want %q", got.body, wantBody(tt.status, tt.eventID))
			}

			line := h.oneLine(t)
			want := map[string]any{
				"msg": "webhook", "level": tt.level, "route": "main", "event_id": tt.eventID,
				"event_type": tt.eventType, "result": tt.status, "status": float64(tt.code),
			}
			if tt.reason != "" {
				want["reason"] = tt.reason
			}
			for k, v := range want {
				if line[k] != v {
					t.Errorf("log %s = %#v, want %#v", k, line[k], v)
				}
			}
			if tt.reason == "" {
				if _, ok := line["reason"]; ok {
					t.Errorf("log has reason %v, want none", line["reason"])
				}
			}
			d, ok := line["duration_seconds"].(float64)
			if !ok || d < 0 || d > 30 {
				t.Errorf("log duration_seconds = %#v, want a number of seconds", line["duration_seconds"])
			}
			raw, _ := json.Marshal(line)
			for _, leak := range []string{stripeSecret, "jenny.rosen@example.com", sigHeader} {
				if leak != "" && strings.Contains(string(raw), leak) {
					t.Errorf("log line contains %q: %s", leak, raw)
				}
			}

			if n := value(h.metrics.Webhooks.WithLabelValues("main", tt.status)); n != 1 {
				t.Errorf("creditgate_webhooks_total{route=main,result=%s} = %v, want 1", tt.status, n)
			}
			if n := len(h.fw.requests()); n != tt.forwards {
				t.Errorf("backend got %d requests, want %d", n, tt.forwards)
			}
			entries, err := h.dl.List(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case tt.parked == "" && len(entries) != 0:
				t.Errorf("dead-letter list = %+v, want empty", entries)
			case tt.parked != "" && (len(entries) != 1 || entries[0].ID != tt.parked || entries[0].Reason != tt.reason):
				t.Errorf("dead-letter list = %+v, want one entry %s (%s)", entries, tt.parked, tt.reason)
			}
		})
	}
}

func TestForwardedRequest(t *testing.T) {
	h := newHarness(t, 0)
	if r := h.post("/stripe/webhook", fixture(t, paidFixture), stripeSecret, time.Now()); r.code != 200 {
		t.Fatalf("%d %s", r.code, r.body)
	}
	reqs := h.fw.requests()
	if len(reqs) != 1 {
		t.Fatalf("backend got %d requests, want 1", len(reqs))
	}
	r := reqs[0]
	if r.ID != paidSessionID || r.Type != forward.TypeGranted || r.UserID != paidUserID || r.Credits != 100 ||
		r.Livemode || r.Stripe.EventID != paidEventID || r.Stripe.SessionID != paidSessionID || r.Stripe.AmountTotal != 999 || r.Stripe.Currency != "eur" {
		t.Errorf("forwarded %+v", r)
	}
	if n := value(h.metrics.CreditsGranted.WithLabelValues("main")); n != 100 {
		t.Errorf("creditgate_credits_granted_total = %v, want 100", n)
	}
	if n := value(h.metrics.Forwards.WithLabelValues("main", "credited")); n != 1 {
		t.Errorf("creditgate_forwards_total{outcome=credited} = %v, want 1", n)
	}
}

func TestRoutingExactPath(t *testing.T) {
	routes := []route{{"main", "/stripe/webhook"}, {"other", "/stripe/other"}}
	tests := []struct {
		path  string
		code  int
		route string // route in the log line; "" for 404
	}{
		{"/stripe/webhook", 200, "main"},
		{"/stripe/webhook?source=stripe", 200, "main"},
		{"/stripe/other", 200, "other"},
		{"/stripe/webhook/", 404, ""},
		{"/stripe", 404, ""},
		{"/Stripe/Webhook", 404, ""},
		{"/stripe/other/../webhook", 404, ""},
		{"/", 404, ""},
		{"/metrics", 404, ""},
		{"/healthz", 404, ""},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			h := newHarness(t, 0, routes...)
			got := h.post(tt.path, fixture(t, paidFixture), stripeSecret, time.Now())
			if got.code != tt.code {
				t.Fatalf("code = %d, want %d (%s)", got.code, tt.code, got.body)
			}
			line := h.oneLine(t)
			if line["route"] != tt.route {
				t.Errorf("log route = %v, want %q", line["route"], tt.route)
			}
			want := 0
			if tt.code == 200 {
				want = 1
			}
			if n := len(h.fw.requests()); n != want {
				t.Errorf("backend got %d requests, want %d", n, want)
			}
		})
	}
}

func TestCatchAllRoute(t *testing.T) {
	routes := []route{{"main", "/stripe/webhook"}, {"fallback", "/"}}
	tests := []struct {
		method, path string
		code         int
		route        string
	}{
		{"POST", "/stripe/webhook", 200, "main"},
		{"POST", "/", 200, "fallback"},
		{"POST", "/old/emergency/path", 200, "fallback"},
		{"POST", "/stripe/webhook/", 200, "fallback"},
		{"GET", "/anything", 405, "fallback"},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			h := newHarness(t, 0, routes...)
			req := signedRequest(tt.path, fixture(t, paidFixture), stripeSecret, time.Now())
			req.Method = tt.method
			got := h.do(req)
			if got.code != tt.code {
				t.Fatalf("code = %d, want %d (%s)", got.code, tt.code, got.body)
			}
			if line := h.oneLine(t); line["route"] != tt.route {
				t.Errorf("log route = %v, want %q", line["route"], tt.route)
			}
		})
	}
}

func TestNoRouteIsJSON404(t *testing.T) {
	for _, method := range []string{http.MethodPost, http.MethodGet} {
		t.Run(method, func(t *testing.T) {
			h := newHarness(t, 0)
			req := httptest.NewRequest(method, "/nope", strings.NewReader(`{"id":"evt_1"}`))
			got := h.do(req)
			if got.code != 404 || got.body != wantBody("not_found", "") {
				t.Errorf("answer = %d %q, want 404 %q", got.code, got.body, wantBody("not_found", ""))
			}
			if ct := got.header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q", ct)
			}
			line := h.oneLine(t)
			want := map[string]any{"msg": "webhook", "level": "WARN", "route": "", "event_id": "", "event_type": "", "result": "not_found", "status": float64(404)}
			for k, v := range want {
				if line[k] != v {
					t.Errorf("log %s = %#v, want %#v", k, line[k], v)
				}
			}
			if _, ok := line["duration_seconds"].(float64); !ok {
				t.Errorf("log has no duration_seconds: %v", line)
			}
			if n := value(h.metrics.Webhooks.WithLabelValues("", "not_found")); n != 1 {
				t.Errorf("creditgate_webhooks_total{route=\"\",result=not_found} = %v, want 1", n)
			}
		})
	}
}

func TestWrongMethod(t *testing.T) {
	for _, method := range []string{http.MethodGet, http.MethodPut, http.MethodDelete, http.MethodPatch, http.MethodHead, http.MethodOptions} {
		t.Run(method, func(t *testing.T) {
			h := newHarness(t, 0)
			req := signedRequest("/stripe/webhook", fixture(t, paidFixture), stripeSecret, time.Now())
			req.Method = method
			got := h.do(req)
			if got.code != 405 {
				t.Fatalf("code = %d, want 405", got.code)
			}
			if a := got.header.Values("Allow"); len(a) != 1 || a[0] != "POST" {
				t.Errorf("Allow = %q, want [POST]", a)
			}
			if ct := got.header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q", ct)
			}
			if method != http.MethodHead && got.body != wantBody("method_not_allowed", "") {
				t.Errorf("body = %q", got.body)
			}
			line := h.oneLine(t)
			if line["route"] != "main" || line["result"] != "method_not_allowed" || line["status"] != float64(405) || line["level"] != "WARN" {
				t.Errorf("log line = %v", line)
			}
			if n := len(h.fw.requests()); n != 0 {
				t.Errorf("backend got %d requests, want 0", n)
			}
		})
	}
}

// TestBodyLimit: a body of exactly max_body_bytes is processed, one byte more is 413
// and never reaches the backend, even when correctly signed.
func TestBodyLimit(t *testing.T) {
	payload := fixture(t, paidFixture)
	limit := int64(len(payload) + 100)
	pad := func(n int64) []byte {
		return append(bytes.Clone(payload), bytes.Repeat([]byte(" "), int(n)-len(payload))...)
	}

	h := newHarness(t, limit)
	if got := h.post("/stripe/webhook", pad(limit+1), stripeSecret, time.Now()); got.code != 413 || got.body != wantBody("too_large", "") {
		t.Errorf("limit+1 bytes: %d %q, want 413 too_large", got.code, got.body)
	}
	if n := len(h.fw.requests()); n != 0 {
		t.Errorf("backend got %d requests after a 413", n)
	}
	if got := h.post("/stripe/webhook", pad(limit), stripeSecret, time.Now()); got.code != 200 || got.body != wantBody("forwarded", paidEventID) {
		t.Errorf("exactly limit bytes: %d %q, want 200 forwarded", got.code, got.body)
	}
}

// TestTwoSignatureHeaders: a second Stripe-Signature header is refused whatever it
// holds; creditgate does not pick one.
func TestTwoSignatureHeaders(t *testing.T) {
	payload := fixture(t, paidFixture)
	valid := sign(payload, stripeSecret, time.Now())
	for name, pair := range map[string][2]string{
		"both valid":        {valid, valid},
		"valid then forged": {valid, sign(payload, "whsec_forged_0123456789", time.Now())},
		"forged then valid": {sign(payload, "whsec_forged_0123456789", time.Now()), valid},
	} {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t, 0)
			req := httptest.NewRequest(http.MethodPost, "/stripe/webhook", bytes.NewReader(payload))
			req.Header.Add("Stripe-Signature", pair[0])
			req.Header.Add("Stripe-Signature", pair[1])
			got := h.do(req)
			if got.code != 400 || got.body != wantBody("invalid_signature", "") {
				t.Errorf("answer = %d %q, want 400 invalid_signature", got.code, got.body)
			}
			if line := h.oneLine(t); line["reason"] != "header" || line["level"] != "WARN" {
				t.Errorf("log line = %v", line)
			}
			if n := len(h.fw.requests()); n != 0 {
				t.Errorf("backend got %d requests", n)
			}
		})
	}
}

// TestAnswersNeverEchoInternals sends bodies crafted to be echoed (a detail that
// quotes the payload) and checks only the status word comes back.
func TestAnswersNeverEchoInternals(t *testing.T) {
	h := newHarness(t, 0)
	canary := "CANARY_" + strings.Repeat("x", 20)
	bodies := [][]byte{
		// The event id is the one part of a request an answer carries, by design.
		[]byte(`{"id":"evt_echo_1","type":"` + canary + `","data":"` + canary + `"}`),
		[]byte(`{"id":"evt_echo_2","type":"checkout.session.completed","data":"` + canary + `"}`),
		[]byte(`{"id":"` + canary + `\u0000","type":"` + canary + `","data":"` + canary + `"}`),
		mutate(t, fixture(t, paidFixture), func(o map[string]any) {
			o["client_reference_id"] = canary
			delete(o["metadata"].(map[string]any), "user_id")
		}),
		mutate(t, fixture(t, unpaidFixture), func(o map[string]any) { o["payment_status"] = canary }),
	}
	for i, b := range bodies {
		got := h.post("/stripe/webhook", b, stripeSecret, time.Now())
		var a map[string]any
		if err := json.Unmarshal([]byte(got.body), &a); err != nil {
			t.Fatalf("body %d: answer is not JSON: %q", i, got.body)
		}
		for k := range a {
			if k != "status" && k != "event_id" {
				t.Errorf("body %d: answer has key %q: %s", i, k, got.body)
			}
		}
		if strings.Contains(got.body, canary) || strings.Contains(got.body, stripeSecret) {
			t.Errorf("body %d: answer echoes the request: %s", i, got.body)
		}
	}
	h.lines(t)
}

// TestPipelineFailureIsNot2xx: a dead-letter list that cannot park turns a permanent
// problem into 503, so Stripe retries (never a 2xx for a dropped credit).
func TestPipelineFailureIsNot2xx(t *testing.T) {
	h := newHarness(t, 0)
	if err := h.dl.Close(); err != nil {
		t.Fatal(err)
	}
	payload := mutate(t, fixture(t, paidFixture), func(o map[string]any) {
		o["client_reference_id"] = nil
		delete(o["metadata"].(map[string]any), "user_id")
	})
	got := h.post("/stripe/webhook", payload, stripeSecret, time.Now())
	if got.code != 503 || got.body != wantBody("store_unavailable", paidEventID) {
		t.Errorf("answer = %d %q, want 503 store_unavailable", got.code, got.body)
	}
	var line map[string]any
	for _, l := range h.lines(t) {
		if l["msg"] == "webhook" {
			if line != nil {
				t.Fatalf("two canonical lines")
			}
			line = l
		}
	}
	if line == nil || line["level"] != "ERROR" || line["reason"] != "dead_letter" {
		t.Errorf("log line = %v, want ERROR with reason dead_letter", line)
	}
	_, err := h.dl.Get(context.Background(), "main:"+paidEventID)
	if !errors.Is(err, deadletter.ErrUnavailable) {
		t.Errorf("Get on the closed list = %v", err)
	}
}
