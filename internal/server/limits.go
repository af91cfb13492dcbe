package server

import (
	"errors"
	"net"
	"sync"
	"sync/atomic"
)

// errOverloaded: the global in-flight body budget has no room for this body.
var errOverloaded = errors.New("in-flight body budget exhausted")

// BodyBudget is the global in-flight body budget: the bytes of webhook bodies that all
// requests together may hold in memory at once (max_inflight_body_bytes). A request
// that needs more than is left gets 503 overloaded and Stripe delivers it again later.
// It counts buffer capacity really allocated, so a client that announces a large
// Content-Length and sends slowly costs only what it sent. A nil *BodyBudget is
// unlimited.
type BodyBudget struct {
	left atomic.Int64
}

// NewBodyBudget returns a budget of n bytes.
func NewBodyBudget(n int64) *BodyBudget {
	b := &BodyBudget{}
	b.left.Store(n)
	return b
}

func (b *BodyBudget) take(n int64) bool {
	if b == nil || n <= 0 {
		return true
	}
	for {
		left := b.left.Load()
		if left < n {
			return false
		}
		if b.left.CompareAndSwap(left, left-n) {
			return true
		}
	}
}

func (b *BodyBudget) give(n int64) {
	if b != nil && n > 0 {
		b.left.Add(n)
	}
}

// Left is what the budget has left, in bytes (for tests and metrics).
func (b *BodyBudget) Left() int64 { return b.left.Load() }

// LimitListener returns a listener that holds at most n connections open at once:
// Accept waits while n are open, so further clients queue in the kernel's accept
// backlog instead of each costing a goroutine and buffers. Each open connection costs
// about 10 KiB whatever it sends, so this bounds what idle or half-open clients can
// pin.
func LimitListener(ln net.Listener, n int) net.Listener {
	return &limitListener{Listener: ln, sem: make(chan struct{}, n), done: make(chan struct{})}
}

type limitListener struct {
	net.Listener
	sem       chan struct{}
	closeOnce sync.Once
	done      chan struct{}
}

func (l *limitListener) Accept() (net.Conn, error) {
	select {
	case l.sem <- struct{}{}:
	case <-l.done:
		return nil, net.ErrClosed
	}
	c, err := l.Listener.Accept()
	if err != nil {
		<-l.sem
		return nil, err
	}
	return &limitConn{Conn: c, release: func() { <-l.sem }}, nil
}

func (l *limitListener) Close() error {
	err := l.Listener.Close()
	l.closeOnce.Do(func() { close(l.done) })
	return err
}

// Open is the number of connections open now.
func (l *limitListener) Open() int { return len(l.sem) }

type limitConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
