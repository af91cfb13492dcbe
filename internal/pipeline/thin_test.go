package pipeline_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/creditgate/creditgate/internal/event"
	"github.com/creditgate/creditgate/internal/outcome"
	"github.com/creditgate/creditgate/internal/pipeline"
	"github.com/creditgate/creditgate/internal/stripeapi"
)

// recordedAPI answers the thin path's object read with data.object of a recorded
// snapshot event (what GET /v1/checkout/sessions/{id} returns for it); the other
// reads are not used here.
type recordedAPI struct {
	pipeline.API
	obj   json.RawMessage
	reads int
}

func (r *recordedAPI) Object(context.Context, string, string, string) (json.RawMessage, error) {
	r.reads++
	return r.obj, nil
}

func thinFor(t *testing.T, id string, live bool) (pipeline.Delivery, event.Thin) {
	t.Helper()
	raw, err := json.Marshal(map[string]any{"id": "evt_test_thin1", "object": "v2.core.event", "type": "v1.checkout.session.completed",
		"livemode": live, "created": start.Format(time.RFC3339Nano),
		"related_object": map[string]any{"id": id, "type": "checkout.session", "url": "/v1/checkout/sessions/" + id}})
	if err != nil {
		t.Fatal(err)
	}
	th, err := event.DecodeThin(raw)
	if err != nil {
		t.Fatal(err)
	}
	return pipeline.Delivery{Raw: raw}, th
}

func sessionOf(t *testing.T, file string) json.RawMessage {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "event", "testdata", file))
	if err != nil {
		t.Fatal(err)
	}
	var ev struct {
		Data struct{ Object json.RawMessage }
	}
	if err := json.Unmarshal(raw, &ev); err != nil {
		t.Fatal(err)
	}
	return ev.Data.Object
}

// TestThinNeverLosesACredit: every failure on the thin path answers non-2xx or parks,
// and a store that fails after the read leaves nothing claimed for the retry.
func TestThinNeverLosesACredit(t *testing.T) {
	e := newEnv(t, nil)
	api := &recordedAPI{obj: sessionOf(t, paidFile)}
	e.rt.API = api
	d, th := thinFor(t, paidSession, false)

	e.store.arm("Claim", 2, false) // the snapshot's claims, after the object was read
	if o := e.p.ProcessThin(context.Background(), e.rt, d, th); o.Result != outcome.StoreUnavailable || is2xx(o.Result) {
		t.Fatalf("store failure after the read: %s, want store_unavailable (503)", o.Result)
	}
	e.wantKeys(th.ID, paidSession, free, free)
	if e.be.granted() != 0 {
		t.Fatal("credited despite the store failure")
	}
	e.store.arm("", 0, false)
	if o := e.p.ProcessThin(context.Background(), e.rt, d, th); o.Result != outcome.Forwarded {
		t.Fatalf("Stripe's retry: %s (%s), want forwarded", o.Result, o.Detail)
	}
	e.wantKeys(th.ID, paidSession, done, done)
	if o := e.p.ProcessThin(context.Background(), e.rt, d, th); o.Result != outcome.Duplicate || api.reads != 2 {
		t.Fatalf("redelivery: %s after %d reads, want duplicate after 2", o.Result, api.reads)
	}
	if e.be.granted() != 1 {
		t.Fatalf("granted %d times, want once", e.be.granted())
	}
}

// TestThinWithoutAPI: ignored (200) when delivered, but a replay of a parked thin
// event keeps its entry (non-2xx) instead of dropping the credit.
func TestThinWithoutAPI(t *testing.T) {
	e := newEnv(t, nil)
	d, th := thinFor(t, paidSession, false)
	if o := e.p.ProcessThin(context.Background(), e.rt, d, th); o.Result != outcome.Ignored || o.Reason != outcome.ReasonThinNoAPI {
		t.Fatalf("delivery: %s %s, want ignored %s", o.Result, o.Reason, outcome.ReasonThinNoAPI)
	}
	d.Replay = true
	if o := e.p.ProcessThin(context.Background(), e.rt, d, th); is2xx(o.Result) {
		t.Fatalf("replay without an API key: %s, a 2xx-class result would drop the parked entry", o.Result)
	}
	// The other mode is ignored, never refused.
	d, th = thinFor(t, paidSession, true)
	if o := e.p.ProcessThin(context.Background(), e.rt, d, th); o.Result != outcome.Ignored || o.Reason != "livemode" {
		t.Fatalf("live thin event on a test route: %s %s, want ignored livemode", o.Result, o.Reason)
	}
}

// TestThinConnectAccounts: on a Connect route a thin event without context is parked
// and one of an account the route does not credit is ignored, both without an API read.
func TestThinConnectAccounts(t *testing.T) {
	e := newEnv(t, nil)
	api := &recordedAPI{obj: sessionOf(t, paidFile)}
	e.rt.API, e.rt.Connect, e.rt.ConnectAccounts = api, true, map[string]bool{connectAccount: true}
	d, th := thinFor(t, paidSession, false)
	if o := e.p.ProcessThin(context.Background(), e.rt, d, th); o.Result != outcome.DeadLettered || o.Reason != "no_account" {
		t.Fatalf("no context: %s %s, want dead_lettered no_account", o.Result, o.Reason)
	}
	th.ID, th.Context = "evt_test_thin2", "acct_1NotAllowed"
	if o := e.p.ProcessThin(context.Background(), e.rt, d, th); o.Result != outcome.Ignored || o.Reason != "account_not_allowed" {
		t.Fatalf("other account: %s %s, want ignored account_not_allowed", o.Result, o.Reason)
	}
	if api.reads != 0 || e.be.granted() != 0 {
		t.Fatalf("%d API reads and %d grants, want none", api.reads, e.be.granted())
	}
	th.ID, th.Context = "evt_test_thin3", connectAccount
	if o := e.p.ProcessThin(context.Background(), e.rt, d, th); o.Result != outcome.Forwarded || api.reads != 1 {
		t.Fatalf("allowed account: %s (%s) after %d reads, want forwarded after 1", o.Result, o.Detail, api.reads)
	}
	if got := e.be.sent()[0]; got.UserID != connectAccount+":"+user1 || got.Stripe.Account != connectAccount {
		t.Errorf("forwarded %+v, want the user scoped by %s", got, connectAccount)
	}
}

var _ pipeline.ObjectReader = (*stripeapi.Client)(nil)
