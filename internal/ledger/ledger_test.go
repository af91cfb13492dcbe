package ledger_test

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/creditgate/creditgate/internal/dedup"
	"github.com/creditgate/creditgate/internal/ledger"
	"github.com/creditgate/creditgate/internal/redisclient/redistest"
	"github.com/creditgate/creditgate/internal/storekey"
)

// TestStores runs one behaviour list against the in-memory store and real Redis.
func TestStores(t *testing.T) {
	stores := []struct {
		name string
		new  func(t *testing.T) ledger.Store
	}{
		{"memory", func(*testing.T) ledger.Store { return ledger.NewMemory(nil) }},
		{"redis", func(t *testing.T) ledger.Store {
			c := redistest.Client(t)
			return ledger.NewRedis(c, redistest.Prefix(t, c))
		}},
	}
	for _, s := range stores {
		t.Run(s.name, func(t *testing.T) {
			ctx := context.Background()
			st := s.new(t)
			key := storekey.Record("main", "pi_1")
			if _, ok, err := st.Get(ctx, key); ok || err != nil {
				t.Fatalf("Get on empty: %t %v", ok, err)
			}
			r := ledger.Record{PurchaseID: "cs_1", UserID: "u", Credits: 100, Amount: 999}
			if created, err := st.Create(ctx, key, r, time.Hour); !created || err != nil {
				t.Fatalf("Create: %t %v", created, err)
			}
			r.Money.AddRefunds(10, 250, 0, false)
			r.Money.AddDispute("dp_1", "needs_response", 249)
			r.Reversed, r.Pending = 25, "evt_1"
			if err := st.Put(ctx, key, r, time.Hour); err != nil {
				t.Fatal(err)
			}
			// A second Create (a grant credited twice) never resets the progress.
			if created, err := st.Create(ctx, key, ledger.Record{PurchaseID: "cs_1", Credits: 100}, time.Hour); created || err != nil {
				t.Fatalf("second Create: %t %v", created, err)
			}
			got, ok, err := st.Get(ctx, key)
			if !ok || err != nil || !reflect.DeepEqual(got, r) || got.Taken() != 49 {
				t.Fatalf("Get = %+v %t %v, want %+v", got, ok, err, r)
			}
			for _, bad := range []struct {
				key string
				ttl time.Duration
			}{{"", time.Hour}, {key, 0}} {
				if err := st.Put(ctx, bad.key, r, bad.ttl); !errors.Is(err, dedup.ErrInvalid) {
					t.Errorf("Put(%q, %s) = %v, want ErrInvalid", bad.key, bad.ttl, err)
				}
			}
		})
	}
	t.Run("memory expiry", func(t *testing.T) {
		now := time.Unix(1000, 0)
		m := ledger.NewMemory(func() time.Time { return now })
		ctx := context.Background()
		_, _ = m.Create(ctx, "k", ledger.Record{Credits: 1}, time.Minute)
		now = now.Add(time.Minute)
		if _, ok, _ := m.Get(ctx, "k"); ok {
			t.Error("record outlived its ttl")
		}
		if created, _ := m.Create(ctx, "k", ledger.Record{Credits: 2}, time.Minute); !created {
			t.Error("Create after expiry did not create")
		}
	})
	t.Run("redis unreachable", func(t *testing.T) {
		st := ledger.NewRedis(redistest.Unreachable(t), "x:")
		if _, _, err := st.Get(context.Background(), "k"); !errors.Is(err, dedup.ErrUnavailable) {
			t.Errorf("Get = %v, want ErrUnavailable", err)
		}
	})
}

// TestOlderRecord: a record written before reversals kept their money facts keeps
// what it took back as a floor, so the next refund takes only what is new.
func TestOlderRecord(t *testing.T) {
	ctx := context.Background()
	c := redistest.Client(t)
	prefix := redistest.Prefix(t, c)
	st := ledger.NewRedis(c, prefix)
	old := `{"purchase_id":"cs_1","user_id":"u","credits":100,"amount":1000,"livemode":false,"refunded":25,"disputed":50,"pending":""}`
	if err := c.Set(ctx, prefix+"record:main:pi_1", old, time.Hour).Err(); err != nil {
		t.Fatal(err)
	}
	r, ok, err := st.Get(ctx, storekey.Record("main", "pi_1"))
	if !ok || err != nil || r.Reversed != 75 || r.Taken() != 75 {
		t.Fatalf("Get = %+v %t %v, want 75 reversed and taken", r, ok, err)
	}
	r.Money.AddRefunds(10, 250, 0, false) // the same 25 credits, refunded before: nothing new
	if r.Taken() != 75 {
		t.Errorf("Taken after the old refund's snapshot = %d, want 75", r.Taken())
	}
	r.Money.AddRefunds(20, 900, 0, false)
	if r.Taken() != 90 {
		t.Errorf("Taken after a larger refund = %d, want 90", r.Taken())
	}
	if err := st.Put(ctx, storekey.Record("main", "pi_1"), r, time.Hour); err != nil {
		t.Fatal(err)
	}
	if back, _, _ := st.Get(ctx, storekey.Record("main", "pi_1")); !reflect.DeepEqual(back, r) {
		t.Errorf("round trip %+v, want %+v", back, r)
	}
}
