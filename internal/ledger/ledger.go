// Package ledger keeps creditgate's purchase records: for every grant that was paid
// through a PaymentIntent, who got how many credits for how much money, and how much
// of it refunds and disputes have taken back since (billing.Money). Reversals
// (charge.refunded, refund.updated, charge.dispute.*) find their purchase here, by
// route and payment_intent.
//
// Records live in the dedup store's Redis (key <prefix>record:<route>:<pi_id>, JSON)
// or in memory, for dedup.record_ttl. Writes are single-key SETs, so Redis Cluster
// works. Concurrent reversals of one purchase are serialized by the caller (a dedup
// claim on reversal:<route>:<pi_id>); a record is created with SET NX so a grant that
// is credited twice (a lost done-marker) never resets the reversal progress.
//
// A grant's record is created by its settlement (Book, book.go): with the dedup
// store's done marks in one transaction where both share one Redis (RedisBook), or
// first and apart in memory (NewBook).
package ledger

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/creditgate/creditgate/internal/billing"
	"github.com/creditgate/creditgate/internal/dedup"
	"github.com/creditgate/creditgate/internal/plainjson"
	"github.com/creditgate/creditgate/internal/storekey"
)

// Record is one credited purchase and what Stripe reported about its money since.
// Invariant, kept by the pipeline: 0 <= Reversed <= Credits.
type Record struct {
	// PurchaseID is the grant's idempotency key: the Checkout Session (cs_...) or the
	// Invoice (in_...).
	PurchaseID string `json:"purchase_id"`
	// SessionID is the Checkout Session, when the grant came from one.
	SessionID  string `json:"session_id,omitempty"`
	UserID     string `json:"user_id"`
	Credits    int64  `json:"credits"`
	Amount     int64  `json:"amount"` // what was paid, in the currency's smallest unit
	Currency   string `json:"currency,omitempty"`
	CustomerID string `json:"customer_id,omitempty"`
	Account    string `json:"account,omitempty"`
	Livemode   bool   `json:"livemode"`
	// Money is what refunds and disputes reported (package billing's reversal rules).
	Money billing.Money `json:"money,omitzero"`
	// Reversed is the credits the backend has been told to take back, net of those
	// given back: billing.Money.Taken of the Money the backend has heard about.
	Reversed int64 `json:"reversed"`
	// Pending names the reversal event whose request may have reached the backend
	// but whose result is not recorded yet. Until that event settles (Stripe
	// redelivers it, or reconcile runs it), other reversals of the purchase wait.
	Pending string `json:"pending,omitempty"`
	// OldRefunded and OldDisputed are what records written before Money counted
	// (credits taken by refunds and disputes); decode folds them into Money.Floor.
	OldRefunded int64 `json:"refunded,omitempty"`
	OldDisputed int64 `json:"disputed,omitempty"`
}

// decode reads a record, folding an older record's counts into Money.Floor and
// Reversed, so the credits it took back stay taken.
func decode(b []byte) (Record, error) {
	var r Record
	if err := json.Unmarshal(b, &r); err != nil {
		return Record{}, err
	}
	if old := r.OldRefunded + r.OldDisputed; old > 0 {
		r.Money.Floor = max(r.Money.Floor, old)
		r.Reversed = max(r.Reversed, old)
		r.OldRefunded, r.OldDisputed = 0, 0
	}
	return r, nil
}

// Taken is the credits the recorded money stands for.
func (r Record) Taken() int64 { return r.Money.Taken(r.Credits, r.Amount) }

// Store keeps records. Implementations are safe for concurrent use; every failure to
// reach the store wraps dedup.ErrUnavailable.
type Store interface {
	// Create stores r under key for ttl unless a record is there already; created
	// reports which.
	Create(ctx context.Context, key string, r Record, ttl time.Duration) (created bool, err error)
	// Get returns the record under key; ok is false when there is none.
	Get(ctx context.Context, key string) (r Record, ok bool, err error)
	// Put replaces the record under key, for ttl.
	Put(ctx context.Context, key string, r Record, ttl time.Duration) error
}

const keyPrefix = storekey.RecordPrefix

// Redis is a Store in Redis.
type Redis struct {
	c      redis.UniversalClient
	prefix string
}

var _ Store = (*Redis)(nil)

// NewRedis returns a Store on c; prefix is redis.key_prefix.
func NewRedis(c redis.UniversalClient, prefix string) *Redis { return &Redis{c: c, prefix: prefix} }

// Create implements Store with SET NX PX.
func (s *Redis) Create(ctx context.Context, key string, r Record, ttl time.Duration) (bool, error) {
	b, err := encode(key, r, ttl)
	if err != nil {
		return false, err
	}
	ok, err := s.c.SetNX(ctx, s.prefix+keyPrefix+key, b, ttl).Result()
	if err != nil {
		return false, unavailable("create record", key, err)
	}
	return ok, nil
}

// Get implements Store.
func (s *Redis) Get(ctx context.Context, key string) (Record, bool, error) {
	b, err := s.c.Get(ctx, s.prefix+keyPrefix+key).Bytes()
	switch {
	case errors.Is(err, redis.Nil):
		return Record{}, false, nil
	case err != nil:
		return Record{}, false, unavailable("get record", key, err)
	}
	r, err := decode(b)
	if err != nil {
		return Record{}, false, fmt.Errorf("record %s is corrupt: %w", key, err)
	}
	return r, true, nil
}

// Put implements Store.
func (s *Redis) Put(ctx context.Context, key string, r Record, ttl time.Duration) error {
	b, err := encode(key, r, ttl)
	if err != nil {
		return err
	}
	if err := s.c.Set(ctx, s.prefix+keyPrefix+key, b, ttl).Err(); err != nil {
		return unavailable("put record", key, err)
	}
	return nil
}

