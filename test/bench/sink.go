package main

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/stripe/stripe-go/v76/webhook"
)

// benchSink is the backend both servers forward to: it verifies Creditgate-Signature
// with stripe-go's webhook.ValidatePayload (as a real backend would), checks that the
// body names the Idempotency-Key and a positive credit, and answers 200, or 409 for an
// id it credited before. It runs in the harness process.
type benchSink struct {
	key string
	srv *http.Server
	url string

	mu       sync.Mutex
	credited map[string]struct{}
	requests int
	badSig   int
	badBody  int
	repeats  int
}

func benchStartSink(key string) (*benchSink, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &benchSink{key: key, credited: map[string]struct{}{}}
	s.srv = &http.Server{Handler: s, ReadHeaderTimeout: 5 * time.Second}
	s.url = "http://" + ln.Addr().String() + "/internal/credits"
	go func() { _ = s.srv.Serve(ln) }()
	return s, nil
}

func (s *benchSink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 64<<10))
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	if err := webhook.ValidatePayload(body, r.Header.Get("Creditgate-Signature"), s.key); err != nil {
		s.count(func() { s.badSig++ })
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	var req struct {
		ID      string `json:"id"`
		UserID  string `json:"user_id"`
		Credits int64  `json:"credits"`
	}
	key := r.Header.Get("Idempotency-Key")
	if json.Unmarshal(body, &req) != nil || req.ID == "" || req.ID != key || req.UserID == "" || req.Credits <= 0 {
		s.count(func() { s.badBody++ })
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	s.requests++
	_, dup := s.credited[key]
	if dup {
		s.repeats++
	} else {
		s.credited[key] = struct{}{}
	}
	s.mu.Unlock()
	if dup {
		w.WriteHeader(http.StatusConflict)
		return
	}
	w.WriteHeader(http.StatusOK)
}

func (s *benchSink) count(f func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests++
	f()
}

// benchSinkStats is what the sink saw in one phase.
type benchSinkStats struct {
	Requests, Credited, BadSignature, BadBody, Repeats int
}

// take returns the counts since the last take and forgets the credited ids.
func (s *benchSink) take() benchSinkStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := benchSinkStats{Requests: s.requests, Credited: len(s.credited), BadSignature: s.badSig, BadBody: s.badBody, Repeats: s.repeats}
	s.credited = map[string]struct{}{}
	s.requests, s.badSig, s.badBody, s.repeats = 0, 0, 0, 0
	return st
}

func (s *benchSink) close() { _ = s.srv.Close() }
