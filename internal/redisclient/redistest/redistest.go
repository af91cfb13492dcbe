// Package redistest connects tests to a real Redis and keeps every test's keys apart.
//
// Tests use the Redis at $CREDITGATE_TEST_REDIS_URL (default redis://127.0.0.1:6379/0).
// When nothing answers there the test is skipped with a loud message, unless CI=true:
// then it fails, so that CI cannot pass without running the Redis tests. Each test gets
// its own random key prefix and its keys are deleted afterwards with SCAN and DEL;
// nothing here ever flushes a database.
package redistest

import (
	"cmp"
	"context"
	"crypto/rand"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/creditgate/creditgate/internal/redisclient"
	"github.com/creditgate/creditgate/internal/secret"
)

// EnvURL names the environment variable that overrides DefaultURL.
const EnvURL = "CREDITGATE_TEST_REDIS_URL"

// DefaultURL is the Redis the tests use when EnvURL is empty.
const DefaultURL = "redis://127.0.0.1:6379/0"

// URL returns the test Redis URL.
func URL() string { return cmp.Or(os.Getenv(EnvURL), DefaultURL) }

// Client returns a client for the test Redis, closed when t ends. It skips t (or fails
// it when CI=true) when the server does not answer PING.
func Client(t testing.TB) redis.UniversalClient {
	t.Helper()
	c, err := redisclient.New(redisclient.Options{URL: secret.New(URL()), DialTimeout: time.Second})
	if err != nil {
		t.Fatalf("redistest: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		_ = c.Close()
		msg := fmt.Sprintf("\n\n!!! REDIS TESTS NOT RUN: nothing answers at %s: %v\n"+
			"!!! start one with: redis-server --port 6379   (CI=true turns this skip into a failure)\n",
			shown(URL()), err)
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// Unreachable returns a client for a port where nothing listens (127.0.0.1:1), with a
// short dial timeout, closed when t ends: every command fails fast.
func Unreachable(t testing.TB) redis.UniversalClient {
	t.Helper()
	c, err := redisclient.New(redisclient.Options{
		URL:         secret.New("redis://127.0.0.1:1/0"),
		DialTimeout: 200 * time.Millisecond,
	})
	if err != nil {
		t.Fatalf("redistest: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// Prefix returns a fresh key prefix "cgtest:<random>:" and deletes every key under it
// when t ends.
func Prefix(t testing.TB, c redis.UniversalClient) string {
	t.Helper()
	p := "cgtest:" + rand.Text()[:16] + ":"
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := Clean(ctx, c, p); err != nil {
			t.Errorf("redistest: cleaning %s: %v", p, err)
		}
	})
	return p
}

// Clean deletes every key that starts with prefix, using SCAN and DEL on every master.
func Clean(ctx context.Context, c redis.UniversalClient, prefix string) error {
	if cc, ok := c.(*redis.ClusterClient); ok {
		return cc.ForEachMaster(ctx, func(ctx context.Context, n *redis.Client) error {
			return clean(ctx, n, prefix)
		})
	}
	return clean(ctx, c, prefix)
}

func clean(ctx context.Context, c redis.Cmdable, prefix string) error {
	match := globEscape(prefix) + "*"
	var cursor uint64
	for {
		keys, next, err := c.Scan(ctx, cursor, match, 500).Result()
		if err != nil {
			return err
		}
		for _, k := range keys { // one key per DEL: cluster-safe
			if err := c.Del(ctx, k).Err(); err != nil {
				return err
			}
		}
		if cursor = next; cursor == 0 {
			return nil
		}
	}
}

func globEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`*?[]\`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// shown is the URL without its password, for messages.
func shown(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}

// Server starts a private redis-server (no persistence) on a free loopback port for t
// alone and returns a client for it; both end with t. Use it where a test needs a
// fresh server (an empty script cache, say) and must not touch the shared one. It
// skips t loudly (fails it when CI=true) when redis-server is not installed.
func Server(t testing.TB) redis.UniversalClient {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		msg := "\n\n!!! TEST NOT RUN: redis-server is not installed (apt-get install redis-server); CI=true turns this skip into a failure\n"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("redistest: %v", err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	port := addr[strings.LastIndex(addr, ":")+1:]
	cmd := exec.Command("redis-server", "--port", port, "--bind", "127.0.0.1", "--save", "",
		"--appendonly", "no", "--dir", t.TempDir(), "--logfile", "")
	if err := cmd.Start(); err != nil {
		t.Fatalf("redistest: starting redis-server: %v", err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	c := redis.NewClient(&redis.Options{Addr: addr, DialTimeout: time.Second})
	t.Cleanup(func() { _ = c.Close() })
	for range 100 {
		if c.Ping(context.Background()).Err() == nil {
			return c
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("redistest: redis-server on %s did not answer within 5s", addr)
	return nil
}
