package server_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/creditgate/creditgate/internal/dedup"
	"github.com/creditgate/creditgate/internal/metrics"
	"github.com/creditgate/creditgate/internal/server"
	"github.com/creditgate/creditgate/internal/testkit"
)

// checker answers VerifyConnection with err, or waits for the deadline when block.
type checker struct {
	err   error
	block bool
}

func (c checker) VerifyConnection(ctx context.Context) error {
	if c.block {
		<-ctx.Done()
		return ctx.Err()
	}
	return c.err
}

func adminGet(t *testing.T, h http.Handler, method, path string) (int, http.Header, string) {
	t.Helper()
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(method, path, nil))
	b, _ := io.ReadAll(w.Result().Body)
	return w.Code, w.Header(), string(b)
}

func TestAdminProbes(t *testing.T) {
	reg := prometheus.NewRegistry()
	tests := []struct {
		name     string
		checkers []server.Checker
		path     string
		code     int
		body     string
	}{
		{"healthz", nil, "/healthz", 200, `{"status":"ok"}` + "\n"},
		{"healthz ignores the store", []server.Checker{checker{err: errors.New("down")}}, "/healthz", 200, `{"status":"ok"}` + "\n"},
		{"readyz without checkers", nil, "/readyz", 200, `{"status":"ready"}` + "\n"},
		{"readyz with a healthy store", []server.Checker{checker{}, dedup.NewMemory(time.Now)}, "/readyz", 200, `{"status":"ready"}` + "\n"},
		{"readyz with a failing store", []server.Checker{checker{}, checker{err: errors.New("dial tcp 10.0.0.1:6379: connection refused")}}, "/readyz", 503, `{"status":"store_unavailable"}` + "\n"},
		{"readyz with a closed store", []server.Checker{closedMemory()}, "/readyz", 503, `{"status":"store_unavailable"}` + "\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := server.NewAdminHandler(reg, nil, tt.checkers...)
			code, header, body := adminGet(t, h, http.MethodGet, tt.path)
			if code != tt.code || body != tt.body {
				t.Errorf("GET %s = %d %q, want %d %q", tt.path, code, body, tt.code, tt.body)
			}
			if ct := header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q", ct)
			}
			if strings.Contains(body, "10.0.0.1") {
				t.Errorf("readyz leaks the store error: %s", body)
			}
		})
	}
}

func closedMemory() server.Checker {
	m := dedup.NewMemory(time.Now)
	_ = m.Close()
	return m
}

// TestReadyzIsBounded: a store that hangs makes /readyz answer 503 within
// ReadyTimeout, not hang the probe.
func TestReadyzIsBounded(t *testing.T) {
	h := server.NewAdminHandler(prometheus.NewRegistry(), nil, checker{block: true})
	start := time.Now()
	code, _, body := adminGet(t, h, http.MethodGet, "/readyz")
	if code != 503 || body != `{"status":"store_unavailable"}`+"\n" {
		t.Errorf("readyz = %d %q", code, body)
	}
	if took := time.Since(start); took > server.ReadyTimeout+5*time.Second {
		t.Errorf("readyz took %s with a hanging store", took)
	}
}

func TestAdminMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := metrics.New(reg, "v9.9.9-test")
	m.InitRoute("main", []string{"forwarded"})
	m.Webhooks.WithLabelValues("main", "forwarded").Add(3)
	m.WebhookDuration.WithLabelValues("main", "forwarded").Observe(0.02)
	h := server.NewAdminHandler(reg, nil)
	code, header, body := adminGet(t, h, http.MethodGet, "/metrics")
	if code != 200 {
		t.Fatalf("GET /metrics = %d", code)
	}
	if ct := header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("Content-Type = %q, want the Prometheus text format", ct)
	}
	for _, want := range []string{
		`creditgate_webhooks_total{result="forwarded",route="main"} 3` + "\n",
		`creditgate_build_info{version="v9.9.9-test"} 1` + "\n",
		`creditgate_credits_granted_total{route="main"} 0` + "\n",
		`creditgate_webhook_duration_seconds_bucket{result="forwarded",route="main",le="0.025"} 1` + "\n",
		`creditgate_webhook_duration_seconds_count{result="forwarded",route="main"} 1` + "\n",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

func TestAdminUnknownPathsAndMethods(t *testing.T) {
	h := server.NewAdminHandler(prometheus.NewRegistry(), nil)
	tests := []struct {
		method, path string
		code         int
	}{
		{http.MethodGet, "/", 404},
		{http.MethodGet, "/stripe/webhook", 404},
		{http.MethodGet, "/healthz/extra", 404},
		{http.MethodGet, "/debug/pprof/", 404},
		{http.MethodPost, "/healthz", 405},
		{http.MethodPost, "/metrics", 405},
	}
	for _, tt := range tests {
		if code, _, _ := adminGet(t, h, tt.method, tt.path); code != tt.code {
			t.Errorf("%s %s = %d, want %d", tt.method, tt.path, code, tt.code)
		}
	}
}

// switchChecker fails while err is set.
type switchChecker struct {
	mu  sync.Mutex
	err error
}

func (c *switchChecker) set(err error) { c.mu.Lock(); c.err = err; c.mu.Unlock() }
func (c *switchChecker) VerifyConnection(context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// TestReadyzLogsChanges: the reason for "not ready" goes to the log (the answer never
// carries it), once per change, not once per probe; recovery is logged too.
func TestReadyzLogsChanges(t *testing.T) {
	logs := &testkit.SyncBuffer{}
	c := &switchChecker{}
	h := server.NewAdminHandler(prometheus.NewRegistry(), slog.New(slog.NewJSONHandler(logs, nil)), c)
	probe := func(want int) {
		t.Helper()
		if code, _, _ := adminGet(t, h, http.MethodGet, "/readyz"); code != want {
			t.Fatalf("readyz = %d, want %d", code, want)
		}
	}
	probe(200)
	c.set(errors.New("dedup store unavailable: MULTI/EXEC failed: NOPERM; a Redis ACL user needs +@transaction"))
	probe(503)
	probe(503)
	c.set(errors.New("dedup store unavailable: ping: connection refused"))
	probe(503)
	c.set(nil)
	probe(200)
	probe(200)
	got := logs.String()
	if n := strings.Count(got, `"msg":"not ready"`); n != 2 {
		t.Errorf("%d 'not ready' lines, want 2 (one per distinct error):\n%s", n, got)
	}
	if !strings.Contains(got, "needs +@transaction") || !strings.Contains(got, "connection refused") {
		t.Errorf("the errors are not in the log:\n%s", got)
	}
	if n := strings.Count(got, `"msg":"ready again"`); n != 1 {
		t.Errorf("%d 'ready again' lines, want 1:\n%s", n, got)
	}
}
