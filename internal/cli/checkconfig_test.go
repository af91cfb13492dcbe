package cli_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const example = "../../examples/config.yaml"

// Secret values the check-config tests plant; none may ever be printed. Each holds
// "LEAKCHECK" so a partial echo is caught too.
const (
	leakWebhookSecret = "whsec_LEAKCHECK_0123456789abcdef"
	leakAPIKey        = "sk_live_LEAKCHECK_0123456789abcdef"
	leakForwardKey    = "LEAKCHECK-forward-key-0123456789"
	leakRedisPassword = "LEAKCHECK_redis_password"
)

func assertNoLeak(t *testing.T, outputs ...string) {
	t.Helper()
	for _, out := range outputs {
		for _, s := range []string{"LEAKCHECK", leakWebhookSecret, leakAPIKey, leakForwardKey, leakRedisPassword} {
			if strings.Contains(out, s) {
				t.Errorf("output contains the secret %q:\n%s", s, out)
			}
		}
	}
}

func TestCheckConfigExample(t *testing.T) {
	tests := []struct {
		name  string
		vars  map[string]string
		store string
		url   string
	}{
		{"in-memory store", map[string]string{
			"STRIPE_WEBHOOK_SECRET": leakWebhookSecret, "CREDITGATE_FORWARD_KEY": leakForwardKey,
		}, "memory", "http://127.0.0.1:8000/internal/credits"},
		{"redis with a password in the url", map[string]string{
			"STRIPE_WEBHOOK_SECRET": leakWebhookSecret, "CREDITGATE_FORWARD_KEY": leakForwardKey,
			"REDIS_URL":   "redis://creditgate:" + leakRedisPassword + "@redis.internal:6379/0",
			"BACKEND_URL": "http://backend:8000/internal/credits",
		}, "redis", "http://backend:8000/internal/credits"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := run(t, env(tt.vars), "check-config", "--config", example)
			if code != 0 {
				t.Fatalf("exit code = %d, stderr:\n%s", code, stderr)
			}
			want := fmt.Sprintf("config %s is valid: 1 route(s), store %s\n"+
				"  route main: POST /stripe/webhook (livemode=false) -> %s, 1 signing secret(s), 1 forwarding key(s), "+
				"events checkout.session.completed,checkout.session.async_payment_succeeded\n", example, tt.store, tt.url)
			if stdout != want {
				t.Errorf("stdout =\n%q\nwant\n%q", stdout, want)
			}
			if stderr != "" {
				t.Errorf("stderr = %q, want nothing", stderr)
			}
			assertNoLeak(t, stdout, stderr)
		})
	}
}

func TestCheckConfigExampleWithoutSecrets(t *testing.T) {
	code, stdout, stderr := run(t, nil, "check-config", "--config", example)
	want := "creditgate: config " + example + " is not valid:\n" +
		"  - routes[0].stripe.signing_secrets[0]: is empty (an unset ${VAR} or an empty file?)\n" +
		"  - routes[0].forward.signing_keys[0]: is empty (an unset ${VAR} or an empty file?)\n"
	if code != 1 || stdout != "" || stderr != want {
		t.Errorf("check-config without env = %d, stdout %q, stderr\n%s\nwant 1 and\n%s", code, stdout, stderr, want)
	}
}

