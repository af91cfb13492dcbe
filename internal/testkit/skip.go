package testkit

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"testing"
)

// Skips are loud. A test that cannot run here (no Redis, no redis-server, no
// stripe-mock, no python3) calls Skip: under CI=true that fails the test, anywhere
// else it skips it and remembers why. Main, called from a package's TestMain, then
// prints one summary line per reason. `go test ./...` shows nothing of a passing
// package but its "ok" line, so the summary also goes straight to the terminal
// (/dev/tty) when there is one: the README's plain test command shows every skip.

var skipped struct {
	mu      sync.Mutex
	reasons map[string][]string // reason → test names
	order   []string
}

// Skip skips t with reason, or fails it when the environment variable CI is "true".
func Skip(t testing.TB, reason string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatal(reason + " (CI=true: a skip is a failure)")
		return
	}
	skipped.mu.Lock()
	if skipped.reasons == nil {
		skipped.reasons = map[string][]string{}
	}
	if _, ok := skipped.reasons[reason]; !ok {
		skipped.order = append(skipped.order, reason)
	}
	skipped.reasons[reason] = append(skipped.reasons[reason], t.Name())
	skipped.mu.Unlock()
	t.Skip(reason)
}

// Main runs the package's tests and reports every Skip: use it as
//
//	func TestMain(m *testing.M) { os.Exit(testkit.Main(m)) }
func Main(m *testing.M) int {
	code := m.Run()
	summary := SkipSummary()
	if summary == "" {
		return code
	}
	fmt.Fprint(os.Stderr, summary)
	if tty, err := os.OpenFile("/dev/tty", os.O_WRONLY, 0); err == nil {
		_, _ = io.WriteString(tty, summary)
		_ = tty.Close()
	}
	return code
}

// SkipSummary is the summary Main prints: one "SKIPPED:" line per reason with the
// number of tests and the first few names; "" when nothing was skipped.
func SkipSummary() string {
	skipped.mu.Lock()
	defer skipped.mu.Unlock()
	var b strings.Builder
	pkg := ""
	if len(os.Args) > 0 {
		pkg = strings.TrimSuffix(strings.TrimSuffix(baseName(os.Args[0]), ".test"), ".test.exe")
	}
	for _, r := range skipped.order {
		names := skipped.reasons[r]
		shown := names
		if len(shown) > 3 {
			shown = shown[:3]
		}
		more := ""
		if len(names) > len(shown) {
			more = fmt.Sprintf(", +%d more", len(names)-len(shown))
		}
		fmt.Fprintf(&b, "SKIPPED: %s: %d test(s) not run (%s%s): %s\n", pkg, len(names),
			strings.Join(shown, ", "), more, strings.Join(strings.Fields(r), " "))
	}
	return b.String()
}

func baseName(p string) string {
	if i := strings.LastIndexAny(p, `/\`); i >= 0 {
		return p[i+1:]
	}
	return p
}
