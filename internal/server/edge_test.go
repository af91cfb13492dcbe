package server_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/creditgate/creditgate/internal/server"
)

// TestTooLargeBeforeContinue: a Content-Length over max_body_bytes is answered 413
// before "100 Continue", so the client never sends the body.
func TestTooLargeBeforeContinue(t *testing.T) {
	h := newHarness(t, 4096)
	srv := httptest.NewServer(h.handler)
	defer srv.Close()
	for _, tt := range []struct {
		length   int
		wantLine string
	}{{4097, "HTTP/1.1 413 "}, {1 << 30, "HTTP/1.1 413 "}, {100, "HTTP/1.1 100 "}} {
		c, err := net.DialTimeout("tcp", srv.Listener.Addr().String(), 2*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		fmt.Fprintf(c, "POST /stripe/webhook HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nExpect: 100-continue\r\nContent-Length: %d\r\n\r\n", tt.length)
		line, err := bufio.NewReader(c).ReadString('\n')
		_ = c.Close()
		if err != nil || !strings.HasPrefix(line, tt.wantLine) {
			t.Errorf("Content-Length %d with Expect: first line %q (%v), want %q", tt.length, line, err, tt.wantLine)
		}
	}
	if n := len(h.fw.requests()); n != 0 {
		t.Errorf("backend got %d requests", n)
	}
}

// TestInflightBudget: when the global in-flight body budget has no room, a webhook —
// even a correctly signed one — gets 503 overloaded (Stripe retries) and changes
// nothing; once the budget is back, the same delivery is credited.
func TestInflightBudget(t *testing.T) {
	payload := fixture(t, paidFixture)
	budget := server.NewBodyBudget(0)
	h := newHarnessWith(t, 0, func(d *server.Deps) { d.Inflight = budget })
	got := h.post("/stripe/webhook", payload, stripeSecret, time.Now())
	if got.code != 503 || got.body != wantBody("overloaded", "") {
		t.Fatalf("no budget: %d %q, want 503 overloaded", got.code, got.body)
	}
	if n := len(h.fw.requests()); n != 0 {
		t.Fatalf("backend got %d requests while overloaded", n)
	}
	if line := h.oneLine(t); line["result"] != "overloaded" || line["reason"] != "inflight_body_bytes" || line["level"] != "WARN" {
		t.Errorf("log line = %v", line)
	}

	budget = server.NewBodyBudget(1 << 20)
	h = newHarnessWith(t, 0, func(d *server.Deps) { d.Inflight = budget })
	if got := h.post("/stripe/webhook", payload, stripeSecret, time.Now()); got.code != 200 {
		t.Fatalf("with budget: %d %q, want 200", got.code, got.body)
	}
	if budget.Left() != 1<<20 {
		t.Errorf("budget left %d after the request, want all of it (%d) back", budget.Left(), 1<<20)
	}
}

// TestHostileValuesAreClipped: a 20 KB method or path never makes a 20 KB log line.
func TestHostileValuesAreClipped(t *testing.T) {
	h := newHarness(t, 0)
	long := strings.Repeat("M", 20<<10)
	req := signedRequest("/stripe/webhook", fixture(t, paidFixture), stripeSecret, time.Now())
	req.Method = long
	if got := h.do(req); got.code != 405 {
		t.Fatalf("code = %d, want 405", got.code)
	}
	raw := h.logs.String()
	if len(raw) > 1024 || strings.Contains(raw, strings.Repeat("M", 256)) {
		t.Fatalf("log line of %d bytes carries the method unclipped: %.200s", len(raw), raw)
	}
	if line := h.oneLine(t); line["detail"] != "method "+strings.Repeat("M", 255)+"…" {
		t.Errorf("detail = %q", line["detail"])
	}
}

// TestUnauthenticatedLogsAreRateLimited: a flood of unrouted, wrongly signed or
// wrong-method requests writes a bounded number of lines (every one still counted in
// metrics), and a genuine webhook in the middle of it is still logged.
func TestUnauthenticatedLogsAreRateLimited(t *testing.T) {
	h := newHarness(t, 0)
	const flood = 300
	for i := range flood {
		var req *http.Request
		switch i % 3 {
		case 0:
			req = httptest.NewRequest(http.MethodPost, "/nope", strings.NewReader("{}"))
		case 1:
			req = signedRequest("/stripe/webhook", []byte(`{"id":"evt_x"}`), "whsec_wrong_secret_0123456789", time.Now())
		default:
			req = httptest.NewRequest(http.MethodGet, "/stripe/webhook", nil)
		}
		h.do(req)
	}
	lines := h.lines(t)
	// The flood may straddle a second boundary: two seconds' worth at most.
	if len(lines) == 0 || len(lines) > 2*server.UnauthenticatedLogsPerSecond {
		t.Fatalf("%d unauthenticated requests wrote %d lines, want 1..%d", flood, len(lines), 2*server.UnauthenticatedLogsPerSecond)
	}
	if got := h.post("/stripe/webhook", fixture(t, paidFixture), stripeSecret, time.Now()); got.code != 200 {
		t.Fatalf("genuine webhook: %d", got.code)
	}
	if line := h.oneLine(t); line["result"] != "forwarded" {
		t.Errorf("the genuine webhook's line = %v", line)
	}
	var counted float64
	for _, r := range []string{"not_found", "invalid_signature", "method_not_allowed"} {
		route := "main"
		if r == "not_found" {
			route = ""
		}
		counted += value(h.metrics.Webhooks.WithLabelValues(route, r))
	}
	if counted != flood {
		t.Errorf("metrics counted %v unauthenticated requests, want %d", counted, flood)
	}
}

// startLimited runs Serve with the webhook listener limited to n connections.
func startLimited(t *testing.T, n int, h http.Handler) string {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	wl := server.LimitListener(listen(t), n)
	done := make(chan error, 1)
	go func() {
		done <- server.Serve(ctx, slog.New(slog.DiscardHandler), wl, listen(t), h, http.NotFoundHandler(), time.Second)
	}()
	t.Cleanup(func() { cancel(); waitFor(t, done, "Serve to return") })
	return wl.Addr().String()
}

// slowBody opens a connection that announces a body and sends none of it.
func slowBody(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	fmt.Fprintf(c, "POST /stripe/webhook HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
	return c
}

// closedByServer waits until the server closes c (a read ends), within waitLong.
func closedByServer(c net.Conn) bool {
	_ = c.SetReadDeadline(time.Now().Add(waitLong))
	_, err := io.Copy(io.Discard, c)
	var ne net.Error
	return !(errors.As(err, &ne) && ne.Timeout())
}

// TestLimitListenerEvictsSlowBodies: at the connection limit, a new client is served
// at once and the oldest connection still sending its body is the one closed.
func TestLimitListenerEvictsSlowBodies(t *testing.T) {
	addr := startLimited(t, 2, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		server.MarkBusy(r.Context())
		w.WriteHeader(http.StatusOK)
	}))
	oldest := slowBody(t, addr)
	time.Sleep(50 * time.Millisecond) // accept order
	slowBody(t, addr)
	got := waitFor(t, postAsync("http://"+addr+"/stripe/webhook"), "a webhook at the connection limit")
	if got.err != nil || got.code != http.StatusOK {
		t.Fatalf("webhook at the limit: %d %v, want 200", got.code, got.err)
	}
	if !closedByServer(oldest) {
		t.Fatal("the oldest slow body was not closed")
	}
}

