package dedup_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/creditgate/creditgate/internal/dedup"
	"github.com/creditgate/creditgate/internal/redisclient/redistest"
)

// BenchmarkClaim is the claim round trip to the Redis at redistest.URL (skipped
// without one, failed in CI), each iteration on a fresh key as in production: "redis"
// with SET NX GET (Redis 7+), "redis-script" with the claim script (Redis 6.x). "claim+complete" is the life of a key that gets credited;
// "parallel" keeps GOMAXPROCS×4 claims in flight over the shared connection pool.
// The in-memory store is there for comparison.
func BenchmarkClaim(b *testing.B) {
	ctx := context.Background()
	const lease, ttl = 30 * time.Second, time.Minute
	stores := func(b *testing.B) map[string]dedup.Store {
		c := redistest.Client(b)
		script := dedup.NewRedis(c, redistest.Prefix(b, c))
		dedup.UseScript(script)
		return map[string]dedup.Store{
			"redis":        dedup.NewRedis(c, redistest.Prefix(b, c)),
			"redis-script": script,
			"memory":       dedup.NewMemory(time.Now),
		}
	}
	for _, name := range []string{"redis", "redis-script", "memory"} {
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

// BenchmarkCredit is the store's part of one credited purchase on the Redis at
// redistest.URL: "one-by-one" is the five round trips the pipeline made before it
// batched (two claims, the purchase record, two done marks); "batched" is what it
// makes now (ClaimEach for both keys, then one SettleFirst with the record first, in
// a MULTI/EXEC; package ledger's RedisBook). The customer map is package ledger's.
func BenchmarkCredit(b *testing.B) {
	ctx := context.Background()
	const lease, ttl = 30 * time.Second, time.Minute
	c := redistest.Client(b)
	prefix := redistest.Prefix(b, c)
	s := dedup.NewRedis(c, prefix)
	record := []byte(`{"purchase_id":"cs_test_1","user_id":"e747de39-1b54-4cd0-96eb-e68f155931e2","credits":100,"amount":999,"currency":"usd","livemode":false,"refunded":0,"disputed":0}`)
	b.Run("one-by-one", func(b *testing.B) {
		token := dedup.NewToken()
		i := 0
		b.ReportAllocs()
		for b.Loop() {
			i++
			n := token + "_" + strconv.Itoa(i) // fresh keys in every run of -count
			ev, pu := "event:bench:evt_"+n, "purchase:bench:cs_"+n
			for _, k := range []string{ev, pu} {
				if st, err := s.Claim(ctx, k, token, lease); err != nil || st != dedup.Claimed {
					b.Fatal(st, err)
				}
			}
			if err := c.SetNX(ctx, prefix+"record:bench:pi_"+n, record, ttl).Err(); err != nil {
				b.Fatal(err)
			}
			for _, k := range []string{ev, pu} {
				if err := s.Complete(ctx, k, ttl); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
	b.Run("batched", func(b *testing.B) {
		token := dedup.NewToken()
		i := 0
		b.ReportAllocs()
		for b.Loop() {
			i++
			n := token + "_" + strconv.Itoa(i) // fresh keys in every run of -count
			cs := []dedup.Claim{{Key: "event:bench:evt_" + n, Token: token}, {Key: "purchase:bench:cs_" + n, Token: token}}
			s.ClaimEach(ctx, lease, cs)
			for _, cl := range cs {
				if cl.Err != nil || cl.State != dedup.Claimed {
					b.Fatal(cl.State, cl.Err)
				}
			}
			if err := s.SettleFirst(ctx, dedup.Settlement{Keys: []string{cs[0].Key, cs[1].Key}, TTL: ttl},
				dedup.Put{Key: "record:bench:pi_" + n, Value: record}); err != nil {
				b.Fatal(err)
			}
		}
	})
}
