package forward

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/creditgate/creditgate/internal/secret"
)

// Defaults for the zero values of Options. Timeout and Budget keep the answer to Stripe
// well under its 10 s delivery timeout even when every attempt fails slowly.
const (
	DefaultTimeout    = 5 * time.Second        // one attempt
	DefaultAttempts   = 3                      // attempts per Send, the first included
	DefaultBudget     = 8 * time.Second        // all attempts and the waits between them
	DefaultBackoff    = 100 * time.Millisecond // first retry waits up to this (full jitter)
	DefaultMaxBackoff = 2 * time.Second        // no wait between attempts exceeds this
)

// Header names of the forwarded request.
const (
	// HeaderSignature carries "t=<unix>,v1=<hex>[,v1=...]", Stripe's scheme.
	HeaderSignature = "Creditgate-Signature"
	// HeaderIdempotency carries Request.ID; the backend credits each value once.
	HeaderIdempotency = "Idempotency-Key"
)

// Errors. Send's errors wrap exactly one of ErrRejected and ErrUnavailable; test them
// with errors.Is.
var (
	// ErrRejected is permanent: the backend said the request itself is wrong (400, 410,
	// 413 or 422; see [Parks]), or the Request was invalid. Retrying will not help;
	// dead-letter it.
	ErrRejected = errors.New("backend rejected the credit")
	// ErrUnavailable is transient: 5xx, 408, 429, timeouts and connection errors that
	// lasted the whole retry budget, a deployment fault (ErrDeployment), or the
	// caller's context ended. Answer Stripe 503.
	ErrUnavailable = errors.New("backend unavailable")
	// ErrDeployment is a fault of the deployment, not of the purchase: a 3xx, 401,
	// 403, 404 or any other 4xx that is not in [Parks] (and not 408, 409 or 429) —
	// the forwarding key rotated on one side only, the endpoint not deployed yet, a
	// URL that redirects. Every purchase would fail alike, so it is not worth a
	// second attempt now, nor parking: errors with it also wrap ErrUnavailable, and
	// Stripe redelivers until the deployment is fixed.
	ErrDeployment = errors.New("backend deployment fault")
	// ErrInvalid marks a Request that failed Validate and was never sent. Such errors
	// also match ErrRejected.
	ErrInvalid = errors.New("invalid credit request")
)

// Options configure a Client. Only URL and Keys are required; zero values of the rest
// take the Default* constants.
type Options struct {
	// URL is the backend's credit endpoint: absolute http or https, without user:password
	// (the signature authenticates creditgate) and without a #fragment.
	URL string
	// Keys sign the request. Every key contributes one v1 value to the
	// Creditgate-Signature header, in this order, so a backend holding either the old or
	// the new key verifies it during a rotation. At least one, none empty.
	Keys []secret.Secret
	// Timeout bounds one attempt, from dialing to the end of the response body. It is
	// further cut to what is left of Budget. Zero means DefaultTimeout.
	Timeout time.Duration
	// Attempts is the most attempts one Send makes. Zero means DefaultAttempts; 1 turns
	// retries off.
	Attempts int
	// Budget bounds the whole Send: all attempts and the waits between them. Zero means
	// DefaultBudget.
	Budget time.Duration
	// Backoff is the base of the exponential backoff: retry n waits a random duration in
	// [0, min(MaxBackoff, Backoff·2^(n-1))] ("full jitter"). Zero means DefaultBackoff.
	Backoff time.Duration
	// MaxBackoff caps one wait. Zero means DefaultMaxBackoff.
	MaxBackoff time.Duration
	// UserAgent is sent as User-Agent, e.g. "creditgate/1.2.3". Empty means "creditgate".
	UserAgent string
	// Client sends the requests; share one between routes for keep-alive. Nil means
	// NewHTTPClient(). Whatever its CheckRedirect, the Client never follows redirects.
	Client *http.Client
	// Now is the clock for signature timestamps. Nil means time.Now.
	Now func() time.Time
	// Logger gets one debug record per attempt (id, attempt, status, duration, error,
	// wait). Nil discards.
	Logger *slog.Logger
	// Inject, when set, is called for every attempt with the caller's context and the
	// outgoing headers, e.g. to add a W3C traceparent. It must not touch the headers
	// creditgate sets.
	Inject func(ctx context.Context, h http.Header)
}

