package pipeline_test

import (
	"testing"

	"github.com/creditgate/creditgate/internal/outcome"
)

// TestDoneOutlivesTheLease: the done markers of a credited purchase live dedup.ttl,
// not dedup.lease. A redelivery long after the lease (but within the ttl) is a
// duplicate that never reaches the backend: the store stops it, not the backend's
// 409. (A mutation that wrote done markers with the lease survived every other test.)
func TestDoneOutlivesTheLease(t *testing.T) {
	e := newEnv(t, nil)
	d := delivery(t, paidFile)
	if o := e.process(d); o.Result != outcome.Forwarded {
		t.Fatalf("first delivery: %s (%s)", o.Result, o.Detail)
	}
	e.clk.Advance(ttl - 1) // far past the lease, just inside the ttl
	e.wantKeys(paidEvent, paidSession, done, done)
	if o := e.process(d); o.Result != outcome.Duplicate {
		t.Fatalf("redelivery within the ttl: %s/%q, want duplicate", o.Result, o.Reason)
	}
	if n := len(e.be.sent()); n != 1 {
		t.Fatalf("the backend got %d requests, want 1: the done marker must stop the redelivery", n)
	}
	e.clk.Advance(2)
	e.wantKeys(paidEvent, paidSession, free, free)
}
