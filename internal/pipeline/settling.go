package pipeline

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// settling tracks the settlements that go on after Process returned
// (Delivery.AnswerFirst): the keys each one holds, so that a delivery of this process
// that claims one of them waits for it (and finds the key done) instead of answering
// in_flight, and how many there are, for Pipeline.WaitSettled. The zero value is ready.
//
// Settlements run on a few kept goroutines (settleWorkers): a fresh goroutine per
// settlement starts on a small stack and copies it as the store's calls go deeper, which
// cost about 15k instructions per webhook, 6 % of the whole handler
// (BenchmarkWebhook under callgrind, docs/benchmarks.md). A worker leaves after
// workerIdle without work; when every worker is busy, a settlement gets a goroutine of
// its own rather than wait.
type settling struct {
	n    atomic.Int64 // settlements on their way; 0 lets await skip the lock
	wg   sync.WaitGroup
	mu   sync.Mutex
	keys map[string]chan struct{} // key → closed when its settlement has ended

	once    sync.Once
	work    chan func()  // to an idle worker (unbuffered: handed over, never queued)
	workers atomic.Int32 // workers running
}

const (
	settleWorkers = 8
	workerIdle    = time.Second
)

// start runs settle on a worker, holding keys until it returns.
func (s *settling) start(keys []string, settle func()) {
	done := make(chan struct{})
	s.n.Add(1) // before the keys are visible: await never skips a key it could find
	s.wg.Add(1)
	s.mu.Lock()
	if s.keys == nil {
		s.keys = make(map[string]chan struct{})
	}
	for _, k := range keys {
		s.keys[k] = done
	}
	s.mu.Unlock()
	s.run(func() {
		defer s.wg.Done()
		settle()
		s.mu.Lock()
		for _, k := range keys {
			if s.keys[k] == done {
				delete(s.keys, k)
			}
		}
		s.mu.Unlock()
		s.n.Add(-1)
		close(done)
	})
}

// run hands job to an idle worker, else to a new worker (up to settleWorkers), else
// to a goroutine of its own.
func (s *settling) run(job func()) {
	s.once.Do(func() { s.work = make(chan func()) })
	select {
	case s.work <- job:
		return
	default:
	}
	if s.workers.Add(1) <= settleWorkers {
		go s.worker(job)
		return
	}
	s.workers.Add(-1)
	go job()
}

// worker runs job, then whatever it is handed, until workerIdle passes without work.
func (s *settling) worker(job func()) {
	defer s.workers.Add(-1)
	idle := time.NewTimer(workerIdle)
	defer idle.Stop()
	for {
		job()
		idle.Reset(workerIdle)
		select {
		case job = <-s.work:
		case <-idle.C:
			return
		}
	}
}

// await returns once no settlement of this process holds key, or ctx is done.
func (s *settling) await(ctx context.Context, key string) {
	if s.n.Load() == 0 {
		return
	}
	s.mu.Lock()
	done := s.keys[key]
	s.mu.Unlock()
	if done == nil {
		return
	}
	select {
	case <-done:
	case <-ctx.Done():
	}
}

// WaitSettled returns when every settlement that Process left to go on after it
// returned (Delivery.AnswerFirst) has ended; each is bounded by its own timeout. Call
// it once no more deliveries come in (after the webhook listener has shut down) and
// before the store is closed.
func (p *Pipeline) WaitSettled() {
	p.settling.wg.Wait()
}
