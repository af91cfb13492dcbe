package dedup_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/creditgate/creditgate/internal/dedup"
	"github.com/creditgate/creditgate/internal/redisclient/redistest"
)

// BenchmarkClaim is the claim round trip: one Lua script call to the Redis at
// redistest.URL (skipped without one, failed in CI), each iteration on a fresh key as
// in production. "claim+complete" is the life of a key that gets credited;
// "parallel" keeps GOMAXPROCS×4 claims in flight over the shared connection pool.
// The in-memory store is there for comparison.
func BenchmarkClaim(b *testing.B) {
	ctx := context.Background()
	const lease, ttl = 30 * time.Second, time.Minute
	stores := func(b *testing.B) map[string]dedup.Store {
		c := redistest.Client(b)
		return map[string]dedup.Store{
			"redis":  dedup.NewRedis(c, redistest.Prefix(b, c)),
			"memory": dedup.NewMemory(time.Now),
		}
	}
	for _, name := range []string{"redis", "memory"} {
		b.Run(name+"/claim", func(b *testing.B) {
			s := stores(b)[name]
			token := dedup.NewToken()
			i := 0
			b.ReportAllocs()
			for b.Loop() {
				i++
				st, err := s.Claim(ctx, "event:bench:evt_"+strconv.Itoa(i), token, lease)
				if err != nil || st != dedup.Claimed {
					b.Fatal(st, err)
				}
			}
		})
		b.Run(name+"/claim+complete", func(b *testing.B) {
			s := stores(b)[name]
			token := dedup.NewToken()
			i := 0
			b.ReportAllocs()
			for b.Loop() {
				i++
				key := "purchase:bench:cs_" + strconv.Itoa(i)
				if st, err := s.Claim(ctx, key, token, lease); err != nil || st != dedup.Claimed {
					b.Fatal(st, err)
				}
				if err := s.Complete(ctx, key, ttl); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(name+"/parallel", func(b *testing.B) {
			s := stores(b)[name]
			b.SetParallelism(4)
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				token := dedup.NewToken()
				i := 0
				for pb.Next() {
					i++
					if st, err := s.Claim(ctx, "event:bench:"+token+":"+strconv.Itoa(i), token, lease); err != nil || st != dedup.Claimed {
						b.Error(st, err)
						return
					}
				}
			})
		})
	}
}
