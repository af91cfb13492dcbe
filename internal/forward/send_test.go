package forward

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// class names the three outcomes of Send.
type class int

const (
	ok class = iota
	rejectedClass
	unavailableClass
	deploymentClass
)

func (c class) String() string {
	return [...]string{"ok", "ErrRejected", "ErrUnavailable", "ErrUnavailable+ErrDeployment"}[c]
}

func classOf(err error) class {
	switch {
	case err == nil:
		return ok
	case errors.Is(err, ErrRejected) && !errors.Is(err, ErrUnavailable):
		return rejectedClass
	case errors.Is(err, ErrDeployment) && errors.Is(err, ErrUnavailable) && !errors.Is(err, ErrRejected):
		return deploymentClass
	case errors.Is(err, ErrUnavailable) && !errors.Is(err, ErrRejected):
		return unavailableClass
	}
	return -1
}

func TestSendStatusOutcomes(t *testing.T) {
	tests := []struct {
		status   int
		want     class
		attempts int
		already  bool
	}{
		{200, ok, 1, false},
		{201, ok, 1, false},
		{202, ok, 1, false},
		{204, ok, 1, false},
		{409, ok, 1, true},
		// The request itself is wrong: park.
		{400, rejectedClass, 1, false},
		{410, rejectedClass, 1, false},
		{413, rejectedClass, 1, false},
		{422, rejectedClass, 1, false},
		// The deployment is wrong: Stripe retries, no second attempt now.
		{401, deploymentClass, 1, false},
		{402, deploymentClass, 1, false},
		{403, deploymentClass, 1, false},
		{404, deploymentClass, 1, false},
		{405, deploymentClass, 1, false},
		{415, deploymentClass, 1, false},
		{418, deploymentClass, 1, false},
		{301, deploymentClass, 1, false},
		{302, deploymentClass, 1, false},
		{303, deploymentClass, 1, false},
		{307, deploymentClass, 1, false},
		{308, deploymentClass, 1, false},
		{408, unavailableClass, 3, false},
		{429, unavailableClass, 3, false},
		{500, unavailableClass, 3, false},
		{501, unavailableClass, 3, false},
		{502, unavailableClass, 3, false},
		{503, unavailableClass, 3, false},
		{504, unavailableClass, 3, false},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.status), func(t *testing.T) {
			var elsewhere atomic.Int64
			b := newBackend(t, func(_ int, w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/elsewhere" {
					elsewhere.Add(1)
					return
				}
				if tt.status >= 300 && tt.status < 400 {
					w.Header().Set("Location", "/elsewhere")
				}
				w.WriteHeader(tt.status)
			})
			c := newClient(t, fastOptions(b.URL+"/credits"))
			res, err := c.Send(context.Background(), sampleRequest())
			if got := classOf(err); got != tt.want {
				t.Fatalf("error class = %v (%v), want %v", got, err, tt.want)
			}
			if res.Status != tt.status || res.Attempts != tt.attempts || res.AlreadyCredited != tt.already {
				t.Errorf("Result = %+v, want Status=%d Attempts=%d AlreadyCredited=%v", res, tt.status, tt.attempts, tt.already)
			}
			if got := b.hits.Load(); got != int64(tt.attempts) {
				t.Errorf("backend saw %d requests, want %d", got, tt.attempts)
			}
			if elsewhere.Load() != 0 {
				t.Errorf("a redirect was followed")
			}
			if err != nil && !strings.Contains(err.Error(), fmt.Sprintf("HTTP %d", tt.status)) {
				t.Errorf("error %q does not name the HTTP status", err)
			}
		})
	}
}

