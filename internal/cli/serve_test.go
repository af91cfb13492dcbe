package cli_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/creditgate/creditgate/internal/cli"
	"github.com/creditgate/creditgate/internal/demo"
	"github.com/creditgate/creditgate/internal/redisclient/redistest"
	"github.com/creditgate/creditgate/internal/secret"
	"github.com/creditgate/creditgate/internal/testkit"
)

const (
	cliStripeSecret = "whsec_cli_test_secret_0123456789"
	cliForwardKey   = "cli-test-forward-key-0123456789ab"
	cliUser         = "e747de39-1b54-4cd0-96eb-e68f155931e2"
	redisAddr       = "127.0.0.1:6379"
)

// requireRedis skips loudly without Redis, except in CI where it fails
// (redistest.Client's rule, shared by every Redis test).
func requireRedis(t *testing.T) {
	t.Helper()
	redistest.Client(t)
}

// cleanRedis deletes the keys under prefix, and only those.
func cleanRedis(t *testing.T, prefix string) {
	c := redis.NewClient(&redis.Options{Addr: redisAddr})
	defer c.Close()
	if err := redistest.Clean(context.Background(), c, prefix); err != nil {
		t.Errorf("cleaning redis keys %s*: %v", prefix, err)
	}
}

// instance is one `creditgate serve` started through cli.Run.
type instance struct {
	cfg, listen, admin string
	logs               *testkit.SyncBuffer
	backend            *demo.Backend
	cancel             context.CancelFunc
	done               chan error
	getenv             func(string) string // nil: an empty environment
}

// startServe writes a config for one route forwarding to a demo backend and runs
// serve until the test ends. store is "memory" or "redis".
func startServe(t *testing.T, store string) *instance {
	t.Helper()
	b := demo.NewBackend(secret.New(cliForwardKey))
	backend := httptest.NewServer(b)
	t.Cleanup(backend.Close)
	c := &routeConfig{path: "/stripe/webhook", secret: cliStripeSecret, url: backend.URL + "/internal/credits"}
	if store == "redis" {
		requireRedis(t)
		rb := make([]byte, 6)
		_, _ = rand.Read(rb)
		prefix := "cgtest:cli:" + hex.EncodeToString(rb) + ":"
		c.extra = fmt.Sprintf("redis:\n  url: \"redis://%s/0\"\n  key_prefix: %q\n  dial_timeout: 300ms\n", redisAddr, prefix)
		t.Cleanup(func() { cleanRedis(t, prefix) })
	}
	in := newInstance(t, c, nil)
	in.backend = b
	in.run(t)
	return in
}

// run starts `serve --config in.cfg` with the extra flags, stops it when the test
// ends, and waits until it is healthy.
func (in *instance) run(t *testing.T, flags ...string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	in.cancel = cancel
	args := append([]string{"creditgate", "serve", "--config", in.cfg}, flags...)
	getenv := in.getenv
	if getenv == nil {
		getenv = env(nil)
	}
	go func() {
		in.done <- cli.Run(ctx, args, getenv, strings.NewReader(""), io.Discard, in.logs)
	}()
	t.Cleanup(func() {
		in.cancel()
		select {
		case <-in.done:
		case <-time.After(15 * time.Second):
			t.Error("serve did not stop within 15s")
		}
		if t.Failed() {
			t.Logf("serve logs:\n%s", in.logs.String())
		}
	})
	waitHealthy(t, in.admin, in.done, in.logs)
}

// stop cancels serve's context and returns what Run returned.
func (in *instance) stop(t *testing.T) error {
	t.Helper()
	in.cancel()
	select {
	case err := <-in.done:
		in.done <- err // for the cleanup
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("serve did not return within 10s of the cancel")
		return nil
	}
}

