package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"log/slog"
	"path/filepath"

	"github.com/stripe/stripe-go/v76/webhook"

	"github.com/creditgate/creditgate/internal/config"
	"github.com/creditgate/creditgate/internal/deadletter"
	"github.com/creditgate/creditgate/internal/dedup"
	"github.com/creditgate/creditgate/internal/extract"
	"github.com/creditgate/creditgate/internal/forward"
	"github.com/creditgate/creditgate/internal/outcome"
	"github.com/creditgate/creditgate/internal/pipeline"
	"github.com/creditgate/creditgate/internal/secret"
	"github.com/creditgate/creditgate/internal/server"
)

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// blockingForwarder waits until the request context is done.
type blockingForwarder struct{}

func (blockingForwarder) Send(ctx context.Context, _ forward.Request) (forward.Result, error) {
	<-ctx.Done()
	return forward.Result{Attempts: 1}, forward.ErrUnavailable
}

// TestCallerGoneIsNotAnOutage: when Stripe hangs up mid-request, the answer is still
// a 503 (nobody reads it), but it is not counted or logged as a backend or Redis
// failure: no alert fires for a healthy dependency. Found by the soak.
func TestCallerGoneIsNotAnOutage(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	hn := newHarness(t, 0)
	// Same harness, but the route's backend never answers before the caller leaves.
	logs, reg := hn.logs, hn.registry
	dl, err := deadletter.OpenFile(filepath.Join(t.TempDir(), "dl.jsonl"))
	must(t, err)
	store := dedup.NewMemory(time.Now)
	t.Cleanup(func() { _ = dl.Close(); _ = store.Close() })
	x, err := extract.New(config.Extract{UserID: config.DefaultUserIDSources, Credits: config.DefaultCreditsSources, MaxCredits: config.DefaultMaxCredits})
	must(t, err)
	log := slog.New(slog.NewJSONHandler(logs, nil))
	h := server.NewWebhookHandler(server.Deps{
		Logger: log, Metrics: hn.metrics, MaxBodyBytes: config.DefaultMaxBodyBytes,
		Pipeline: &pipeline.Pipeline{Store: store, DeadLetters: dl, TTL: config.DefaultDedupTTL, Lease: config.DefaultLease, Logger: log},
		Routes: []server.Route{{Path: "/stripe/webhook", Secrets: []secret.Secret{secret.New(stripeSecret)}, Tolerance: config.DefaultTolerance,
			Pipeline: &pipeline.Route{Name: "main", Events: map[string]bool{outcome.EventSessionCompleted: true}, Extractor: x, Forwarder: blockingForwarder{}}}},
	})
	payload := fixture(t, paidFixture)
	sp := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: payload, Secret: stripeSecret, Timestamp: time.Now()})
	req := httptest.NewRequest(http.MethodPost, "/stripe/webhook", bytes.NewReader(payload)).WithContext(ctx)
	req.Header.Set("Stripe-Signature", sp.Header)
	rec := httptest.NewRecorder()
	go func() { time.Sleep(50 * time.Millisecond); cancel() }()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusServiceUnavailable {
		t.Fatalf("answer %d, want 503", rec.Code)
	}
	var line map[string]any
	if err := json.Unmarshal([]byte(strings.TrimSpace(logs.String())), &line); err != nil {
		t.Fatalf("log: %v\n%s", err, logs.String())
	}
	if line["result"] != "cancelled" || line["reason"] != string(outcome.ReasonCancelled) || line["level"] != "WARN" {
		t.Errorf("log line result=%v reason=%v level=%v, want cancelled/cancelled/WARN", line["result"], line["reason"], line["level"])
	}
	// The critical backend alert watches this series: a caller that left is not in it.
	if v := value(hn.metrics.Webhooks.WithLabelValues("main", "backend_unavailable")); v != 0 {
		t.Errorf(`creditgate_webhooks_total{result="backend_unavailable"} = %v, want 0`, v)
	}
	if v := value(hn.metrics.Webhooks.WithLabelValues("main", "cancelled")); v != 1 {
		t.Errorf(`creditgate_webhooks_total{result="cancelled"} = %v, want 1`, v)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			name := mf.GetName()
			if (name == "creditgate_store_errors_total" || name == "creditgate_forwards_total") && m.GetCounter().GetValue() != 0 {
				labels := ""
				for _, l := range m.GetLabel() {
					labels += l.GetName() + "=" + l.GetValue() + " "
				}
				if strings.Contains(labels, "unavailable") || name == "creditgate_store_errors_total" {
					t.Errorf("%s{%s} = %v, want 0 for a caller that left", name, labels, m.GetCounter().GetValue())
				}
			}
		}
	}
}
