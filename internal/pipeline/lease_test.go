package pipeline_test

import (
	"context"
	"testing"

	"github.com/creditgate/creditgate/internal/forward"
	"github.com/creditgate/creditgate/internal/outcome"
	"github.com/creditgate/creditgate/internal/pipeline"
)

// slowBackend blocks its first request until released, like a backend that answers
// after the claim's lease ran out (a paused process, a stuck TCP connection).
type slowBackend struct {
	*backend
	entered chan struct{}
	release chan struct{}
	first   bool
}

func (s *slowBackend) Send(ctx context.Context, r forward.Request) (forward.Result, error) {
	if !s.first {
		s.first = true
		close(s.entered)
		<-s.release
	}
	return s.backend.Send(ctx, r)
}

// TestLeaseExpiredDuringForward: the lease of a claim runs out while its forward is
// still running (which config validation makes unlikely: lease >= budget + 5s), a
// redelivery claims and forwards again, and the backend's Idempotency-Key keeps it to
// one credit: both deliveries end forwarded, one of them as already_credited.
func TestLeaseExpiredDuringForward(t *testing.T) {
	be := newBackend()
	slow := &slowBackend{backend: be, entered: make(chan struct{}), release: make(chan struct{})}
	e := newEnv(t, be)
	e.rt.Forwarder = slow
	d := delivery(t, paidFile)

	firstDone := make(chan pipeline.Outcome, 1)
	go func() { firstDone <- e.process(d) }()
	<-slow.entered

	// Within the lease a redelivery is in flight.
	if o := e.process(d); o.Result != outcome.InFlight {
		t.Fatalf("within the lease: %s, want in_flight", o.Result)
	}
	// The lease runs out while the first forward is still stuck.
	e.clk.Advance(lease + 1)
	second := e.process(d)
	if second.Result != outcome.Forwarded || second.Reason != "" {
		t.Fatalf("after the lease: %s/%q, want forwarded (a fresh credit)", second.Result, second.Reason)
	}
	close(slow.release)
	first := <-firstDone
	if first.Result != outcome.Forwarded || first.Reason != "already_credited" {
		t.Fatalf("the stuck forward: %s/%q, want forwarded/already_credited", first.Result, first.Reason)
	}
	if n := be.granted(); n != 1 {
		t.Fatalf("the backend granted %d credits, want 1", n)
	}
	if n := len(be.sent()); n != 2 {
		t.Fatalf("the backend got %d requests, want 2 (one caught by Idempotency-Key)", n)
	}
	for _, r := range be.sent() {
		if r.ID != paidSession {
			t.Errorf("Idempotency-Key %q, want the session id", r.ID)
		}
	}
	e.wantKeys(paidEvent, paidSession, done, done)
}
