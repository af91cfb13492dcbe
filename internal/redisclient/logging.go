package redisclient

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"

	"github.com/redis/go-redis/v9"
)

// RouteLibraryLogs sends go-redis' own log lines (pool dial failures and the like),
// which it otherwise prints in plain text to stderr, to l as JSON at warn level, and
// makes Redis outages log once per change: while dials fail, the library's lines (a
// dozen or more a second for one request) are held back and counted. go-redis keeps
// its logger in a process-wide variable, so only main calls this, once, before any
// client exists.
func RouteLibraryLogs(l *slog.Logger) {
	link.setLogger(l)
	redis.SetLogger(libraryLogger{link})
}

// link is the process-wide state of Redis as the clients' dials see it (go-redis'
// logger is process-wide too).
var link = &linkState{}

// linkState logs one line when dials to Redis start failing and one when a dial
// succeeds again (with the number of library lines held back meanwhile). Without a
// logger (tests, commands other than main's) it logs nothing.
type linkState struct {
	mu   sync.Mutex
	l    *slog.Logger
	down bool
	held int
}

func (s *linkState) setLogger(l *slog.Logger) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.l = l
}

// library handles one line of go-redis' logger.
func (s *linkState) library(ctx context.Context, msg string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.l == nil:
	case s.down:
		s.held++
	default:
		s.l.WarnContext(ctx, "redis client", "detail", msg)
	}
}

// dialed records the outcome of one dial. A dial cut short by its caller's context
// says nothing about Redis.
func (s *linkState) dialed(ctx context.Context, addr string, err error) {
	if err != nil && (errors.Is(err, context.Canceled) || ctx.Err() != nil) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.l == nil {
		return
	}
	switch {
	case err != nil && !s.down:
		s.down, s.held = true, 0
		s.l.WarnContext(ctx, "redis unreachable: dials fail; the redis client's own lines are held back until a dial succeeds",
			"addr", addr, "error", err)
	case err == nil && s.down:
		s.l.InfoContext(ctx, "redis reachable again", "addr", addr, "held_back_lines", s.held)
		s.down, s.held = false, 0
	}
}

type libraryLogger struct{ s *linkState }

func (g libraryLogger) Printf(ctx context.Context, format string, v ...any) {
	g.s.library(ctx, fmt.Sprintf(format, v...))
}

// dialHook reports every dial of a client to a linkState.
type dialHook struct{ s *linkState }

var _ redis.Hook = dialHook{}

func (h dialHook) DialHook(next redis.DialHook) redis.DialHook {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := next(ctx, network, addr)
		h.s.dialed(ctx, addr, err)
		return c, err
	}
}

func (dialHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook { return next }

func (dialHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}