func (in *instance) webhookLines(t *testing.T) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, l := range lines(in.logs.String()) {
		var m map[string]any
		if json.Unmarshal([]byte(l), &m) == nil && m["msg"] == "webhook" {
			out = append(out, m)
		}
	}
	return out
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestServeTriggerDLQ runs the program the way an operator does: serve, trigger
// events at it, work the dead-letter list, stop it. Same scenario on both stores.
func TestServeTriggerDLQ(t *testing.T) {
	for _, store := range []string{"memory", "redis"} {
		t.Run(store, func(t *testing.T) {
			in := startServe(t, store)
			url := "http://127.0.0.1:" + in.listen[strings.LastIndexByte(in.listen, ':')+1:] + "/stripe/webhook"
			line := func(typ, answer, evt string) string {
				return fmt.Sprintf("POST %s %s -> %s (event %s)\n", url, typ, answer, evt)
			}
			trigger := func(args ...string) (int, string, string) {
				return run(t, nil, append([]string{"trigger", "--config", in.cfg}, args...)...)
			}
			steps := []struct {
				name   string
				args   []string
				code   int
				stdout string
			}{
				{"purchase", []string{"--event", "evt_cli_1", "--session", "cs_test_cli_1"},
					0, line("checkout.session.completed", "200 forwarded", "evt_cli_1")},
				{"same event again", []string{"--event", "evt_cli_1", "--session", "cs_test_cli_1"},
					0, line("checkout.session.completed", "200 duplicate", "evt_cli_1")},
				{"wrong secret", []string{"--secret", "whsec_wrong", "--event", "evt_cli_forged", "--credits", "1000000"},
					1, line("checkout.session.completed", "400 invalid_signature", "")},
				{"unpaid", []string{"--payment-status", "unpaid", "--event", "evt_cli_unpaid"},
					0, line("checkout.session.completed", "200 pending_payment", "evt_cli_unpaid")},
				{"no user", []string{"--user", "", "--event", "evt_cli_dead"},
					0, line("checkout.session.completed", "200 dead_lettered", "evt_cli_dead")},
			}
			for _, s := range steps {
				code, stdout, stderr := trigger(s.args...)
				wantStderr := ""
				if s.code != 0 { // a failed answer comes with what it means
					wantStderr = "creditgate trigger: the signature did not verify: --secret (or $STRIPE_WEBHOOK_SECRET) must be one of the route's signing_secrets.\n"
				}
				if code != s.code || stdout != s.stdout || stderr != wantStderr {
					t.Errorf("trigger %s = %d\nstdout %q\nwant   %q\nstderr %q", s.name, code, stdout, s.stdout, stderr)
				}
			}
			if got := in.backend.Balance(cliUser); got != 100 {
				t.Errorf("backend balance = %d, want 100", got)
			}
			if got := in.backend.Applied(); got != 1 {
				t.Errorf("backend applied %d credits, want 1", got)
			}

			// One canonical log line per delivery, in order.
			var results []string
			for _, l := range in.webhookLines(t) {
				results = append(results, fmt.Sprint(l["result"]))
			}
			if want := "forwarded duplicate invalid_signature pending_payment dead_lettered"; strings.Join(results, " ") != want {
				t.Errorf("logged results = %q, want %q", strings.Join(results, " "), want)
			}
			if !strings.Contains(in.logs.String(), `"store":"`+store+`"`) {
				t.Errorf("start line does not name store %s:\n%s", store, in.logs.String())
			}
			if strings.Contains(in.logs.String(), cliStripeSecret) || strings.Contains(in.logs.String(), cliForwardKey) {
				t.Error("serve logs contain a secret")
			}
			if code, body := get(t, "http://"+in.admin+"/readyz"); code != 200 || body != `{"status":"ready"}`+"\n" {
				t.Errorf("/readyz = %d %q", code, body)
			}
			if _, body := get(t, "http://"+in.admin+"/metrics"); !strings.Contains(body, `creditgate_webhooks_total{result="dead_lettered",route="main"} 1`+"\n") {
				t.Errorf("metrics lack the dead-lettered delivery")
			}

			dlq := func(args ...string) (int, string, string) {
				return run(t, nil, append(append([]string{"dlq"}, args...), "--config", in.cfg)...)
			}
			// list shows the parked entry.
			code, stdout, stderr := dlq("list")
			rows := lines(stdout)
			if code != 0 || len(rows) != 3 || strings.Fields(rows[0])[0] != "ID" || rows[2] != "1 entries" {
				t.Fatalf("dlq list = %d\n%s\nstderr: %s", code, stdout, stderr)
			}
			f := strings.Fields(rows[1])
			if len(f) < 5 || f[0] != "main:evt_cli_dead" || f[2] != "no_user_id" || f[3] != "checkout.session.completed" || f[4] != "0" {
				t.Errorf("dlq list row = %q", rows[1])
			}
			if _, err := time.Parse(time.RFC3339, f[1]); err != nil {
				t.Errorf("PARKED = %q: %v", f[1], err)
			}

			// show prints the entry as JSON, payload included.
			code, stdout, _ = dlq("show", "main:evt_cli_dead")
			var e struct {
				ID        string `json:"id"`
				Route     string `json:"route"`
				EventID   string `json:"event_id"`
				EventType string `json:"event_type"`
				Reason    string `json:"reason"`
				Replays   int    `json:"replays"`
				Payload   string `json:"payload"`
			}
			if err := json.Unmarshal([]byte(stdout), &e); code != 0 || err != nil {
				t.Fatalf("dlq show = %d %v\n%s", code, err, stdout)
			}
			if e.ID != "main:evt_cli_dead" || e.Route != "main" || e.EventID != "evt_cli_dead" || e.EventType != "checkout.session.completed" ||
				e.Reason != "no_user_id" || e.Replays != 0 || !strings.Contains(e.Payload, `"id": "evt_cli_dead"`) {
				t.Errorf("dlq show = %s", stdout)
			}

			// drop removes it, once.
			if code, stdout, stderr = dlq("drop", "main:evt_cli_dead"); code != 0 || stdout != "dropped main:evt_cli_dead\n" {
				t.Errorf("dlq drop = %d %q %q", code, stdout, stderr)
			}
			if code, stdout, _ = dlq("list"); code != 0 || len(lines(stdout)) != 2 || lines(stdout)[1] != "0 entries" {
				t.Errorf("dlq list after drop = %d\n%s", code, stdout)
			}
			if code, _, stderr = dlq("drop", "main:evt_cli_dead"); code != 1 || !strings.Contains(stderr, "creditgate: dead-letter entry not found: main:evt_cli_dead\n") {
				t.Errorf("second drop = %d %q", code, stderr)
			}
			if code, stdout, stderr = dlq("show", "missing"); code != 1 || stdout != "" || !strings.HasSuffix(stderr, "creditgate: dead-letter entry not found: missing\n") {
				t.Errorf("dlq show missing = %d %q %q", code, stdout, stderr)
			}

			if err := in.stop(t); err != nil {
				t.Errorf("serve returned %v after the cancel, want nil", err)
			}
		})
	}
}

