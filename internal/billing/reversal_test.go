package billing_test

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/creditgate/creditgate/internal/billing"
)

// fact is one event's report, applied to Money.
type fact func(m *billing.Money) bool

func refunds(at, amount int64) fact {
	return func(m *billing.Money) bool { return m.AddRefunds(at, amount, 0, false) }
}
func failed(id string, amount, created, at int64) fact {
	return func(m *billing.Money) bool { return m.AddFailedRefund(id, amount, created, at) }
}
func dispute(id, status string, amount int64) fact {
	return func(m *billing.Money) bool { return m.AddDispute(id, status, amount) }
}

func TestTaken(t *testing.T) {
	tests := []struct {
		name  string
		facts []fact
		want  int64 // of 100 credits paid 1000
	}{
		{"nothing", nil, 0},
		{"a refund", []fact{refunds(1, 250)}, 25},
		{"a newer snapshot wins", []fact{refunds(2, 600), refunds(1, 900)}, 60},
		{"same second: the larger amount", []fact{refunds(1, 600), refunds(1, 300)}, 60},
		{"rounding down", []fact{refunds(1, 19)}, 1},
		{"full refund flag", []fact{func(m *billing.Money) bool { return m.AddRefunds(1, 0, 0, true) }}, 100},
		{"more than paid", []fact{refunds(1, 700), dispute("dp", "lost", 700)}, 100},
		{"inquiry", []fact{dispute("dp", "warning_needs_response", 1000)}, 0},
		{"inquiry escalated", []fact{dispute("dp", "warning_needs_response", 1000), dispute("dp", "needs_response", 1000)}, 100},
		{"inquiry closed stays closed", []fact{dispute("dp", "warning_closed", 1000), dispute("dp", "needs_response", 1000)}, 0},
		{"won, then a late created", []fact{dispute("dp", "won", 400), dispute("dp", "needs_response", 400)}, 0},
		{"lost", []fact{dispute("dp", "under_review", 400), dispute("dp", "lost", 400)}, 40},
		{"prevented", []fact{dispute("dp", "prevented", 400)}, 0},
		{"failed after the snapshot", []fact{refunds(10, 500), failed("re", 500, 10, 20)}, 0},
		{"failed before the snapshot", []fact{refunds(30, 200), failed("re", 500, 10, 20)}, 20},
		{"refund made after the snapshot", []fact{refunds(5, 200), failed("re", 500, 10, 20)}, 20},
		{"failed twice is once", []fact{refunds(10, 800), failed("re", 500, 10, 20), failed("re", 500, 10, 21)}, 30},
		{"a negative amount counts nothing", []fact{refunds(1, -5), dispute("dp", "lost", -5)}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var m billing.Money
			for _, f := range tt.facts {
				f(&m)
			}
			if got := m.Taken(100, 1000); got != tt.want {
				t.Errorf("Taken = %d, want %d (%+v)", got, tt.want, m)
			}
		})
	}
}

func TestTakenEdges(t *testing.T) {
	var m billing.Money
	m.AddRefunds(1, 250, 500, false) // captured 500 of 1000
	if got := m.Taken(100, 1000); got != 50 {
		t.Errorf("partial capture: %d, want 50", got)
	}
	var more billing.Money
	more.AddRefunds(1, 250, 5000, false) // a charge larger than the purchase
	if got := more.Taken(100, 1000); got != 25 {
		t.Errorf("captured more than the purchase: %d, want 25 (the purchase's share)", got)
	}
	if got := m.Taken(0, 1000); got != 0 {
		t.Errorf("no credits: %d", got)
	}
	var free billing.Money
	free.AddRefunds(1, 1, 0, false)
	if got := free.Taken(7, 0); got != 7 {
		t.Errorf("a purchase that cost nothing, refunded: %d, want all", got)
	}
	var big billing.Money
	big.AddRefunds(1, 1<<40, 0, false)
	if got := big.Taken(1<<53, 1<<41); got != 1<<52 {
		t.Errorf("large numbers: %d, want %d", got, int64(1)<<52)
	}
	c := m.Clone()
	c.AddDispute("dp", "lost", 10)
	if len(m.Disputes) != 0 {
		t.Error("Clone shares its dispute map")
	}
}

