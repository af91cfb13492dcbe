package forward

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/creditgate/creditgate/internal/signature"
)

// Response bodies are read only this far, so a connection can be reused without letting
// a backend make creditgate read without end.
const (
	maxDrain   = 64 << 10 // bytes drained from any response
	maxRead    = 1 << 10  // bytes of an error response read for the snippet (scrubbed first)
	maxSnippet = 200      // bytes of an error response shown in the error message
)

// verdict classifies one attempt.
type verdict int

const (
	delivered   verdict = iota // 2xx or 409
	rejected                   // the request is wrong: park it
	transient                  // worth another attempt
	misdeployed                // the deployment is wrong: no attempt helps now, Stripe retries
)

// Parks are the backend answers that say the credit request itself is wrong, so that
// it is parked in the dead-letter list: 400 Bad Request, 410 Gone (say, the user was
// deleted), 413 Content Too Large and 422 Unprocessable Content. Every other 3xx and
// 4xx except 408, 409 and 429 is an ErrDeployment.
var Parks = []int{http.StatusBadRequest, http.StatusGone, http.StatusRequestEntityTooLarge, http.StatusUnprocessableEntity}

// attempt is what one request to the backend came to.
type attempt struct {
	status     int
	verdict    verdict
	cause      error         // transport error or context error; nil when an answer arrived
	snippet    string        // sanitized start of an error response body
	retryAfter time.Duration // from a Retry-After header on 429 or 503
	hasRetry   bool
}

// Send delivers r to the backend: it marshals r once and makes up to Options.Attempts
// attempts, each signed afresh with the current time (as Stripe re-signs every delivery,
// so a late retry is never stale at the backend's tolerance check), each bounded by
// Options.Timeout and all of them, waits included, by Options.Budget and ctx.
//
// Between attempts Send waits with exponential backoff and full jitter, or, on a 429 or
// 503 carrying Retry-After, as long as the backend asked. When that wait would not fit
// into what is left of the budget, Send stops at once rather than sleep into a
// certain failure.
//
// It returns a nil error for 2xx and 409 (Result.AlreadyCredited), an error wrapping
// ErrRejected for permanent problems and one wrapping ErrUnavailable for the rest,
// including a ctx that ends (then errors.Is also matches ctx's error). Result is filled
// in either case.
func (c *Client) Send(ctx context.Context, r Request) (Result, error) {
	start := time.Now()
	var res Result
	done := func(err error) (Result, error) {
		res.Duration = time.Since(start)
		return res, err
	}
	if err := r.Validate(); err != nil {
		return done(err)
	}
	// The bytes of json.Marshal(r), made once (see Request.marshal).
	body, err := r.marshal()
	if err != nil { // cannot happen for this type; stay safe if it ever changes
		return done(invalid("marshal: %v", err))
	}

	// The budget's context is made on the first retry: the first attempt, which is
	// nearly always the last, needs only its own deadline (try).
	end := start.Add(c.budget)
	bud := &budget{parent: ctx, end: end}
	defer bud.release()
	for n := 1; ; n++ {
		res.Attempts = n
		t0 := time.Now()
		a := c.try(ctx, end, r.ID, body)
		res.Status = a.status

		var wait time.Duration
		var stop error
		switch a.verdict {
		case delivered:
			res.AlreadyCredited = a.status == http.StatusConflict
		case rejected:
			stop = fmt.Errorf("%w: %s", ErrRejected, a.describe(n))
		case misdeployed:
			stop = fmt.Errorf("%w: %w: %s", ErrUnavailable, ErrDeployment, a.describe(n))
		case transient:
			wait, stop = c.next(ctx, bud.context(), n, a)
		}
		c.logAttempt(ctx, r.ID, n, a, time.Since(t0), wait, stop)
		if a.verdict == delivered || stop != nil {
			return done(stop)
		}
		if !sleep(bud.context(), wait) {
			if ctx.Err() != nil {
				return done(fmt.Errorf("%w: stopped after %s: %w", ErrUnavailable, plural(n), context.Cause(ctx)))
			}
			return done(fmt.Errorf("%w: retry budget %s spent after %s, last: %s", ErrUnavailable, c.budget, plural(n), a.describe(n)))
		}
	}
}

// budget is Send's retry budget (forward.budget) as a context, made on first use.
type budget struct {
	parent context.Context
	end    time.Time
	ctx    context.Context
	stop   context.CancelFunc
}

func (b *budget) context() context.Context {
	if b.ctx == nil {
		b.ctx, b.stop = context.WithDeadline(b.parent, b.end)
	}
	return b.ctx
}

func (b *budget) release() {
	if b.stop != nil {
		b.stop()
	}
}

