package redisclient_test

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/creditgate/creditgate/internal/redisclient"
	"github.com/creditgate/creditgate/internal/redisclient/redistest"
)

// BenchmarkBatch: 16 goroutines each making one-SET pipelines, each call a round trip
// of its own ("direct", the client's Pipelined) or shared (a Batch with one trip on
// its way). Reports the calls per round trip.
func BenchmarkBatch(b *testing.B) {
	c := redistest.Client(b)
	prefix := redistest.Prefix(b, c)
	for _, mode := range []string{"direct", "batch"} {
		b.Run(mode, func(b *testing.B) {
			var pipes redisclient.Pipes = c
			batch := redisclient.NewBatch(c, 1)
			if mode == "batch" {
				pipes = batch
			}
			var n atomic.Int64
			b.SetParallelism(8) // 16 goroutines on 2 CPUs
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					key := fmt.Sprint(prefix, "k", n.Add(1)%1024)
					if _, err := pipes.Pipelined(b.Context(), func(p redis.Pipeliner) error {
						p.Set(b.Context(), key, "v", time.Minute)
						return nil
					}); err != nil {
						b.Fatal(err)
					}
				}
			})
			if calls, trips := batch.Trips(); trips > 0 {
				b.ReportMetric(float64(calls)/float64(trips), "calls/trip")
			}
		})
	}
}
