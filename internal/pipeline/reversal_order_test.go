package pipeline_test

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/creditgate/creditgate/internal/outcome"
	"github.com/creditgate/creditgate/internal/pipeline"
)

// TestReversalsAnyOrder delivers a purchase's reversal events in many shuffled orders,
// some twice (Stripe redelivers, dlq replay), and checks the backend always ends at
// the balance of the in-order delivery: the credits the money that left stands for.
func TestReversalsAnyOrder(t *testing.T) {
	const (
		created   = outcome.EventDisputeCreated
		closed    = outcome.EventDisputeClosed
		withdrawn = outcome.EventDisputeFundsWithdrawn
	)
	tests := []struct {
		name   string
		events []ev
		total  int64 // credits the user keeps of 100 (paid 999)
	}{
		{"refund, its failure, another refund, a chargeback won", []ev{
			refundedAt("evt_r1", 10, 500),
			refundFailed("evt_f1", outcome.EventRefundUpdated, "re_1", "failed", 20, 10, 500),
			refundFailed("evt_f2", outcome.EventChargeRefundUpdated, "re_1", "failed", 20, 10, 500),
			refundedAt("evt_r2", 30, 300),
			dispute("evt_d1", created, "dp_1", "needs_response", 300),
			dispute("evt_d2", closed, "dp_1", "won", 300),
		}, 70},
		{"an inquiry, a refund during it, escalated and lost", []ev{
			dispute("evt_d1", created, "dp_1", "warning_needs_response", 999),
			refundedAt("evt_r1", 10, 250),
			dispute("evt_d2", withdrawn, "dp_1", "needs_response", 749),
			dispute("evt_d3", closed, "dp_1", "lost", 749),
		}, 0},
		{"an inquiry closed, refunds in parts", []ev{
			dispute("evt_d1", created, "dp_1", "warning_needs_response", 999),
			dispute("evt_d2", closed, "dp_1", "warning_closed", 999),
			refundedAt("evt_r1", 10, 111),
			refundedAt("evt_r2", 20, 333),
			refundedAt("evt_r3", 30, 666),
		}, 34},
		{"a partial capture, half refunded, a partial chargeback won", []ev{
			captured("evt_r1", 10, 500, 250),
			dispute("evt_d1", created, "dp_1", "needs_response", 100),
			dispute("evt_d2", closed, "dp_1", "won", 100),
		}, 50},
	}
	rng := rand.New(rand.NewPCG(12, 12))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for run := range 60 {
				e := newEnv(t, nil)
				withReversals(e)
				if o := e.process(delivery(t, paidFile)); o.Result != outcome.Forwarded {
					t.Fatalf("grant: %+v", o)
				}
				var order []pipeline.Delivery
				for _, mk := range tt.events {
					d := mk(t)
					order = append(order, d)
					if rng.IntN(3) == 0 { // redelivered
						order = append(order, d)
					}
				}
				if run > 0 { // run 0 is the in-order delivery
					rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
				}
				var ids []string
				for _, d := range order {
					ids = append(ids, d.Event.ID)
					if o := e.process(d); !is2xx(o.Result) {
						t.Fatalf("run %d %v: %s/%s (%s)", run, ids, o.Result, o.Reason, o.Detail)
					}
					e.clk.Advance(time.Second)
				}
				if net := e.be.net(); net != tt.total {
					t.Fatalf("run %d, order %v: backend holds %d, want %d (%v)", run, ids, net, tt.total, e.be.credited)
				}
			}
		})
	}
}