func TestDLQUsage(t *testing.T) {
	usage := `usage: creditgate dlq <list|show ID|replay ID|replay --all|drop ID> [--config F]
  list    [--route R] [--reason W] [--older-than D] [--newer-than D] [--json]
  replay  ID [--user U] [--credits N]   supply what the event lacks (see the runbook)
  replay  --all [--route R] [--reason W] [--older-than D] [--newer-than D]
`
	fixOne := "creditgate dlq replay: --user and --credits fix one entry: dlq replay ID --user U --credits N\n" + usage
	missing := filepath.Join(t.TempDir(), "no-config.yaml")
	tests := []struct {
		name   string
		args   []string
		code   int
		stderr string
	}{
		{"no subcommand", []string{"dlq"}, 2, usage},
		{"unknown subcommand", []string{"dlq", "frobnicate", "--config", missing}, 2, "creditgate dlq: unknown subcommand \"frobnicate\"\n" + usage},
		{"help", []string{"dlq", "help"}, 0, usage},
		{"bad flag", []string{"dlq", "list", "--nope"}, 2, ""},
		{"fix with --all", []string{"dlq", "replay", "--all", "--user", "u1", "--config", missing}, 2, fixOne},
		{"fix without id", []string{"dlq", "replay", "--credits", "5", "--config", missing}, 2, fixOne},
		{"fix on list", []string{"dlq", "list", "--user", "u1", "--config", missing}, 2,
			"creditgate dlq list: --user and --credits fix one entry: dlq replay ID --user U --credits N\n" + usage},
		{"credits not a number", []string{"dlq", "replay", "main:evt_1", "--credits", "ten", "--config", missing}, 2,
			"creditgate dlq replay: --credits \"ten\": want a positive integer\n" + usage},
		{"credits zero", []string{"dlq", "replay", "main:evt_1", "--credits", "0", "--config", missing}, 2,
			"creditgate dlq replay: --credits \"0\": want a positive integer\n" + usage},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := run(t, nil, tt.args...)
			if code != tt.code || stdout != "" || (tt.stderr != "" && stderr != tt.stderr) {
				t.Errorf("%v = %d, stdout %q, stderr %q; want %d and %q", tt.args, code, stdout, stderr, tt.code, tt.stderr)
			}
		})
	}
	if _, err := os.Stat(missing); err == nil {
		t.Error("an unknown subcommand created the config path")
	}
}