// TestCheckConfigListsEveryProblem: one run reports every mistake in the file, one
// "  - field: message" line each, and never a secret.
func TestCheckConfigListsEveryProblem(t *testing.T) {
	dir := t.TempDir()
	path := writeFile(t, dir, "config.yaml", `listen: "8080"
admin_listen: ":9090"
log_level: loud
max_body_bytes: 10
redis:
  url: "http://creditgate:`+leakRedisPassword+`@redis:6379/0"
dedup:
  ttl: 1h
routes:
  - name: "Main Route"
    path: stripe/webhook
    stripe:
      signing_secrets: ["`+leakAPIKey+`"]
    events: [customer.subscription.created]
    extract:
      max_credits: "`+leakWebhookSecret+`"
    forward:
      url: "http://creditgate:`+leakRedisPassword+`@backend/credits"
      signing_keys: ["LEAKCHECK_short"]
      attempts: 11
`)
	code, stdout, stderr := run(t, nil, "check-config", "--config", path)
	if code != 1 {
		t.Errorf("exit code = %d, want 1", code)
	}
	if stdout != "" {
		t.Errorf("stdout = %q, want nothing", stdout)
	}
	want := []string{
		"creditgate: config " + path + " is not valid:",
		"  - line 16: cannot unmarshal !!str `whsec_REDACTED...` into int64",
		`  - listen: must be host:port or :port, got "8080"`,
		`  - log_level: must be debug, info, warn or error, got "loud"`,
		`  - max_body_bytes: must be between 1024 and 67108864, got 10`,
		`  - redis.url: scheme must be redis://, rediss:// or unix://, got "http"`,
		`  - dedup.ttl: must be at least 72h0m0s (Stripe retries for 3 days), got 1h0m0s`,
		`  - routes[0].name: must match ^[a-z0-9][a-z0-9_-]{0,31}$, got "Main Route"`,
		`  - routes[0].path: must be a clean absolute path like /stripe/webhook, got "stripe/webhook"`,
		`  - routes[0].stripe.signing_secrets[0]: looks like a Stripe API key, not a webhook signing secret (whsec_...); rotate that key, it was written into the config`,
		`  - routes[0].events[0]: "customer.subscription.created" is not a supported event type (supported: checkout.session.completed, checkout.session.async_payment_succeeded, invoice.paid, charge.refunded, charge.dispute.created, charge.dispute.closed, charge.dispute.updated, charge.dispute.funds_withdrawn, charge.dispute.funds_reinstated, charge.refund.updated, refund.updated)`,
		`  - routes[0].forward.url: must be an absolute http:// or https:// URL without credentials, got "http://REDACTED@backend/credits"`,
		"  - routes[0].forward.signing_keys[0]: must be at least 16 characters (use e.g. `openssl rand -hex 32`)",
		`  - routes[0].forward.attempts: must be between 1 and 10, got 11`,
	}
	got := lines(stderr)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("stderr =\n%s\nwant\n%s", stderr, strings.Join(want, "\n"))
	}
	assertNoLeak(t, stdout, stderr)
}

// TestCheckConfigRedactsMisplacedSecrets: a Stripe secret that lands in an ordinary
// field (a wrong ${VAR}, a paste into the wrong line) is quoted by the problem that
// field reports, and must be redacted there.
func TestCheckConfigRedactsMisplacedSecrets(t *testing.T) {
	path := writeFile(t, t.TempDir(), "config.yaml", `listen: "${STRIPE_WEBHOOK_SECRET}"
log_level: "`+leakAPIKey+`"
routes:
  - name: main
    stripe:
      signing_secrets: ["${STRIPE_WEBHOOK_SECRET}"]
    events: ["`+leakWebhookSecret+`"]
    extract:
      user_id_format: "sk_test_LEAKCHECK_0123456789"
    forward:
      url: "${STRIPE_WEBHOOK_SECRET}"
      signing_keys: ["${CREDITGATE_FORWARD_KEY}"]
`)
	vars := env(map[string]string{"STRIPE_WEBHOOK_SECRET": leakWebhookSecret, "CREDITGATE_FORWARD_KEY": leakForwardKey})
	code, stdout, stderr := run(t, vars, "check-config", "--config", path)
	want := []string{
		"creditgate: config " + path + " is not valid:",
		`  - listen: must be host:port or :port, got a 32-character value (not shown: it may be a secret)`,
		`  - log_level: must be debug, info, warn or error, got a 34-character value (not shown: it may be a secret)`,
		`  - routes[0].events[0]: a 32-character value (not shown: it may be a secret) is not a supported event type (supported: checkout.session.completed, checkout.session.async_payment_succeeded, invoice.paid, charge.refunded, charge.dispute.created, charge.dispute.closed, charge.dispute.updated, charge.dispute.funds_withdrawn, charge.dispute.funds_reinstated, charge.refund.updated, refund.updated)`,
		`  - routes[0].extract.user_id_format: must be "uuid", "uuid4", "regexp:<expression>" or empty, got a 28-character value (not shown: it may be a secret)`,
		`  - routes[0].forward.url: must be an absolute http:// or https:// URL without credentials, got a 32-character value (not shown: it may be a secret)`,
	}
	if code != 1 || stdout != "" || strings.Join(lines(stderr), "\n") != strings.Join(want, "\n") {
		t.Errorf("check-config = %d, stdout %q, stderr\n%s\nwant 1 and\n%s", code, stdout, stderr, strings.Join(want, "\n"))
	}
	assertNoLeak(t, stdout, stderr)
}

