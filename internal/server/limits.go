package server

import (
	"container/list"
	"context"
	"errors"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// minEvictAge is how long LimitListener leaves a new or newly active connection alone
// before it may close it to make room.
const minEvictAge = time.Second

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

// LimitListener returns a listener that holds at most n connections open at once.
// Each open connection costs about 20 KiB (net/http's buffers and a goroutine) whatever
// it sends, so the limit bounds what idle, half-open or slow clients can pin.
//
// At the limit, a new connection does not wait behind the old ones: the oldest
// connection that is not serving a request whose body has been read (one that is
// still sending headers or a body, or sits idle between requests) is closed to make
// room. A slow-body flood therefore cannot lock out Stripe: its own connections are
// the ones cut, oldest first, while a webhook whose body has arrived is never cut.
// When every connection is busy, Accept waits for one to close.
//
// The server marks a connection busy with MarkBusy (wired by Serve through the
// request's context and http.Server.ConnState).
func LimitListener(ln net.Listener, n int) net.Listener {
	l := &limitListener{Listener: ln, max: n, conns: list.New()}
	l.freed = sync.NewCond(&l.mu)
	return l
}

type limitListener struct {
	net.Listener
	max int

	mu     sync.Mutex
	freed  *sync.Cond
	conns  *list.List // of *limitConn, oldest (least recently active) first
	closed bool
}

func (l *limitListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for l.conns.Len() >= l.max && !l.closed {
		old, wait := l.evictable(time.Now())
		switch {
		case old != nil:
			l.remove(old)
			go old.Conn.Close() // outside the lock; its Close finds it removed
		case wait > 0: // the oldest candidate is still protected
			l.mu.Unlock()
			time.Sleep(wait)
			l.mu.Lock()
		default:
			l.freed.Wait()
		}
	}
	if l.closed {
		_ = c.Close()
		return nil, net.ErrClosed
	}
	lc := &limitConn{Conn: c, l: l, since: time.Now()}
	lc.elem = l.conns.PushBack(lc)
	return lc, nil
}

// evictable is the connection to close at the limit: the oldest one still sending a
// request, else the oldest idle one (a keep-alive client, which may be Stripe's, loses
// its connection only when no sender of a slow request is left). A connection is
// protected for minEvictAge after it was accepted or started a request, so that a
// client gets time to deliver its body however fast others reconnect. When the best
// candidate is still protected, evictable returns how long it has left; when there is
// no candidate, it returns nil and 0. Called with l.mu held.
func (l *limitListener) evictable(now time.Time) (*limitConn, time.Duration) {
	var pick, idle *limitConn
	for e := l.conns.Front(); e != nil && pick == nil; e = e.Next() {
		switch c := e.Value.(*limitConn); {
		case c.busy.Load():
		case !c.idle.Load():
			pick = c
		case idle == nil:
			idle = c
		}
	}
	if pick == nil {
		pick = idle
	}
	if pick == nil {
		return nil, 0
	}
	if age := now.Sub(pick.since); age < minEvictAge {
		return nil, minEvictAge - age
	}
	return pick, 0
}

// remove forgets c and wakes a waiting Accept. Called with l.mu held.
func (l *limitListener) remove(c *limitConn) {
	if c.elem != nil {
		l.conns.Remove(c.elem)
		c.elem = nil
		l.freed.Signal()
	}
}

func (l *limitListener) Close() error {
	err := l.Listener.Close()
	l.mu.Lock()
	l.closed = true
	l.freed.Broadcast()
	l.mu.Unlock()
	return err
}

type limitConn struct {
	net.Conn
	l     *limitListener
	elem  *list.Element // nil once removed; guarded by l.mu
	since time.Time     // accepted or last active; guarded by l.mu
	busy  atomic.Bool   // serving a request whose body is in
	idle  atomic.Bool   // between requests (keep-alive)
}

func (c *limitConn) Close() error {
	c.l.mu.Lock()
	c.l.remove(c)
	c.l.mu.Unlock()
	return c.Conn.Close()
}

type connKey struct{}

// connContext is http.Server.ConnContext: it lets a handler find its connection.
func connContext(ctx context.Context, c net.Conn) context.Context {
	if lc, ok := c.(*limitConn); ok {
		return context.WithValue(ctx, connKey{}, lc)
	}
	return ctx
}

// connState is http.Server.ConnState: a connection that starts reading a request or
// goes idle may be evicted again.
func connState(c net.Conn, s http.ConnState) {
	if lc, ok := c.(*limitConn); ok && (s == http.StateActive || s == http.StateIdle) {
		lc.busy.Store(false)
		lc.idle.Store(s == http.StateIdle)
		lc.l.mu.Lock()
		if lc.elem != nil {
			// Age counts from the start of the current request or idle spell, so a
			// long-lived keep-alive connection that starts a request is the youngest.
			lc.l.conns.MoveToBack(lc.elem)
			lc.since = time.Now()
		}
		lc.l.freed.Signal() // an Accept waiting at the limit may evict it now
		lc.l.mu.Unlock()
	}
}

// MarkBusy protects the connection of the request with ctx from eviction until it
// next goes idle or starts another request: its body is in, its work has begun.
func MarkBusy(ctx context.Context) {
	if lc, ok := ctx.Value(connKey{}).(*limitConn); ok {
		lc.busy.Store(true)
	}
}
