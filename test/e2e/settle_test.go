package e2e

import (
	"context"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/creditgate/creditgate/internal/storekey"
)

// TestStopWaitsForTheSettlement: on a route that takes no credits back, a grant is
// answered before its settlement lands (docs/design.md §4, "Answered before the
// settlement"). Told to stop right after that answer, serve must still write the
// settlement before it closes Redis: here Redis holds every write for 400 ms (CLIENT
// PAUSE, sent from the backend just before its 200), so the settlement is still on its
// way when the answer arrives and the stop begins. A server that closed Redis first
// would leave both keys in flight.
func TestStopWaitsForTheSettlement(t *testing.T) {
	requireRedis(t)
	r := newOwnRedis(t) // CLIENT PAUSE stops every client: not the shared Redis
	r.start()
	rdb := redis.NewClient(&redis.Options{Addr: r.addr})
	t.Cleanup(func() { _ = rdb.Close() })
	b := newBackend(t)
	b.set(func(b *backend) {
		b.answer = func(int) int {
			must(t, rdb.Do(context.Background(), "CLIENT", "PAUSE", 400, "WRITE").Err())
			return 200
		}
	})
	p := startProxy(t, b, options{redisURL: "redis://" + r.addr + "/0"})
	evt, cs := newIDs()
	if a := p.deliver(withIDs(t, paidFixture, evt, cs)); a.Code != 200 || a.Status != "forwarded" {
		t.Fatalf("delivery: %d %s (%s)", a.Code, a.Status, a.Raw)
	}
	if err := p.stop(); err != nil {
		t.Fatalf("serve returned %v", err)
	}
	for _, k := range []string{storekey.Event("main", evt), storekey.Purchase("main", cs)} {
		if v := rdb.Get(context.Background(), p.prefix+k).Val(); v != "done" {
			t.Errorf("%s is %q after serve returned, want done", k, v)
		}
	}
	if n := len(b.credited()); n != 1 {
		t.Fatalf("credited %d times", n)
	}
}
