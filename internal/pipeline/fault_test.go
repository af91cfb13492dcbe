package pipeline_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/creditgate/creditgate/internal/dedup"
	"github.com/creditgate/creditgate/internal/metrics"
	"github.com/creditgate/creditgate/internal/outcome"
	"github.com/creditgate/creditgate/internal/pipeline"
)

// TestProcessFaults injects one store or dead-letter failure into a delivery and
// checks the rule of docs/design.md §1: a 2xx only when the credit is delivered (or parked,
// pending, ignored); otherwise a non-2xx, with no claim left held that the store would
// have let go. Then Stripe's retry, once the fault has cleared, must end with exactly
// one credit in total.
//
// Store calls of a paid delivery, in order: Claim (event), Claim (purchase), Customer
// (only when the user id comes from the customer map), Learn (the customer map), the
// forward, Complete (event), Complete (purchase). A transient failure releases in the order
// claimed: Release (event), Release (purchase). Parking calls Park, Complete (event),
// Release (event, a no-op on a done key), Release (purchase).
func TestProcessFaults(t *testing.T) {
	paid := func(t *testing.T) pipeline.Delivery { return delivery(t, paidFile) }
	viaCustomerMap := func(t *testing.T) pipeline.Delivery {
		d := delivery(t, paidFile)
		delete(d.Event.Object.Metadata, "user_id")
		return d
	}
	noUser := func(t *testing.T) pipeline.Delivery { return withoutUser(delivery(t, paidFile)) }
	unpaid := func(t *testing.T) pipeline.Delivery { return delivery(t, unpaidFile) }

	tests := []faultCase{
		// Paid, forwarded.
		{name: "Claim event", d: paid, method: "Claim", nth: 1,
			want: outcome.StoreUnavailable, reason: "store", event: free, purchase: free,
			retry: outcome.Forwarded, granted: 1},
		{name: "Claim purchase", d: paid, method: "Claim", nth: 2,
			want: outcome.StoreUnavailable, reason: "store", event: free, purchase: free,
			retry: outcome.Forwarded, granted: 1},
		{name: "Customer map lookup", d: viaCustomerMap, method: "Customer", nth: 1,
			want: outcome.StoreUnavailable, reason: "store", event: free, purchase: free,
			retry: outcome.Forwarded, granted: 1},
		// The credit is delivered, so Stripe gets 200. A done mark that fails is tried
		// once more; only if both fail does the key stay claimed until its lease runs
		// out (releasing it early would let a concurrent delivery forward again).
		{name: "Complete event after delivery", d: paid, method: "Complete", nth: 1,
			want: outcome.Forwarded, event: done, purchase: done,
			retry: outcome.Duplicate, granted: 1},
		// A failed done mark after delivery is tried once more, so one store hiccup
		// does not leave the purchase to the backend's Idempotency-Key alone.
		{name: "Complete purchase after delivery", d: paid, method: "Complete", nth: 2,
			want: outcome.Forwarded, event: done, purchase: done,
			retry: outcome.Duplicate, granted: 1},
		{name: "Learn the customer before delivery", d: paid, method: "Learn", nth: 1,
			want: outcome.StoreUnavailable, reason: "store", event: free, purchase: free,
			retry: outcome.Forwarded, granted: 1},
		{name: "Learn the customer, answer lost", d: paid, method: "Learn", nth: 1, after: true,
			want: outcome.StoreUnavailable, reason: "store", event: free, purchase: free,
			retry: outcome.Forwarded, granted: 1},

		// Backend down once: the claims are released, so Stripe's retry can credit.
		{name: "Release event after backend failure", d: paid, script: []error{errBackendDown},
			method: "Release", nth: 1,
			want: outcome.BackendUnavailable, reason: "backend", event: held, purchase: free,
			early: outcome.InFlight, retry: outcome.Forwarded, granted: 1},
		{name: "Release purchase after backend failure", d: paid, script: []error{errBackendDown},
			method: "Release", nth: 2,
			want: outcome.BackendUnavailable, reason: "backend", event: free, purchase: held,
			early: outcome.InFlight, retry: outcome.Forwarded, granted: 1},

		// Backend rejects once (a 4xx), then accepts: the park must be durable or 503.
		{name: "Park after backend rejection", d: paid, script: []error{errBackendNo},
			method: "Park", nth: 1,
			want: outcome.StoreUnavailable, reason: "dead_letter", event: free, purchase: free,
			retry: outcome.Forwarded, granted: 1},

		// Dead-lettered (no user id): nothing to credit.
		{name: "Park of an event without user id", d: noUser, method: "Park", nth: 1,
			want: outcome.StoreUnavailable, reason: "dead_letter", event: free, purchase: free,
			retry: outcome.DeadLettered, entries: 1},
		{name: "Complete event after parking", d: noUser, method: "Complete", nth: 1,
			want: outcome.StoreUnavailable, reason: "store", event: free, purchase: free,
			retry: outcome.DeadLettered, entries: 1},
		{name: "Release purchase after parking", d: noUser, method: "Release", nth: 2,
			want: outcome.DeadLettered, reason: "no_user_id", event: done, purchase: held,
			early: outcome.Duplicate, retry: outcome.Duplicate, entries: 1},

		// Pending payment: only the event key.
		{name: "Complete event of an unpaid session", d: unpaid, method: "Complete", nth: 1,
			want: outcome.StoreUnavailable, reason: "store", event: free, purchase: free,
			retry: outcome.PendingPayment},

		// The write lands but its answer is lost (a timeout). A claim whose answer
		// was lost is held by a token nobody knows, until its lease runs out.
		// A claim that landed although its answer was lost is given back at once
		// (token-guarded release), so Stripe's retry is not held off until the lease.
		{name: "Claim event, answer lost", d: paid, method: "Claim", nth: 1, after: true,
			want: outcome.StoreUnavailable, reason: "store", event: free, purchase: free,
			retry: outcome.Forwarded, granted: 1},
		{name: "Claim purchase, answer lost", d: paid, method: "Claim", nth: 2, after: true,
			want: outcome.StoreUnavailable, reason: "store", event: free, purchase: free,
			retry: outcome.Forwarded, granted: 1},
		{name: "Complete event of an unpaid session, answer lost", d: unpaid, method: "Complete", nth: 1, after: true,
			want: outcome.StoreUnavailable, reason: "store", event: done, purchase: free,
			retry: outcome.Duplicate},
		{name: "Complete event after parking, answer lost", d: noUser, method: "Complete", nth: 1, after: true,
			want: outcome.StoreUnavailable, reason: "store", event: done, purchase: free,
			retry: outcome.Duplicate, entries: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { testFault(t, tt) })
	}
}

