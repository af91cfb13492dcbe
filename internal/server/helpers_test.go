package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/stripe/stripe-go/v76/webhook"

	"github.com/creditgate/creditgate/internal/config"
	"github.com/creditgate/creditgate/internal/deadletter"
	"github.com/creditgate/creditgate/internal/dedup"
	"github.com/creditgate/creditgate/internal/extract"
	"github.com/creditgate/creditgate/internal/forward"
	"github.com/creditgate/creditgate/internal/metrics"
	"github.com/creditgate/creditgate/internal/outcome"
	"github.com/creditgate/creditgate/internal/pipeline"
	"github.com/creditgate/creditgate/internal/secret"
	"github.com/creditgate/creditgate/internal/server"
	"github.com/creditgate/creditgate/internal/testkit"
)

const (
	stripeSecret = "whsec_server_test_secret_0123456789"
	fixtures     = "../event/testdata/"

	paidFixture      = "checkout_session_completed_paid_2024-06-20.json"
	paidEventID      = "evt_1duz4QqGXaEMvCGdlBgAIsmp"
	paidSessionID    = "cs_test_a1cRQHyk0zHbUXs4Zm716LJJzUkcRmWBAThkSjum9LleSSbObfK5w7zn"
	paidUserID       = "e747de39-1b54-4cd0-96eb-e68f155931e2"
	unpaidFixture    = "checkout_session_completed_unpaid.json"
	unpaidEventID    = "evt_1NG04JTmflAfE5aVUh2YILpS"
	liveFixture      = "checkout_session_completed_paid_livemode.json"
	liveEventID      = "evt_13DHG2Z7ymeDh10BjpQnGEBf"
	otherTypeFixture = "payment_intent_succeeded.json"
	otherTypeEventID = "evt_1G3OjV6bv7omJJMXAK2MPyhY"
)

// fakeForwarder stands in for forward.Client: it records every request and answers
// what the test set.
type fakeForwarder struct {
	mu   sync.Mutex
	sent []forward.Request
	err  error // nil: the backend credited (200)
}

func (f *fakeForwarder) Send(_ context.Context, r forward.Request) (forward.Result, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sent = append(f.sent, r)
	if f.err != nil {
		return forward.Result{Status: 0, Attempts: 1}, f.err
	}
	return forward.Result{Status: http.StatusOK, Attempts: 1}, nil
}

func (f *fakeForwarder) requests() []forward.Request {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]forward.Request(nil), f.sent...)
}

// harness is one webhook handler over the in-memory store, a dead-letter file in a
// temp dir, a fake forwarder and a private registry.
type harness struct {
	handler  http.Handler
	fw       *fakeForwarder
	dl       *deadletter.File
	registry *prometheus.Registry
	metrics  *metrics.Metrics
	logs     *testkit.SyncBuffer
}

// route names a route of the harness: name and path; every route shares the secret
// and the forwarder.
type route struct{ name, path string }

func newHarness(t *testing.T, maxBody int64, routes ...route) *harness {
	t.Helper()
	return newHarnessWith(t, maxBody, nil, routes...)
}

// newHarnessWith is newHarness with a last say over the handler's Deps.
func newHarnessWith(t *testing.T, maxBody int64, edit func(*server.Deps), routes ...route) *harness {
	t.Helper()
	if len(routes) == 0 {
		routes = []route{{"main", "/stripe/webhook"}}
	}
	if maxBody == 0 {
		maxBody = config.DefaultMaxBodyBytes
	}
	dl, err := deadletter.OpenFile(filepath.Join(t.TempDir(), "dead-letters.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	store := dedup.NewMemory(time.Now)
	t.Cleanup(func() { _ = dl.Close(); _ = store.Close() })
	h := &harness{fw: &fakeForwarder{}, dl: dl, registry: prometheus.NewRegistry(), logs: &testkit.SyncBuffer{}}
	h.metrics = metrics.New(h.registry, "test")
	// Level debug: the canonical line must be the only line a request writes.
	log := slog.New(slog.NewJSONHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	p := &pipeline.Pipeline{Store: store, DeadLetters: dl, TTL: config.DefaultDedupTTL, Lease: config.DefaultLease, Logger: log}
	x, err := extract.New(config.Extract{
		UserID: config.DefaultUserIDSources, Credits: config.DefaultCreditsSources,
		UserIDFormat: "uuid", MaxCredits: config.DefaultMaxCredits,
	})
	if err != nil {
		t.Fatal(err)
	}
	var rs []server.Route
	for _, r := range routes {
		rs = append(rs, server.Route{
			Path: r.path, Secrets: []secret.Secret{secret.New(stripeSecret)}, Tolerance: config.DefaultTolerance,
			Pipeline: &pipeline.Route{
				Name: r.name, Events: map[string]bool{outcome.EventSessionCompleted: true, outcome.EventAsyncPaymentSucceeded: true},
				Extractor: x, Forwarder: h.fw,
			},
		})
	}
	deps := server.Deps{Logger: log, Metrics: h.metrics, Pipeline: p, Routes: rs, MaxBodyBytes: maxBody}
	if edit != nil {
		edit(&deps)
	}
	h.handler = server.NewWebhookHandler(deps)
	return h
}

// reply is what the client got.
type reply struct {
	code   int
	header http.Header
	body   string
}

func (h *harness) do(r *http.Request) reply {
	w := httptest.NewRecorder()
	h.handler.ServeHTTP(w, r)
	return reply{code: w.Code, header: w.Header(), body: w.Body.String()}
}

// post sends payload signed with key at t, as Stripe does (stripe-go's own signer).
func (h *harness) post(path string, payload []byte, key string, at time.Time) reply {
	return h.do(signedRequest(path, payload, key, at))
}

func signedRequest(path string, payload []byte, key string, at time.Time) *http.Request {
	r := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(payload))
	r.Header.Set("Content-Type", "application/json; charset=utf-8")
	r.Header.Set("Stripe-Signature", sign(payload, key, at))
	return r
}

func sign(payload []byte, key string, at time.Time) string {
	return webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: payload, Secret: key, Timestamp: at}).Header
}

// lines returns the JSON log lines written since the last call, and forgets them.
func (h *harness) lines(t *testing.T) []map[string]any {
	t.Helper()
	raw := h.logs.Take()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(raw), "\n") {
		if l == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line is not JSON: %q", l)
		}
		out = append(out, m)
	}
	return out
}

// oneLine returns the single log line a request wrote.
func (h *harness) oneLine(t *testing.T) map[string]any {
	t.Helper()
	ls := h.lines(t)
	if len(ls) != 1 {
		t.Fatalf("got %d log lines, want exactly 1: %v", len(ls), ls)
	}
	return ls[0]
}

func fixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(fixtures + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// mutate changes data.object of a fixture.
func mutate(t *testing.T, raw []byte, f func(obj map[string]any)) []byte {
	t.Helper()
	var ev map[string]any
	if err := json.Unmarshal(raw, &ev); err != nil {
		t.Fatal(err)
	}
	f(ev["data"].(map[string]any)["object"].(map[string]any))
	out, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// value reads a counter or gauge (prometheus/testutil would need a go.mod change).
func value(m prometheus.Metric) float64 {
	var d dto.Metric
	if err := m.Write(&d); err != nil {
		panic(err)
	}
	if c := d.GetCounter(); c != nil {
		return c.GetValue()
	}
	return d.GetGauge().GetValue()
}