// TestDLQNeedsOneID: show and drop without an id (or with two) are usage errors.
func TestDLQNeedsOneID(t *testing.T) {
	dir := t.TempDir()
	cfg := writeFile(t, dir, "config.yaml", fmt.Sprintf(`dead_letter: {file: %q}
routes:
  - name: main
    stripe: {signing_secrets: [%q]}
    forward: {url: "http://127.0.0.1:1/credits", signing_keys: [%q]}
`, filepath.Join(dir, "dlq.jsonl"), cliStripeSecret, cliForwardKey))
	for _, args := range [][]string{{"show"}, {"drop"}, {"replay"}, {"show", "a", "b"}} {
		code, _, stderr := run(t, nil, append(append([]string{"dlq"}, args...), "--config", cfg)...)
		if code != 2 || !strings.Contains(stderr, "usage: creditgate dlq") {
			t.Errorf("dlq %v = %d, stderr %q; want 2 and the usage", args, code, stderr)
		}
	}
	code, stdout, stderr := run(t, nil, "dlq", "replay", "--all", "--config", cfg)
	if code != 0 || stdout != "" {
		t.Errorf("dlq replay --all on an empty list = %d %q %q", code, stdout, stderr)
	}
}

func TestServeInvalidConfig(t *testing.T) {
	path := writeFile(t, t.TempDir(), "config.yaml", `log_level: loud
routes:
  - name: main
    stripe: {signing_secrets: ["`+leakAPIKey+`"]}
    forward: {url: "ftp://backend", signing_keys: ["`+leakForwardKey+`"]}
`)
	code, stdout, stderr := run(t, nil, "serve", "--config", path)
	want := "creditgate: config " + path + " is not valid:\n" +
		`  - log_level: must be debug, info, warn or error, got "loud"` + "\n" +
		"  - routes[0].stripe.signing_secrets[0]: looks like a Stripe API key, not a webhook signing secret (whsec_...); rotate that key, it was written into the config\n" +
		`  - routes[0].forward.url: must be an absolute http:// or https:// URL without credentials, got "ftp://backend"` + "\n"
	if code != 1 || stdout != "" || stderr != want {
		t.Errorf("serve = %d, stdout %q\nstderr\n%s\nwant\n%s", code, stdout, stderr, want)
	}
	assertNoLeak(t, stdout, stderr)
}

func TestServePortInUse(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	for _, tt := range []struct{ name, listen, admin, prefix string }{
		{"webhook port", busy.Addr().String(), testkit.FreeAddr(t), "creditgate: listen: "},
		{"admin port", testkit.FreeAddr(t), busy.Addr().String(), "creditgate: admin_listen: "},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			cfg := writeFile(t, dir, "config.yaml", fmt.Sprintf(`listen: %q
admin_listen: %q
dead_letter: {file: %q}
routes:
  - name: main
    stripe: {signing_secrets: [%q]}
    forward: {url: "http://127.0.0.1:1/credits", signing_keys: [%q]}
`, tt.listen, tt.admin, filepath.Join(dir, "dlq.jsonl"), cliStripeSecret, cliForwardKey))
			ctx, cancel := context.WithTimeout(t.Context(), 15*time.Second)
			defer cancel()
			code, stdout, stderr := runCtx(ctx, nil, "serve", "--config", cfg)
			last := lines(stderr)[len(lines(stderr))-1]
			if code != 1 || stdout != "" || !strings.HasPrefix(last, tt.prefix) || !strings.Contains(last, "address already in use") {
				t.Errorf("serve = %d, stdout %q, last stderr line %q; want 1 and %q... address already in use", code, stdout, last, tt.prefix)
			}
			if ctx.Err() != nil {
				t.Error("serve did not return on its own")
			}
		})
	}
}

