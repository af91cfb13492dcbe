package pipeline

import (
	"context"
	"sync"
	"sync/atomic"
)

// settling tracks the settlements that go on after Process returned
// (Delivery.AnswerFirst): the keys each one holds, so that a delivery of this process
// that claims one of them waits for it (and finds the key done) instead of answering
// in_flight, and how many there are, for Pipeline.WaitSettled. The zero value is ready.
type settling struct {
	n    atomic.Int64 // settlements on their way; 0 lets await skip the lock
	wg   sync.WaitGroup
	mu   sync.Mutex
	keys map[string]chan struct{} // key → closed when its settlement has ended
}

// start runs settle in its own goroutine, holding keys until it returns.
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
	go func() {
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
	}()
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