// TestCheckConfigSecretsFromFiles: secrets mounted as files (Kubernetes Secrets) are
// read, counted and never printed.
func TestCheckConfigSecretsFromFiles(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "webhook-secrets", "# rotated in March\n"+leakWebhookSecret+"\nwhsec_LEAKCHECK_previous_0123456789\n")
	writeFile(t, dir, "forward-keys", leakForwardKey+"\n")
	writeFile(t, dir, "redis-password", leakRedisPassword+"\n")
	path := writeFile(t, dir, "config.yaml", `redis:
  url: redis://redis.internal:6379/0
  password_file: redis-password
routes:
  - name: main
    stripe:
      signing_secrets_file: webhook-secrets
    forward:
      url: http://backend:8000/internal/credits
      signing_keys_file: `+filepath.Join(dir, "forward-keys")+`
`)
	code, stdout, stderr := run(t, nil, "check-config", "--config", path)
	want := "config " + path + " is valid: 1 route(s), store redis\n" +
		"  route main: POST /stripe/webhook (livemode=false) -> http://backend:8000/internal/credits, 2 signing secret(s), 1 forwarding key(s), " +
		"events checkout.session.completed,checkout.session.async_payment_succeeded\n"
	if code != 0 || stdout != want || stderr != "" {
		t.Errorf("check-config = %d\nstdout %q\nwant   %q\nstderr %q", code, stdout, want, stderr)
	}
	assertNoLeak(t, stdout, stderr)
}

func TestCheckConfigMissingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nope.yaml")
	code, stdout, stderr := run(t, nil, "check-config", "--config", path)
	want := "creditgate: config " + path + " is not valid:\n" +
		"  - read config: open " + path + ": no such file or directory\n"
	if code != 1 || stdout != "" || stderr != want {
		t.Errorf("check-config of a missing file = %d, stdout %q, stderr %q; want 1 and %q", code, stdout, stderr, want)
	}
}

func TestCheckConfigNotYAML(t *testing.T) {
	path := writeFile(t, t.TempDir(), "config.yaml", "routes: [\n  - name: main\n")
	code, stdout, stderr := run(t, nil, "check-config", "--config", path)
	if code != 1 || stdout != "" || !strings.HasPrefix(stderr, "creditgate: config "+path+" is not valid:\n  - config is not valid YAML: ") {
		t.Errorf("check-config of broken YAML = %d, stdout %q, stderr %q", code, stdout, stderr)
	}
}

