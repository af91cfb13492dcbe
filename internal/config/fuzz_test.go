package config

import (
	"os"
	"strings"
	"testing"
)

// FuzzParse feeds arbitrary bytes to the config loader: it must never panic, a
// returned Config must be valid, and a problem list must never quote the value of
// the recognisable secret the environment carries.
func FuzzParse(f *testing.F) {
	for _, p := range []string{"../../examples/config.yaml", "testdata/bad.yaml", "testdata/unknown_key.yaml"} {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte("routes: [{name: a, stripe: {signing_secrets: [\"${S}\"]}, forward: {url: \"http://b/c\", signing_keys: [\"${S}\"]}}]"))
	f.Add([]byte("listen: ${S}\nlog_level: ${S:-x}\n"))
	f.Add([]byte("&a [*a, *a]"))
	const leak = "whsec_FUZZLEAKCHECK0123456789"
	getenv := func(k string) string {
		if k == "S" {
			return leak
		}
		return ""
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		cfg, err := Parse(raw, t.TempDir(), getenv)
		if err != nil {
			if cfg != nil {
				t.Fatal("a Config came back with an error")
			}
			msg := err.Error()
			if strings.Contains(msg, leak) && !strings.Contains(string(raw), leak) {
				t.Fatalf("problem list quotes the secret from the environment: %s", msg)
			}
			return
		}
		if err := cfg.Validate(); err != nil {
			t.Fatalf("Parse returned a config that does not validate: %v", err)
		}
	})
}
