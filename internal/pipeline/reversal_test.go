package pipeline_test

import (
	"context"
	"fmt"
	"testing"

	"time"

	"github.com/creditgate/creditgate/internal/event"
	"github.com/creditgate/creditgate/internal/forward"
	"github.com/creditgate/creditgate/internal/ledger"
	"github.com/creditgate/creditgate/internal/outcome"
	"github.com/creditgate/creditgate/internal/pipeline"
)

// withReversals turns reversals on for the env's route and keeps purchase records.
func withReversals(e *env) *ledger.Memory {
	recs := ledger.NewMemory(e.clk.Now)
	e.p.Records = recs
	for typ := range outcome.ReversalEvents {
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
	return chargeEvent(t, id, outcome.EventChargeRefunded, event.Object{ID: "ch_1", Object: "charge", Amount: 999, AmountRefunded: amountRefunded, Refunded: amountRefunded == 999})
}

// ev builds one reversal event of the paid fixture's purchase, created at seconds
// after a fixed moment: Stripe's created orders a charge's refund snapshots.
type ev func(t *testing.T) pipeline.Delivery

func at(d pipeline.Delivery, sec int64) pipeline.Delivery {
	d.Event.Created = 1725607200 + sec
	return d
}

// refundedAt: charge.refunded with the charge's cumulative amount_refunded.
func refundedAt(id string, sec, amountRefunded int64) ev {
	return func(t *testing.T) pipeline.Delivery { return at(refund(t, id, amountRefunded), sec) }
}

// captured: charge.refunded of a charge of 999 of which only captured was captured.
func captured(id string, sec, captured, amountRefunded int64) ev {
	return func(t *testing.T) pipeline.Delivery {
		return at(chargeEvent(t, id, outcome.EventChargeRefunded, event.Object{ID: "ch_1", Object: "charge",
			Amount: 999, AmountCaptured: captured, AmountRefunded: amountRefunded, Refunded: amountRefunded == captured}), sec)
	}
}

// refundFailed: refund.updated (or charge.refund.updated) of refund re made at made,
// failed or canceled at sec.
func refundFailed(id, typ, re, status string, sec, made, amount int64) ev {
	return func(t *testing.T) pipeline.Delivery {
		return at(chargeEvent(t, id, typ, event.Object{ID: re, Object: "refund", Amount: amount, Status: status,
			Created: 1725607200 + made}), sec)
	}
}

// dispute: a charge.dispute.* event with the dispute's status and amount.
func dispute(id, typ, dp, status string, amount int64) ev {
	return func(t *testing.T) pipeline.Delivery {
		return chargeEvent(t, id, typ, event.Object{ID: dp, Object: "dispute", Amount: amount, Status: status})
	}
}

// TestReversals runs sequences of events after the paid fixture was credited (100
// credits for 999) and checks each answer, the credits each request moved, and the
// total the backend holds in the end.
func TestReversals(t *testing.T) {
	ref := func(id string, amt int64) ev { return refundedAt(id, 0, amt) }
	const (
		created   = outcome.EventDisputeCreated
		closed    = outcome.EventDisputeClosed
		withdrawn = outcome.EventDisputeFundsWithdrawn
		reinstate = outcome.EventDisputeFundsReinstated
	)
	type step struct {
		d      ev
		result outcome.Result
		moved  int64 // credits of this step's request: negative reverses
	}
	tests := []struct {
		name  string
		steps []step
		total int64 // the user's credits at the backend in the end
	}{
		{"full refund", []step{{ref("evt_r1", 999), outcome.Forwarded, -100}}, 0},
		{"partial refunds reverse their share once each", []step{
			{ref("evt_r1", 333), outcome.Forwarded, -33}, // floor(100×333/999)
			{ref("evt_r1", 333), outcome.Duplicate, 0},   // redelivered
			{ref("evt_r2", 666), outcome.Forwarded, -33},
			{ref("evt_r3", 999), outcome.Forwarded, -34}, // the last one completes exactly
		}, 0},
		{"rounding: tiny partial refund reverses nothing yet", []step{
			{ref("evt_r1", 5), outcome.Ignored, 0}, // floor(100×5/999) = 0
			{ref("evt_r2", 15), outcome.Forwarded, -1},
		}, 99},
		{"refunds out of order: the older one reverses nothing", []step{
			{refundedAt("evt_r2", 10, 500), outcome.Forwarded, -50},
			{refundedAt("evt_r1", 5, 250), outcome.Duplicate, 0},
		}, 50},
		{"a chargeback takes the rest, won gives back what it took", []step{
			{ref("evt_r1", 250), outcome.Forwarded, -25},
			{dispute("evt_d1", created, "dp_1", "needs_response", 749), outcome.Forwarded, -75},
			{dispute("evt_d2", closed, "dp_1", "won", 749), outcome.Forwarded, 75},
			{dispute("evt_d2", closed, "dp_1", "won", 749), outcome.Duplicate, 0},
		}, 75},
		{"a chargeback lost keeps what it took", []step{
			{dispute("evt_d1", created, "dp_1", "needs_response", 999), outcome.Forwarded, -100},
			{dispute("evt_d2", closed, "dp_1", "lost", 999), outcome.Ignored, 0},
		}, 0},
		{"a partial chargeback takes its share", []step{
			{dispute("evt_d1", created, "dp_1", "needs_response", 333), outcome.Forwarded, -33},
			{dispute("evt_d2", closed, "dp_1", "lost", 333), outcome.Ignored, 0},
		}, 67},
		{"an inquiry takes nothing, whatever its end", []step{
			{dispute("evt_d1", created, "dp_1", "warning_needs_response", 999), outcome.Ignored, 0},
			{dispute("evt_d2", outcome.EventDisputeUpdated, "dp_1", "warning_under_review", 999), outcome.Ignored, 0},
			{dispute("evt_d3", closed, "dp_1", "warning_closed", 999), outcome.Ignored, 0},
		}, 100},
		{"a refund during an inquiry counts once the inquiry closes", []step{
			{dispute("evt_d1", created, "dp_1", "warning_needs_response", 999), outcome.Ignored, 0},
			{ref("evt_r1", 500), outcome.Forwarded, -50},
			{dispute("evt_d2", closed, "dp_1", "warning_closed", 999), outcome.Ignored, 0},
		}, 50},
		{"an inquiry escalated to a chargeback takes when the funds leave, won gives back", []step{
			{dispute("evt_d1", created, "dp_1", "warning_needs_response", 999), outcome.Ignored, 0},
			{dispute("evt_d2", withdrawn, "dp_1", "needs_response", 999), outcome.Forwarded, -100},
			{dispute("evt_d3", reinstate, "dp_1", "won", 999), outcome.Forwarded, 100},
		}, 100},
		{"a late dispute.created after the dispute was won takes nothing", []step{
			{dispute("evt_d2", closed, "dp_1", "won", 999), outcome.Ignored, 0},
			{dispute("evt_d1", created, "dp_1", "needs_response", 999), outcome.Duplicate, 0},
		}, 100},
		{"a refund during a chargeback stays taken when it is won", []step{
			{dispute("evt_d1", created, "dp_1", "needs_response", 500), outcome.Forwarded, -50},
			{ref("evt_r1", 250), outcome.Forwarded, -25},
			{dispute("evt_d2", closed, "dp_1", "won", 500), outcome.Forwarded, 50},
		}, 75},
		{"a failed refund gives its share back once", []step{
			{refundedAt("evt_r1", 10, 500), outcome.Forwarded, -50},
			{refundFailed("evt_f1", outcome.EventRefundUpdated, "re_1", "failed", 20, 10, 500), outcome.Forwarded, 50},
			{refundFailed("evt_f2", outcome.EventChargeRefundUpdated, "re_1", "failed", 20, 10, 500), outcome.Duplicate, 0},
			{refundedAt("evt_r1", 10, 500), outcome.Duplicate, 0}, // the old snapshot, redelivered
		}, 100},
		{"a canceled refund reported before its charge.refunded moves nothing", []step{
			{refundFailed("evt_f1", outcome.EventRefundUpdated, "re_1", "canceled", 20, 10, 500), outcome.Ignored, 0},
			{refundedAt("evt_r1", 10, 500), outcome.Ignored, 0},
		}, 100},
		{"a refund after a failed one counts from the charge's new amount_refunded", []step{
			{refundedAt("evt_r1", 10, 500), outcome.Forwarded, -50},
			{refundFailed("evt_f1", outcome.EventRefundUpdated, "re_1", "failed", 20, 10, 500), outcome.Forwarded, 50},
			{refundedAt("evt_r2", 30, 300), outcome.Forwarded, -30},
		}, 70},
		{"a refund that succeeds is counted by charge.refunded only", []step{
			{refundFailed("evt_f1", outcome.EventRefundUpdated, "re_1", "succeeded", 20, 10, 500), outcome.Ignored, 0},
		}, 100},
		{"a partial capture: the share of what was captured", []step{
			{captured("evt_r1", 10, 500, 250), outcome.Forwarded, -50},
			{captured("evt_r2", 20, 500, 500), outcome.Forwarded, -50},
		}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, nil)
			withReversals(e)
			if o := e.process(delivery(t, paidFile)); o.Result != outcome.Forwarded {
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
		if o.Result != outcome.DeadLettered || o.Reason != "unknown_purchase" {
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
	t.Run("backend down: 503, other reversals wait, the retry reverses once", func(t *testing.T) {
		be := newBackend()
		e := newEnv(t, be)
		withReversals(e)
		e.process(delivery(t, paidFile))
		be.script = []error{errBackendDown}
		if o := e.process(refund(t, "evt_r1", 500)); o.Result != outcome.BackendUnavailable {
			t.Fatalf("%+v", o)
		}
		// The request may have been applied: nothing else moves this purchase first.
		if o := e.process(refund(t, "evt_r2", 600)); o.Result != outcome.InFlight || o.Reason != "reversal" {
			t.Fatalf("another refund while evt_r1 is unsettled: %+v", o)
		}
		if o := e.process(refund(t, "evt_r1", 500)); o.Result != outcome.Forwarded || be.credited["evt_r1"] != -50 {
			t.Fatalf("retry of evt_r1: %+v %v", o, be.credited)
		}
		if o := e.process(refund(t, "evt_r2", 600)); o.Result != outcome.Forwarded || be.credited["evt_r2"] != -10 {
			t.Fatalf("evt_r2 after evt_r1 settled: %+v %v", o, be.credited)
		}
	})
	t.Run("record write lost after delivery holds other reversals until the event settles", func(t *testing.T) {
		e := newEnv(t, nil)
		recs := withReversals(e)
		e.process(delivery(t, paidFile))
		flaky := &flakyRecords{Store: recs, failPuts: map[int]bool{2: true, 3: true}} // both writes of the result
		e.p.Records = flaky
		if o := e.process(refund(t, "evt_r1", 500)); o.Result != outcome.StoreUnavailable {
			t.Fatalf("%+v", o)
		}
		if o := e.process(refund(t, "evt_r2", 999)); o.Result != outcome.InFlight {
			t.Fatalf("another refund while evt_r1 is unsettled: %+v", o)
		}
		if o := e.process(refund(t, "evt_r1", 500)); o.Result != outcome.Forwarded || o.Reason != "already_credited" {
			t.Fatalf("redelivery of evt_r1: %+v", o)
		}
		if o := e.process(refund(t, "evt_r2", 999)); o.Result != outcome.Forwarded {
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
		if o := e.process(refund(t, "evt_r1", 999)); o.Result != outcome.InFlight || o.Result.Status() != 409 {
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