// Memory is a Store in memory, for the in-memory store (one replica).
type Memory struct{ m *expiring[[]byte] }

var _ Store = (*Memory)(nil)

// NewMemory returns an empty Memory store; now is the clock (nil: time.Now).
func NewMemory(now func() time.Time) *Memory { return &Memory{m: newExpiring[[]byte](now)} }

// Create implements Store.
func (s *Memory) Create(_ context.Context, key string, r Record, ttl time.Duration) (bool, error) {
	b, err := encode(key, r, ttl)
	if err != nil {
		return false, err
	}
	return s.m.add(key, b, ttl), nil
}

// Get implements Store.
func (s *Memory) Get(_ context.Context, key string) (Record, bool, error) {
	b, ok := s.m.get(key)
	if !ok {
		return Record{}, false, nil
	}
	r, err := decode(b)
	return r, err == nil, err
}

// Put implements Store.
func (s *Memory) Put(_ context.Context, key string, r Record, ttl time.Duration) error {
	b, err := encode(key, r, ttl)
	if err != nil {
		return err
	}
	s.m.set(key, b, ttl)
	return nil
}

// expiring is a map whose entries live for a ttl, for the in-memory stores.
type expiring[V any] struct {
	now func() time.Time
	mu  sync.Mutex
	m   map[string]expiringEntry[V]
}

type expiringEntry[V any] struct {
	v       V
	expires time.Time
}

func newExpiring[V any](now func() time.Time) *expiring[V] {
	if now == nil {
		now = time.Now
	}
	return &expiring[V]{now: now, m: map[string]expiringEntry[V]{}}
}

// get returns the live value under key.
func (e *expiring[V]) get(key string) (V, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	cur, ok := e.m[key]
	if !ok || !e.now().Before(cur.expires) {
		var zero V
		return zero, false
	}
	return cur.v, true
}

// set stores v under key for ttl, over any value there.
func (e *expiring[V]) set(key string, v V, ttl time.Duration) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.m[key] = expiringEntry[V]{v: v, expires: e.now().Add(ttl)}
}

// add stores v under key for ttl unless a live value is there, which it leaves as it
// is; it reports whether v was stored.
func (e *expiring[V]) add(key string, v V, ttl time.Duration) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	now := e.now()
	if cur, ok := e.m[key]; ok && now.Before(cur.expires) {
		return false
	}
	e.m[key] = expiringEntry[V]{v: v, expires: now.Add(ttl)}
	return true
}

// refreshOrSet keeps the live value under key, or stores v when there is none; either
// way the value under key lives for ttl from now, and is returned.
func (e *expiring[V]) refreshOrSet(key string, v V, ttl time.Duration) V {
	e.mu.Lock()
	defer e.mu.Unlock()
	now := e.now()
	if cur, ok := e.m[key]; ok && now.Before(cur.expires) {
		v = cur.v
	}
	e.m[key] = expiringEntry[V]{v: v, expires: now.Add(ttl)}
	return v
}

func encode(key string, r Record, ttl time.Duration) ([]byte, error) {
	switch {
	case key == "":
		return nil, fmt.Errorf("%w: empty record key", dedup.ErrInvalid)
	case ttl <= 0:
		return nil, fmt.Errorf("%w: ttl %v is not positive", dedup.ErrInvalid, ttl)
	}
	// Room for the keys, punctuation and numbers (under 320 bytes) and the strings.
	size := 320 + len(r.PurchaseID) + len(r.SessionID) + len(r.UserID) + len(r.Currency) + len(r.CustomerID) + len(r.Account) + len(r.Pending)
	if b, ok := r.appendPlain(make([]byte, 0, size)); ok {
		return b, nil
	}
	return json.Marshal(r)
}

// appendPlain appends json.Marshal(r) by hand when r is what a grant writes (Money
// zero) and every string is plain (plainjson.Is); ok is false otherwise, and encode
// uses encoding/json. FuzzRecordJSON holds the bytes equal, and
// TestEncodeCoversEveryField fails when Record gains a field this does not write.
func (r Record) appendPlain(b []byte) ([]byte, bool) {
	m := r.Money
	if m.Captured != 0 || m.Refunds != (billing.Snapshot{}) || m.Failed != nil || m.Disputes != nil || m.Floor != 0 {
		return b, false
	}
	if !plainjson.All(r.PurchaseID, r.SessionID, r.UserID, r.Currency, r.CustomerID, r.Account, r.Pending) {
		return b, false
	}
	b = plainjson.String(append(b, '{'), "purchase_id", r.PurchaseID)
	b = plainjson.Omitempty(b, "session_id", r.SessionID)
	b = plainjson.String(append(b, ','), "user_id", r.UserID)
	b = plainjson.Int(append(b, ','), "credits", r.Credits)
	b = plainjson.Int(append(b, ','), "amount", r.Amount)
	b = plainjson.Omitempty(b, "currency", r.Currency)
	b = plainjson.Omitempty(b, "customer_id", r.CustomerID)
	b = plainjson.Omitempty(b, "account", r.Account)
	b = plainjson.Bool(append(b, ','), "livemode", r.Livemode)
	b = plainjson.Int(append(b, ','), "reversed", r.Reversed)
	b = plainjson.Omitempty(b, "pending", r.Pending)
	if r.OldRefunded != 0 {
		b = plainjson.Int(append(b, ','), "refunded", r.OldRefunded)
	}
	if r.OldDisputed != 0 {
		b = plainjson.Int(append(b, ','), "disputed", r.OldDisputed)
	}
	return append(b, '}'), true
}

func unavailable(op, key string, err error) error {
	return fmt.Errorf("%w: %s %s: %w", dedup.ErrUnavailable, op, key, err)
}