// TestMoneyOrderIndependent: applying the same facts, each maybe twice, in any order
// ends at the same Money's Taken; a repeated fact reports no change.
func TestMoneyOrderIndependent(t *testing.T) {
	facts := []fact{
		refunds(10, 300), refunds(20, 700), failed("re_2", 400, 20, 30), refunds(40, 500),
		dispute("dp_1", "warning_needs_response", 200), dispute("dp_1", "needs_response", 200),
		dispute("dp_1", "won", 200), dispute("dp_2", "needs_response", 150), dispute("dp_2", "lost", 150),
	}
	var want billing.Money
	for _, f := range facts {
		f(&want)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 500 {
		order := append([]fact(nil), facts...)
		order = append(order, facts[rng.IntN(len(facts))])
		rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		var m billing.Money
		for _, f := range order {
			f(&m)
		}
		if got, w := m.Taken(100, 1000), want.Taken(100, 1000); got != w {
			t.Fatalf("Taken = %d, want %d (%+v)", got, w, m)
		}
		for _, f := range facts {
			if f(&m) {
				t.Fatalf("a fact applied twice changed Money: %+v", m)
			}
		}
	}
	if got := want.Taken(100, 1000); got != 65 { // refunds 500 + dp_2 150
		t.Errorf("in order: %d, want 65", got)
	}
}

func TestDisputeStatuses(t *testing.T) {
	for _, s := range []string{"warning_needs_response", "warning_under_review", "warning_closed", "needs_response", "under_review", "won", "lost", "charge_refunded", "prevented"} {
		if !billing.KnownDisputeStatus(s) || billing.DescribeDispute("dp", s, 1) == "" {
			t.Errorf("%s unknown", s)
		}
	}
	if billing.KnownDisputeStatus("") || billing.KnownDisputeStatus("WON") {
		t.Error("unknown statuses known")
	}
	if !billing.FailedRefundStatus("failed") || !billing.FailedRefundStatus("canceled") || billing.FailedRefundStatus("pending") {
		t.Error("FailedRefundStatus")
	}
}

// FuzzMoney reads facts from bytes (Stripe's numbers as any event could carry them)
// and checks that Taken stays within 0 … credits, and that the facts applied in
// reverse order end at the same Taken.
func FuzzMoney(f *testing.F) {
	f.Add([]byte{0, 10, 50, 1, 3, 20, 2, 1, 2, 30}, int64(100), int64(1000))
	f.Add([]byte{2, 7, 255, 2, 6, 255, 0, 255, 255}, int64(1<<53), int64(1))
	f.Fuzz(func(t *testing.T, b []byte, credits, paid int64) {
		statuses := []string{"warning_needs_response", "warning_under_review", "warning_closed", "needs_response", "under_review", "won", "lost", "prevented"}
		var facts []fact
		for i := 0; i+2 < len(b) && len(facts) < 32; i += 3 {
			x, y := int64(b[i+1])*37, int64(b[i+2])
			switch b[i] % 4 {
			case 0:
				facts = append(facts, refunds(y, x))
			case 1:
				facts = append(facts, func(m *billing.Money) bool { return m.AddRefunds(y, x, x/2, b[i]%8 == 1) })
			case 2:
				facts = append(facts, failed("re_"+string(rune('a'+b[i+2]%4)), x, y%16, y))
			default:
				facts = append(facts, dispute("dp_"+string(rune('a'+b[i+1]%3)), statuses[int(b[i+2])%len(statuses)], x))
			}
		}
		var fwd, back billing.Money
		for i := range facts {
			facts[i](&fwd)
			facts[len(facts)-1-i](&back)
		}
		got := fwd.Taken(credits, paid)
		if got < 0 || got > max(credits, 0) {
			t.Fatalf("Taken = %d of %d credits", got, credits)
		}
		if other := back.Taken(credits, paid); other != got {
			t.Fatalf("in order %d, reversed %d (%+v / %+v)", got, other, fwd, back)
		}
	})
}

// BenchmarkReversal is the rule's share of one reversal: clone the record's facts,
// merge the event's, and compute what the money stands for.
func BenchmarkReversal(b *testing.B) {
	var m billing.Money
	m.AddRefunds(10, 300, 999, false)
	m.AddFailedRefund("re_1", 100, 5, 8)
	m.AddDispute("dp_1", "needs_response", 200)
	b.ReportAllocs()
	for i := range b.N {
		next := m.Clone()
		next.AddRefunds(int64(20+i), 400, 999, false)
		_ = next.Taken(100, 999)
	}
}

func TestAwaitPurchase(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	ago := func(d time.Duration) time.Time { return now.Add(-d) }
	tests := []struct {
		name             string
		event, object    time.Time
		livemode, marked bool
		want             bool
	}{
		{"live: young event, recent payment", ago(time.Hour), ago(2 * time.Hour), true, false, true},
		{"live: young event, old payment", ago(time.Hour), ago(48 * time.Hour), true, false, false},
		{"live: young event, old payment, grant failing", ago(time.Hour), ago(48 * time.Hour), true, true, true},
		{"live: event older than the wait", ago(24 * time.Hour), ago(24 * time.Hour), true, true, false},
		{"test: waits an hour only", ago(time.Hour), ago(time.Hour), false, true, false},
		{"test: within the hour", ago(59 * time.Minute), ago(59 * time.Minute), false, false, true},
		{"no times", time.Time{}, time.Time{}, true, true, false},
		{"no object time, grant not failing", ago(time.Minute), time.Time{}, true, false, false},
	}
	for _, tt := range tests {
		if got := billing.AwaitPurchase(tt.event, tt.object, tt.livemode, tt.marked, now); got != tt.want {
			t.Errorf("%s: %t, want %t", tt.name, got, tt.want)
		}
	}
}
