package redisclient

import (
	"context"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/creditgate/creditgate/internal/testkit"
)

// While Redis is down, many calls (each retrying its dials, and go-redis logging every
// failed dial) make one line; the first successful dial makes one more, with the count
// of the library lines held back.
func TestOutageLogsOncePerChange(t *testing.T) {
	var buf testkit.SyncBuffer
	s := &linkState{l: slog.New(slog.NewJSONHandler(&buf, nil))}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close() // nothing listens there now
	down := redis.NewClient(&redis.Options{Addr: dead, DialTimeout: 200 * time.Millisecond,
		MaxRetries: 1, MinRetryBackoff: time.Millisecond, MaxRetryBackoff: 2 * time.Millisecond})
	defer down.Close()
	down.AddHook(dialHook{s})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for range 4 {
		if down.Ping(ctx).Err() == nil {
			t.Fatal("ping to a closed port succeeded")
		}
		s.library(ctx, "redis: connection pool: failed to dial") // what go-redis logs meanwhile
	}
	if got := strings.Count(buf.String(), "\n"); got != 1 || !strings.Contains(buf.String(), `"msg":"redis unreachable`) || !strings.Contains(buf.String(), dead) {
		t.Fatalf("4 failed calls logged %d lines, want 1 naming %s:\n%s", got, dead, buf.String())
	}

	// A dial that succeeds (any server that accepts TCP will do) ends the outage.
	up, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer up.Close()
	go func() {
		for {
			c, err := up.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	if _, err := (dialHook{s}).DialHook(func(ctx context.Context, network, addr string) (net.Conn, error) {
		return net.Dial(network, addr)
	})(ctx, "tcp", up.Addr().String()); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 || !strings.Contains(lines[1], `"msg":"redis reachable again"`) || !strings.Contains(lines[1], `"held_back_lines":4`) {
		t.Fatalf("after the outage: %q, want one more line with 4 held-back lines", lines)
	}
	// Healthy again: a library line passes through.
	s.library(ctx, "something else")
	if !strings.Contains(buf.String(), `"detail":"something else"`) {
		t.Errorf("a library line while Redis is up was held back:\n%s", buf.String())
	}
	(&linkState{}).dialed(ctx, dead, net.ErrClosed) // no logger: nothing, no panic
}