func TestCheckConfigUnknownKey(t *testing.T) {
	path := writeFile(t, t.TempDir(), "config.yaml", `routes:
  - name: main
    stripe:
      signing_secret: "`+leakWebhookSecret+`"
      signing_secrets: ["`+leakWebhookSecret+`"]
    forward:
      url: http://backend/credits
      signing_keys: ["`+leakForwardKey+`"]
`)
	code, stdout, stderr := run(t, nil, "check-config", "--config", path)
	if code != 1 || stdout != "" || !strings.Contains(stderr, "signing_secret not found") {
		t.Errorf("check-config with an unknown key = %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	assertNoLeak(t, stdout, stderr)
}

// TestCheckConfigRefusesSplitPurchases: a route granting Checkout Sessions and
// another granting invoice.paid on one Stripe account could credit one purchase
// twice; check-config names both routes and exits 1.
func TestCheckConfigRefusesSplitPurchases(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "api-key", "sk_test_0123456789abcdef\n")
	path := writeFile(t, dir, "config.yaml", `routes:
  - name: sessions
    path: /stripe/sessions
    stripe: {signing_secrets: [whsec_a]}
    forward: {url: "http://backend/credits", signing_keys: ["0123456789abcdef"]}
  - name: invoices
    path: /stripe/invoices
    events: [invoice.paid]
    stripe: {signing_secrets: [whsec_b], api_key_file: api-key}
    forward: {url: "http://backend/credits", signing_keys: ["0123456789abcdef"]}
`)
	code, stdout, stderr := run(t, env(nil), "check-config", "--config", path)
	if code != 1 || stdout != "" {
		t.Fatalf("exit %d, stdout %q", code, stdout)
	}
	if !strings.Contains(stderr, `routes[1].events: invoice.paid on route "invoices" and the Checkout Session events on route "sessions" could grant one purchase twice`) {
		t.Errorf("stderr:\n%s", stderr)
	}
}

// TestCheckConfigRefusesWhatServeRefuses: check-config builds what serve builds (minus
// the listeners), so a config that serve would refuse at start-up never passes it.
// Each case is refused by both commands with the same problem line.
func TestCheckConfigRefusesWhatServeRefuses(t *testing.T) {
	route := func(forwardURL string) string {
		return `routes:
  - name: main
    stripe: {signing_secrets: [whsec_a]}
    forward: {url: "` + forwardURL + `", signing_keys: ["0123456789abcdef"]}
`
	}
	tests := []struct {
		name, config, problem string
	}{
		{"a #fragment in forward.url", route("http://backend/credits#main"),
			`routes[0].forward.url: must not have a #fragment (it is never sent to the backend)`},
		{"a pool size beyond what Redis serves", "redis:\n  url: redis://127.0.0.1:6379\n  pool_size: 3000000000\n" + route("http://backend/credits"),
			`redis.pool_size: must be between 0 and 10000, got 3000000000`},
		{"a pool size in the Redis URL beyond what Redis serves", "redis:\n  url: redis://127.0.0.1:6379/0?pool_size=3000000000\n" + route("http://backend/credits"),
			`redis: redisclient: url: pool size 3000000000 is out of range (at most 10000)`},
		{"TLS settings while TLS is off", "redis:\n  url: redis://127.0.0.1:6379\n  tls: {server_name: redis.internal}\n" + route("http://backend/credits"),
			`redis: redisclient: tls options are set but TLS is off (use rediss:// or enable tls)`},
		{"a Redis URL option go-redis does not know", "redis:\n  url: redis://127.0.0.1:6379/0?pool=3\n" + route("http://backend/credits"),
			`redis: redisclient: url: redis: unexpected option: pool`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeFile(t, t.TempDir(), "config.yaml", "listen: 127.0.0.1:0\nadmin_listen: 127.0.0.1:0\n"+tt.config)
			for _, cmd := range []string{"check-config", "serve"} {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				code, stdout, stderr := runCtx(ctx, nil, cmd, "--config", path)
				cancel()
				want := "creditgate: config " + path + " is not valid:\n  - " + tt.problem + "\n"
				if code != 1 || stdout != "" || (cmd == "check-config" && stderr != want) || !strings.Contains(stderr, tt.problem) {
					t.Errorf("%s = %d, stdout %q, stderr\n%s\nwant 1 and\n%s", cmd, code, stdout, stderr, want)
				}
			}
		})
	}
}
