// Package stripemock starts stripe-mock (github.com/stripe/stripe-mock, installed with
// `go install github.com/stripe/stripe-mock@v0.203.0`) on a free port for a test.
// Without the binary the test is skipped with a loud SKIPPED line, except under
// CI=true, where it fails: CI must install it.
package stripemock

import (
	"bytes"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/creditgate/creditgate/internal/testkit"
)

// Key is a test-mode secret key that stripe-mock accepts (it accepts any sk_test_...).
const Key = "sk_test_123"

// Binary finds stripe-mock: $STRIPE_MOCK, then $PATH, then $(go env GOPATH)/bin.
func Binary() (string, bool) {
	if p := os.Getenv("STRIPE_MOCK"); p != "" {
		return p, true
	}
	if p, err := exec.LookPath("stripe-mock"); err == nil {
		return p, true
	}
	var dirs []string
	if gp := os.Getenv("GOPATH"); gp != "" {
		dirs = append(dirs, filepath.Join(gp, "bin"))
	}
	if out, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
		dirs = append(dirs, filepath.Join(string(bytes.TrimSpace(out)), "bin"))
	}
	if home, err := os.UserHomeDir(); err == nil {
		dirs = append(dirs, filepath.Join(home, "go", "bin"))
	}
	for _, d := range dirs {
		p := filepath.Join(d, "stripe-mock")
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
			return p, true
		}
	}
	return "", false
}

// Start runs stripe-mock on a free loopback port for the test's lifetime and returns
// its base URL (http://127.0.0.1:PORT).
func Start(t testing.TB) string {
	t.Helper()
	bin, ok := Binary()
	if !ok {
		testkit.Skip(t, "SKIPPED: stripe-mock not found (go install github.com/stripe/stripe-mock@v0.203.0); Stripe API tests need it")
	}
	addr := testkit.FreeAddr(t)
	_, port, _ := net.SplitHostPort(addr)
	var out testkit.SyncBuffer
	cmd := exec.Command(bin, "-http-port", port)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start stripe-mock: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	base := "http://" + addr
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(base + "/v1/customers/cus_probe")
		if err == nil {
			resp.Body.Close()
			return base
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("stripe-mock did not answer on %s within 20s:\n%s", base, out.String())
	return ""
}
