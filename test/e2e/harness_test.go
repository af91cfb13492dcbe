// Package e2e drives the real program: it starts cli.Run("serve") against a real Redis
// on 127.0.0.1:6379 (a private key prefix per test) and an httptest backend that
// verifies the forwarded signature with stripe-go, then sends events signed with
// stripe-go's webhook.GenerateTestSignedPayload.
package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stripe/stripe-go/v76/webhook"

	"github.com/creditgate/creditgate/internal/cli"
	"github.com/creditgate/creditgate/internal/forward"
	"github.com/creditgate/creditgate/internal/redisclient/redistest"
	"github.com/creditgate/creditgate/internal/testkit"
)

const (
	stripeSecret = "whsec_e2e_test_secret_0123456789"
	forwardKey   = "e2e-forward-key-0123456789abcdef"
	redisAddr    = "127.0.0.1:6379"
	fixtures     = "../../internal/event/testdata/"
)

// requireRedis skips loudly without Redis, except in CI where it fails
// (redistest.Client's rule, shared by every Redis test).
func requireRedis(t *testing.T) {
	t.Helper()
	redistest.Client(t)
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// backend is the credit endpoint under test control: it verifies Creditgate-Signature
// with stripe-go's own webhook.ValidatePayload, honours Idempotency-Key (409 on a
// repeat), and answers what the test says.
type backend struct {
	t   *testing.T
	srv *httptest.Server

	mu       sync.Mutex
	answer   func(n int) int // status for the n-th request (1-based); nil: 200
	delay    time.Duration
	block    chan struct{} // when set, requests wait on it
	requests int
	applied  map[string]forward.Request // idempotency key → request credited
	bodies   [][]byte
	headers  []http.Header
	badSig   int
}

func newBackend(t *testing.T) *backend {
	b := &backend{t: t, applied: map[string]forward.Request{}}
	b.srv = httptest.NewServer(http.HandlerFunc(b.serve))
	t.Cleanup(b.srv.Close)
	return b
}

func (b *backend) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	b.mu.Lock()
	b.requests++
	n, answer, delay, block := b.requests, b.answer, b.delay, b.block
	b.bodies = append(b.bodies, body)
	b.headers = append(b.headers, r.Header.Clone())
	b.mu.Unlock()
	if block != nil {
		select { // bounded: a test that fails before releasing must not hang
		case <-block:
		case <-time.After(waitLimit):
		}
	}
	if delay > 0 {
		time.Sleep(delay)
	}
	if err := webhook.ValidatePayload(body, r.Header.Get("Creditgate-Signature"), forwardKey); err != nil {
		b.mu.Lock()
		b.badSig++
		b.mu.Unlock()
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	if answer != nil {
		if code := answer(n); code != http.StatusOK {
			w.WriteHeader(code)
			return
		}
	}
	var req forward.Request
	if err := json.Unmarshal(body, &req); err != nil {
		http.Error(w, "bad json", http.StatusBadRequest)
		return
	}
	key := r.Header.Get("Idempotency-Key")
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, dup := b.applied[key]; dup {
		w.WriteHeader(http.StatusConflict)
		return
	}
	b.applied[key] = req
	w.WriteHeader(http.StatusOK)
}

func (b *backend) set(f func(b *backend)) {
	b.mu.Lock()
	defer b.mu.Unlock()
	f(b)
}

func (b *backend) credited() map[string]forward.Request {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := map[string]forward.Request{}
	for k, v := range b.applied {
		out[k] = v
	}
	return out
}

func (b *backend) stats() (requests, badSig int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.requests, b.badSig
}

// proxy is one creditgate started through cli.Run.
type proxy struct {
	t        *testing.T
	url      string // webhook base URL
	admin    string // admin base URL
	prefix   string
	cfgPath  string
	logs     *testkit.SyncBuffer
	cancel   context.CancelFunc
	done     chan error
	backend  *backend
	redisURL string
}

type options struct {
	redisURL   string // default redis://127.0.0.1:6379/0; "memory" for the in-memory store
	redisYAML  string // the whole redis: section instead of one built from redisURL
	extraRoute string // YAML appended to the route
	top        string // YAML appended at the top level
	budget     string
	forwardURL string // default: the backend's /internal/credits
}

func startProxy(t *testing.T, b *backend, o options) *proxy {
	t.Helper()
	if o.redisURL == "" {
		o.redisURL = "redis://" + redisAddr + "/0"
	}
	if o.budget == "" {
		o.budget = "3s"
	}
	if o.forwardURL == "" {
		o.forwardURL = b.srv.URL + "/internal/credits"
	}
	dir := t.TempDir()
	p := newProxy(t, b, o.redisURL)
	listen, admin := testkit.FreeAddr(t), testkit.FreeAddr(t)
	redisYAML := fmt.Sprintf("redis:\n  url: %q\n  key_prefix: %q\n  dial_timeout: 300ms\n", o.redisURL, p.prefix)
	if o.redisURL == "memory" {
		redisYAML = fmt.Sprintf("dead_letter:\n  file: %q\n", filepath.Join(dir, "dlq.jsonl"))
	}
	if o.redisYAML != "" {
		redisYAML = o.redisYAML
	}
	cfg := fmt.Sprintf(`listen: %q
admin_listen: %q
log_level: debug
max_body_bytes: 65536
shutdown_timeout: 5s
%s%s
routes:
  - name: main
    path: /stripe/webhook
    livemode: false
    stripe:
      signing_secrets: ["whsec_old_rotated_away_000000", "${STRIPE_WEBHOOK_SECRET}"]
    extract:
      user_id_format: uuid
      max_credits: 100000
    forward:
      url: %q
      signing_keys_file: forward-keys
      timeout: 1s
      attempts: 3
      budget: %s
%s`, listen, admin, redisYAML, o.top, o.forwardURL, o.budget, o.extraRoute)
	must(t, os.WriteFile(filepath.Join(dir, "forward-keys"), []byte(forwardKey+"\n"), 0o600))
	p.run(t, dir, listen, admin, cfg)
	return p
}

// newProxy is a proxy for b on redisURL under a fresh key prefix, not started yet (run).
func newProxy(t *testing.T, b *backend, redisURL string) *proxy {
	return &proxy{t: t, backend: b, prefix: "cgtest:e2e:" + randHex(6) + ":", logs: &testkit.SyncBuffer{}, done: make(chan error, 1), redisURL: redisURL}
}

// run writes cfg to dir/config.yaml, starts `creditgate serve` on it in this process
// (STRIPE_WEBHOOK_SECRET set) and waits until it is healthy. When t ends it stops the
// server, deletes p's Redis keys (unless the store is in memory) and, if t failed,
// prints the server's log.
func (p *proxy) run(t *testing.T, dir, listen, admin, cfg string) {
	t.Helper()
	p.cfgPath = filepath.Join(dir, "config.yaml")
	must(t, os.WriteFile(p.cfgPath, []byte(cfg), 0o600))
	p.url, p.admin = "http://"+listen, "http://"+admin
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	getenv := func(k string) string {
		if k == "STRIPE_WEBHOOK_SECRET" {
			return stripeSecret
		}
		return ""
	}
	go func() {
		p.done <- cli.Run(ctx, []string{"creditgate", "serve", "--config", p.cfgPath}, getenv, strings.NewReader(""), io.Discard, p.logs)
	}()
	t.Cleanup(func() {
		p.stop()
		if p.redisURL != "memory" {
			cleanRedis(p.prefix)
		}
		if t.Failed() {
			t.Logf("creditgate logs:\n%s", p.logs.String())
		}
	})
	p.waitHealthy()
}

func (p *proxy) stop() error {
	p.cancel()
	select {
	case err := <-p.done:
		p.done <- err
		return err
	case <-time.After(15 * time.Second):
		p.t.Error("creditgate did not stop within 15s")
		return nil
	}
}

func (p *proxy) waitHealthy() {
	p.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-p.done:
			p.done <- err // stop, in t's cleanup, must see it exited rather than wait
			p.t.Fatalf("creditgate exited during start: %v\n%s", err, p.logs.String())
		default:
		}
		resp, err := http.Get(p.admin + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	p.t.Fatalf("creditgate not healthy after 10s\n%s", p.logs.String())
}

// answer is what Stripe got.
type answer struct {
	Code    int
	Status  string `json:"status"`
	EventID string `json:"event_id"`
	Raw     string
}

// deliver signs payload like Stripe (stripe-go's GenerateTestSignedPayload) and posts it.
func (p *proxy) deliver(payload []byte) answer {
	p.t.Helper()
	sp := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: payload, Secret: stripeSecret, Timestamp: time.Now()})
	return p.post("/stripe/webhook", payload, map[string]string{"Stripe-Signature": sp.Header})
}