// TestLimitListenerKeepsBusyConnections: a connection whose body is in is never
// evicted; a new client waits until one finishes.
func TestLimitListenerKeepsBusyConnections(t *testing.T) {
	release := make(chan struct{})
	var once sync.Once
	unblock := func() { once.Do(func() { close(release) }) }
	defer unblock() // a failing test must not leave handlers blocked
	var started atomic.Int32
	addr := startLimited(t, 2, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		server.MarkBusy(r.Context())
		if started.Add(1) <= 2 {
			select {
			case <-release:
			case <-time.After(waitLong):
			}
		}
		w.WriteHeader(http.StatusOK)
	}))
	first, second := postAsync("http://"+addr+"/a"), postAsync("http://"+addr+"/b")
	deadline := time.Now().Add(waitLong)
	for started.Load() < 2 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if started.Load() < 2 {
		t.Fatal("the first two requests did not start")
	}
	third := postAsync("http://" + addr + "/c")
	select {
	case r := <-third:
		t.Fatalf("a third request was served (%d %v) while two busy connections held the limit", r.code, r.err)
	case r := <-first:
		t.Fatalf("a busy connection was cut: %d %v", r.code, r.err)
	case <-time.After(300 * time.Millisecond):
	}
	unblock()
	for _, ch := range []<-chan result{first, second, third} {
		if r := waitFor(t, ch, "a request after the release"); r.err != nil || r.code != http.StatusOK {
			t.Errorf("after the release: %d %v, want 200", r.code, r.err)
		}
	}
}
