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
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/creditgate/creditgate/internal/redisclient"
	"github.com/creditgate/creditgate/internal/secret"

	"github.com/creditgate/creditgate/internal/testkit"
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
		testkit.Skip(t, msg)
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
	needRedisServer(t)
	addr := testkit.FreeAddr(t)
	port := addr[strings.LastIndex(addr, ":")+1:]
	cmd := exec.Command("redis-server", "--port", port, "--bind", "127.0.0.1", "--save", "",
		"--appendonly", "no", "--dir", t.TempDir(), "--logfile", "",
		"--repl-diskless-sync-delay", "0") // a replica's first sync at once, not after 5s
	if err := cmd.Start(); err != nil {
		t.Fatalf("redistest: starting redis-server: %v", err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	c := redis.NewClient(&redis.Options{Addr: addr, DialTimeout: time.Second})
	t.Cleanup(func() { _ = c.Close() })
	waitPing(t, c)
	return c
}

// Replica starts a private redis-server (as Server does) that replicates primary, and
// returns a client for it once its link to the primary is up (within 10s).
func Replica(t testing.TB, primary string) redis.UniversalClient {
	t.Helper()
	r := Server(t)
	host, port, _ := strings.Cut(primary, ":")
	ctx := context.Background()
	if err := r.Do(ctx, "REPLICAOF", host, port).Err(); err != nil {
		t.Fatalf("redistest: REPLICAOF %s: %v", primary, err)
	}
	for range 200 {
		if info, err := r.Info(ctx, "replication").Result(); err == nil && strings.Contains(info, "master_link_status:up") {
			return r
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("redistest: the replica of %s did not link up within 10s", primary)
	return nil
}

// Cluster starts a private three-node Redis Cluster (no replicas, no persistence) on
// loopback for t alone and returns its nodes' addresses; it ends with t. Skips or
// fails like Server when redis-server is not installed.
func Cluster(t testing.TB) []string {
	t.Helper()
	needRedisServer(t)
	dir := t.TempDir()
	ctx := context.Background()
	var addrs []string
	var nodes []*redis.Client
	for len(addrs) < 3 {
		port := clusterPort(t)
		addr := fmt.Sprintf("127.0.0.1:%d", port)
		cmd := exec.Command("redis-server", "--port", fmt.Sprint(port), "--bind", "127.0.0.1",
			"--cluster-enabled", "yes", "--cluster-config-file", fmt.Sprintf("%s/nodes-%d.conf", dir, port),
			"--save", "", "--appendonly", "no", "--dir", dir, "--logfile", "")
		if err := cmd.Start(); err != nil {
			t.Fatalf("redistest: starting redis-server: %v", err)
		}
		t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
		c := redis.NewClient(&redis.Options{Addr: addr, DialTimeout: time.Second})
		t.Cleanup(func() { _ = c.Close() })
		addrs, nodes = append(addrs, addr), append(nodes, c)
	}
	ranges := [][2]int{{0, 5460}, {5461, 10922}, {10923, 16383}}
	for i, c := range nodes {
		waitPing(t, c)
		if err := c.ClusterAddSlotsRange(ctx, ranges[i][0], ranges[i][1]).Err(); err != nil {
			t.Fatalf("redistest: CLUSTER ADDSLOTSRANGE on %s: %v", addrs[i], err)
		}
	}
	for _, a := range addrs[1:] {
		host, port, _ := strings.Cut(a, ":")
		if err := nodes[0].ClusterMeet(ctx, host, port).Err(); err != nil {
			t.Fatalf("redistest: CLUSTER MEET %s: %v", a, err)
		}
	}
	deadline := time.Now().Add(15 * time.Second)
	for _, c := range nodes {
		for {
			info, err := c.ClusterInfo(ctx).Result()
			if err == nil && strings.Contains(info, "cluster_state:ok") && strings.Contains(info, "cluster_known_nodes:3") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("redistest: the cluster did not form within 15s: %v %s", err, info)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return addrs
}

// clusterPort returns a free port whose cluster bus port (+10000) is free too.
func clusterPort(t testing.TB) int {
	t.Helper()
	for range 100 {
		_, p, _ := strings.Cut(testkit.FreeAddr(t), ":")
		port, _ := strconv.Atoi(p)
		if port+10000 > 65535 {
			continue
		}
		if bus, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port+10000)); err == nil {
			_ = bus.Close()
			return port
		}
	}
	t.Fatal("redistest: no free port pair for a cluster node")
	return 0
}

func waitPing(t testing.TB, c *redis.Client) {
	t.Helper()
	for range 100 {
		if c.Ping(context.Background()).Err() == nil {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("redistest: redis-server on %s did not answer within 5s", c.Options().Addr)
}

// Sentinel starts a private Redis master and one Sentinel monitoring it (as
// "creditgate-test") for t alone, and returns the master's name and the Sentinel's
// address; both end with t. Skips or fails like Server without redis-server.
func Sentinel(t testing.TB) (masterName, sentinelAddr string) {
	t.Helper()
	master := Server(t).(*redis.Client).Options().Addr
	dir := t.TempDir()
	sentinelAddr = testkit.FreeAddr(t)
	host, port, _ := strings.Cut(master, ":")
	_, sport, _ := strings.Cut(sentinelAddr, ":")
	conf := fmt.Sprintf("port %s\nbind 127.0.0.1\ndir %s\nsentinel monitor creditgate-test %s %s 1\n", sport, dir, host, port)
	confPath := dir + "/sentinel.conf"
	if err := os.WriteFile(confPath, []byte(conf), 0o600); err != nil {
		t.Fatalf("redistest: %v", err)
	}
	cmd := exec.Command("redis-server", confPath, "--sentinel")
	if err := cmd.Start(); err != nil {
		t.Fatalf("redistest: starting redis-server --sentinel: %v", err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	s := redis.NewSentinelClient(&redis.Options{Addr: sentinelAddr, DialTimeout: time.Second})
	t.Cleanup(func() { _ = s.Close() })
	for range 100 {
		if a, err := s.GetMasterAddrByName(context.Background(), "creditgate-test").Result(); err == nil && len(a) == 2 && a[1] == port {
			return "creditgate-test", sentinelAddr
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("redistest: the Sentinel on %s does not know its master within 5s", sentinelAddr)
	return "", ""
}

// needRedisServer skips t loudly, or fails it when CI=true, without redis-server.
func needRedisServer(t testing.TB) {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		msg := "\n\n!!! TEST NOT RUN: redis-server is not installed (apt-get install redis-server); CI=true turns this skip into a failure\n"
		testkit.Skip(t, msg)
	}
}