// faultCase is one row of TestProcessFaults.
type faultCase struct {
	name   string
	d      func(t *testing.T) pipeline.Delivery
	script []error // backend answers, then the backend accepts
	method string  // store method to fail, or "Park"
	nth    int
	after  bool // the store call takes effect before it fails

	want     outcome.Result
	reason   outcome.Reason
	event    string // key states right after
	purchase string
	early    outcome.Result // the answer to a retry while a claim is still held
	retry    outcome.Result // the answer to Stripe's retry once the fault is gone
	granted  int            // credits in total after the retry
	entries  int            // dead-letter entries in the end
	markLost bool           // the purchase's done mark never landed
}

// testFault runs one row. The store claims and settles in batches as the Redis store
// does (ClaimEach, Settle), with the faults on the single calls inside.
func testFault(t *testing.T, tt faultCase) {
	e := newEnv(t, newBackend(tt.script...))
	d := tt.d(t)
	ev, cs := d.Event.ID, d.Event.Object.ID
	if _, err := e.cus.Learn(context.Background(), route, paidCust, user1, ttl); err != nil {
		t.Fatal(err)
	}
	if tt.method == "Park" {
		e.dl.failNth = tt.nth
	} else {
		e.store.arm(tt.method, tt.nth, tt.after)
	}

	o := e.process(d)

	if d.Event.Object.PaymentStatus == "paid" && e.store.count("ClaimEach") == 0 {
		t.Error("a paid session did not claim through ClaimEach")
	}
	if o.Result == outcome.Forwarded && e.store.count("Settle") == 0 {
		t.Error("a forwarded credit was not settled through Settle")
	}
	if fired := e.store.fired || e.dl.parks >= e.dl.failNth && e.dl.failNth > 0; !fired {
		t.Fatalf("%s #%d was never called", tt.method, tt.nth)
	}
	if o.Result != tt.want || o.Reason != tt.reason {
		t.Fatalf("Process = %s/%q (%s), want %s/%q", o.Result, o.Reason, o.Detail, tt.want, tt.reason)
	}
	if o.Result == outcome.StoreUnavailable {
		if !errors.Is(o.Err, dedup.ErrUnavailable) {
			t.Errorf("Err = %v, want it to wrap dedup.ErrUnavailable", o.Err)
		}
		if !slices.Contains(metrics.StoreParts, string(o.Reason)) {
			t.Errorf("reason %q is not in metrics.StoreParts", o.Reason)
		}
	}
	entries := len(e.entries())
	switch {
	case !is2xx(o.Result):
		// Stripe delivers again; the end state below shows nothing was lost.
	case o.Result == outcome.Forwarded:
		if e.be.granted() != 1 {
			t.Errorf("answered forwarded, backend granted %d", e.be.granted())
		}
	case o.Result == outcome.DeadLettered:
		if entries != 1 {
			t.Errorf("answered dead_lettered with %d entries", entries)
		}
	default:
		t.Errorf("unexpected 2xx %s", o.Result)
	}
	e.wantKeys(ev, cs, tt.event, tt.purchase)

	// Stripe retries later: after the lease at the latest.
	if tt.event == held || tt.purchase == held {
		if r := e.process(d); r.Result != tt.early {
			t.Errorf("retry within the lease = %s/%q, want %s", r.Result, r.Reason, tt.early)
		}
		e.clk.Advance(lease)
	}
	r := e.process(d)
	if r.Result != tt.retry {
		t.Fatalf("retry = %s/%q (%s), want %s", r.Result, r.Reason, r.Detail, tt.retry)
	}
	if again := e.process(d); again.Result != outcome.Duplicate {
		t.Errorf("next delivery = %s/%q, want duplicate", again.Result, again.Reason)
	}
	if n := e.be.granted(); n != tt.granted {
		t.Errorf("backend granted %d credits, want %d", n, tt.granted)
	}
	if n := len(e.entries()); n != tt.entries {
		t.Errorf("dead-letter list has %d entries, want %d", n, tt.entries)
	}
	switch {
	case tt.markLost:
		e.wantKeys(ev, cs, done, free)
		o := e.process(withEventID(d, "evt_same_session"))
		if o.Result != outcome.Forwarded || o.Reason != "already_credited" {
			t.Errorf("another event for the session = %s/%q, want forwarded/already_credited", o.Result, o.Reason)
		}
		if n := e.be.granted(); n != 1 {
			t.Errorf("backend granted %d credits, want 1", n)
		}
	case tt.granted == 1:
		e.wantKeys(ev, cs, done, done)
	}
}