// Client forwards credits to one backend URL. It is safe for concurrent use.
type Client struct {
	url        string
	keys       []secret.Secret
	timeout    time.Duration
	attempts   int
	budget     time.Duration
	backoff    time.Duration
	maxBackoff time.Duration
	userAgent  []string
	hc         *http.Client
	now        func() time.Time
	log        *slog.Logger
	inject     func(context.Context, http.Header)
	hidden     [][]byte // the URL's query and its values: scrubbed from answers
}

// Result describes a finished Send, successful or not.
type Result struct {
	// Status is the HTTP status of the last answer; 0 if no answer arrived.
	Status int
	// Attempts is how many requests were started (0 if the Request was invalid).
	Attempts int
	// AlreadyCredited is true when the backend answered 409: it had credited this ID.
	AlreadyCredited bool
	// Duration is the wall time of the whole Send.
	Duration time.Duration
}

// New checks o and returns a Client. It returns every problem found, joined.
func New(o Options) (*Client, error) {
	var errs []error
	if err := CheckURL(o.URL); err != nil {
		errs = append(errs, err)
	}
	if len(o.Keys) == 0 {
		errs = append(errs, errors.New("forward: at least one signing key is required"))
	}
	for i, k := range o.Keys {
		if k.IsZero() {
			errs = append(errs, fmt.Errorf("forward: signing key %d is empty", i+1))
		}
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"timeout", o.Timeout}, {"budget", o.Budget}, {"backoff", o.Backoff}, {"max_backoff", o.MaxBackoff}} {
		if d.v < 0 {
			errs = append(errs, fmt.Errorf("forward: %s must not be negative, got %s", d.name, d.v))
		}
	}
	if o.Attempts < 0 {
		errs = append(errs, fmt.Errorf("forward: attempts must not be negative, got %d", o.Attempts))
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	u, _ := url.Parse(o.URL) // CheckURL parsed it

	c := &Client{
		url:        o.URL,
		keys:       slices.Clone(o.Keys),
		timeout:    orDefault(o.Timeout, DefaultTimeout),
		attempts:   orDefault(o.Attempts, DefaultAttempts),
		budget:     orDefault(o.Budget, DefaultBudget),
		backoff:    orDefault(o.Backoff, DefaultBackoff),
		maxBackoff: orDefault(o.MaxBackoff, DefaultMaxBackoff),
		userAgent:  []string{orDefault(o.UserAgent, "creditgate")},
		now:        o.Now,
		log:        o.Logger,
		inject:     o.Inject,
		hidden:     queryParts(u),
	}
	if c.now == nil {
		c.now = time.Now
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	hc := o.Client
	if hc == nil {
		hc = NewHTTPClient()
	}
	noFollow := *hc // a shallow copy shares the Transport, so keep-alive is shared too
	noFollow.CheckRedirect = refuseRedirect
	c.hc = &noFollow
	return c, nil
}

// ErrURLFragment is CheckURL's error for a URL with a #fragment.
var ErrURLFragment = errors.New("forward: url must not have a #fragment")

// CheckURL reports why raw cannot be the backend's URL, or nil. It must be absolute
// http or https with a host, without user:password (the signature authenticates
// creditgate) and without a #fragment (never sent). New and the config's validation
// both use it, so a URL the config accepts is one New accepts. No error quotes raw: a
// URL may carry credentials.
func CheckURL(raw string) error {
	u, err := url.Parse(raw)
	switch {
	case raw == "":
		return errors.New("forward: url is empty")
	case err != nil:
		return errors.New("forward: url does not parse") // the parse error may echo credentials
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Errorf("forward: url scheme must be http or https, got %q", u.Scheme)
	case u.Host == "":
		return errors.New("forward: url has no host")
	case u.User != nil:
		return errors.New("forward: url must not carry credentials; the signature authenticates creditgate")
	case u.Fragment != "":
		return ErrURLFragment
	}
	return nil
}

func orDefault[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}
