package ledger_test

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/creditgate/creditgate/internal/dedup"
	"github.com/creditgate/creditgate/internal/ledger"
	"github.com/creditgate/creditgate/internal/redisclient"
	"github.com/creditgate/creditgate/internal/redisclient/redistest"
	"github.com/creditgate/creditgate/internal/storekey"
)

// books are the Books creditgate wires, with the marks and records they write: the
// in-memory stores apart, and one Redis or Redis Cluster under one prefix.
func books() []struct {
	name string
	new  func(t *testing.T) (ledger.Book, dedup.Store, ledger.Store)
} {
	return []struct {
		name string
		new  func(t *testing.T) (ledger.Book, dedup.Store, ledger.Store)
	}{
		{"memory", func(*testing.T) (ledger.Book, dedup.Store, ledger.Store) {
			marks, records := dedup.NewMemory(nil), ledger.NewMemory(nil)
			return ledger.NewBook(marks, records), marks, records
		}},
		{"redis", func(t *testing.T) (ledger.Book, dedup.Store, ledger.Store) {
			c := redistest.Client(t)
			b := ledger.NewRedisBook(c, redistest.Prefix(t, c))
			return b, b.Marks, b.Records
		}},
		{"redis-batched", func(t *testing.T) (ledger.Book, dedup.Store, ledger.Store) {
			c := redistest.Client(t)
			b := ledger.NewRedisBook(c, redistest.Prefix(t, c))
			b.Marks.Pipes = redisclient.NewBatch(c, 1)
			return b, b.Marks, b.Records
		}},
		{"cluster", func(t *testing.T) (ledger.Book, dedup.Store, ledger.Store) {
			c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: redistest.Cluster(t)})
			t.Cleanup(func() { _ = c.Close() })
			b := ledger.NewRedisBook(c, redistest.Prefix(t, c))
			return b, b.Marks, b.Records
		}},
	}
}

