package stripemock

import (
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"testing"
)

// Reply is one recorded response: a status and a body (a file's bytes or a string).
type Reply struct {
	Status int
	Body   []byte
}

// File is a 200 Reply with a testdata file's bytes.
func File(t testing.TB, path string) Reply {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return Reply{Status: http.StatusOK, Body: b}
}

// Error is a Reply with status and a testdata file's bytes.
func Error(t testing.TB, status int, path string) Reply {
	r := File(t, path)
	r.Status = status
	return r
}

// Recorded serves recorded Stripe API responses, for what stripe-mock cannot produce
// (it always returns the same fixed objects). Replies are keyed by "METHOD /path",
// or "METHOD /path?starting_after=ID" for the next page of a list, either followed by
// " @acct_..." for a reply only to that Stripe-Account (Connect). An unknown key is
// a 404 in Stripe's error shape, and fails the test.
type Recorded struct {
	*httptest.Server
	t       testing.TB
	mu      sync.Mutex
	replies map[string]Reply
	reqs    []*http.Request
}

// NewRecorded starts a server for the test's lifetime.
func NewRecorded(t testing.TB, replies map[string]Reply) *Recorded {
	r := &Recorded{t: t, replies: replies}
	r.Server = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.Close)
	return r
}

// Set replaces or adds replies.
func (r *Recorded) Set(replies map[string]Reply) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for k, v := range replies {
		r.replies[k] = v
	}
}

// Requests returns the requests received so far.
func (r *Recorded) Requests() []*http.Request {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*http.Request(nil), r.reqs...)
}

func (r *Recorded) serve(w http.ResponseWriter, req *http.Request) {
	key := req.Method + " " + req.URL.Path
	if after := req.URL.Query().Get("starting_after"); after != "" {
		key += "?starting_after=" + after
	}
	r.mu.Lock()
	r.reqs = append(r.reqs, req.Clone(req.Context()))
	reply, ok := r.replies[key+" @"+req.Header.Get("Stripe-Account")]
	if !ok {
		reply, ok = r.replies[key]
	}
	r.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Request-Id", "req_recorded")
	if !ok {
		r.t.Errorf("recorded Stripe API: no reply for %s", key)
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte(`{"error":{"type":"invalid_request_error","message":"Unrecognized request URL"}}`))
		return
	}
	w.WriteHeader(reply.Status)
	_, _ = w.Write(reply.Body)
}
