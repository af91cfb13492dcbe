// Package testkit holds the small helpers several test packages need alike: a buffer
// that a server under test and the test can share, a clock the test moves, loopback
// addresses that never repeat, and loud skips.
package testkit

import (
	"bytes"
	"sync"
	"time"
)

// SyncBuffer is a bytes.Buffer safe for concurrent writers and readers (a logger in
// one goroutine, the test reading its lines in another).
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p.
func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns everything written so far.
func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Clock is a fake clock that only Advance moves; safe for concurrent use. The code
// under test takes its clock as a func() time.Time (pipeline.Pipeline.Now,
// dedup.NewMemory, ledger.NewMemory), so the test hands it Clock.Now.
//
// Kept rather than testing/synctest on purpose: the same test bodies (dedupsuite, the
// pipeline's env) also run against a real Redis and real HTTP servers, whose waits are
// network I/O, which never counts as durably blocked in a synctest bubble (its time
// would not move), and whose TTLs run on Redis's own clock. One injected clock serves
// the in-memory and the Redis variants alike.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock returns a clock standing at t.
func NewClock(t time.Time) *Clock { return &Clock{t: t} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// Take returns everything written so far and empties the buffer.
func (s *SyncBuffer) Take() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.b.String()
	s.b.Reset()
	return out
}