func TestTriggerErrors(t *testing.T) {
	dead := testkit.FreeAddr(t) // nothing listens here
	tests := []struct {
		name   string
		args   []string
		vars   map[string]string
		stderr string
	}{
		{"no secret anywhere", []string{"trigger"}, nil,
			"creditgate: no signing secret: pass --secret, set STRIPE_WEBHOOK_SECRET, or name a --config\n"},
		{"nothing listening", []string{"trigger", "--url", "http://" + dead + "/stripe/webhook"},
			map[string]string{"STRIPE_WEBHOOK_SECRET": cliStripeSecret}, "creditgate: POST http://" + dead + "/stripe/webhook: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := run(t, env(tt.vars), tt.args...)
			if code != 1 || stdout != "" || !strings.HasPrefix(stderr, tt.stderr) {
				t.Errorf("trigger = %d, stdout %q, stderr %q; want 1 and %q", code, stdout, stderr, tt.stderr)
			}
			if strings.Contains(stderr, cliStripeSecret) {
				t.Error("trigger printed the secret")
			}
		})
	}
}

// When the README's trigger step fails, trigger says what is missing.
func TestTriggerSaysWhatIsMissing(t *testing.T) {
	deadBackend := "http://" + testkit.FreeAddr(t) + "/internal/credits" // nothing listens there
	c := &routeConfig{path: "/stripe/webhook", secret: cliStripeSecret, url: deadBackend}
	in := startReloadable(t, c)
	code, stdout, stderr := run(t, nil, "trigger", "--config", in.cfg)
	if code != 1 || !strings.Contains(stdout, "503 backend_unavailable") ||
		stderr != "creditgate trigger: the backend did not take the credit: nothing answered 2xx at "+deadBackend+
			" (start your backend there, or point forward.url at it; `creditgate demo` runs one built in). Stripe would retry this delivery.\n" {
		t.Errorf("trigger with no backend = %d\nstdout %q\nstderr %q", code, stdout, stderr)
	}
	code, stdout, stderr = run(t, nil, "trigger", "--config", in.cfg, "--secret", "whsec_not_the_routes")
	if code != 1 || !strings.Contains(stdout, "400 invalid_signature") || !strings.Contains(stderr, "must be one of the route's signing_secrets") {
		t.Errorf("trigger with a wrong secret = %d %q %q", code, stdout, stderr)
	}
}

// TestServeLogFlushInterval: with log_flush_interval (its longest, 10s), the
// webhook's line waits while a parked webhook's ERROR line takes it out at once; the
// lines after it wait again, and the stop writes them all, its own last line included.
func TestServeLogFlushInterval(t *testing.T) {
	backend := httptest.NewServer(demo.NewBackend(secret.New(cliForwardKey)))
	t.Cleanup(backend.Close)
	c := &routeConfig{path: "/hook", secret: cliStripeSecret, url: backend.URL, extra: "log_flush_interval: 10s"}
	in := newInstance(t, c, nil)
	in.run(t)
	post := func(user, want string) {
		t.Helper()
		if code, status := sendFor(t, c.listen, "/hook", cliStripeSecret, user); code != 200 || status != want {
			t.Fatalf("webhook for %q = %d %s, want 200 %s", user, code, status, want)
		}
	}
	post(cliUser, "forwarded")
	if got := in.webhookLines(t); len(got) != 0 {
		t.Fatalf("the webhook's line was written at once: %v", got)
	}
	post("not-a-uuid", "dead_lettered") // an ERROR line
	if got := in.webhookLines(t); len(got) != 2 || got[0]["result"] != "forwarded" || got[1]["result"] != "dead_lettered" {
		t.Fatalf("after the ERROR line: %v, want the forwarded line, then the dead-lettered one", got)
	}
	post(cliUser, "forwarded")
	if got := in.webhookLines(t); len(got) != 2 {
		t.Fatalf("the third line was written at once: %d lines", len(got))
	}
	if err := in.stop(t); err != nil {
		t.Fatal(err)
	}
	if got := in.webhookLines(t); len(got) != 3 {
		t.Fatalf("after the stop: %d webhook lines, want 3:\n%s", len(got), in.logs.String())
	}
	if !strings.Contains(in.logs.String(), `"msg":"shutting down"`) {
		t.Fatalf("the stop's own line is missing:\n%s", in.logs.String())
	}
}