func TestSendTransportFailures(t *testing.T) {
	refused := func(t *testing.T) string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		return "http://" + addr + "/credits"
	}
	served := func(fn func(int, http.ResponseWriter, *http.Request)) func(*testing.T) string {
		return func(t *testing.T) string { return newBackend(t, fn).URL + "/credits" }
	}
	tests := []struct {
		name    string
		url     func(*testing.T) string
		timeout time.Duration
		want    string // in the error message; alternatives separated by |
	}{
		{"timeout", served(blockUntilDone), 50 * time.Millisecond, "timeout after 50ms"},
		{"connection reset", served(func(_ int, w http.ResponseWriter, _ *http.Request) {
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				conn.Close()
			}
		}), time.Second, "EOF|reset"},
		{"connection refused", refused, time.Second, "refused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := fastOptions(tt.url(t))
			o.Timeout = tt.timeout
			res, err := newClient(t, o).Send(context.Background(), sampleRequest())
			if classOf(err) != unavailableClass {
				t.Fatalf("err = %v, want ErrUnavailable", err)
			}
			if res.Attempts != 3 || res.Status != 0 {
				t.Errorf("Result = %+v, want 3 attempts and no status", res)
			}
			if !slices.ContainsFunc(strings.Split(tt.want, "|"), func(w string) bool { return strings.Contains(err.Error(), w) }) {
				t.Errorf("error %q does not mention %q", err, tt.want)
			}
		})
	}
}

