package pipeline_test

import (
	"context"
	"fmt"
	"testing"

	"time"

	"github.com/creditgate/creditgate/internal/event"
	"github.com/creditgate/creditgate/internal/forward"
	"github.com/creditgate/creditgate/internal/ledger"
	"github.com/creditgate/creditgate/internal/pipeline"
)

// withReversals turns reversals on for the env's route and keeps purchase records.
func withReversals(e *env) *ledger.Memory {
	recs := ledger.NewMemory(e.clk.Now)
	e.p.Records = recs
	for _, typ := range []string{pipeline.TypeChargeRefunded, pipeline.TypeDisputeCreated, pipeline.TypeDisputeClosed} {
		e.rt.Events[typ] = true
	}
	return recs
}

// chargeEvent is a reversal event of the paid fixture's purchase (pi paidPI, 100
// credits for 999 cents).
func chargeEvent(t *testing.T, id, typ string, obj event.Object) pipeline.Delivery {
	d := delivery(t, "charge_refunded.json") // raw bytes for a dead-letter entry
	d.Event.ID, d.Event.Type = id, typ
	if obj.PaymentIntent == "" {
		obj.PaymentIntent = paidPI
	}
	d.Event.Object = obj
	return d
}

func refund(t *testing.T, id string, amountRefunded int64) pipeline.Delivery {
	return chargeEvent(t, id, pipeline.TypeChargeRefunded, event.Object{ID: "ch_1", Object: "charge", Amount: 999, AmountRefunded: amountRefunded, Refunded: amountRefunded == 999})
}

// TestReversals runs sequences of events after the paid fixture was credited (100
// credits for 999) and checks each answer, the credits each request moved, and the
// total the backend holds in the end.
func TestReversals(t *testing.T) {
	dispute := func(id, typ, status string) func(t *testing.T) pipeline.Delivery {
		return func(t *testing.T) pipeline.Delivery {
			return chargeEvent(t, id, typ, event.Object{ID: "dp_1", Object: "dispute", Amount: 999, Status: status})
		}
	}
	ref := func(id string, amt int64) func(t *testing.T) pipeline.Delivery {
		return func(t *testing.T) pipeline.Delivery { return refund(t, id, amt) }
	}
	type step struct {
		d      func(t *testing.T) pipeline.Delivery
		result pipeline.Result
		moved  int64 // credits of this step's request: negative reverses
	}
	tests := []struct {
		name  string
		steps []step
		total int64 // the user's credits at the backend in the end
	}{
		{"full refund", []step{{ref("evt_r1", 999), pipeline.Forwarded, -100}}, 0},
		{"partial refunds reverse their share once each", []step{
			{ref("evt_r1", 333), pipeline.Forwarded, -33}, // floor(100×333/999)
			{ref("evt_r1", 333), pipeline.Duplicate, 0},   // redelivered
			{ref("evt_r2", 666), pipeline.Forwarded, -33},
			{ref("evt_r3", 999), pipeline.Forwarded, -34}, // the last one completes exactly
		}, 0},
		{"rounding: tiny partial refund reverses nothing yet", []step{
			{ref("evt_r1", 5), pipeline.Duplicate, 0}, // floor(100×5/999) = 0
			{ref("evt_r2", 15), pipeline.Forwarded, -1},
		}, 99},
		{"refunds out of order: the older one reverses nothing", []step{
			{ref("evt_r2", 500), pipeline.Forwarded, -50},
			{ref("evt_r1", 250), pipeline.Duplicate, 0},
		}, 50},
		{"dispute reverses the rest, won gives it back", []step{
			{ref("evt_r1", 250), pipeline.Forwarded, -25},
			{dispute("evt_d1", pipeline.TypeDisputeCreated, "needs_response"), pipeline.Forwarded, -75},
			{dispute("evt_d2", pipeline.TypeDisputeClosed, "won"), pipeline.Forwarded, 75},
			{dispute("evt_d2", pipeline.TypeDisputeClosed, "won"), pipeline.Duplicate, 0},
		}, 75},
		{"dispute lost keeps the reversal", []step{
			{dispute("evt_d1", pipeline.TypeDisputeCreated, "needs_response"), pipeline.Forwarded, -100},
			{dispute("evt_d2", pipeline.TypeDisputeClosed, "lost"), pipeline.Ignored, 0},
		}, 0},
		{"refund after a dispute took everything", []step{
			{dispute("evt_d1", pipeline.TypeDisputeCreated, "warning_needs_response"), pipeline.Forwarded, -100},
			{ref("evt_r1", 999), pipeline.Duplicate, 0},
		}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, nil)
			withReversals(e)
			if o := e.process(delivery(t, paidFile)); o.Result != pipeline.Forwarded {
				t.Fatalf("grant: %+v", o)
			}
			for i, s := range tt.steps {
				before := len(e.be.sent())
				d := s.d(t)
				o := e.process(d)
				if o.Result != s.result {
					t.Fatalf("step %d (%s): %s %s %s, want %s", i, d.Event.ID, o.Result, o.Reason, o.Detail, s.result)
				}
				sent := e.be.sent()[before:]
				if s.moved == 0 {
					if len(sent) != 0 {
						t.Fatalf("step %d: sent %+v, want nothing", i, sent)
					}
					continue
				}
				if len(sent) != 1 || sent[0].Credits != s.moved || sent[0].ID != d.Event.ID || sent[0].UserID != user1 ||
					sent[0].Stripe.SessionID != paidSession || sent[0].Stripe.PaymentIntentID != paidPI {
					t.Fatalf("step %d: sent %+v, want one request %s moving %d", i, sent, d.Event.ID, s.moved)
				}
				wantType := forward.TypeReversed
				if s.moved > 0 {
					wantType = forward.TypeGranted
				}
				if sent[0].Type != wantType || (s.moved < 0 && o.Reversed != -s.moved) {
					t.Errorf("step %d: type %s reversed %d", i, sent[0].Type, o.Reversed)
				}
			}
			var total int64
			for _, c := range e.be.credited {
				total += c
			}
			if total != tt.total {
				t.Errorf("backend total = %d, want %d (credited %v)", total, tt.total, e.be.credited)
			}
		})
	}
}

