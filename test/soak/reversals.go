package main

import (
	"encoding/json"
	"math/rand/v2"
	"time"
)

// reversalKinds are the purchases whose money moves after the grant: each is a paid
// session, then the events Stripe sends about its charge, delivered from the same
// moment as the session (so some arrive before their grant and must wait for it).
var reversalKinds = []kind{kindRefunds, kindRefundFails, kindInquiry, kindChargebackWon, kindChargebackLost}

// reversalOK are the 2xx answers a reversal event may get: never dead_lettered.
var reversalOK = []string{"forwarded", "duplicate", "ignored"}

// planReversals adds the money events of p (a paid session, events[0]) and sets
// p.net, the credits the backend must hold for it in the end. The charge is 999 of
// which Stripe reports refunds and disputes; event times count up in seconds so the
// charge's refund snapshots are ordered as Stripe orders them.
func planReversals(p *purchase, rng *rand.Rand, hex func(int) string) {
	var s struct {
		Data struct {
			Object struct {
				PaymentIntent string `json:"payment_intent"`
			} `json:"object"`
		} `json:"data"`
	}
	_ = json.Unmarshal(p.events[0].body, &s)
	pi, now := s.Data.Object.PaymentIntent, time.Now().Unix()
	ev := func(sec int64, typ string, obj map[string]any) *simEvent {
		e := &simEvent{p: p, id: "evt_soak" + hex(24), typ: typ, ok: reversalOK, ackedCh: make(chan struct{})}
		obj["payment_intent"] = pi
		b, err := json.Marshal(map[string]any{
			"id": e.id, "object": "event", "api_version": "2023-10-16", "created": now + sec,
			"livemode": false, "pending_webhooks": 1, "type": typ, "data": map[string]any{"object": obj},
		})
		if err != nil {
			panic(err)
		}
		e.body = b
		e.twice = rng.Float64() < 0.15
		e.concurrent = rng.Float64() < 0.15 // to both replicas at once: one waits (409)
		e.delay = time.Duration(rng.Int64N(int64(3 * time.Second)))
		return e
	}
	charge := "ch_soak" + hex(24)
	refunded := func(sec, amount int64) *simEvent {
		return ev(sec, "charge.refunded", map[string]any{"id": charge, "object": "charge", "amount": 999,
			"amount_captured": 999, "amount_refunded": amount, "refunded": amount == 999, "created": now,
			"currency": "eur", "status": "succeeded", "captured": true, "paid": true})
	}
	dp := "dp_soak" + hex(24)
	dispute := func(sec int64, typ, status string, amount int64) *simEvent {
		return ev(sec, typ, map[string]any{"id": dp, "object": "dispute", "amount": amount, "charge": charge,
			"created": now, "currency": "eur", "status": status, "reason": "fraudulent",
			"balance_transactions": []any{}, "is_charge_refundable": false, "livemode": false, "metadata": map[string]any{}})
	}
	share := func(amount int64) int64 { return p.credits * amount / 999 }
	switch p.kind {
	case kindRefunds:
		p.events = append(p.events, refunded(1, 333), refunded(2, 999))
		p.net = 0
	case kindRefundFails:
		re := "re_soak" + hex(24)
		p.events = append(p.events, refunded(1, 500), ev(2, "refund.updated", map[string]any{"id": re, "object": "refund",
			"amount": 500, "charge": charge, "created": now + 1, "currency": "eur", "status": "failed",
			"failure_reason": "expired_or_canceled_card", "metadata": map[string]any{}}))
		p.net = p.credits
	case kindInquiry:
		p.events = append(p.events, dispute(1, "charge.dispute.created", "warning_needs_response", 999),
			refunded(2, 400), dispute(3, "charge.dispute.closed", "warning_closed", 999))
		p.net = p.credits - share(400)
	case kindChargebackWon:
		p.events = append(p.events, dispute(1, "charge.dispute.created", "needs_response", 999),
			dispute(2, "charge.dispute.funds_withdrawn", "needs_response", 999),
			dispute(3, "charge.dispute.funds_reinstated", "won", 999), dispute(4, "charge.dispute.closed", "won", 999))
		p.net = p.credits
	case kindChargebackLost:
		p.events = append(p.events, dispute(1, "charge.dispute.created", "needs_response", 500),
			dispute(3, "charge.dispute.closed", "lost", 500))
		p.net = p.credits - share(500)
	}
}