func TestSendRetriesThenSucceeds(t *testing.T) {
	b := newBackend(t, func(n int, w http.ResponseWriter, _ *http.Request) {
		if n == 1 {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	res, err := newClient(t, fastOptions(b.URL)).Send(context.Background(), sampleRequest())
	if err != nil {
		t.Fatal(err)
	}
	if res.Attempts != 2 || res.Status != 200 || res.AlreadyCredited {
		t.Errorf("Result = %+v, want 2 attempts ending in 200", res)
	}
}

func TestSendMakesExactlyAttempts(t *testing.T) {
	for _, attempts := range []int{1, 2, 5} {
		b := newBackend(t, status(http.StatusServiceUnavailable))
		o := fastOptions(b.URL)
		o.Attempts = attempts
		res, err := newClient(t, o).Send(context.Background(), sampleRequest())
		if classOf(err) != unavailableClass {
			t.Fatalf("attempts=%d: err = %v", attempts, err)
		}
		if res.Attempts != attempts || b.hits.Load() != int64(attempts) {
			t.Errorf("attempts=%d: Result.Attempts=%d, backend saw %d", attempts, res.Attempts, b.hits.Load())
		}
	}
}

func TestSendHonoursRetryAfter(t *testing.T) {
	for _, code := range []int{http.StatusTooManyRequests, http.StatusServiceUnavailable} {
		t.Run(http.StatusText(code), func(t *testing.T) {
			b := newBackend(t, func(n int, w http.ResponseWriter, _ *http.Request) {
				if n == 1 {
					w.Header().Set("Retry-After", "1")
					w.WriteHeader(code)
					return
				}
				w.WriteHeader(http.StatusCreated)
			})
			res, err := newClient(t, fastOptions(b.URL)).Send(context.Background(), sampleRequest())
			if err != nil || res.Attempts != 2 {
				t.Fatalf("Send = %+v, %v; want success on attempt 2", res, err)
			}
			reqs := b.requests()
			if gap := reqs[1].at.Sub(reqs[0].at); gap < 900*time.Millisecond {
				t.Errorf("second attempt came %s after the first, want about 1s (Retry-After: 1)", gap)
			}
		})
	}
}

func TestSendStopsWhenRetryAfterExceedsBudget(t *testing.T) {
	b := newBackend(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Retry-After", "30")
		w.WriteHeader(http.StatusTooManyRequests)
	})
	o := fastOptions(b.URL)
	o.Budget = 2 * time.Second
	start := time.Now()
	res, err := newClient(t, o).Send(context.Background(), sampleRequest())
	if classOf(err) != unavailableClass || !strings.Contains(err.Error(), "Retry-After 30s") {
		t.Fatalf("err = %v, want ErrUnavailable naming Retry-After", err)
	}
	if res.Attempts != 1 {
		t.Errorf("Attempts = %d, want 1: no point waiting 30s in a 2s budget", res.Attempts)
	}
	if took := time.Since(start); took > time.Second {
		t.Errorf("Send took %s, want an immediate answer", took)
	}
}

func TestSendRespectsBudget(t *testing.T) {
	t.Run("slow answers", func(t *testing.T) {
		b := newBackend(t, func(_ int, w http.ResponseWriter, r *http.Request) {
			select {
			case <-r.Context().Done():
			case <-time.After(150 * time.Millisecond):
				w.WriteHeader(http.StatusBadGateway)
			}
		})
		o := fastOptions(b.URL)
		o.Attempts = 100
		o.Budget = 500 * time.Millisecond
		start := time.Now()
		res, err := newClient(t, o).Send(context.Background(), sampleRequest())
		took := time.Since(start)
		if classOf(err) != unavailableClass || !strings.Contains(err.Error(), "budget") {
			t.Fatalf("err = %v, want ErrUnavailable about the budget", err)
		}
		if res.Attempts < 2 || res.Attempts > 4 {
			t.Errorf("Attempts = %d, want the 3 or so that fit 500ms of 150ms answers", res.Attempts)
		}
		if took > o.Budget+time.Second {
			t.Errorf("Send took %s, budget %s", took, o.Budget)
		}
	})
	t.Run("hung backend", func(t *testing.T) {
		b := newBackend(t, blockUntilDone)
		o := fastOptions(b.URL)
		o.Timeout = time.Minute // the budget, not the attempt timeout, must end it
		o.Budget = 200 * time.Millisecond
		start := time.Now()
		res, err := newClient(t, o).Send(context.Background(), sampleRequest())
		if classOf(err) != unavailableClass || res.Attempts != 1 {
			t.Fatalf("Send = %+v, %v; want ErrUnavailable after 1 attempt", res, err)
		}
		if took := time.Since(start); took > o.Budget+time.Second {
			t.Errorf("Send took %s, budget %s", took, o.Budget)
		}
	})
}

func TestSendStopsWhenCallerCancels(t *testing.T) {
	b := newBackend(t, blockUntilDone)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	start := time.Now()
	res, err := newClient(t, fastOptions(b.URL)).Send(ctx, sampleRequest())
	if classOf(err) != unavailableClass || !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want ErrUnavailable wrapping context.Canceled", err)
	}
	if res.Attempts != 1 {
		t.Errorf("Attempts = %d, want 1", res.Attempts)
	}
	if took := time.Since(start); took > time.Second {
		t.Errorf("Send took %s after cancel, want prompt", took)
	}
}

func TestSendDoesNotRetryDuringBackoffAfterCancel(t *testing.T) {
	b := newBackend(t, status(http.StatusInternalServerError))
	o := fastOptions(b.URL)
	o.Backoff, o.MaxBackoff = time.Hour, time.Hour
	o.Budget = 2 * time.Hour
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	res, err := newClient(t, o).Send(ctx, sampleRequest())
	if !errors.Is(err, ErrUnavailable) || !errors.Is(err, context.Canceled) || res.Attempts != 1 {
		t.Fatalf("Send = %+v, %v; want 1 attempt, then cancelled while waiting", res, err)
	}
}

func TestSendNeverFollowsRedirects(t *testing.T) {
	var followed atomic.Int64
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { followed.Add(1) }))
	defer target.Close()
	b := newBackend(t, func(_ int, w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.URL, http.StatusTemporaryRedirect)
	})
	o := fastOptions(b.URL)
	o.Client = &http.Client{} // follows redirects by default; Send must not
	_, err := newClient(t, o).Send(context.Background(), sampleRequest())
	if classOf(err) != deploymentClass || !strings.Contains(err.Error(), "redirect") {
		t.Fatalf("err = %v, want ErrDeployment explaining the redirect", err)
	}
	if followed.Load() != 0 {
		t.Fatal("the redirect was followed")
	}
	if o.Client.CheckRedirect != nil {
		t.Fatal("New changed the caller's http.Client")
	}
}

func TestSendRejectsInvalidRequestWithoutSending(t *testing.T) {
	b := newBackend(t, status(http.StatusOK))
	r := sampleRequest()
	r.UserID = ""
	res, err := newClient(t, fastOptions(b.URL)).Send(context.Background(), r)
	if classOf(err) != rejectedClass || !errors.Is(err, ErrInvalid) {
		t.Fatalf("err = %v, want ErrRejected and ErrInvalid", err)
	}
	if res.Attempts != 0 || b.hits.Load() != 0 {
		t.Fatalf("an invalid request was sent: %+v", res)
	}
}
