package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// benchLoad is the result of one load phase.
type benchLoad struct {
	Sent      int
	Elapsed   time.Duration
	Latencies []time.Duration // sorted
	Codes     map[int]int     // HTTP status → answers
	Words     map[string]int  // status word of the body → answers
	Transport int             // requests without an answer (connection errors)
	FirstErr  string
	Exhausted bool          // the events ran out before the time did
	Lag       time.Duration // open loop: the most a request was handed to a worker after its time
}

func (l *benchLoad) rate() float64 {
	if l.Elapsed <= 0 {
		return 0
	}
	return float64(l.Sent) / l.Elapsed.Seconds()
}

func (l *benchLoad) pct(p float64) time.Duration {
	if len(l.Latencies) == 0 {
		return 0
	}
	i := int(p*float64(len(l.Latencies))+0.5) - 1
	return l.Latencies[min(max(i, 0), len(l.Latencies)-1)]
}

// non2xx counts answers outside 2xx, and requests that got none.
func (l *benchLoad) non2xx() int {
	n := l.Transport
	for code, k := range l.Codes {
		if code/100 != 2 {
			n += k
		}
	}
	return n
}

// benchClient is the load generator's HTTP client: keep-alive, one connection per
// worker at most, like Stripe's delivery workers.
func benchClient(conns int) *http.Client {
	return &http.Client{
		Transport: &http.Transport{
			MaxIdleConns:        conns,
			MaxIdleConnsPerHost: conns,
			MaxConnsPerHost:     conns,
			IdleConnTimeout:     90 * time.Second,
			DisableCompression:  true,
		},
		Timeout: 15 * time.Second,
	}
}

// benchWorker sends events and keeps its own tallies (merged at the end).
type benchWorker struct {
	hc        *http.Client
	url       string
	lat       []time.Duration
	codes     map[int]int
	words     map[string]int
	transport int
	firstErr  string
	buf       bytes.Buffer
}

func newBenchWorker(hc *http.Client, url string, capacity int) *benchWorker {
	return &benchWorker{hc: hc, url: url, lat: make([]time.Duration, 0, capacity), codes: map[int]int{}, words: map[string]int{}}
}

// send posts ev and records the latency measured from since (the request's intended
// start: its scheduled time in an open-loop phase, so queueing delay counts).
func (w *benchWorker) send(ev *benchEvent, since time.Time) {
	req, _ := http.NewRequest(http.MethodPost, w.url, bytes.NewReader(ev.body))
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	req.Header.Set("Stripe-Signature", ev.header)
	req.Header.Set("User-Agent", "Stripe/1.0 (+https://stripe.com/docs/webhooks)")
	resp, err := w.hc.Do(req)
	if err != nil {
		w.lat = append(w.lat, time.Since(since))
		w.transport++
		if w.firstErr == "" {
			w.firstErr = err.Error()
		}
		return
	}
	w.buf.Reset()
	_, _ = io.Copy(&w.buf, io.LimitReader(resp.Body, 4096))
	resp.Body.Close()
	w.lat = append(w.lat, time.Since(since))
	w.codes[resp.StatusCode]++
	w.words[benchStatusWord(w.buf.Bytes())]++
	if resp.StatusCode/100 != 2 && w.firstErr == "" {
		w.firstErr = resp.Status + ": " + string(bytes.TrimSpace(w.buf.Bytes()))
	}
}

// benchStatusWord finds the "status" value of a JSON answer without decoding it.
func benchStatusWord(b []byte) string {
	const key = `"status":"`
	i := bytes.Index(b, []byte(key))
	if i < 0 {
		return "(none)"
	}
	rest := b[i+len(key):]
	j := bytes.IndexByte(rest, '"')
	if j < 0 || j > 40 {
		return "(bad)"
	}
	return string(rest[:j])
}

func benchMerge(ws []*benchWorker, elapsed time.Duration) *benchLoad {
	l := &benchLoad{Elapsed: elapsed, Codes: map[int]int{}, Words: map[string]int{}}
	for _, w := range ws {
		l.Latencies = append(l.Latencies, w.lat...)
		for k, v := range w.codes {
			l.Codes[k] += v
		}
		for k, v := range w.words {
			l.Words[k] += v
		}
		l.Transport += w.transport
		if l.FirstErr == "" {
			l.FirstErr = w.firstErr
		}
	}
	l.Sent = len(l.Latencies)
	slices.Sort(l.Latencies)
	return l
}

// benchClosedLoop keeps concurrency requests in flight until d has passed or the
// events run out: the maximum rate at that concurrency.
func benchClosedLoop(ctx context.Context, url string, events []benchEvent, concurrency int, d time.Duration) *benchLoad {
	hc := benchClient(concurrency)
	defer hc.CloseIdleConnections()
	var next atomic.Int64
	ws := make([]*benchWorker, concurrency)
	start := time.Now()
	deadline := start.Add(d)
	var wg sync.WaitGroup
	for i := range ws {
		ws[i] = newBenchWorker(hc, url, len(events)/concurrency+16)
		wg.Go(func() {
			w := ws[i]
			for ctx.Err() == nil {
				k := next.Add(1) - 1
				if k >= int64(len(events)) {
					return
				}
				t := time.Now()
				if !t.Before(deadline) {
					return
				}
				w.send(&events[k], t)
			}
		})
	}
	wg.Wait()
	l := benchMerge(ws, time.Since(start))
	l.Exhausted = next.Load() >= int64(len(events))
	return l
}

// benchOpenLoop starts requests at a fixed rate, whatever the answers do, for d or
// until the events run out. Latency counts from each request's scheduled start, so a
// slow answer that delays later requests shows up in their latency (no coordinated
// omission). workers bounds the requests in flight.
func benchOpenLoop(ctx context.Context, url string, events []benchEvent, rate float64, workers int, d time.Duration) *benchLoad {
	hc := benchClient(workers)
	defer hc.CloseIdleConnections()
	n := min(len(events), int(rate*d.Seconds()))
	interval := time.Duration(float64(time.Second) / rate)
	type job struct {
		ev *benchEvent
		at time.Time
	}
	jobs := make(chan job, n)
	ws := make([]*benchWorker, workers)
	var wg sync.WaitGroup
	for i := range ws {
		ws[i] = newBenchWorker(hc, url, n/workers+16)
		wg.Go(func() {
			for j := range jobs {
				ws[i].send(j.ev, j.at)
			}
		})
	}
	start := time.Now()
	var lag time.Duration
	for i := 0; i < n && ctx.Err() == nil; i++ {
		at := start.Add(time.Duration(i) * interval)
		if wait := time.Until(at); wait > 0 {
			time.Sleep(wait)
		}
		lag = max(lag, time.Since(at))
		jobs <- job{&events[i], at}
	}
	close(jobs)
	wg.Wait()
	l := benchMerge(ws, time.Since(start))
	l.Lag = lag
	l.Exhausted = n == len(events) && n < int(rate*d.Seconds())
	return l
}
