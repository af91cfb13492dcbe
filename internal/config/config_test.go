package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestExampleConfigLoads(t *testing.T) {
	cfg, err := Load("../../examples/config.yaml", env(map[string]string{
		"STRIPE_WEBHOOK_SECRET":  "whsec_example",
		"CREDITGATE_FORWARD_KEY": "0123456789abcdef0123456789abcdef",
	}))
	if err != nil {
		t.Fatalf("example config: %v", err)
	}
	r := cfg.Routes[0]
	if r.Forward.URL != "http://127.0.0.1:8000/internal/credits" {
		t.Errorf("default from ${VAR:-default} not applied: %q", r.Forward.URL)
	}
	if cfg.Redis.Enabled() {
		t.Error("empty REDIS_URL must select the in-memory store")
	}
	if got := r.Stripe.SigningSecrets[0].Reveal(); got != "whsec_example" {
		t.Errorf("secret = %q", got)
	}
	if cfg.Dedup.Lease != 30*time.Second || r.Forward.Budget != 8*time.Second || r.Extract.MaxCredits != 1_000_000 {
		t.Errorf("values: lease %s budget %s max %d", cfg.Dedup.Lease, r.Forward.Budget, r.Extract.MaxCredits)
	}
}

func TestDefaults(t *testing.T) {
	cfg, err := Parse([]byte(`
routes:
  - name: main
    stripe: {signing_secrets: [whsec_x]}
    forward: {url: "http://b/c", signing_keys: ["0123456789abcdef"]}
`), "", env(nil))
	if err != nil {
		t.Fatal(err)
	}
	r := cfg.Routes[0]
	checks := map[string]bool{
		"listen":       cfg.Listen == DefaultListen,
		"admin_listen": cfg.AdminListen == DefaultAdminListen,
		"body":         cfg.MaxBodyBytes == 1<<20,
		"ttl":          cfg.Dedup.TTL == 720*time.Hour,
		"lease":        cfg.Dedup.Lease == 30*time.Second,
		"prefix":       cfg.Redis.KeyPrefix == "creditgate:",
		"path":         r.Path == "/stripe/webhook",
		"tolerance":    r.Stripe.Tolerance == 300*time.Second,
		"events":       len(r.Events) == 2,
		"user sources": strings.Join(r.Extract.UserID, ",") == "metadata.user_id,client_reference_id,customer_map",
		"credits":      strings.Join(r.Extract.Credits, ",") == "metadata.credits",
		"attempts":     r.Forward.Attempts == 3,
		"timeout":      r.Forward.Timeout == 5*time.Second,
		"dlq file":     cfg.DeadLetter.File == "creditgate-dead-letters.jsonl",
	}
	for name, ok := range checks {
		if !ok {
			t.Errorf("default %s not applied", name)
		}
	}
}

// TestEveryProblemAtOnce: a file with many mistakes reports all of them in one go.
func TestEveryProblemAtOnce(t *testing.T) {
	_, err := Load("testdata/bad.yaml", env(nil))
	if err == nil {
		t.Fatal("bad config accepted")
	}
	msg := err.Error()
	want := []string{
		`listen: must be host:port`,
		`admin_listen: must be host:port`,
		`log_level: must be debug, info, warn or error, got "loud"`,
		`log_flush_interval: must be between 0s (every line at once) and 10s, got 1m0s`,
		`redis: set only one of url, sentinel and cluster_addrs`,
		`redis.url: scheme must be redis://, rediss:// or unix://, got "http"`,
		`dedup.ttl: must be at least 72h0m0s`,
		`routes[0].name: must match`,
		`routes[0].path: must be a clean absolute path`,
		`routes[0].stripe.signing_secrets[0]: looks like a Stripe API key`,
		`routes[0].events[0]: "customer.subscription.created" is not a supported event type`,
		`routes[0].events[2]: "checkout.session.completed" is listed twice`,
		`routes[0].extract.user_id[1]: unknown source "email"`,
		`routes[0].extract.user_id_format: invalid regular expression`,
		`routes[0].extract.max_credits: must be between 1 and 2^53, got -1`,
		`routes[0].forward.url: must be an absolute http:// or https:// URL`,
		`routes[0].forward.signing_keys[0]: must be at least 16 characters`,
		`routes[0].forward.attempts: must be between 1 and 10, got 11`,
		`routes[0].forward.budget: must be between 1ns and 9s`,
		`dedup.lease: (2s) must be at least `,
		`routes[2].name: "second" is already used by routes[1]`,
		`routes[2].path: "/stripe/webhook" is already used by routes[1]`,
		`routes[1].stripe.signing_secrets: at least one signing secret`,
		`routes[1].forward.signing_keys: at least one forwarding key`,
		`routes[1].forward.url: must be an absolute http:// or https:// URL without credentials, got "http://REDACTED@backend/x"`,
	}
	for _, w := range want {
		if !strings.Contains(msg, w) {
			t.Errorf("missing problem %q", w)
		}
	}
	for _, leaked := range []string{"sk_test_123456789", "short", ":pw@"} {
		if strings.Contains(msg, leaked) {
			t.Errorf("problem list quotes a secret %q:\n%s", leaked, msg)
		}
	}
	if n := len(strings.Split(msg, "\n")); n < len(want) {
		t.Errorf("got %d problems, want at least %d:\n%s", n, len(want), msg)
	}
}

