package ledger_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/creditgate/creditgate/internal/dedup"
	"github.com/creditgate/creditgate/internal/ledger"
	"github.com/creditgate/creditgate/internal/redisclient"
	"github.com/creditgate/creditgate/internal/redisclient/redistest"
	"github.com/creditgate/creditgate/internal/storekey"
)

// TestCustomers runs the customer map's behaviour on memory and real Redis (plain
// commands, and the script of Redis 6.x): the first user holds a customer, a second
// user is reported and does not take it, routes do not share a map, every learn of a
// held customer refreshes its mapping (the holder's or a conflicting user's), and a
// mapping expires.
func TestCustomers(t *testing.T) {
	type clock struct{ now time.Time }
	stores := []struct {
		name string
		new  func(t *testing.T, c *clock) (ledger.Customers, func(time.Duration))
	}{
		{"memory", func(_ *testing.T, c *clock) (ledger.Customers, func(time.Duration)) {
			return ledger.NewMemoryCustomers(func() time.Time { return c.now }), func(d time.Duration) { c.now = c.now.Add(d) }
		}},
		{"redis", func(t *testing.T, _ *clock) (ledger.Customers, func(time.Duration)) {
			rc := redistest.Client(t)
			return ledger.NewRedisCustomers(rc, redistest.Prefix(t, rc)), func(d time.Duration) { time.Sleep(d) }
		}},
		{"redis-batched", func(t *testing.T, _ *clock) (ledger.Customers, func(time.Duration)) {
			rc := redistest.Client(t)
			m := ledger.NewRedisCustomers(rc, redistest.Prefix(t, rc))
			m.Pipes = redisclient.NewBatch(rc, 1)
			return m, func(d time.Duration) { time.Sleep(d) }
		}},
		{"redis-6-script", func(t *testing.T, _ *clock) (ledger.Customers, func(time.Duration)) {
			rc := redistest.Client(t)
			rc.AddHook(redistest.RefuseSetGet{})
			m := ledger.NewRedisCustomers(rc, redistest.Prefix(t, rc))
			m.Pipes = redisclient.NewBatch(rc, 1)
			return m, func(d time.Duration) { time.Sleep(d) }
		}},
	}
	for _, s := range stores {
		t.Run(s.name, func(t *testing.T) {
			ctx := context.Background()
			st, wait := s.new(t, &clock{now: time.Unix(1000, 0)})
			if _, ok, err := st.Customer(ctx, "main", "cus_1"); ok || err != nil {
				t.Fatalf("Customer on empty: %t %v", ok, err)
			}
			steps := []struct {
				route, user, held string
			}{
				{"main", "u1", "u1"},  // learned
				{"main", "u1", "u1"},  // refreshed
				{"main", "u2", "u1"},  // conflict: unchanged
				{"other", "u2", "u2"}, // another route has its own map
			}
			for i, step := range steps {
				held, err := st.Learn(ctx, step.route, "cus_1", step.user, 300*time.Millisecond)
				if err != nil || held != step.held {
					t.Fatalf("step %d: Learn(%s, %s) = %q %v, want %q", i, step.route, step.user, held, err, step.held)
				}
			}
			if u, ok, err := st.Customer(ctx, "main", "cus_1"); u != "u1" || !ok || err != nil {
				t.Fatalf("Customer(main) = %q %t %v, want u1", u, ok, err)
			}
			wait(200 * time.Millisecond)
			_, _ = st.Learn(ctx, "main", "cus_1", "u1", 300*time.Millisecond) // refresh
			wait(200 * time.Millisecond)
			if u, ok, _ := st.Customer(ctx, "main", "cus_1"); u != "u1" || !ok {
				t.Fatalf("a refreshed mapping expired: %q %t", u, ok)
			}
			wait(200 * time.Millisecond)
			if _, ok, _ := st.Customer(ctx, "main", "cus_1"); ok {
				t.Fatal("mapping outlived its ttl")
			}

			if held, err := st.Learn(ctx, "main", "cus_2", "u1", 300*time.Millisecond); held != "u1" || err != nil {
				t.Fatalf("Learn(cus_2, u1) = %q %v", held, err)
			}
			wait(200 * time.Millisecond)
			if held, err := st.Learn(ctx, "main", "cus_2", "u2", 300*time.Millisecond); held != "u1" || err != nil {
				t.Fatalf("Learn(cus_2, u2) = %q %v, want u1 (a conflict)", held, err)
			}
			wait(200 * time.Millisecond)
			if u, ok, _ := st.Customer(ctx, "main", "cus_2"); u != "u1" || !ok {
				t.Fatalf("a mapping seen again in a conflict expired or changed hands: %q %t", u, ok)
			}
			if held, err := st.Learn(ctx, "main", "cus_1", "u2", time.Minute); held != "u2" || err != nil {
				t.Fatalf("Learn after expiry = %q %v", held, err)
			}
			for _, bad := range [][3]string{{"", "cus_1", "u"}, {"main", "", "u"}, {"main", "cus_1", ""}} {
				if _, err := st.Learn(ctx, bad[0], bad[1], bad[2], time.Minute); !errors.Is(err, dedup.ErrInvalid) {
					t.Errorf("Learn(%q) = %v, want ErrInvalid", bad, err)
				}
			}
		})
	}
	t.Run("redis unreachable", func(t *testing.T) {
		st := ledger.NewRedisCustomers(redistest.Unreachable(t), "x:")
		if _, err := st.Learn(context.Background(), "main", "cus_1", "u", time.Minute); !errors.Is(err, dedup.ErrUnavailable) {
			t.Errorf("Learn = %v, want ErrUnavailable", err)
		}
	})
}

// TestRedisCustomersLoadsScript: on a Redis 6.x that has never seen the learn script
// (a fresh or restarted server answers NOSCRIPT), Learn still learns, batched or not.
func TestRedisCustomersLoadsScript(t *testing.T) {
	for _, batched := range []bool{false, true} {
		own := redistest.Server(t)
		own.AddHook(redistest.RefuseSetGet{})
		m := ledger.NewRedisCustomers(own, "p:")
		if batched {
			m.Pipes = redisclient.NewBatch(own, 1)
		}
		held, err := m.Learn(t.Context(), "main", "cus_1", "u1", time.Hour)
		if err != nil || held != "u1" {
			t.Fatalf("batched %t: Learn on a fresh server = %q, %v", batched, held, err)
		}
		if v := own.Get(t.Context(), "p:"+storekey.CustomerMap("main", "cus_1")).Val(); v != "u1" {
			t.Errorf("batched %t: the mapping holds %q", batched, v)
		}
	}
}
