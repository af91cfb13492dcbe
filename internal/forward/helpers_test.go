package forward

import (
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/creditgate/creditgate/internal/secret"
)

// Keys used by the tests; both sign every request.
var (
	keyOld = secret.New("fwd_test_old_key_0123456789")
	keyNew = secret.New("fwd_test_new_key_abcdefghij")
)

// sampleRequest is the docs/design.md §5 example.
func sampleRequest() Request {
	return Request{
		ID:         "cs_test_a1b2c3",
		Type:       TypeGranted,
		UserID:     "e747de39-1b54-4cd0-96eb-e68f155931e2",
		Credits:    100,
		Livemode:   false,
		OccurredAt: time.Date(2026, 11, 27, 19, 6, 22, 0, time.UTC),
		Stripe: StripeRef{
			EventID:         "evt_test_1",
			EventType:       "checkout.session.completed",
			SessionID:       "cs_test_a1b2c3",
			CustomerID:      "cus_test_1",
			PaymentIntentID: "pi_test_1",
			AmountTotal:     999,
			Currency:        "eur",
			Account:         "acct_test_1",
		},
	}
}

// fastOptions keep retries quick; tests override what they examine.
func fastOptions(url string) Options {
	return Options{
		URL:        url,
		Keys:       []secret.Secret{keyOld, keyNew},
		Timeout:    2 * time.Second,
		Attempts:   3,
		Budget:     5 * time.Second,
		Backoff:    time.Millisecond,
		MaxBackoff: 5 * time.Millisecond,
		UserAgent:  "creditgate/test",
	}
}

func newClient(t testing.TB, o Options) *Client {
	t.Helper()
	c, err := New(o)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c
}

// captured is one request as the backend saw it.
type captured struct {
	header        http.Header
	body          []byte
	contentLength int64
	method        string
	path          string
	at            time.Time
}

// backend is an httptest server that records every request and answers through fn,
// which gets the 1-based number of the request.
type backend struct {
	*httptest.Server
	hits atomic.Int64
	mu   sync.Mutex
	reqs []captured
}

func newBackend(t testing.TB, fn func(n int, w http.ResponseWriter, r *http.Request)) *backend {
	t.Helper()
	b := &backend{}
	b.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		b.mu.Lock()
		b.reqs = append(b.reqs, captured{header: r.Header.Clone(), body: body, contentLength: r.ContentLength, method: r.Method, path: r.URL.Path, at: time.Now()})
		b.mu.Unlock()
		fn(int(b.hits.Add(1)), w, r)
	}))
	t.Cleanup(b.Close)
	return b
}

func (b *backend) requests() []captured {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]captured(nil), b.reqs...)
}

// status answers every request with code.
func status(code int) func(int, http.ResponseWriter, *http.Request) {
	return func(_ int, w http.ResponseWriter, _ *http.Request) { w.WriteHeader(code) }
}

// blockUntilDone holds the request until the client gives up (the server cancels the
// request's context when the client drops the connection), for at most 10 s.
func blockUntilDone(_ int, _ http.ResponseWriter, r *http.Request) {
	select {
	case <-r.Context().Done():
	case <-time.After(10 * time.Second):
	}
}