func TestUnknownKeysAreErrors(t *testing.T) {
	_, err := Load("testdata/unknown_key.yaml", env(nil))
	if err == nil {
		t.Fatal("unknown keys accepted")
	}
	for _, w := range []string{"field listne not found", "field livemod not found"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("missing %q in %v", w, err)
		}
	}
}

func TestSecretFiles(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("stripe", "# rotated 2026-11\nwhsec_new\n\nwhsec_old\n")
	write("keys", "0123456789abcdef-key-one\n")
	write("redis", "redis://:hunter2hunter2@127.0.0.1:6379/0\n")
	write("config.yaml", `
redis: {url_file: redis}
routes:
  - name: main
    stripe: {signing_secrets: [whsec_inline], signing_secrets_file: stripe}
    forward: {url: "http://b/c", signing_keys_file: keys}
`)
	cfg, err := Load(filepath.Join(dir, "config.yaml"), env(nil))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range cfg.Routes[0].Stripe.SigningSecrets {
		got = append(got, s.Reveal())
	}
	if strings.Join(got, ",") != "whsec_inline,whsec_new,whsec_old" {
		t.Errorf("signing secrets = %v", got)
	}
	if cfg.Routes[0].Forward.SigningKeys[0].Reveal() != "0123456789abcdef-key-one" {
		t.Error("forward key file not read")
	}
	if !cfg.Redis.Enabled() || cfg.Redis.URL.Reveal() != "redis://:hunter2hunter2@127.0.0.1:6379/0" {
		t.Error("redis url file not read")
	}

	write("config2.yaml", `
routes:
  - name: main
    stripe: {signing_secrets_file: missing}
    forward: {url: "http://b/c", signing_keys_file: keys}
`)
	_, err = Load(filepath.Join(dir, "config2.yaml"), env(nil))
	if err == nil || !strings.Contains(err.Error(), "routes[0].stripe.signing_secrets_file: cannot read secret file") {
		t.Fatalf("missing file: %v", err)
	}
}

func TestEnvExpansion(t *testing.T) {
	cases := []struct {
		name, in, want string
		env            map[string]string
		err            string
	}{
		{name: "plain", in: "a${X}b", want: "a1b", env: map[string]string{"X": "1"}},
		{name: "unset is empty", in: "${NOPE}", want: ""},
		{name: "default", in: "${NOPE:-dflt}", want: "dflt"},
		{name: "default not used", in: "${X:-dflt}", want: "v", env: map[string]string{"X": "v"}},
		{name: "escape", in: "$${X}", want: "${X}", env: map[string]string{"X": "v"}},
		{name: "dollar alone", in: "pa$$word$", want: "pa$$word$"},
		{name: "unterminated", in: "${X", err: "unterminated"},
		{name: "bad name", in: "${1X}", err: "invalid variable name"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := expand(c.in, env(c.env))
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("err = %v, want %q", err, c.err)
				}
				return
			}
			if err != nil || got != c.want {
				t.Fatalf("expand(%q) = %q, %v; want %q", c.in, got, err, c.want)
			}
		})
	}
}

// An environment value cannot inject YAML structure.
func TestEnvCannotInjectStructure(t *testing.T) {
	_, err := Parse([]byte(`
routes:
  - name: main
    stripe: {signing_secrets: ["${S}"]}
    forward: {url: "http://b/c", signing_keys: ["0123456789abcdef"]}
`), "", env(map[string]string{"S": "whsec_x\"]}\n    livemode: true\n#"}))
	// The value stays one string: the only problem is the newline inside it (which
	// would never match a signature), not a second key or a livemode: true.
	want := "routes[0].stripe.signing_secrets[0]: contains a control or invisible character"
	if err == nil || err.Error() != want {
		t.Fatalf("a secret with YAML characters must stay one string: err = %v, want %q", err, want)
	}
	cfg, _ := Parse([]byte(`
max_body_bytes: ${MAX}
routes:
  - name: main
    stripe: {signing_secrets: [whsec_x]}
    forward: {url: "http://b/c", signing_keys: ["0123456789abcdef"]}
`), "", env(map[string]string{"MAX": "2048"}))
	if cfg == nil || cfg.MaxBodyBytes != 2048 {
		t.Fatal("an unquoted ${VAR} must still decode as an integer")
	}
}

func TestNotYAML(t *testing.T) {
	for name, in := range map[string]string{"empty": "", "tabs": "a:\n\t- b", "list": "- a\n- b"} {
		if _, err := Parse([]byte(in), "", env(nil)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	_, err := Load("testdata/does-not-exist.yaml", env(nil))
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}