// TestBooks: a settlement marks its keys done and creates its record, which the
// records store then finds; a second record for the same purchase never replaces the
// first (its reversal progress stays); a settlement without a record only marks; an
// invalid settlement or record is refused before anything is written.
func TestBooks(t *testing.T) {
	for _, bk := range books() {
		t.Run(bk.name, func(t *testing.T) {
			ctx := context.Background()
			book, marks, records := bk.new(t)
			key := storekey.Record("main", "pi_book")
			r := ledger.Record{PurchaseID: "cs_1", UserID: "u", Credits: 100, Amount: 999, Currency: "eur"}
			e, err := ledger.NewEntry(key, r, 4320*time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			if st, err := marks.Claim(ctx, "event:main:evt_1", "tok", time.Minute); st != dedup.Claimed || err != nil {
				t.Fatalf("Claim: %v %v", st, err)
			}
			if err := book.Settle(ctx, dedup.Settlement{Keys: []string{"event:main:evt_1", "purchase:main:cs_1"}, TTL: time.Hour}, e); err != nil {
				t.Fatalf("Settle: %v", err)
			}
			expectState(t, marks, "event:main:evt_1", dedup.Done)
			expectState(t, marks, "purchase:main:cs_1", dedup.Done)
			if got, ok, err := records.Get(ctx, key); !ok || err != nil || !reflect.DeepEqual(got, r) {
				t.Fatalf("record = %+v %t %v, want %+v", got, ok, err, r)
			}

			again, _ := ledger.NewEntry(key, ledger.Record{PurchaseID: "cs_1", Credits: 1}, time.Hour)
			if err := book.Settle(ctx, dedup.Settlement{Keys: []string{"event:main:evt_2"}, TTL: time.Hour}, again); err != nil {
				t.Fatalf("Settle again: %v", err)
			}
			expectState(t, marks, "event:main:evt_2", dedup.Done)
			if got, _, _ := records.Get(ctx, key); !reflect.DeepEqual(got, r) {
				t.Errorf("record after a second entry = %+v, want the first %+v", got, r)
			}

			if err := book.Settle(ctx, dedup.Settlement{Keys: []string{"event:main:evt_3"}, TTL: time.Hour}, nil); err != nil {
				t.Fatalf("Settle without a record: %v", err)
			}
			expectState(t, marks, "event:main:evt_3", dedup.Done)

			if _, err := ledger.NewEntry("", r, time.Hour); !errors.Is(err, dedup.ErrInvalid) {
				t.Errorf("NewEntry with an empty key = %v, want ErrInvalid", err)
			}
			if _, err := ledger.NewEntry(key, r, 0); !errors.Is(err, dedup.ErrInvalid) {
				t.Errorf("NewEntry with ttl 0 = %v, want ErrInvalid", err)
			}
			fresh, _ := ledger.NewEntry(storekey.Record("main", "pi_invalid"), r, time.Hour)
			for _, bad := range []dedup.Settlement{{Keys: []string{"event:main:evt_4", ""}, TTL: time.Hour}, {Keys: []string{"event:main:evt_4"}}} {
				if err := book.Settle(ctx, bad, fresh); !errors.Is(err, dedup.ErrInvalid) {
					t.Errorf("Settle(%+v) = %v, want ErrInvalid", bad, err)
				}
			}
			expectState(t, marks, "event:main:evt_4", dedup.Claimed)
			if _, ok, _ := records.Get(ctx, storekey.Record("main", "pi_invalid")); ok {
				t.Error("a refused settlement created its record")
			}
		})
	}
}

// TestBookRecordFirst: when the record cannot be written, no key is marked done and
// the error says the record may be missing (ErrUnrecorded); a failure without a
// record is only unavailable.
func TestBookRecordFirst(t *testing.T) {
	ctx := context.Background()
	e, _ := ledger.NewEntry(storekey.Record("main", "pi_1"), ledger.Record{Credits: 1}, time.Hour)
	s := dedup.Settlement{Keys: []string{"event:main:evt_1"}, TTL: time.Hour}

	marks := dedup.NewMemory(nil)
	apart := ledger.NewBook(marks, failingCreate{ledger.NewMemory(nil)})
	if err := apart.Settle(ctx, s, e); !errors.Is(err, ledger.ErrUnrecorded) || !errors.Is(err, dedup.ErrUnavailable) {
		t.Errorf("Settle with a failing record = %v, want ErrUnrecorded and ErrUnavailable", err)
	}
	expectState(t, marks, "event:main:evt_1", dedup.Claimed)

	down := ledger.NewRedisBook(redistest.Unreachable(t), "x:")
	if err := down.Settle(ctx, s, e); !errors.Is(err, ledger.ErrUnrecorded) || !errors.Is(err, dedup.ErrUnavailable) {
		t.Errorf("Settle on an unreachable Redis = %v, want ErrUnrecorded and ErrUnavailable", err)
	}
	if err := down.Settle(ctx, s, nil); errors.Is(err, ledger.ErrUnrecorded) || !errors.Is(err, dedup.ErrUnavailable) {
		t.Errorf("Settle without a record on an unreachable Redis = %v, want ErrUnavailable only", err)
	}
}

// failingCreate is a records store whose Create cannot reach it.
type failingCreate struct{ ledger.Store }

func (failingCreate) Create(context.Context, string, ledger.Record, time.Duration) (bool, error) {
	return false, errors.Join(dedup.ErrUnavailable, errors.New("injected: create timed out"))
}

// expectState claims key with a fresh token and wants st; a Claimed key is released.
func expectState(t *testing.T, s dedup.Store, key string, want dedup.State) {
	t.Helper()
	tok := dedup.NewToken()
	got, err := s.Claim(context.Background(), key, tok, time.Minute)
	if err != nil || got != want {
		t.Fatalf("Claim(%s) = %v %v, want %v", key, got, err, want)
	}
	if got == dedup.Claimed {
		_ = s.Release(context.Background(), key, tok)
	}
}
