package cli_test

import (
	"strings"
	"testing"
)

// TestCheckConfigInvisibleSecretBytes: a secret that would fail silently once in use
// (every signature wrong) is refused; the problem names the field and what is wrong,
// never the value. (Lines of a *_file are trimmed of whitespace on load; a BOM is not
// whitespace.)
func TestCheckConfigInvisibleSecretBytes(t *testing.T) {
	goodKey := leakForwardKey
	tests := []struct {
		name    string
		vars    map[string]string
		files   map[string]string // secret files, name -> content
		problem string
	}{
		{"trailing newline from an env var", map[string]string{"STRIPE_WEBHOOK_SECRET": leakWebhookSecret + "\n", "CREDITGATE_FORWARD_KEY": goodKey},
			nil, "routes[0].stripe.signing_secrets[0]: has leading or trailing whitespace"},
		{"README placeholder", map[string]string{"STRIPE_WEBHOOK_SECRET": "whsec_...", "CREDITGATE_FORWARD_KEY": goodKey},
			nil, "routes[0].stripe.signing_secrets[0]: is a placeholder"},
		{"forward key changeme", map[string]string{"STRIPE_WEBHOOK_SECRET": leakWebhookSecret, "CREDITGATE_FORWARD_KEY": "changeme-changeme-LEAKCHECK"},
			nil, "routes[0].forward.signing_keys[0]: is a placeholder"},
		{"forward key with a tab", map[string]string{"STRIPE_WEBHOOK_SECRET": leakWebhookSecret, "CREDITGATE_FORWARD_KEY": goodKey + "\tx"},
			nil, "routes[0].forward.signing_keys[0]: contains a control or invisible character"},
		{"BOM in a secret file", nil, map[string]string{"whsec": "\uFEFF" + leakWebhookSecret + "\n", "fwd": goodKey + "\n"},
			"routes[0].stripe.signing_secrets[0]: contains a byte-order mark"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			cfg := writeFile(t, dir, "config.yaml", `
routes:
  - name: main
    stripe: {signing_secrets: ["${STRIPE_WEBHOOK_SECRET}"]}
    forward: {url: "https://backend/credits?token=LEAKCHECK", signing_keys: ["${CREDITGATE_FORWARD_KEY}"]}
`)
			if tt.files != nil {
				cfg = writeFile(t, dir, "config.yaml", `
routes:
  - name: main
    stripe: {signing_secrets_file: `+writeFile(t, dir, "whsec", tt.files["whsec"])+`}
    forward: {url: "https://backend/credits?token=LEAKCHECK", signing_keys_file: `+writeFile(t, dir, "fwd", tt.files["fwd"])+`}
`)
			}
			code, stdout, stderr := run(t, env(tt.vars), "check-config", "--config", cfg)
			if code != 1 || !strings.Contains(stderr, "  - "+tt.problem) {
				t.Errorf("check-config = %d, stderr\n%s\nwant 1 and a line %q", code, stderr, tt.problem)
			}
			assertNoLeak(t, stdout, stderr)
		})
	}
}

// TestCheckConfigHidesURLCredentials: a valid config's summary shows forward.url
// without its ?token= or user info.
func TestCheckConfigHidesURLCredentials(t *testing.T) {
	dir := t.TempDir()
	cfg := writeFile(t, dir, "config.yaml", `
routes:
  - name: main
    stripe: {signing_secrets: ["`+leakWebhookSecret+`"]}
    forward: {url: "https://LEAKCHECK:LEAKCHECK@backend/credits?token=LEAKCHECK", signing_keys: ["`+leakForwardKey+`"]}
`)
	code, stdout, stderr := run(t, nil, "check-config", "--config", cfg)
	if code != 1 { // user info in forward.url is refused, shown redacted
		t.Fatalf("check-config = %d, want 1 (credentials in forward.url)\n%s%s", code, stdout, stderr)
	}
	assertNoLeak(t, stdout, stderr)
	cfg = writeFile(t, dir, "config.yaml", `
routes:
  - name: main
    stripe: {signing_secrets: ["`+leakWebhookSecret+`"]}
    forward: {url: "https://backend/credits?token=LEAKCHECK", signing_keys: ["`+leakForwardKey+`"]}
`)
	code, stdout, stderr = run(t, nil, "check-config", "--config", cfg)
	if code != 0 || !strings.Contains(stdout, "-> https://backend/credits?REDACTED,") {
		t.Errorf("check-config = %d, stdout\n%s%s\nwant 0 and the URL shown as https://backend/credits?REDACTED", code, stdout, stderr)
	}
	assertNoLeak(t, stdout, stderr)
}
