package server

import (
	"strings"
	"sync"
	"time"

	"github.com/creditgate/creditgate/internal/outcome"
	"github.com/creditgate/creditgate/internal/pipeline"
)

// Bounds of what a request can make creditgate log (docs/security.md).
const (
	// maxLogged bounds every attacker-controlled value in a log line: method, ids,
	// event type, API version. Stripe's ids are up to 255 characters (a Checkout
	// Session's are 66 today): cut shorter, the line would not name the session.
	maxLogged = 255
	// maxDetail bounds the operator message, which may quote a backend's answer.
	maxDetail = 512
	// UnauthenticatedLogsPerSecond is how many lines a second requests that never
	// proved they came from Stripe (unknown path, wrong method, bad signature, too
	// large, overloaded) may write, all routes together. The rest are counted in
	// metrics only, and the next line written says how many were left out.
	UnauthenticatedLogsPerSecond = 10
)

// LogSuppressed is the key of the canonical line that says how many unauthenticated
// lines were left out before it.
const LogSuppressed = "suppressed_lines"

// clip cuts s to at most n bytes (on a character boundary) and marks the cut with "…".
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "") + "…"
}

// unauthenticated reports whether an outcome came before, or without, a valid
// signature: anybody on the internet can cause it at any rate.
func unauthenticated(o pipeline.Outcome) bool {
	switch o.Result {
	case outcome.NotFound, outcome.MethodNotAllowed, outcome.InvalidSignature,
		outcome.TooLarge, outcome.Overloaded:
		return true
	case outcome.MalformedEvent:
		return o.Reason == outcome.ReasonRead
	}
	return false
}

// logLimiter lets through at most perSecond lines in each wall-clock second.
type logLimiter struct {
	perSecond int

	mu      sync.Mutex
	second  int64
	used    int
	dropped int
}

// allow reports whether a line may be written now and, if so, how many were left out
// since the last one written.
func (l *logLimiter) allow(now time.Time) (ok bool, dropped int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if s := now.Unix(); s != l.second {
		l.second, l.used = s, 0
	}
	if l.used >= l.perSecond {
		l.dropped++
		return false, 0
	}
	l.used++
	dropped, l.dropped = l.dropped, 0
	return true, dropped
}
