package pipeline_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/creditgate/creditgate/internal/dedup"
	"github.com/creditgate/creditgate/internal/forward"
	"github.com/creditgate/creditgate/internal/ledger"
	"github.com/creditgate/creditgate/internal/outcome"
	"github.com/creditgate/creditgate/internal/pipeline"
	"github.com/creditgate/creditgate/internal/storekey"
)

// errLostAnswer: the backend applied the request, but its answer never came back (a
// timeout, a proxy's 502): the forwarder cannot tell it from a failure.
var errLostAnswer = fmt.Errorf("%w: context deadline exceeded", forward.ErrUnavailable)

// TestReversalFaults injects one fault into a reversal of a credited purchase (a
// refund that takes credits back, or a failed refund that gives them back): a store
// call failing (or landing with its answer lost), or a backend answer. Right after,
// another reversal of the same purchase is delivered; then Stripe redelivers both
// until each gets a 2xx. Whatever the fault, a 2xx means delivered or parked, the other
// reversal never runs while the first may have been applied unrecorded (409), and the
// backend ends at the balance the money stands for (once a parked event is replayed),
// each request applied once.
//
// Store calls of a reversal, in order: Claim (event), Claim (reversal lock), RecordGet
// (the purchase record), RecordPut (Pending: the event's request is out), the forward,
// RecordPut (the result; tried twice), Complete (event), Release (event), Release (lock).
func TestReversalFaults(t *testing.T) {
	variants := []struct {
		name  string
		setup []ev // delivered before the fault
		d     ev   // the delivery that meets the fault
		other ev   // another reversal of the purchase, right after
		total int64
	}{
		{"refund takes back", nil, refundedAt("evt_r1", 10, 500), refundedAt("evt_r2", 20, 700), 30},
		{"failed refund gives back", []ev{refundedAt("evt_r1", 10, 500)},
			refundFailed("evt_f1", outcome.EventRefundUpdated, "re_1", "failed", 15, 10, 500),
			refundedAt("evt_r2", 20, 200), 80},
		{"won dispute gives back", []ev{dispute("evt_d1", outcome.EventDisputeCreated, "dp_1", "needs_response", 999)},
			dispute("evt_d2", outcome.EventDisputeClosed, "dp_1", "won", 999),
			refundedAt("evt_r2", 20, 300), 70},
	}
	type row struct {
		name   string
		script []error // backend answers to the faulty delivery, then it accepts
		method string  // store method to fail ("Record*" on the records), or "Park"
		nths   []int
		after  bool
		want   outcome.Result
		reason outcome.Reason
		// other is the answer to the other reversal, right after: outcome.InFlight (it waits),
		// or outcome.Forwarded for "runs" (a 2xx: forwarded, or nothing to move).
		other outcome.Result
	}
	rows := []row{
		{name: "Claim event", method: "Claim", nths: []int{1}, want: outcome.StoreUnavailable, reason: "store", other: outcome.Forwarded},
		{name: "Claim event, answer lost", method: "Claim", nths: []int{1}, after: true, want: outcome.StoreUnavailable, reason: "store", other: outcome.Forwarded},
		{name: "Claim lock", method: "Claim", nths: []int{2}, want: outcome.StoreUnavailable, reason: "store", other: outcome.Forwarded},
		// The lock landed under this delivery's token: given back at once.
		{name: "Claim lock, answer lost", method: "Claim", nths: []int{2}, after: true, want: outcome.StoreUnavailable, reason: "store", other: outcome.Forwarded},
		{name: "Get record", method: "RecordGet", nths: []int{1}, want: outcome.StoreUnavailable, reason: "store", other: outcome.Forwarded},
		{name: "Put pending", method: "RecordPut", nths: []int{1}, want: outcome.StoreUnavailable, reason: "store", other: outcome.Forwarded},
		{name: "Put pending, answer lost", method: "RecordPut", nths: []int{1}, after: true, want: outcome.StoreUnavailable, reason: "store", other: outcome.InFlight},
		{name: "Put result once", method: "RecordPut", nths: []int{2}, want: outcome.Forwarded, other: outcome.Forwarded},
		{name: "Put result twice", method: "RecordPut", nths: []int{2, 3}, want: outcome.StoreUnavailable, reason: "store", other: outcome.InFlight},
		{name: "Complete event", method: "Complete", nths: []int{1}, want: outcome.StoreUnavailable, reason: "store", other: outcome.Forwarded},
		{name: "Release lock", method: "Release", nths: []int{2}, want: outcome.Forwarded, other: outcome.InFlight},
		{name: "backend down", script: []error{errBackendDown}, want: outcome.BackendUnavailable, reason: "backend", other: outcome.InFlight},
		{name: "backend applied, answer lost", script: []error{errLostAnswer}, want: outcome.BackendUnavailable, reason: "backend", other: outcome.InFlight},
		{name: "backend rejects", script: []error{errBackendNo}, want: outcome.DeadLettered, reason: "backend_rejected", other: outcome.Forwarded},
		{name: "Park after rejection", script: []error{errBackendNo}, method: "Park", nths: []int{1}, want: outcome.StoreUnavailable, reason: "dead_letter", other: outcome.Forwarded},
	}
	for _, v := range variants {
		for _, r := range rows {
			t.Run(v.name+"/"+r.name, func(t *testing.T) {
				be := newBackend()
				e := newEnv(t, be)
				recs := &faultRecords{Store: withReversals(e), f: e.store}
				e.p.Records = recs
				if o := e.process(delivery(t, paidFile)); o.Result != outcome.Forwarded {
					t.Fatalf("grant: %+v", o)
				}
				for _, s := range v.setup {
					if o := e.process(s(t)); o.Result != outcome.Forwarded {
						t.Fatalf("setup: %+v", o)
					}
				}
				switch r.method {
				case "":
				case "Park":
					e.dl.failNth = r.nths[0]
				default:
					e.store.arm(r.method, r.nths[0], r.after)
					recs.also = r.nths[1:]
				}
				be.script = append(be.script, r.script...)
				be.lostAnswers = r.script != nil && r.script[0] == errLostAnswer

				d := v.d(t)
				o := e.process(d)
				if r.method != "" && r.method != "Park" && !e.store.fired {
					t.Fatalf("%s #%d was never called", r.method, r.nths[0])
				}
				if o.Result != r.want || o.Reason != r.reason {
					t.Fatalf("Process = %s/%q (%s), want %s/%q", o.Result, o.Reason, o.Detail, r.want, r.reason)
				}
				_, applied := be.applied(d.Event.ID)
				switch {
				case o.Result == outcome.Forwarded && !applied:
					t.Fatal("answered forwarded, the backend has nothing")
				case o.Result == outcome.DeadLettered && len(e.entries()) != 1:
					t.Fatal("answered dead_lettered, nothing parked")
				}
				e.store.arm("", 0, false)
				recs.also = nil

				other := v.other(t)
				if got := e.process(other); got.Result != r.other && (r.other == outcome.InFlight || !is2xx(got.Result)) {
					t.Fatalf("other reversal right after = %s/%q (%s), want %s", got.Result, got.Reason, got.Detail, r.other)
				}
				// Stripe redelivers every non-2xx, after the lease at the latest.
				e.clk.Advance(lease)
				for _, x := range []pipeline.Delivery{d, other, d, other} {
					if got := e.process(x); !is2xx(got.Result) {
						e.clk.Advance(lease)
						if got = e.process(x); !is2xx(got.Result) {
							t.Fatalf("redelivery of %s = %s/%q (%s)", x.Event.ID, got.Result, got.Reason, got.Detail)
						}
					}
				}
				// An operator replays what was parked (dlq replay), the backend now fixed.
				if len(e.entries()) > 0 {
					rd := d
					rd.Replay = true
					if got := e.process(rd); !is2xx(got.Result) || got.Result == outcome.DeadLettered {
						t.Fatalf("replay of the parked %s = %s/%q (%s)", d.Event.ID, got.Result, got.Reason, got.Detail)
					}
				}
				if net := be.net(); net != v.total {
					t.Errorf("backend holds %d credits, want %d (%v)", net, v.total, be.credited)
				}
				rec, ok, err := recs.Store.Get(context.Background(), storekey.Record(route, paidPI))
				if !ok || err != nil || rec.Pending != "" || rec.Credits-rec.Reversed != v.total {
					t.Errorf("record %+v %t %v: want no pending, %d credits left", rec, ok, err, v.total)
				}
			})
		}
	}
}

// faultRecords fails purchase-record calls through the faultStore's arm: methods
// "RecordGet" and "RecordPut"; also lists more calls of the armed method to fail.
type faultRecords struct {
	ledger.Store
	f    *faultStore
	mu   sync.Mutex
	also []int
}

func (r *faultRecords) fails(method string) bool {
	hit := r.f.fault(method)
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, n := range r.also {
		if method == r.f.method && r.f.count(method) == n {
			hit = true
		}
	}
	return hit
}

func (r *faultRecords) Get(ctx context.Context, key string) (ledger.Record, bool, error) {
	if r.fails("RecordGet") {
		return ledger.Record{}, false, injected("RecordGet")
	}
	return r.Store.Get(ctx, key)
}

func (r *faultRecords) Put(ctx context.Context, key string, rec ledger.Record, ttl time.Duration) error {
	if r.fails("RecordPut") {
		if r.f.after {
			_ = r.Store.Put(ctx, key, rec, ttl)
		}
		return injected("RecordPut")
	}
	return r.Store.Put(ctx, key, rec, ttl)
}

var _ dedup.Store = (*faultStore)(nil)
