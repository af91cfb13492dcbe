package ledger_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/creditgate/creditgate/internal/dedup"
	"github.com/creditgate/creditgate/internal/ledger"
	"github.com/creditgate/creditgate/internal/redisclient"
	"github.com/creditgate/creditgate/internal/redisclient/redistest"
	"github.com/creditgate/creditgate/internal/storekey"
)

// TestPayments runs the payments' behaviour on memory and real Redis (plain commands,
// shared round trips, and the script of Redis 6.x): the first purchase id holds a
// payment, a later one is answered the first, routes do not share, a hold refreshes
// the ttl, and a held payment expires.
func TestPayments(t *testing.T) {
	var now time.Time
	stores := []struct {
		name string
		new  func(t *testing.T) (ledger.Payments, func(time.Duration))
	}{
		{"memory", func(*testing.T) (ledger.Payments, func(time.Duration)) {
			now = time.Unix(1000, 0)
			return ledger.NewMemoryPayments(func() time.Time { return now }), func(d time.Duration) { now = now.Add(d) }
		}},
		{"redis", func(t *testing.T) (ledger.Payments, func(time.Duration)) {
			rc := redistest.Client(t)
			return ledger.NewRedisPayments(rc, redistest.Prefix(t, rc)), func(d time.Duration) { time.Sleep(d) }
		}},
		{"redis-batched", func(t *testing.T) (ledger.Payments, func(time.Duration)) {
			rc := redistest.Client(t)
			p := ledger.NewRedisPayments(rc, redistest.Prefix(t, rc))
			p.Pipes = redisclient.NewBatch(rc, 1)
			return p, func(d time.Duration) { time.Sleep(d) }
		}},
		{"redis-6-script", func(t *testing.T) (ledger.Payments, func(time.Duration)) {
			rc := redistest.Client(t)
			rc.AddHook(redistest.RefuseSetGet{})
			return ledger.NewRedisPayments(rc, redistest.Prefix(t, rc)), func(d time.Duration) { time.Sleep(d) }
		}},
	}
	for _, s := range stores {
		t.Run(s.name, func(t *testing.T) {
			ctx := context.Background()
			st, wait := s.new(t)
			ttl := 300 * time.Millisecond
			steps := []struct{ route, id, held string }{
				{"main", "in_1", "in_1"},  // first: holds
				{"main", "cs_1", "in_1"},  // a later id is answered the first
				{"main", "in_1", "in_1"},  // the holder again
				{"other", "cs_1", "cs_1"}, // another route holds its own
			}
			for i, step := range steps {
				held, err := st.Hold(ctx, step.route, "pi_1", step.id, ttl)
				if err != nil || held != step.held {
					t.Fatalf("step %d: Hold(%s, %s) = %q %v, want %q", i, step.route, step.id, held, err, step.held)
				}
			}
			wait(200 * time.Millisecond)
			_, _ = st.Hold(ctx, "main", "pi_1", "cs_1", ttl) // refreshes, as any hold does
			wait(200 * time.Millisecond)
			if held, _ := st.Hold(ctx, "main", "pi_1", "cs_1", ttl); held != "in_1" {
				t.Fatalf("a refreshed payment expired: held by %q", held)
			}
			wait(400 * time.Millisecond)
			if held, _ := st.Hold(ctx, "main", "pi_1", "cs_1", ttl); held != "cs_1" {
				t.Fatalf("a payment outlived its ttl: held by %q", held)
			}
			for _, bad := range [][3]string{{"", "pi_1", "in_1"}, {"main", "", "in_1"}, {"main", "pi_1", ""}} {
				if _, err := st.Hold(ctx, bad[0], bad[1], bad[2], ttl); !errors.Is(err, dedup.ErrInvalid) {
					t.Errorf("Hold(%q) = %v, want ErrInvalid", bad, err)
				}
			}
			if _, err := st.Hold(ctx, "main", "pi_2", "in_2", 0); !errors.Is(err, dedup.ErrInvalid) {
				t.Errorf("Hold with ttl 0 = %v, want ErrInvalid", err)
			}
		})
	}
	t.Run("redis keys", func(t *testing.T) {
		rc := redistest.Client(t)
		prefix := redistest.Prefix(t, rc)
		st := ledger.NewRedisPayments(rc, prefix)
		if _, err := st.Hold(t.Context(), "main", "pi_k", "in_k", time.Minute); err != nil {
			t.Fatal(err)
		}
		if v := rc.Get(t.Context(), prefix+storekey.Payment("main", "pi_k")).Val(); v != "in_k" {
			t.Errorf("the payment's key holds %q", v)
		}
		if id, ok, err := st.Held(t.Context(), "main", "pi_k"); id != "in_k" || !ok || err != nil {
			t.Errorf("Held = %q %t %v, want in_k", id, ok, err)
		}
		if _, ok, err := st.Held(t.Context(), "main", "pi_none"); ok || err != nil {
			t.Errorf("Held of a payment nobody holds: %t %v", ok, err)
		}
	})
	t.Run("memory held", func(t *testing.T) {
		st := ledger.NewMemoryPayments(nil)
		if _, err := st.Hold(t.Context(), "main", "pi_k", "in_k", time.Minute); err != nil {
			t.Fatal(err)
		}
		if id, ok, _ := st.Held(t.Context(), "main", "pi_k"); id != "in_k" || !ok {
			t.Errorf("Held = %q %t, want in_k", id, ok)
		}
		if _, ok, _ := st.Held(t.Context(), "other", "pi_k"); ok {
			t.Error("another route sees the hold")
		}
	})
	t.Run("redis replicas", func(t *testing.T) {
		// A hold counts only once the replicas have it: read from the replica right
		// after it; asking for more replicas than there are is a failure (the hold stays).
		primary := redistest.Server(t)
		replica := redistest.Replica(t, primary.(*redis.Client).Options().Addr)
		st := ledger.NewRedisPayments(primary, "p:")
		st.Replication = redisclient.Replication{Replicas: 1, Timeout: 5 * time.Second}
		if held, err := st.Hold(t.Context(), "main", "pi_r", "in_r", time.Minute); err != nil || held != "in_r" {
			t.Fatalf("Hold with one replica = %q, %v", held, err)
		}
		if v, err := replica.Get(t.Context(), "p:"+storekey.Payment("main", "pi_r")).Result(); err != nil || v != "in_r" {
			t.Fatalf("the replica has %q, %v right after the hold", v, err)
		}
		st.Replication = redisclient.Replication{Replicas: 2, Timeout: 100 * time.Millisecond}
		_, err := st.Hold(t.Context(), "main", "pi_s", "in_s", time.Minute)
		if !errors.Is(err, dedup.ErrUnavailable) || !errors.Is(err, redisclient.ErrNotReplicated) {
			t.Fatalf("Hold with two replicas asked, one there: %v", err)
		}
		if v := primary.Get(t.Context(), "p:"+storekey.Payment("main", "pi_s")).Val(); v != "in_s" {
			t.Errorf("the hold itself was not kept: %q", v)
		}
	})
	t.Run("redis unreachable", func(t *testing.T) {
		st := ledger.NewRedisPayments(redistest.Unreachable(t), "x:")
		if _, err := st.Hold(context.Background(), "main", "pi_1", "in_1", time.Minute); !errors.Is(err, dedup.ErrUnavailable) {
			t.Errorf("Hold = %v, want ErrUnavailable", err)
		}
		if _, _, err := st.Held(context.Background(), "main", "pi_1"); !errors.Is(err, dedup.ErrUnavailable) {
			t.Errorf("Held = %v, want ErrUnavailable", err)
		}
	})
}
