package forward

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/creditgate/creditgate/internal/secret"
)

func TestNewValidatesOptions(t *testing.T) {
	key := []secret.Secret{keyOld}
	tests := []struct {
		name string
		o    Options
		want []string // each in the error
	}{
		{"no url", Options{Keys: key}, []string{"url is empty"}},
		{"relative url", Options{URL: "/credits", Keys: key}, []string{"scheme"}},
		{"ftp", Options{URL: "ftp://backend/credits", Keys: key}, []string{"scheme"}},
		{"no host", Options{URL: "http:///credits", Keys: key}, []string{"no host"}},
		{"credentials", Options{URL: "http://user:hunter2@backend/credits", Keys: key}, []string{"credentials"}},
		{"fragment", Options{URL: "http://backend/credits#x", Keys: key}, []string{"fragment"}},
		{"no keys", Options{URL: "http://backend/credits"}, []string{"at least one signing key"}},
		{"empty key", Options{URL: "http://backend/credits", Keys: []secret.Secret{keyOld, {}}}, []string{"signing key 2 is empty"}},
		{"negatives", Options{URL: "http://backend", Keys: key, Timeout: -1, Budget: -1, Attempts: -1, Backoff: -1, MaxBackoff: -1},
			[]string{"timeout", "budget", "attempts", "backoff", "max_backoff"}},
		{"every problem at once", Options{URL: "ftp://x", Attempts: -2}, []string{"scheme", "signing key", "attempts"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := New(tt.o)
			if err == nil {
				t.Fatalf("New accepted %+v", tt.o)
			}
			if c != nil {
				t.Error("New returned a client with an error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestNewNeverEchoesURLCredentials(t *testing.T) {
	_, err := New(Options{URL: "http://user:hunter2@back end/%zz", Keys: []secret.Secret{keyOld}})
	if err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("err = %v", err)
	}
}

func TestNewDefaults(t *testing.T) {
	c := newClient(t, Options{URL: "https://backend.internal/credits", Keys: []secret.Secret{keyOld}})
	if c.timeout != DefaultTimeout || c.attempts != DefaultAttempts || c.budget != DefaultBudget ||
		c.backoff != DefaultBackoff || c.maxBackoff != DefaultMaxBackoff || c.userAgent[0] != "creditgate" {
		t.Errorf("defaults not applied: %+v", c)
	}
	if DefaultBudget >= 10*time.Second {
		t.Errorf("DefaultBudget %s leaves no room under Stripe's 10s timeout", DefaultBudget)
	}
	if c.hc.CheckRedirect == nil || c.hc.Transport == nil {
		t.Error("the default client must refuse redirects and have a tuned transport")
	}
}

func TestNewHTTPClient(t *testing.T) {
	hc := NewHTTPClient()
	tr, ok := hc.Transport.(*http.Transport)
	if !ok {
		t.Fatalf("Transport is %T", hc.Transport)
	}
	if tr.MaxIdleConnsPerHost < 32 || tr.IdleConnTimeout == 0 || tr.TLSHandshakeTimeout == 0 || tr.ResponseHeaderTimeout == 0 {
		t.Errorf("transport not tuned: %+v", tr)
	}
	if err := hc.CheckRedirect(nil, nil); err != http.ErrUseLastResponse {
		t.Errorf("CheckRedirect = %v, want http.ErrUseLastResponse", err)
	}
}

// TestConnectionsAreReused proves bodies are drained: successes and failures with
// bodies, one after another, travel over a single keep-alive connection.
func TestConnectionsAreReused(t *testing.T) {
	var conns atomic.Int64
	var n atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		switch n.Add(1) % 3 {
		case 0:
			w.WriteHeader(http.StatusOK)
			w.Write(bytes.Repeat([]byte("ok "), 5000))
		case 1:
			w.WriteHeader(http.StatusServiceUnavailable)
			w.Write(bytes.Repeat([]byte("busy "), 4000))
		case 2:
			w.WriteHeader(http.StatusConflict)
			w.Write([]byte(`{"error":"already credited"}`))
		}
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	o := fastOptions(srv.URL)
	o.Client = NewHTTPClient()
	o.Attempts = 1
	c := newClient(t, o)
	for range 12 {
		c.Send(context.Background(), sampleRequest())
	}
	if got := conns.Load(); got != 1 {
		t.Errorf("12 sends opened %d connections, want 1", got)
	}
}

// TestErrorsAndLogsKeepSecrets: an operator sees the status and a short, printable
// snippet of the backend's answer; never a key, the signature or the request body.
func TestErrorsAndLogsKeepSecrets(t *testing.T) {
	answer := "\x1b[31mvalidation\tfailed:\r\n\x00 user unknown " + strings.Repeat("é", 300)
	b := newBackend(t, func(n int, w http.ResponseWriter, _ *http.Request) {
		if n == 1 {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusUnprocessableEntity)
		w.Write([]byte(answer))
	})
	var logs bytes.Buffer
	o := fastOptions(b.URL)
	o.Logger = slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	_, err := newClient(t, o).Send(context.Background(), sampleRequest())
	if classOf(err) != rejectedClass {
		t.Fatalf("err = %v", err)
	}
	msg := err.Error()
	if !strings.Contains(msg, "HTTP 422 on attempt 2") || !strings.Contains(msg, `"[31mvalidation failed: user unknown éé`) {
		t.Errorf("error lacks status or sanitized snippet: %s", msg)
	}
	if len(msg) > 300 {
		t.Errorf("error is %d bytes long, want a short snippet: %s", len(msg), msg)
	}
	if lines := strings.Count(logs.String(), "\n"); lines != 2 {
		t.Errorf("want one debug record per attempt, got %d:\n%s", lines, logs.String())
	}
	sig := b.requests()[0].header.Get(HeaderSignature)
	for where, text := range map[string]string{"error": msg, "log": logs.String()} {
		for _, leak := range []string{keyOld.Reveal(), keyNew.Reveal(), sig, sampleRequest().UserID, "v1="} {
			if strings.Contains(text, leak) {
				t.Errorf("%s contains %q: %s", where, leak, text)
			}
		}
	}
}

func TestSanitize(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"plain", "plain"},
		{"  lead\n\n\ttrail  ", "lead trail"},
		{"bell\x07 nul\x00 esc\x1b", "bell nul esc"},
		{"bad \xff\xfe utf8", "bad utf8"},
		{strings.Repeat("a", 500), strings.Repeat("a", maxSnippet)},
		{strings.Repeat("a", maxSnippet-1) + "é", strings.Repeat("a", maxSnippet-1)},
	}
	for _, tt := range tests {
		if got := sanitize([]byte(tt.in)); got != tt.want {
			t.Errorf("sanitize(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 27, 19, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"", 0, false},
		{"soon", 0, false},
		{"-1", 0, false},
		{"1.5", 0, false},
		{"0", 0, true},
		{" 3 ", 3 * time.Second, true},
		{"99999999999999999999", 0, false}, // overflows uint64
		{"9999999999", maxRetryAfter, true},
		{"Fri, 27 Nov 2026 19:00:07 GMT", 7 * time.Second, true},
		{"Fri, 27 Nov 2026 18:00:00 GMT", 0, true}, // in the past: no wait
	}
	for _, tt := range tests {
		got, ok := parseRetryAfter(tt.in, now)
		if got != tt.want || ok != tt.ok {
			t.Errorf("parseRetryAfter(%q) = %s, %v; want %s, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func TestBackoffIsBoundedFullJitter(t *testing.T) {
	c := newClient(t, Options{URL: "http://b", Keys: []secret.Secret{keyOld}, Backoff: 100 * time.Millisecond, MaxBackoff: time.Second})
	for n, ceiling := range map[int]time.Duration{1: 100 * time.Millisecond, 2: 200 * time.Millisecond, 4: 800 * time.Millisecond, 5: time.Second, 64: time.Second, 1000: time.Second} {
		var top time.Duration
		for range 2000 {
			d := c.backoffFor(n)
			if d < 0 || d > ceiling {
				t.Fatalf("backoffFor(%d) = %s, outside [0, %s]", n, d, ceiling)
			}
			top = max(top, d)
		}
		if top < ceiling/2 {
			t.Errorf("backoffFor(%d) never came near %s (max %s): not full jitter", n, ceiling, top)
		}
	}
}
