package pipeline_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/creditgate/creditgate/internal/dedup"
	"github.com/creditgate/creditgate/internal/ledger"
	"github.com/creditgate/creditgate/internal/outcome"
	"github.com/creditgate/creditgate/internal/pipeline"
	"github.com/creditgate/creditgate/internal/testkit"
)

// gateBook holds every settlement until open is closed, then settles through the
// env's store (downBook: nothing lands while the store is down).
type gateBook struct {
	e    *env
	open chan struct{}
}

func (b gateBook) Settle(ctx context.Context, s dedup.Settlement, en *ledger.Entry) error {
	<-b.open
	return downBook{b.e}.Settle(ctx, s, en)
}

// TestAnswerFirst: with Delivery.AnswerFirst, a grant on a route that takes no credits
// back is answered without waiting for its settlement, which goes on in the
// background; a redelivery in this process waits for it and is a duplicate, never
// in_flight, never a second credit; WaitSettled waits for it. On a route that takes
// credits back the answer still waits, since a missing record must answer 503. Run in
// a synctest bubble, so "still waiting" is a fact (every goroutine durably blocked),
// not a sleep.
func TestAnswerFirst(t *testing.T) {
	t.Run("route without reversals", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			e := newEnv(t, nil)
			gate := gateBook{e, make(chan struct{})}
			e.p.Book = gate
			d := delivery(t, paidFile)
			d.AnswerFirst = true

			o := e.process(d) // a Process that waited for the gate would deadlock the bubble
			if o.Result != outcome.Forwarded || e.be.granted() != 1 {
				t.Fatalf("first delivery: %+v, backend granted %d", o, e.be.granted())
			}
			synctest.Wait()
			e.wantKeys(d.Event.ID, paidSession, held, held) // the settlement waits at the gate

			again := make(chan pipeline.Outcome, 1)
			go func() { again <- e.p.Process(context.Background(), e.rt, d) }()
			settled := make(chan struct{})
			go func() { e.p.WaitSettled(); close(settled) }()
			synctest.Wait()
			select {
			case o := <-again:
				t.Fatalf("the redelivery answered %s (%s) while the first delivery was settling", o.Result, o.Reason)
			case <-settled:
				t.Fatal("WaitSettled returned while a settlement was waiting")
			default:
			}

			close(gate.open)
			if o := <-again; o.Result != outcome.Duplicate || o.Reason != outcome.ReasonEvent {
				t.Fatalf("redelivery: %+v, want duplicate (event)", o)
			}
			<-settled
			e.wantKeys(d.Event.ID, paidSession, done, done)
			if e.be.granted() != 1 || len(e.be.sent()) != 1 {
				t.Fatalf("backend granted %d in %d requests, want 1 in 1", e.be.granted(), len(e.be.sent()))
			}
			idleWorkersLeave()
		})
	})

	t.Run("route with reversals", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			e := newEnv(t, nil)
			e.rt.Events[outcome.EventChargeRefunded] = true
			gate := gateBook{e, make(chan struct{})}
			e.p.Book = gate
			d := delivery(t, paidFile)
			d.AnswerFirst = true

			first := make(chan pipeline.Outcome, 1)
			go func() { first <- e.p.Process(context.Background(), e.rt, d) }()
			synctest.Wait()
			select {
			case o := <-first:
				t.Fatalf("answered %s before its settlement, on a route whose refunds need the record", o.Result)
			default:
			}
			close(gate.open)
			if o := <-first; o.Result != outcome.Forwarded {
				t.Fatalf("first delivery: %+v", o)
			}
			e.wantKeys(d.Event.ID, paidSession, done, done) // settled when answered: nothing left to wait for
			idleWorkersLeave()
		})
	})

	t.Run("failed settlement", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			e := newEnv(t, nil)
			var log testkit.SyncBuffer
			e.p.Logger = slog.New(slog.NewTextHandler(&log, nil))
			gate := gateBook{e, make(chan struct{})}
			e.p.Book = gate
			d := delivery(t, paidFile)
			d.AnswerFirst = true

			if o := e.process(d); o.Result != outcome.Forwarded {
				t.Fatalf("first delivery: %+v", o)
			}
			e.store.setDown(true) // the store goes away before the settlement is written
			close(gate.open)
			e.p.WaitSettled()
			e.store.setDown(false)
			if n := e.store.count("Settle"); n != 2 {
				t.Errorf("%d settlement attempts, want 2 (one retry)", n)
			}
			if !strings.Contains(log.String(), "could not settle after delivery") {
				t.Errorf("the lost settlement was not logged: %q", log.String())
			}
			// The claims stay until their lease ends, as when a settlement fails before
			// the answer: a redelivery meanwhile is in flight, and after the lease the
			// backend's Idempotency-Key answers 409.
			if o := e.process(d); o.Result != outcome.InFlight {
				t.Fatalf("redelivery within the lease: %+v", o)
			}
			e.clk.Advance(lease)
			if o := e.process(d); o.Result != outcome.Forwarded || o.Reason != outcome.ReasonAlreadyCredited || e.be.granted() != 1 {
				t.Fatalf("redelivery after the lease: %+v, backend granted %d", o, e.be.granted())
			}
			idleWorkersLeave()
		})
	})
}

// idleWorkersLeave lets the bubble's clock run until the pipeline's settlement workers
// have left (they leave when idle): a bubble must end with no goroutine left.
func idleWorkersLeave() { time.Sleep(time.Hour) }
