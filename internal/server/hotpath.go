package server

import (
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/creditgate/creditgate/internal/metrics"
	"github.com/creditgate/creditgate/internal/outcome"
)

// Webhook bodies are read into pooled buffers: a Stripe event is a few kilobytes, and
// io.ReadAll would grow a fresh buffer from 512 bytes for every one. Buffers that grew
// past maxPooled (a rare large event) are left to the garbage collector rather than
// kept for the life of the process.
const (
	firstRead     = 512
	initialBuffer = 8 << 10
	maxPooled     = 64 << 10
)

var bodyPool = sync.Pool{New: func() any {
	b := make([]byte, 0, initialBuffer)
	return &b
}}

func getBuffer() *[]byte { return bodyPool.Get().(*[]byte) }

func putBuffer(b *[]byte) {
	if cap(*b) <= maxPooled {
		*b = (*b)[:0]
		bodyPool.Put(b)
	}
}

// readBody reads r to its end and returns the bytes read. Memory follows the bytes
// that really arrive, never the announced Content-Length: the first read goes into a
// small buffer of firstRead bytes, and only a body that has sent more than that takes
// a pooled buffer (returned as pooled, for the caller to put back once the body is no
// longer used) and grows from there. So a client that announces 1 MiB and then
// dribbles holds firstRead bytes: not the announced size, not a pooled buffer.
//
// Every byte of buffer capacity is first taken from budget (the global in-flight body
// budget); when the budget has no room, readBody stops with errOverloaded. The caller
// gives back the returned held bytes once the body is no longer used. Other errors
// are r's, as io.ReadAll would return them.
func readBody(r io.Reader, budget *BodyBudget) (body []byte, pooled *[]byte, held int64, err error) {
	if !budget.take(firstRead) {
		return nil, nil, 0, errOverloaded
	}
	held = firstRead
	b := make([]byte, 0, firstRead)
	for {
		if len(b) == cap(b) {
			var next []byte
			if pooled == nil {
				pooled = getBuffer()
				next = (*pooled)[:0]
			}
			if cap(next) <= len(b) {
				next = make([]byte, 0, 2*cap(b))
			}
			// The old buffer is garbage from here; the budget counts the new one.
			grow := int64(cap(next) - cap(b))
			if !budget.take(grow) {
				return b, pooled, held, errOverloaded
			}
			held += grow
			b = append(next, b...)
			*pooled = b
		}
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			return b, pooled, held, nil
		}
		if err != nil {
			return b, pooled, held, err
		}
	}
}

// routeMetrics holds a route's webhook counter and duration histogram per result,
// each looked up on its first use and kept, so the hot path does not hash label
// values. Series still appear only once used (InitRoute creates the counters at 0).
type routeMetrics struct {
	route   string
	m       *metrics.Metrics
	slots   []atomic.Pointer[resultMetrics] // by position in outcome.AllResults
	granted atomic.Pointer[grantMetrics]    // the counters every new grant moves
}

// grantMetrics are the counters a new grant moves (countOutcome), kept like slots.
type grantMetrics struct {
	credits, reversed, forwards prometheus.Counter
}

// newGrant counts a forward that granted credits (and took reversed back).
func (rm *routeMetrics) newGrant(credits, reversed int64) {
	g := rm.granted.Load()
	if g == nil {
		g = &grantMetrics{
			credits:  rm.m.CreditsGranted.WithLabelValues(rm.route),
			reversed: rm.m.CreditsReversed.WithLabelValues(rm.route),
			forwards: rm.m.Forwards.WithLabelValues(rm.route, metrics.ForwardCredited),
		}
		rm.granted.Store(g)
	}
	g.credits.Add(float64(credits))
	g.reversed.Add(float64(reversed))
	g.forwards.Inc()
}

type resultMetrics struct {
	count    prometheus.Counter
	duration prometheus.Observer
}

// resultIndex is the position of each Result in outcome.AllResults.
var resultIndex = func() map[outcome.Result]int {
	m := make(map[outcome.Result]int, len(outcome.AllResults))
	for i, r := range outcome.AllResults {
		m[r] = i
	}
	return m
}()

func (d Deps) routeMetrics(route string) *routeMetrics {
	return &routeMetrics{route: route, m: d.Metrics, slots: make([]atomic.Pointer[resultMetrics], len(outcome.AllResults))}
}

// answered counts one answer and its duration.
func (rm *routeMetrics) answered(r outcome.Result, elapsed time.Duration) {
	var m *resultMetrics
	i, known := resultIndex[r]
	if known {
		m = rm.slots[i].Load()
	}
	if m == nil {
		m = &resultMetrics{
			count:    rm.m.Webhooks.WithLabelValues(rm.route, string(r)),
			duration: rm.m.WebhookDuration.WithLabelValues(rm.route, string(r)),
		}
		if known {
			rm.slots[i].Store(m)
		}
	}
	m.count.Inc()
	m.duration.Observe(elapsed.Seconds())
}
