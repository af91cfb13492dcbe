package cli_test

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/creditgate/creditgate/internal/cli"
	"github.com/creditgate/creditgate/internal/testkit"
)

// env returns a getenv over vars; everything else is unset (never the process env).
func env(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

// run runs one creditgate command like main does and returns its exit code and output.
func run(t *testing.T, getenv func(string) string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	return runCtx(t.Context(), getenv, args...)
}

func runCtx(ctx context.Context, getenv func(string) string, args ...string) (code int, stdout, stderr string) {
	if getenv == nil {
		getenv = env(nil)
	}
	var out, errOut bytes.Buffer
	code = cli.Main(ctx, append([]string{"creditgate"}, args...), getenv, strings.NewReader(""), &out, &errOut)
	return code, out.String(), errOut.String()
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// waitHealthy polls /healthz until it answers 200; serveDone reports an early exit,
// which goes back on the channel for the cleanup that waits for serve to end.
func waitHealthy(t *testing.T, admin string, serveDone chan error, logs *testkit.SyncBuffer) {
	t.Helper()
	c := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-serveDone:
			serveDone <- err
			t.Fatalf("serve exited during start: %v\n%s", err, logs.String())
		default:
		}
		resp, err := c.Get("http://" + admin + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("serve not healthy after 15s\n%s", logs.String())
}

// lines splits output into lines without the trailing empty one.
func lines(s string) []string {
	s = strings.TrimRight(s, "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}
