package config

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// The examples listen on loopback unless the environment says otherwise.
func TestExamplesBindLoopback(t *testing.T) {
	base := map[string]string{"STRIPE_WEBHOOK_SECRET": "whsec_example", "CREDITGATE_FORWARD_KEY": "0123456789abcdef0123456789abcdef"}
	cfg, err := Load("../../examples/config.yaml", env(base))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Listen != "127.0.0.1:8080" || cfg.AdminListen != "127.0.0.1:9090" {
		t.Errorf("listen %q, admin_listen %q; want loopback by default", cfg.Listen, cfg.AdminListen)
	}
	base["CREDITGATE_LISTEN"], base["CREDITGATE_ADMIN_LISTEN"] = ":8080", ":9090"
	if cfg, err = Load("../../examples/config.yaml", env(base)); err != nil {
		t.Fatal(err)
	}
	if cfg.Listen != ":8080" || cfg.AdminListen != ":9090" {
		t.Errorf("with the overrides: listen %q, admin_listen %q", cfg.Listen, cfg.AdminListen)
	}
}

const filesConfig = `routes:
  - name: main
    stripe:
      signing_secrets_file: secrets/stripe
    forward:
      url: http://127.0.0.1:8000/credits
      signing_keys_file: /abs/forward-keys
`

// dead_letter.file is found like every *_file: relative to the config's folder.
func TestDeadLetterFileRelativeToConfig(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "secrets"), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, content := range map[string]string{
		"secrets/stripe": "whsec_files_0123456789\n",
		"forward-keys":   "0123456789abcdef0123456789abcdef\n",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for _, tt := range []struct{ yaml, want string }{
		{"", filepath.Join(dir, DefaultDeadLetterFile)},
		{"dead_letter: {file: data/dlq.jsonl}\n", filepath.Join(dir, "data/dlq.jsonl")},
		{"dead_letter: {file: /var/lib/dlq.jsonl}\n", "/var/lib/dlq.jsonl"},
	} {
		raw := tt.yaml + filesConfig
		raw = strings.Replace(raw, "/abs/forward-keys", filepath.Join(dir, "forward-keys"), 1)
		p := filepath.Join(dir, "config.yaml")
		if err := os.WriteFile(p, []byte(raw), 0o600); err != nil {
			t.Fatal(err)
		}
		cfg, err := Load(p, env(nil))
		if err != nil {
			t.Fatal(err)
		}
		if cfg.DeadLetter.File != tt.want {
			t.Errorf("dead_letter %q: file = %q, want %q", tt.yaml, cfg.DeadLetter.File, tt.want)
		}
		want := []string{p, filepath.Join(dir, "secrets/stripe"), filepath.Join(dir, "forward-keys")}
		if got := cfg.Files(p); !slices.Equal(got, want) {
			t.Errorf("Files = %v, want %v", got, want)
		}
	}
}
