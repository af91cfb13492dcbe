package server_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/creditgate/creditgate/internal/server"
	"github.com/creditgate/creditgate/internal/testkit"
)

// Generous bounds: these tests wait for events, never for exact durations.
const (
	waitLong = 10 * time.Second
)

func listen(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

// startServe runs Serve in a goroutine on two fresh 127.0.0.1 listeners.
func startServe(ctx context.Context, t *testing.T, webhook http.Handler, grace time.Duration) (webhookAddr, adminAddr string, logs *testkit.SyncBuffer, done <-chan error) {
	t.Helper()
	wl, al := listen(t), listen(t)
	logs = &testkit.SyncBuffer{}
	log := slog.New(slog.NewJSONHandler(logs, nil))
	ch := make(chan error, 1)
	go func() {
		ch <- server.Serve(ctx, log, wl, al, webhook, server.NewAdminHandler(prometheus.NewRegistry(), nil), grace)
	}()
	return wl.Addr().String(), al.Addr().String(), logs, ch
}

type result struct {
	code int
	body string
	err  error
}

// postAsync POSTs in a goroutine with a client of its own.
func postAsync(url string) <-chan result {
	ch := make(chan result, 1)
	go func() {
		c := &http.Client{Transport: &http.Transport{}, Timeout: waitLong}
		defer c.CloseIdleConnections()
		resp, err := c.Post(url, "application/json", strings.NewReader(`{}`))
		if err != nil {
			ch <- result{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		ch <- result{code: resp.StatusCode, body: string(b), err: err}
	}()
	return ch
}

func waitFor[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(waitLong):
		t.Fatalf("timed out after %s waiting for %s", waitLong, what)
		panic("unreachable")
	}
}

// TestServeFinishesInFlightRequests: cancelling ctx while a webhook is in flight lets
// it finish with 200 (its context is not cancelled), then Serve returns nil and the
// port is closed.
func TestServeFinishesInFlightRequests(t *testing.T) {
	started := make(chan struct{})
	var cancelled atomic.Bool
	slow := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		select {
		case <-time.After(300 * time.Millisecond):
		case <-r.Context().Done():
			cancelled.Store(true)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"status":"forwarded"}`)
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addr, _, _, done := startServe(ctx, t, slow, 5*time.Second)

	reply := postAsync("http://" + addr + "/stripe/webhook")
	waitFor(t, started, "the request to reach the handler")
	cancel()

	got := waitFor(t, reply, "the in-flight request")
	if got.err != nil || got.code != 200 || got.body != `{"status":"forwarded"}` {
		t.Errorf("in-flight request = %d %q %v, want 200 forwarded", got.code, got.body, got.err)
	}
	if cancelled.Load() {
		t.Error("the in-flight request's context was cancelled during the grace period")
	}
	if err := waitFor(t, done, "Serve to return"); err != nil {
		t.Errorf("Serve = %v, want nil", err)
	}
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Error("the webhook port still accepts connections after Serve returned")
	}
}

// TestServeKeepsAdminDuringDrain: while a webhook drains, the webhook port stops
// accepting but /healthz still answers.
func TestServeKeepsAdminDuringDrain(t *testing.T) {
	started, release := make(chan struct{}), make(chan struct{})
	gated := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		select {
		case <-release:
		case <-r.Context().Done():
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addr, admin, _, done := startServe(ctx, t, gated, 30*time.Second)
	reply := postAsync("http://" + addr + "/stripe/webhook")
	waitFor(t, started, "the request to reach the handler")
	cancel()

	deadline := time.Now().Add(waitLong)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			break // the webhook listener is closed: the drain has begun
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatal("the webhook port kept accepting after ctx was cancelled")
		}
		time.Sleep(10 * time.Millisecond)
	}
	c := &http.Client{Transport: &http.Transport{}, Timeout: waitLong}
	defer c.CloseIdleConnections()
	resp, err := c.Get("http://" + admin + "/healthz")
	if err != nil {
		t.Fatalf("/healthz during the drain: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("/healthz during the drain = %d", resp.StatusCode)
	}
	select {
	case err := <-done:
		t.Fatalf("Serve returned (%v) while a request was still in flight", err)
	default:
	}

	close(release)
	if got := waitFor(t, reply, "the in-flight request"); got.err != nil || got.code != 200 {
		t.Errorf("in-flight request = %d %v, want 200", got.code, got.err)
	}
	if err := waitFor(t, done, "Serve to return"); err != nil {
		t.Errorf("Serve = %v, want nil", err)
	}
}

// TestServeCancelsRequestsAfterGrace: a request that outlives shutdownTimeout sees its
// context cancelled (so the pipeline releases its claims) and Serve still returns.
func TestServeCancelsRequestsAfterGrace(t *testing.T) {
	started := make(chan struct{})
	sawCancel := make(chan bool, 1)
	stuck := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		select {
		case <-r.Context().Done():
			sawCancel <- true
			// As the pipeline does: a cancelled forward is backend_unavailable.
			w.WriteHeader(http.StatusServiceUnavailable)
		case <-time.After(waitLong):
			sawCancel <- false
		}
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addr, _, logs, done := startServe(ctx, t, stuck, 200*time.Millisecond)
	reply := postAsync("http://" + addr + "/stripe/webhook")
	waitFor(t, started, "the request to reach the handler")
	cancel()

	if err := waitFor(t, done, "Serve to return after the grace period"); err != nil {
		t.Errorf("Serve = %v, want nil", err)
	}
	if !waitFor(t, sawCancel, "the handler to return") {
		t.Error("the handler's context was not cancelled after the grace period")
	}
	// The client gets the handler's 503 or, when the connection is closed first, an
	// error; never a 2xx.
	if got := waitFor(t, reply, "the client"); got.err == nil && got.code != http.StatusServiceUnavailable {
		t.Errorf("a cancelled request was answered %d", got.code)
	}
	if !strings.Contains(logs.String(), "in-flight webhooks did not finish within the grace period") {
		t.Errorf("no warning about the cancelled requests in the log:\n%s", logs.String())
	}
}

// TestServeReturnsListenerError: a listener that fails stops both servers and Serve
// returns its error without ctx being cancelled.
func TestServeReturnsListenerError(t *testing.T) {
	wl, al := listen(t), listen(t)
	wl.Close()
	done := make(chan error, 1)
	go func() {
		done <- server.Serve(context.Background(), slog.New(slog.DiscardHandler), wl, al,
			http.NotFoundHandler(), http.NotFoundHandler(), time.Second)
	}()
	err := waitFor(t, done, "Serve to return")
	if err == nil || !strings.Contains(err.Error(), "closed") {
		t.Errorf("Serve = %v, want the listener's error", err)
	}
	if c, err := net.DialTimeout("tcp", al.Addr().String(), time.Second); err == nil {
		c.Close()
		t.Error("the admin port still accepts connections after Serve returned")
	}
}
