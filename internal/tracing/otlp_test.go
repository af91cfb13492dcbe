package tracing

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/creditgate/creditgate/internal/testkit"
)

// Shutdown sends what is queued; a collector that fails is logged once, and its
// recovery once; spans ended after Shutdown are dropped, never a panic.
func TestOTLPShutdownFlushesAndFailuresLogOnce(t *testing.T) {
	var (
		mu    sync.Mutex
		fail  = true
		names []string
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if fail {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		var req otlpRequest
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			t.Errorf("export is not OTLP JSON: %v", err)
		}
		for _, s := range req.ResourceSpans[0].ScopeSpans[0].Spans {
			names = append(names, s.Name)
		}
	}))
	defer srv.Close()
	var logs testkit.SyncBuffer
	e := NewOTLP(srv.URL+"/v1/traces", nil, "svc", "v1", slog.New(slog.NewJSONHandler(&logs, nil)))
	tr := New(e)
	for range 3 {
		e.post([]*Span{{Name: "lost", End: time.Now(), Start: time.Now()}})
	}
	mu.Lock()
	fail = false
	mu.Unlock()
	for _, n := range []string{"a", "b", "c"} {
		_, s := tr.Start(context.Background(), n, Internal)
		s.Finish(nil)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	e.Shutdown(ctx)
	_, late := tr.Start(context.Background(), "late", Internal)
	late.Finish(nil) // after Shutdown: dropped
	mu.Lock()
	defer mu.Unlock()
	if strings.Join(names, ",") != "a,b,c" {
		t.Errorf("collector got %v, want a,b,c", names)
	}
	if n := strings.Count(logs.String(), "trace export failing"); n != 1 {
		t.Errorf("3 failed exports logged %d lines, want 1:\n%s", n, logs.String())
	}
	if !strings.Contains(logs.String(), `"msg":"trace export works again"`) {
		t.Errorf("no recovery line:\n%s", logs.String())
	}
}