// next decides, after a transient failure of attempt n, how long to wait before the next
// attempt, or returns the error that ends Send.
func (c *Client) next(ctx, bctx context.Context, n int, a attempt) (time.Duration, error) {
	switch {
	case ctx.Err() != nil:
		return 0, fmt.Errorf("%w: stopped after %s: %w", ErrUnavailable, plural(n), context.Cause(ctx))
	case bctx.Err() != nil:
		return 0, fmt.Errorf("%w: retry budget %s spent after %s, last: %s", ErrUnavailable, c.budget, plural(n), a.describe(n))
	case n >= c.attempts:
		return 0, fmt.Errorf("%w: %s after %s", ErrUnavailable, a.describe(n), plural(n))
	}
	wait := c.backoffFor(n)
	if a.hasRetry {
		wait = a.retryAfter
	}
	if deadline, ok := bctx.Deadline(); ok && time.Until(deadline) <= wait {
		why := "the retry budget"
		if a.hasRetry {
			why = fmt.Sprintf("Retry-After %s exceeds the retry budget", wait)
		}
		return 0, fmt.Errorf("%w: %s after %s; %s has no room for another attempt", ErrUnavailable, a.describe(n), plural(n), why)
	}
	return wait, nil
}

// try makes one attempt within forward.timeout and before end, the budget's end. ctx is
// the caller's.
func (c *Client) try(ctx context.Context, end time.Time, id string, body []byte) attempt {
	deadline := time.Now().Add(c.timeout)
	own := deadline.Before(end) // the attempt's own timeout comes first
	if !own {
		deadline = end
	}
	actx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	req, err := http.NewRequestWithContext(actx, http.MethodPost, c.url, bytes.NewReader(body))
	if err != nil { // the URL was checked by New; nothing else fails here
		return attempt{verdict: rejected, cause: err}
	}
	if c.inject != nil {
		c.inject(ctx, req.Header)
	}
	h := req.Header
	h["Content-Type"] = contentTypeJSON
	h["User-Agent"] = c.userAgent
	h[HeaderIdempotency] = []string{id}
	h[HeaderSignature] = []string{signature.Sign(body, c.keys, c.now())}

	resp, err := c.hc.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // url.Error repeats the URL, which may carry credentials
		}
		if actx.Err() != nil && own && ctx.Err() == nil {
			err = fmt.Errorf("timeout after %s: %w", c.timeout, err)
		}
		return attempt{verdict: transient, cause: err}
	}
	defer resp.Body.Close()

	a := attempt{status: resp.StatusCode, verdict: classify(resp.StatusCode)}
	if a.verdict != delivered {
		buf := make([]byte, maxRead)
		k, _ := io.ReadFull(resp.Body, buf)
		a.snippet = sanitize(scrub(buf[:k], body, c.hidden...))
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxDrain))
	if a.status == http.StatusTooManyRequests || a.status == http.StatusServiceUnavailable {
		a.retryAfter, a.hasRetry = parseRetryAfter(resp.Header.Get("Retry-After"), time.Now())
	}
	return a
}

var contentTypeJSON = []string{"application/json"}

// classify maps a status code to a verdict (the README's table of backend answers).
// Codes outside 200..599 are treated as transient: not understood, so not a reason to
// give the credit up.
func classify(status int) verdict {
	switch {
	case status >= 200 && status < 300, status == http.StatusConflict:
		return delivered
	case status == http.StatusRequestTimeout, status == http.StatusTooManyRequests:
		return transient
	case slices.Contains(Parks, status):
		return rejected
	case status >= 300 && status < 500:
		return misdeployed
	default:
		return transient
	}
}

// describe says what attempt n came to, for an error message.
func (a attempt) describe(n int) string {
	switch {
	case a.cause != nil:
		return a.cause.Error()
	case a.status >= 300 && a.status < 400:
		return fmt.Sprintf("HTTP %d on attempt %d (redirects are not followed; point the url at the final address)", a.status, n)
	case a.verdict == misdeployed && a.snippet != "":
		return fmt.Sprintf("HTTP %d on attempt %d (check forward.url and the forwarding keys on both sides): %q", a.status, n, a.snippet)
	case a.verdict == misdeployed:
		return fmt.Sprintf("HTTP %d on attempt %d (check forward.url and the forwarding keys on both sides)", a.status, n)
	case a.snippet != "":
		return fmt.Sprintf("HTTP %d on attempt %d: %q", a.status, n, a.snippet)
	default:
		return fmt.Sprintf("HTTP %d on attempt %d", a.status, n)
	}
}

func (c *Client) logAttempt(ctx context.Context, id string, n int, a attempt, took, wait time.Duration, stop error) {
	if !c.log.Enabled(ctx, slog.LevelDebug) {
		return
	}
	attrs := []slog.Attr{
		slog.String("id", id),
		slog.Int("attempt", n),
		slog.Int("status", a.status),
		slog.Float64("duration_seconds", took.Seconds()),
	}
	if a.cause != nil {
		attrs = append(attrs, slog.String("error", a.cause.Error()))
	}
	if stop == nil && a.verdict == transient {
		attrs = append(attrs, slog.Float64("retry_in_seconds", wait.Seconds()))
	}
	c.log.LogAttrs(ctx, slog.LevelDebug, "forward attempt", attrs...)
}

func plural(n int) string {
	if n == 1 {
		return "1 attempt"
	}
	return fmt.Sprintf("%d attempts", n)
}
