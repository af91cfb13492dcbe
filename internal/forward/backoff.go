package forward

import (
	"context"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// backoffFor returns the wait after failed attempt n (1-based): a uniformly random
// duration in [0, min(maxBackoff, backoff·2^(n-1))], "full jitter", so replicas retrying
// the same backend spread out instead of arriving together.
func (c *Client) backoffFor(n int) time.Duration {
	ceiling := c.maxBackoff
	if n <= 32 {
		if d := c.backoff << (n - 1); d > 0 && d < ceiling {
			ceiling = d
		}
	}
	return rand.N(ceiling + 1)
}

// maxRetryAfter bounds a parsed Retry-After, so arithmetic on it cannot overflow. Any
// value this large exceeds every sensible budget anyway.
const maxRetryAfter = 24 * time.Hour

// parseRetryAfter reads a Retry-After header: delay-seconds, or an HTTP-date relative
// to now (a date in the past means no wait). ok is false when the header is absent or
// unreadable; then the normal backoff applies.
func parseRetryAfter(v string, now time.Time) (d time.Duration, ok bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.ParseUint(v, 10, 64); err == nil {
		if secs > uint64(maxRetryAfter/time.Second) {
			return maxRetryAfter, true
		}
		return time.Duration(secs) * time.Second, true
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	return min(max(t.Sub(now), 0), maxRetryAfter), true
}

// sleep waits d, or until ctx ends; it reports whether the full wait happened.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// sanitize turns the start of a response body into one short line for an error message:
// invalid UTF-8, unprintable runes and whitespace runs collapsed to one space,
// cut to maxSnippet bytes on a rune boundary.
func sanitize(b []byte) string {
	var sb strings.Builder
	space := false
	for len(b) > 0 {
		r, size := utf8.DecodeRune(b)
		b = b[size:]
		// Invalid UTF-8 and unprintable runes count as a space, so that they cannot
		// join what scrub kept apart (two halves of a hex run).
		if (r == utf8.RuneError && size <= 1) || unicode.IsSpace(r) || !unicode.IsPrint(r) {
			space = sb.Len() > 0
			continue
		}
		need := utf8.RuneLen(r)
		if space {
			need++
		}
		if sb.Len()+need > maxSnippet {
			break
		}
		if space {
			sb.WriteByte(' ')
			space = false
		}
		sb.WriteRune(r)
	}
	return sb.String()
}