func TestReversalFailures(t *testing.T) {
	t.Run("unknown purchase is parked", func(t *testing.T) {
		e := newEnv(t, nil)
		withReversals(e)
		d := refund(t, "evt_r1", 999)
		o := e.process(d)
		if o.Result != pipeline.DeadLettered || o.Reason != "unknown_purchase" {
			t.Fatalf("%+v", o)
		}
		e.wantEntry(d, o, "unknown_purchase", 0)
	})
	t.Run("no payment_intent is parked", func(t *testing.T) {
		e := newEnv(t, nil)
		withReversals(e)
		d := refund(t, "evt_r1", 999)
		d.Event.Object.PaymentIntent = ""
		d.Event.Object.PaymentIntent = "" // chargeEvent filled it; a charge without one
		if o := e.process(d); o.Reason != "no_payment_intent" {
			t.Fatalf("%+v", o)
		}
	})
	t.Run("backend down: 503, then the retry reverses once", func(t *testing.T) {
		be := newBackend()
		e := newEnv(t, be)
		withReversals(e)
		e.process(delivery(t, paidFile))
		be.script = []error{errBackendDown}
		if o := e.process(refund(t, "evt_r1", 500)); o.Result != pipeline.BackendUnavailable {
			t.Fatalf("%+v", o)
		}
		// A different refund event may run now: the failed one holds nothing.
		if o := e.process(refund(t, "evt_r2", 600)); o.Result != pipeline.Forwarded || be.credited["evt_r2"] != -60 {
			t.Fatalf("%+v %v", o, be.credited)
		}
		if o := e.process(refund(t, "evt_r1", 500)); o.Result != pipeline.Duplicate {
			t.Fatalf("retry of the older refund: %+v", o)
		}
	})
	t.Run("record write lost after delivery holds other reversals until the event settles", func(t *testing.T) {
		e := newEnv(t, nil)
		recs := withReversals(e)
		e.process(delivery(t, paidFile))
		flaky := &flakyRecords{Store: recs, failPuts: map[int]bool{2: true, 3: true}} // both writes of the result
		e.p.Records = flaky
		if o := e.process(refund(t, "evt_r1", 500)); o.Result != pipeline.StoreUnavailable {
			t.Fatalf("%+v", o)
		}
		if o := e.process(refund(t, "evt_r2", 999)); o.Result != pipeline.InFlight {
			t.Fatalf("another refund while evt_r1 is unsettled: %+v", o)
		}
		if o := e.process(refund(t, "evt_r1", 500)); o.Result != pipeline.Forwarded || o.Reason != "already_credited" {
			t.Fatalf("redelivery of evt_r1: %+v", o)
		}
		if o := e.process(refund(t, "evt_r2", 999)); o.Result != pipeline.Forwarded {
			t.Fatalf("evt_r2 after evt_r1 settled: %+v", o)
		}
		if e.be.credited["evt_r1"] != -50 || e.be.credited["evt_r2"] != -50 {
			t.Errorf("credited %v, want -50 and -50", e.be.credited)
		}
	})
	t.Run("reversal of another purchase in flight answers 409", func(t *testing.T) {
		e := newEnv(t, nil)
		withReversals(e)
		e.process(delivery(t, paidFile))
		e.claimElsewhere("reversal:" + route + ":" + paidPI)
		if o := e.process(refund(t, "evt_r1", 999)); o.Result != pipeline.InFlight || o.Result.Status() != 409 {
			t.Fatalf("%+v", o)
		}
	})
}

// flakyRecords fails the listed Put calls (1-based).
type flakyRecords struct {
	ledger.Store
	failPuts map[int]bool
	puts     int
}

func (f *flakyRecords) Put(ctx context.Context, key string, r ledger.Record, ttl time.Duration) error {
	f.puts++
	if f.failPuts[f.puts] {
		return fmt.Errorf("injected put %d failure", f.puts)
	}
	return f.Store.Put(ctx, key, r, ttl)
}