func (p *proxy) post(path string, body []byte, headers map[string]string) answer {
	p.t.Helper()
	return p.do(http.MethodPost, path, body, headers)
}

func (p *proxy) do(method, path string, body []byte, headers map[string]string) answer {
	p.t.Helper()
	req, err := http.NewRequest(method, p.url+path, bytes.NewReader(body))
	must(p.t, err)
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		p.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	a := answer{Code: resp.StatusCode, Raw: string(raw)}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		p.t.Errorf("answer Content-Type = %q, want application/json", ct)
	}
	if err := json.Unmarshal(raw, &a); err != nil {
		p.t.Errorf("answer is not JSON: %q", raw)
	}
	return a
}

func fixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(fixtures + name)
	must(t, err)
	return b
}

// withIDs returns a fixture with fresh event and session ids, so one test's
// deliveries never meet another's.
func withIDs(t *testing.T, name, eventID, sessionID string) []byte {
	t.Helper()
	var ev map[string]any
	must(t, json.Unmarshal(fixture(t, name), &ev))
	ev["id"] = eventID
	obj := ev["data"].(map[string]any)["object"].(map[string]any)
	obj["id"] = sessionID
	out, err := json.Marshal(ev)
	must(t, err)
	return out
}

// mutate changes data.object fields of a fixture.
func mutate(t *testing.T, raw []byte, f func(obj map[string]any, ev map[string]any)) []byte {
	t.Helper()
	var ev map[string]any
	must(t, json.Unmarshal(raw, &ev))
	f(ev["data"].(map[string]any)["object"].(map[string]any), ev)
	out, err := json.Marshal(ev)
	must(t, err)
	return out
}

func newIDs() (evt, cs string) { return "evt_e2e_" + randHex(8), "cs_test_e2e_" + randHex(8) }

func cleanRedis(prefix string) {
	c := redis.NewClient(&redis.Options{Addr: redisAddr})
	defer c.Close()
	_ = redistest.Clean(context.Background(), c, prefix)
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// logLines returns the canonical webhook lines.
func (p *proxy) logLines() []map[string]any {
	var out []map[string]any
	for _, line := range strings.Split(p.logs.String(), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil && m["msg"] == "webhook" {
			out = append(out, m)
		}
	}
	return out
}

// runCLI runs another creditgate command against the proxy's config.
func (p *proxy) runCLI(args ...string) (string, error) {
	var out, errOut bytes.Buffer
	getenv := func(k string) string {
		if k == "STRIPE_WEBHOOK_SECRET" {
			return stripeSecret
		}
		return ""
	}
	err := cli.Run(context.Background(), append([]string{"creditgate"}, args...), getenv, strings.NewReader(""), &out, &errOut)
	return out.String() + errOut.String(), err
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }
