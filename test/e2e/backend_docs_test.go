package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/creditgate/creditgate/internal/testkit"
)

// readmeSnippet returns the code block that follows `<!-- snippet: name -->` in the
// README, so the docs the backend team copies are the code this test runs.
func readmeSnippet(t *testing.T, name string) string {
	t.Helper()
	readme, err := os.ReadFile("../../README.md")
	must(t, err)
	re := regexp.MustCompile("(?s)<!-- snippet: " + regexp.QuoteMeta(name) + " -->\\s*```[a-z]*\\n(.*?)```")
	m := re.FindSubmatch(readme)
	if m == nil {
		t.Fatalf("README.md has no snippet %q", name)
	}
	return string(m[1])
}

// TestPythonStdlibVerificationFromReadme runs the README's stdlib-only Python verifier
// against a request creditgate really forwarded.
func TestPythonStdlibVerificationFromReadme(t *testing.T) {
	requireRedis(t)
	python, err := exec.LookPath("python3")
	if err != nil {
		testkit.Skip(t, "SKIPPED: python3 not installed; the README's Python snippet is untested here")
	}
	b := newBackend(t)
	p := startProxy(t, b, options{})
	evt, cs := newIDs()
	if a := p.deliver(withIDs(t, paidFixture, evt, cs)); a.Status != "forwarded" {
		t.Fatalf("delivery: %s", a.Status)
	}
	b.mu.Lock()
	body, header := b.bodies[0], b.headers[0].Get("Creditgate-Signature")
	b.mu.Unlock()

	dir := t.TempDir()
	script := readmeSnippet(t, "verify_stdlib.py") + `
import sys
body = open(sys.argv[1], "rb").read()
ok = verify_creditgate_signature(body, sys.argv[2], sys.argv[3].split(","))
print("valid" if ok else "invalid")
`
	must(t, os.WriteFile(filepath.Join(dir, "verify.py"), []byte(script), 0o600))
	must(t, os.WriteFile(filepath.Join(dir, "body.json"), body, 0o600))
	must(t, os.WriteFile(filepath.Join(dir, "tampered.json"), []byte(strings.Replace(string(body), `"credits":100`, `"credits":900`, 1)), 0o600))
	cases := []struct{ name, file, header, keys, want string }{
		{"real forwarded request", "body.json", header, forwardKey, "valid"},
		{"rotation: the right key among others", "body.json", header, "old-key-000000000000," + forwardKey, "valid"},
		{"tampered body", "tampered.json", header, forwardKey, "invalid"},
		{"wrong key", "body.json", header, "not-the-key-0000000000", "invalid"},
		{"garbage header", "body.json", "garbage", forwardKey, "invalid"},
		{"stale timestamp", "body.json", regexp.MustCompile(`t=\d+`).ReplaceAllString(header, "t=1000"), forwardKey, "invalid"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out, err := exec.Command(python, filepath.Join(dir, "verify.py"), filepath.Join(dir, c.file), c.header, c.keys).CombinedOutput()
			if err != nil {
				t.Fatalf("python: %v\n%s", err, out)
			}
			if got := strings.TrimSpace(string(out)); got != c.want {
				t.Fatalf("python says %q, want %q", got, c.want)
			}
		})
	}
}

// TestForwardedRequestShape checks docs/design.md §5 on a real forwarded request.
func TestForwardedRequestShape(t *testing.T) {
	requireRedis(t)
	b := newBackend(t)
	p := startProxy(t, b, options{})
	evt, cs := newIDs()
	if a := p.deliver(withIDs(t, paidFixture, evt, cs)); a.Status != "forwarded" {
		t.Fatalf("delivery: %s", a.Status)
	}
	b.mu.Lock()
	h := b.headers[0]
	body := string(b.bodies[0])
	b.mu.Unlock()
	if h.Get("Idempotency-Key") != cs {
		t.Errorf("Idempotency-Key = %q, want %q", h.Get("Idempotency-Key"), cs)
	}
	if !strings.HasPrefix(h.Get("User-Agent"), "creditgate/") {
		t.Errorf("User-Agent = %q", h.Get("User-Agent"))
	}
	if h.Get("Content-Type") != "application/json" {
		t.Errorf("Content-Type = %q", h.Get("Content-Type"))
	}
	for _, want := range []string{
		`"id":"` + cs + `"`, `"type":"credit.granted"`, `"user_id":"e747de39-1b54-4cd0-96eb-e68f155931e2"`,
		`"credits":100`, `"livemode":false`, `"occurred_at":"`, `"event_id":"` + evt + `"`,
		`"event_type":"checkout.session.completed"`, `"session_id":"` + cs + `"`, `"customer_id":"cus_M3gzndZNeqz1fB"`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("forwarded body lacks %s:\n%s", want, body)
		}
	}
}