// TestReversalAwaitsPurchase: a reversal whose purchase has no record yet is answered
// 409 awaiting_purchase, not parked, while the purchase may still be granted: its
// grant is failing (Stripe retries it), or its payment is recent (Stripe does not
// order events). Once the grant lands, Stripe's retry of the reversal applies it. The
// wait is bounded (billing.PurchaseWait live, TestPurchaseWait in test mode) so the
// reversal is parked while Stripe still retries it; a reversal of an old payment
// nobody is granting is parked at once.
func TestReversalAwaitsPurchase(t *testing.T) {
	young := func(e *env, d pipeline.Delivery, live bool) pipeline.Delivery {
		d.Event.Created, d.Event.Livemode = e.clk.Now().Unix(), live
		return d
	}
	t.Run("grant failing: the refund waits, then applies", func(t *testing.T) {
		be := newBackend(errBackendDown)
		e := newEnv(t, be)
		withReversals(e)
		if o := e.process(delivery(t, paidFile)); o.Result != outcome.BackendUnavailable {
			t.Fatalf("grant: %+v", o)
		}
		r := young(e, refund(t, "evt_r1", 999), false)
		o := e.process(r)
		if o.Result != outcome.InFlight || o.Reason != "awaiting_purchase" || o.Result.Status() != 409 || len(e.entries()) != 0 {
			t.Fatalf("refund before the grant: %+v (entries %d)", o, len(e.entries()))
		}
		e.clk.Advance(30 * time.Minute)
		if o := e.process(delivery(t, paidFile)); o.Result != outcome.Forwarded {
			t.Fatalf("grant retry: %+v", o)
		}
		if o := e.process(r); o.Result != outcome.Forwarded || o.Reversed != 100 {
			t.Fatalf("refund retry: %+v", o)
		}
		if net := be.net(); net != 0 {
			t.Errorf("backend holds %d, want 0 (%v)", net, be.credited)
		}
	})
	t.Run("a recent payment: the refund waits for a grant not delivered yet", func(t *testing.T) {
		e := newEnv(t, nil)
		withReversals(e)
		r := young(e, refund(t, "evt_r1", 500), false)
		r.Event.Object.Created = e.clk.Now().Unix() - 60 // the charge: paid a minute ago
		if o := e.process(r); o.Reason != "awaiting_purchase" {
			t.Fatalf("%+v", o)
		}
		e.process(delivery(t, paidFile))
		if o := e.process(r); o.Result != outcome.Forwarded || e.be.net() != 50 {
			t.Fatalf("%+v %v", o, e.be.credited)
		}
	})
	for _, tt := range []struct {
		live bool
		wait time.Duration
	}{{false, time.Hour}, {true, 24 * time.Hour}} {
		t.Run(fmt.Sprintf("livemode %t: the wait runs out after %s", tt.live, tt.wait), func(t *testing.T) {
			e := newEnv(t, newBackend(errBackendDown))
			withReversals(e)
			e.rt.Livemode = tt.live
			g := delivery(t, paidFile)
			g.Event.Livemode = tt.live
			e.process(g)
			r := young(e, refund(t, "evt_r1", 999), tt.live)
			e.clk.Advance(tt.wait - time.Second)
			if o := e.process(r); o.Reason != "awaiting_purchase" {
				t.Fatalf("just inside the wait: %+v", o)
			}
			e.clk.Advance(time.Second)
			if o := e.process(r); o.Result != outcome.DeadLettered || o.Reason != "unknown_purchase" {
				t.Fatalf("after the wait: %+v", o)
			}
		})
	}
	t.Run("an old payment nobody is granting: parked at once", func(t *testing.T) {
		e := newEnv(t, nil)
		withReversals(e)
		r := young(e, refund(t, "evt_r1", 999), false)
		r.Event.Object.Created = e.clk.Now().Add(-48 * time.Hour).Unix()
		if o := e.process(r); o.Result != outcome.DeadLettered || o.Reason != "unknown_purchase" {
			t.Fatalf("%+v", o)
		}
	})
	t.Run("an old event does not wait, even while a grant fails", func(t *testing.T) {
		e := newEnv(t, newBackend(errBackendDown))
		withReversals(e)
		e.process(delivery(t, paidFile))
		if o := e.process(refund(t, "evt_r1", 999)); o.Result != outcome.DeadLettered || o.Reason != "unknown_purchase" { // created in 2024
			t.Fatalf("%+v", o)
		}
	})
}
