package demo

import (
	"encoding/json"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/creditgate/creditgate/internal/forward"
	"github.com/creditgate/creditgate/internal/secret"
	"github.com/creditgate/creditgate/internal/signature"
)

// Backend is the demo's credit endpoint, written the way a real backend should be:
// it verifies Creditgate-Signature, credits each Idempotency-Key once, and answers
// 409 for a key it has seen. Safe for concurrent use.
type Backend struct {
	Keys []secret.Secret
	Now  func() time.Time

	mu       sync.Mutex
	seen     map[string]bool
	balances map[string]int64
	credits  int // how many credits were applied (not the sum)
}

// NewBackend returns a backend that accepts requests signed with any of keys.
func NewBackend(keys ...secret.Secret) *Backend {
	return &Backend{Keys: keys, Now: time.Now, seen: map[string]bool{}, balances: map[string]int64{}}
}

// ServeHTTP implements the backend side of docs/design.md §5.
func (b *Backend) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		http.Error(w, "read", http.StatusBadRequest)
		return
	}
	if err := signature.Verify(body, r.Header.Get(signature.ForwardHeader), b.Keys, signature.DefaultTolerance, b.Now()); err != nil {
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	var req forward.Request
	if err := json.Unmarshal(body, &req); err != nil || req.ID == "" || req.ID != r.Header.Get("Idempotency-Key") {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.seen[req.ID] {
		w.WriteHeader(http.StatusConflict)
		return
	}
	b.seen[req.ID] = true
	b.balances[req.UserID] += req.Credits
	b.credits++
	w.WriteHeader(http.StatusOK)
}

// Balance returns a user's credits.
func (b *Backend) Balance(user string) int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.balances[user]
}

// Applied returns how many credit requests were applied.
func (b *Backend) Applied() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.credits
}
