package e2e

import (
	"context"
	"fmt"
	"net"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/creditgate/creditgate/internal/redisclient/redistest"
)

// TestFailoverDrill runs the real program through a live Sentinel whose primary has
// one replica, with redis.wait_replicas: 1. Right after Stripe got its 200 for a credit
// and for a parked event, the primary dies (SHUTDOWN NOSAVE: no goodbye to anyone) and
// the replica is promoted: it holds every done marker and the dead-letter entry, so a
// redelivery is a duplicate and nothing answered 200 is lost. Asking for more
// replicas than there are answers 503 instead of 200, so Stripe delivers again.
func TestFailoverDrill(t *testing.T) {
	requireRedis(t)
	ctx := context.Background()
	name, sentinelAddr := redistest.Sentinel(t)
	sc := redis.NewSentinelClient(&redis.Options{Addr: sentinelAddr})
	defer sc.Close()
	hostPort, err := sc.GetMasterAddrByName(ctx, name).Result()
	must(t, err)
	primaryAddr := net.JoinHostPort(hostPort[0], hostPort[1])
	replica := redistest.Replica(t, primaryAddr)
	const prefix = "cgtest:e2e:failover:"
	sentinelYAML := func(replicas int) string {
		return fmt.Sprintf("redis:\n  sentinel:\n    master_name: %q\n    addrs: [%q]\n  key_prefix: %q\n  dial_timeout: 300ms\n  wait_replicas: %d\n  wait_timeout: 500ms\n",
			name, sentinelAddr, prefix, replicas)
	}

	parkedEvt, parkedCS := newIDs()
	noUser := mutate(t, withIDs(t, paidFixture, parkedEvt, parkedCS), func(o, _ map[string]any) {
		delete(o["metadata"].(map[string]any), "user_id")
		o["client_reference_id"], o["customer"] = nil, nil
	})
	// More replicas than exist: a parked event, which is not credited, never gets a 200
	// that a failover could take back. (A credit the backend has is answered 200
	// anyway: delivered is delivered; its done markers only spare the backend a 409.)
	b := newBackend(t)
	p := startProxy(t, b, options{redisYAML: sentinelYAML(2)})
	if a := p.deliver(noUser); a.Code != 503 || a.Status != "store_unavailable" {
		t.Fatalf("wait_replicas 2 with one replica: %d %s, want 503 store_unavailable", a.Code, a.Status)
	}
	must(t, p.stop())

	p = startProxy(t, b, options{redisYAML: sentinelYAML(1)})
	evt, cs := newIDs()
	if a := p.deliver(withIDs(t, paidFixture, evt, cs)); a.Code != 200 || a.Status != "forwarded" {
		t.Fatalf("the credit: %d %s, want 200 forwarded", a.Code, a.Status)
	}
	if a := p.deliver(noUser); a.Code != 200 || a.Status != "dead_lettered" {
		t.Fatalf("the parked event: %d %s, want 200 dead_lettered", a.Code, a.Status)
	}

	// The primary dies right after the 200s; the replica takes over.
	primary := redis.NewClient(&redis.Options{Addr: primaryAddr})
	defer primary.Close()
	_ = primary.Do(ctx, "SHUTDOWN", "NOSAVE").Err() // the connection drops: no reply
	must(t, replica.Do(ctx, "REPLICAOF", "NO", "ONE").Err())

	for _, key := range []string{prefix + "event:main:" + evt, prefix + "purchase:main:" + cs, prefix + "event:main:" + parkedEvt} {
		if v, err := replica.Get(ctx, key).Result(); err != nil || v != "done" {
			t.Errorf("after the failover %s = %q, %v; want done", key, v, err)
		}
	}
	if ok, err := replica.HExists(ctx, prefix+"deadletter", "main:"+parkedEvt).Result(); err != nil || !ok {
		t.Errorf("after the failover the dead-letter entry main:%s is gone (%v)", parkedEvt, err)
	}
	if n := len(b.credited()); n != 1 {
		t.Errorf("backend holds %d credits, want 1", n)
	}
	redistest.Clean(ctx, replica, prefix)
}
