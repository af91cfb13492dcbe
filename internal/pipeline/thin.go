package pipeline

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/creditgate/creditgate/internal/event"
	"github.com/creditgate/creditgate/internal/outcome"
	"github.com/creditgate/creditgate/internal/storekey"
)

// ObjectReader reads the object a thin event points at (stripeapi.Client). A route's
// API that also implements it processes thin events.
type ObjectReader interface {
	Object(ctx context.Context, account, typ, id string) (json.RawMessage, error)
}

// thinHealthPrefix starts Stripe's health events, e.g.
// v2.core.health.event_generation_failure.resolved.
const thinHealthPrefix = "v2.core.health."

// thinObjectTypes is the related_object.type each handled v1 event type points at.
var thinObjectTypes = map[string]string{
	outcome.EventSessionCompleted:      "checkout.session",
	outcome.EventAsyncPaymentSucceeded: "checkout.session",
	outcome.EventInvoicePaid:           "invoice",
	outcome.EventChargeRefunded:        "charge",
	outcome.EventDisputeCreated:        "dispute",
	outcome.EventDisputeClosed:         "dispute",
}

// ProcessThin runs one thin event (object "v2.core.event", raw its exact body) to its
// Outcome. A thin event is never refused: one of the other mode is ignored (reason
// livemode); a type the route does not handle (v2 and health events included) is
// ignored; a handled v1 type on a route without an API key is ignored with a reason
// that names the setting; otherwise the related object is read through the API and
// the snapshot event it stands for goes through Process. The purchase key is the
// object's id either way, so a thin event and the snapshot event of the same purchase
// credit it once.
//
// Before the read, the thin event's own id is claimed, so a redelivery of a handled
// thin event costs no API read. A transient API failure answers 503 (Stripe
// redelivers); a permanent one (stripe_auth, stripe_not_found, ...) parks the thin
// event as it came. d.Raw is the thin event's body; d.Event is not used; with
// d.Replay (a dead-letter replay: the event key was settled when it was parked) the
// event key is not claimed and only the purchase key decides.
func (p *Pipeline) ProcessThin(ctx context.Context, rt *Route, d Delivery, th event.Thin) Outcome {
	raw := d.Raw
	v1 := th.V1Type()
	env := event.View{ID: th.ID, Type: th.Type, Created: th.Created.Unix(), Livemode: th.Livemode, Account: th.Context}
	if th.Created.IsZero() {
		env.Created = 0
	}
	// Process screens livemode (and a live Connect route's test events) and ignores
	// the thin type itself, which no route lists; only a handled v1 type goes on.
	o := p.Process(ctx, rt, d.of(raw, env))
	if o.Result == outcome.LivemodeMismatch {
		// Never a 4xx for a signed thin event: Stripe would retry it for days.
		o.Result = outcome.Ignored
		return o
	}
	if o.Result != outcome.Ignored || o.Reason != outcome.ReasonEventType {
		return o
	}
	if strings.HasPrefix(th.Type, thinHealthPrefix) {
		o.Reason = outcome.ReasonStripeHealth
		o.Detail = fmt.Sprintf("Stripe health event %s: Stripe reports events it could not generate or deliver; see its Dashboard (Workbench, Health), then run creditgate audit --route %s", clip(th.Type), rt.Name)
		return o
	}
	if v1 == "" || !rt.Handles(v1) {
		o.Reason, o.Detail = outcome.ReasonThinUnknown, fmt.Sprintf("route %q does not handle thin event %s", rt.Name, clip(th.Type))
		return o
	}
	reader, ok := rt.API.(ObjectReader)
	if rt.API == nil || !ok {
		o.Reason = outcome.ReasonThinNoAPI
		o.Detail = fmt.Sprintf("thin event %s carries no data: set stripe.api_key_file on route %q so creditgate can read %s, or send snapshot events to this endpoint", clip(th.Type), rt.Name, clip(th.Related.ID))
		if d.Replay {
			o.Result = outcome.BackendUnavailable // a parked credit is never dropped for it: the entry stays
		}
		return o
	}
	o.Reason, o.Detail = "", ""
	env.Type = v1
	if rt.Connect && (th.Context == "" || rt.ConnectAccounts != nil && !rt.ConnectAccounts[th.Context]) {
		// No account, or one the route does not credit: Process answers it (parked
		// no_account, ignored account_not_allowed) without an API read.
		return p.Process(ctx, rt, d.of(raw, env))
	}

	r := p.newRun(ctx, rt, d, o)
	defer r.c.close()
	if !d.Replay && r.claimEvent(storekey.Event(rt.Name, th.ID)) {
		return r.o
	}
	r.d.Event = env
	if want := thinObjectTypes[v1]; th.Related.ID == "" || th.Related.Type != want {
		return r.park(outcome.ReasonThinRelatedObject, fmt.Sprintf("thin event %s points at %s %s, want a %s", v1, clip(th.Related.Type), clip(th.Related.ID), want))
	}
	ctx, cancel := rt.budget(ctx)
	defer cancel()
	obj, err := reader.Object(ctx, th.Context, th.Related.Type, th.Related.ID)
	if err != nil {
		return r.apiFailed(err)
	}
	snap, err := th.Snapshot(obj)
	if err != nil {
		return r.park(outcome.ReasonThinRelatedObject, err.Error())
	}
	ev, err := event.Decode(snap)
	if err != nil {
		return r.park(outcome.ReasonThinRelatedObject, "the related object does not decode: "+err.Error())
	}
	// The snapshot's path claims the event key itself (and settles it); give ours back.
	r.c.release()
	return p.Process(ctx, rt, d.of(snap, ev))
}
