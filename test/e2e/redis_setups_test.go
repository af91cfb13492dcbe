package e2e

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/creditgate/creditgate/internal/redisclient/redistest"
)

// Tests of the Redis setups the README names: an ACL user, Cluster, Sentinel.

// readmeACL is the ACL the README's Operations section gives a creditgate user
// (besides its key pattern). Keep the two equal.
const readmeACL = "+@read +@write +@scripting +@transaction -@dangerous +ping +hello +client|setname"

// TestRedisACLUser runs creditgate as a Redis ACL user with exactly the README's
// permissions, on a private redis-server: a purchase, its redelivery, a refund of it
// (the purchase record written in the settlement's MULTI/EXEC), a dead letter and
// `dlq list` all work, and a command outside the ACL is refused to that user.
func TestRedisACLUser(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	must(t, err)
	if !strings.Contains(string(readme), readmeACL) {
		t.Fatalf("README.md does not give the ACL this test runs with: %s", readmeACL)
	}
	own := redistest.Server(t)
	ctx := context.Background()
	args := []any{"ACL", "SETUSER", "creditgate", "on", ">acl-test-pw", "resetkeys", "~cgtest:e2e:*", "-@all"}
	for _, a := range strings.Fields(readmeACL) {
		args = append(args, a)
	}
	must(t, own.Do(ctx, args...).Err())
	addr := own.(*redis.Client).Options().Addr

	as := redis.NewClient(&redis.Options{Addr: addr, Username: "creditgate", Password: "acl-test-pw"})
	defer as.Close()
	if err := as.FlushAll(ctx).Err(); err == nil || !strings.Contains(err.Error(), "NOPERM") {
		t.Fatalf("FLUSHALL as the ACL user: %v, want NOPERM (the ACL is not in force)", err)
	}

	b := newBackend(t)
	p := startProxy(t, b, options{
		redisURL:   "redis://creditgate:acl-test-pw@" + addr + "/0",
		extraRoute: scenarioEvents,
	})
	purchaseRefundDeadLetter(t, p, b)
	if strings.Contains(p.logs.String(), "NOPERM") {
		t.Errorf("creditgate met NOPERM:\n%s", p.logs.String())
	}
}

// TestRedisClusterStore runs the real program on a private three-node Redis Cluster
// (redis.cluster_addrs): the claims of one delivery, the settlement, the purchase
// record, the customer map and the dead-letter hash live on different nodes.
func TestRedisClusterStore(t *testing.T) {
	addrs := redistest.Cluster(t)
	b := newBackend(t)
	p := startProxy(t, b, options{
		redisYAML:  fmt.Sprintf("redis:\n  cluster_addrs: [%q, %q, %q]\n  key_prefix: \"cgtest:e2e:cluster:\"\n  dial_timeout: 300ms\n", addrs[0], addrs[1], addrs[2]),
		extraRoute: scenarioEvents,
	})
	purchaseRefundDeadLetter(t, p, b)
	c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs})
	defer c.Close()
	n, err := c.DBSize(context.Background()).Result()
	if err != nil || n == 0 {
		t.Errorf("the cluster holds %d keys (%v); creditgate wrote elsewhere", n, err)
	}
}

// TestRedisSentinelStore runs the real program through a private Redis Sentinel
// (redis.sentinel): the master is found through the Sentinel, and the settlement's
// MULTI/EXEC goes to it.
func TestRedisSentinelStore(t *testing.T) {
	name, addr := redistest.Sentinel(t)
	b := newBackend(t)
	p := startProxy(t, b, options{
		redisYAML:  fmt.Sprintf("redis:\n  sentinel:\n    master_name: %q\n    addrs: [%q]\n  key_prefix: \"cgtest:e2e:sentinel:\"\n  dial_timeout: 300ms\n", name, addr),
		extraRoute: scenarioEvents,
	})
	purchaseRefundDeadLetter(t, p, b)
}

// scenarioEvents is the route's event list purchaseRefundDeadLetter needs.
const scenarioEvents = "    events: [checkout.session.completed, charge.refunded]\n"

// purchaseRefundDeadLetter exercises every kind of store write through p: a purchase
// and its redelivery (claims, settlement, purchase record), a full refund of it (the
// record found), an event without a user id (the dead-letter list) and dlq list.
func purchaseRefundDeadLetter(t *testing.T, p *proxy, b *backend) {
	t.Helper()
	evt, cs := newIDs()
	pi := "pi_e2e_" + randHex(8)
	purchase := mutate(t, withIDs(t, paidFixture, evt, cs), func(o, _ map[string]any) { o["payment_intent"] = pi })
	for i, want := range []string{"forwarded", "duplicate"} {
		if a := p.deliver(purchase); a.Code != 200 || a.Status != want {
			t.Fatalf("delivery %d: %d %s, want 200 %s", i+1, a.Code, a.Status, want)
		}
	}
	credits := b.credited()[cs].Credits
	refundEvt := "evt_e2e_refund_" + randHex(6)
	refund := mutate(t, withIDs(t, "charge_refunded_partial.json", refundEvt, "ch_e2e_"+randHex(6)), func(o, _ map[string]any) {
		o["payment_intent"], o["amount"], o["amount_refunded"], o["refunded"] = pi, 1000, 1000, true
	})
	if a := p.deliver(refund); a.Code != 200 || a.Status != "forwarded" {
		t.Fatalf("refund: %d %s, want 200 forwarded", a.Code, a.Status)
	}
	if r := b.credited()[refundEvt]; r.Credits != -credits {
		t.Fatalf("refund moved %d credits, want %d", r.Credits, -credits)
	}
	m := p.metrics(t)
	for _, want := range []string{
		fmt.Sprintf("creditgate_credits_granted_total{route=\"main\"} %d\n", credits),
		fmt.Sprintf("creditgate_credits_reversed_total{route=\"main\"} %d\n", credits),
	} {
		if !strings.Contains(m, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	noUserEvt, noUserCS := newIDs()
	noUser := mutate(t, withIDs(t, paidFixture, noUserEvt, noUserCS), func(o, _ map[string]any) {
		delete(o["metadata"].(map[string]any), "user_id")
		o["client_reference_id"], o["customer"] = nil, nil
	})
	if a := p.deliver(noUser); a.Code != 200 || a.Status != "dead_lettered" {
		t.Fatalf("no user id: %d %s, want 200 dead_lettered", a.Code, a.Status)
	}
	out, err := p.runCLI("dlq", "list", "--config", p.cfgPath)
	if err != nil || !strings.Contains(out, noUserEvt) {
		t.Fatalf("dlq list: %v\n%s", err, out)
	}
}
