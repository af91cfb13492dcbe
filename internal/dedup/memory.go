package dedup

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// minSweep is the fewest writes between two sweeps of expired keys.
const minSweep = 1024

// Memory is a Store in process memory, for a single replica (trials, the demo): it is
// not shared between replicas and forgets everything on restart. Expired keys are swept
// after as many writes as there were keys at the last sweep, so memory stays within a
// small multiple of the live keys at amortized constant cost.
//
// Use NewMemory; the zero value is not usable.
type Memory struct {
	now func() time.Time

	mu         sync.Mutex
	keys       map[string]memEntry
	sinceSweep int // writes since the last sweep
	sweepAfter int // writes that trigger the next sweep
	closed     bool
}

type memEntry struct {
	value   string
	expires time.Time
}

var _ Store = (*Memory)(nil)

// NewMemory returns an empty in-memory store that reads time from now (nil: time.Now).
func NewMemory(now func() time.Time) *Memory {
	if now == nil {
		now = time.Now
	}
	return &Memory{now: now, keys: make(map[string]memEntry), sweepAfter: minSweep}
}

// Claim implements Store.
func (m *Memory) Claim(ctx context.Context, key, token string, lease time.Duration) (State, error) {
	if err := checkClaim(key, token, lease); err != nil {
		return 0, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.usable(ctx); err != nil {
		return 0, err
	}
	now := m.now()
	mine := processingPrefix + token
	if v, ok := m.get(key, now); ok && v != mine {
		if v == doneValue {
			return Done, nil
		}
		return InFlight, nil
	}
	m.set(key, mine, now.Add(lease))
	return Claimed, nil
}

// Complete implements Store.
func (m *Memory) Complete(ctx context.Context, key string, ttl time.Duration) error {
	if err := checkComplete(key, ttl); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.usable(ctx); err != nil {
		return err
	}
	m.set(key, doneValue, m.now().Add(ttl))
	return nil
}

// Release implements Store.
func (m *Memory) Release(ctx context.Context, key, token string) error {
	if err := checkKeyToken(key, token); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.usable(ctx); err != nil {
		return err
	}
	if v, ok := m.get(key, m.now()); ok && v == processingPrefix+token {
		delete(m.keys, key)
	}
	return nil
}

// VerifyConnection implements Store: nil until Close.
func (m *Memory) VerifyConnection(ctx context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.usable(ctx)
}

// Close drops every key; later calls fail with ErrUnavailable.
func (m *Memory) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	m.keys = nil
	return nil
}

// usable reports why a call cannot proceed, as the Redis store would. Caller holds mu.
func (m *Memory) usable(ctx context.Context) error {
	if m.closed {
		return fmt.Errorf("%w: memory store closed", ErrUnavailable)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return nil
}

// get returns the live value of key, dropping it if it has expired. Caller holds mu.
func (m *Memory) get(key string, now time.Time) (string, bool) {
	e, ok := m.keys[key]
	if !ok {
		return "", false
	}
	if e.expired(now) {
		delete(m.keys, key)
		return "", false
	}
	return e.value, true
}

// set stores key and sweeps when enough writes have piled up. Caller holds mu.
func (m *Memory) set(key, value string, expires time.Time) {
	m.keys[key] = memEntry{value: value, expires: expires}
	if m.sinceSweep++; m.sinceSweep < m.sweepAfter {
		return
	}
	now := m.now()
	for k, e := range m.keys {
		if e.expired(now) {
			delete(m.keys, k)
		}
	}
	m.sinceSweep = 0
	m.sweepAfter = max(minSweep, len(m.keys))
}

func (e memEntry) expired(now time.Time) bool {
	return !now.Before(e.expires)
}
