package e2e

import (
	"context"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/creditgate/creditgate/internal/testkit"
)

// ownRedis is a redis-server this test starts and kills, on its own port, so the
// shared one on 6379 is never disturbed.
type ownRedis struct {
	t    *testing.T
	addr string
	dir  string
	cmd  *exec.Cmd
}

func newOwnRedis(t *testing.T) *ownRedis {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		testkit.Skip(t, "SKIPPED: redis-server not installed; the Redis outage tests need it")
	}
	r := &ownRedis{t: t, addr: testkit.FreeAddr(t), dir: t.TempDir()}
	t.Cleanup(r.stop)
	return r
}

func (r *ownRedis) start() {
	r.t.Helper()
	port := r.addr[strings.LastIndex(r.addr, ":")+1:]
	r.cmd = exec.Command("redis-server", "--port", port, "--bind", "127.0.0.1", "--save", "",
		"--appendonly", "yes", "--appendfsync", "always", "--dir", r.dir, "--logfile", "")
	must(r.t, r.cmd.Start())
	c := redis.NewClient(&redis.Options{Addr: r.addr})
	defer c.Close()
	for i := 0; i < 100; i++ {
		if c.Ping(context.Background()).Err() == nil {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	r.t.Fatal("own redis-server did not start")
}

func (r *ownRedis) stop() {
	if r.cmd != nil && r.cmd.Process != nil {
		_ = r.cmd.Process.Kill()
		_ = r.cmd.Wait()
		r.cmd = nil
	}
}

func (p *proxy) ready(t *testing.T) int {
	t.Helper()
	resp, err := http.Get(p.admin + "/readyz")
	must(t, err)
	resp.Body.Close()
	return resp.StatusCode
}

func (p *proxy) waitReady(t *testing.T, want int) {
	t.Helper()
	for i := 0; i < 100; i++ {
		if p.ready(t) == want {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("/readyz never became %d", want)
}

// TestRedisOutages: Redis unreachable at start and lost while running. creditgate
// starts anyway (not ready), answers 503 store_unavailable so Stripe retries, and
// recovers by itself when Redis is back, without a restart and without losing or
// doubling a credit. The dead-letter list survives the Redis restart (AOF).
func TestRedisOutages(t *testing.T) {
	r := newOwnRedis(t)
	b := newBackend(t)
	p := startProxy(t, b, options{redisURL: "redis://" + r.addr + "/0"})

	// 1. Unreachable at start.
	if code := p.ready(t); code != 503 {
		t.Fatalf("/readyz without Redis = %d, want 503", code)
	}
	evt, cs := newIDs()
	first := withIDs(t, paidFixture, evt, cs)
	if a := p.deliver(first); a.Code != 503 || a.Status != "store_unavailable" {
		t.Fatalf("without Redis: %d %s", a.Code, a.Status)
	}
	// 2. Redis comes up: ready, and Stripe's retry credits.
	r.start()
	p.waitReady(t, 200)
	if a := p.deliver(first); a.Status != "forwarded" {
		t.Fatalf("after Redis came up: %s", a.Status)
	}
	// A parked entry, to check it survives the restart.
	evtDL, csDL := newIDs()
	noUser := mutate(t, withIDs(t, paidFixture, evtDL, csDL), func(o, _ map[string]any) {
		delete(o["metadata"].(map[string]any), "user_id")
		o["customer"] = nil
	})
	if a := p.deliver(noUser); a.Status != "dead_lettered" {
		t.Fatalf("no user: %s", a.Status)
	}
	// 3. Lost while running.
	r.stop()
	evt2, cs2 := newIDs()
	second := withIDs(t, paidFixture, evt2, cs2)
	if a := p.deliver(second); a.Code != 503 || a.Status != "store_unavailable" {
		t.Fatalf("Redis lost: %d %s", a.Code, a.Status)
	}
	p.waitReady(t, 503)
	// 4. Back again (same data directory, AOF): recovery without restart.
	r.start()
	p.waitReady(t, 200)
	if a := p.deliver(second); a.Status != "forwarded" {
		t.Fatalf("after Redis returned: %s", a.Status)
	}
	if a := p.deliver(first); a.Status != "duplicate" {
		t.Fatalf("the first purchase after the restart: %s (the done marker must survive with AOF)", a.Status)
	}
	if n := len(b.credited()); n != 2 {
		t.Fatalf("credited %d purchases, want 2", n)
	}
	out, err := p.runCLI("dlq", "list", "--config", p.cfgPath)
	if err != nil || !strings.Contains(out, "main:"+evtDL) {
		t.Fatalf("the parked entry did not survive the Redis restart: %v\n%s", err, out)
	}
	logs := p.logs.String()
	if !strings.Contains(logs, `"result":"store_unavailable"`) {
		t.Error("no canonical line says store_unavailable")
	}
}

// TestReplayDuringBackendOutage: a replay while the backend is down leaves the entry
// in place and says why; a later replay credits once.
func TestReplayDuringBackendOutage(t *testing.T) {
	requireRedis(t)
	b := newBackend(t)
	b.set(func(b *backend) { b.answer = func(int) int { return http.StatusBadRequest } })
	p := startProxy(t, b, options{budget: "1s"})
	evt, cs := newIDs()
	if a := p.deliver(withIDs(t, paidFixture, evt, cs)); a.Status != "dead_lettered" {
		t.Fatalf("first: %s", a.Status)
	}
	b.set(func(b *backend) { b.answer = func(int) int { return http.StatusServiceUnavailable } })
	out, err := p.runCLI("dlq", "replay", "main:"+evt, "--config", p.cfgPath)
	if err == nil || !strings.Contains(out, "backend_unavailable") {
		t.Fatalf("replay during the outage: err=%v\n%s", err, out)
	}
	out, _ = p.runCLI("dlq", "list", "--config", p.cfgPath)
	if !strings.Contains(out, "main:"+evt) {
		t.Fatalf("the entry vanished during the outage:\n%s", out)
	}
	b.set(func(b *backend) { b.answer = nil })
	out, err = p.runCLI("dlq", "replay", "main:"+evt, "--config", p.cfgPath)
	if err != nil || !strings.Contains(out, "entry removed") {
		t.Fatalf("replay after the outage: %v\n%s", err, out)
	}
	if _, ok := b.credited()[cs]; !ok || len(b.credited()) != 1 {
		t.Fatalf("credits = %v", b.credited())
	}
}
