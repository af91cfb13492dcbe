package ledger_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/creditgate/creditgate/internal/ledger"
	"github.com/creditgate/creditgate/internal/redisclient/redistest"
)

// BenchmarkLearn is the customer map's part of one grant on the Redis at
// redistest.URL: one script round trip, a new customer ("learn") or the same user
// again ("refresh", every renewal), next to the in-memory map.
func BenchmarkLearn(b *testing.B) {
	ctx := context.Background()
	c := redistest.Client(b)
	stores := map[string]ledger.Customers{
		"redis":  ledger.NewRedisCustomers(c, redistest.Prefix(b, c)),
		"memory": ledger.NewMemoryCustomers(nil),
	}
	for _, name := range []string{"redis", "memory"} {
		s := stores[name]
		b.Run(name+"/learn", func(b *testing.B) {
			i := 0
			b.ReportAllocs()
			for b.Loop() {
				i++
				if _, err := s.Learn(ctx, "main", "cus_"+strconv.Itoa(i), "user-1", time.Minute); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(name+"/refresh", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if held, err := s.Learn(ctx, "main", "cus_refresh", "user-1", time.Minute); err != nil || held != "user-1" {
					b.Fatal(held, err)
				}
			}
		})
	}
}
