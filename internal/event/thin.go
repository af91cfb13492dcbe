package event

import (
	"bytes"
	"encoding/json"
	"strings"
	"time"
)

// ThinObject is the top-level "object" of a thin event.
const ThinObject = "v2.core.event"

// ThinV1Prefix starts the type of a thin event about a v1 resource:
// "v1.checkout.session.completed" is the thin twin of "checkout.session.completed".
const ThinV1Prefix = "v1."

// Thin is a thin event (Stripe's event destinations, object "v2.core.event"): an
// envelope that points at the object it is about instead of carrying a snapshot of
// it. The zero value is not a valid thin event: one returned by DecodeThin without
// error always has ID and Type set.
type Thin struct {
	// ID is the event id (evt_...). Never empty.
	ID string
	// Type is the event type as sent, e.g. "v1.checkout.session.completed".
	Type string
	// Created is the event's creation time (RFC 3339 on the wire); zero when absent.
	Created time.Time
	// Livemode reports a live-mode event; false when absent or null.
	Livemode bool
	// Context is the connected account (acct_...) whose authentication is needed to
	// read the event and its object; empty for the platform's own events.
	Context string
	// Related is the object the event is about; its ID is empty when the event has
	// no related_object.
	Related Related
}

// Related is a thin event's related_object.
type Related struct {
	ID   string // e.g. cs_...
	Type string // e.g. "checkout.session"
	URL  string // e.g. /v1/checkout/sessions/cs_...
}

// V1Type is the snapshot event type of a thin event about a v1 resource
// ("checkout.session.completed" for "v1.checkout.session.completed"), or "" for
// every other thin event (v2 resources, health events).
func (t Thin) V1Type() string {
	if s, ok := strings.CutPrefix(t.Type, ThinV1Prefix); ok {
		return s
	}
	return ""
}

type wireThin struct {
	ID            string       `json:"id"`
	Object        *string      `json:"object"`
	Type          string       `json:"type"`
	Created       *string      `json:"created"`
	Livemode      bool         `json:"livemode"`
	Context       *string      `json:"context"`
	RelatedObject *wireRelated `json:"related_object"`
}

type wireRelated struct {
	ID   string `json:"id"`
	Type string `json:"type"`
	URL  string `json:"url"`
}

// IsThin reports whether raw looks like a thin event: a JSON object whose top-level
// "object" is "v2.core.event". It is a cheap test (one scan for the marker, then one
// decode of the envelope) that lets a caller route a body that Decode refused.
func IsThin(raw []byte) bool {
	if !bytes.Contains(raw, []byte(ThinObject)) {
		return false
	}
	var w struct {
		Object *string `json:"object"`
	}
	return json.Unmarshal(raw, &w) == nil && w.Object != nil && *w.Object == ThinObject
}

// DecodeThin reads a thin event. The top level must be a JSON object with "object"
// "v2.core.event", a string id and type (identifiers, see MaxTokenLen), and, when
// present and not null, created as an RFC 3339 time, context as an identifier and
// related_object as an object whose id and type are identifiers and whose url is a
// path of printable ASCII. Unknown fields (data, reason, changes) are ignored. Every
// error wraps ErrMalformed and never quotes more than a few bytes of the payload.
func DecodeThin(raw []byte) (Thin, error) {
	var w wireThin
	if err := json.Unmarshal(raw, &w); err != nil {
		return Thin{}, describe(raw, err)
	}
	if err := checkTopLevel(raw); err != nil {
		return Thin{}, err
	}
	if w.Object == nil || *w.Object != ThinObject {
		got := "missing or null"
		if w.Object != nil {
			got = excerpt(*w.Object)
		}
		return Thin{}, malformed("object is %s, want %q", got, ThinObject)
	}
	var ctxAcct string
	if w.Context != nil {
		ctxAcct = *w.Context
	}
	for _, f := range [...]struct {
		name, v  string
		required bool
	}{{"id", w.ID, true}, {"type", w.Type, true}, {"context", ctxAcct, false}} {
		if err := checkToken(f.name, f.v, f.required); err != nil {
			return Thin{}, err
		}
	}
	t := Thin{ID: w.ID, Type: w.Type, Livemode: w.Livemode, Context: ctxAcct}
	if w.Created != nil {
		c, err := time.Parse(time.RFC3339Nano, *w.Created)
		if err != nil {
			return Thin{}, malformed("created is %s, want an RFC 3339 time", excerpt(*w.Created))
		}
		t.Created = c.UTC()
	}
	if r := w.RelatedObject; r != nil {
		for _, f := range [...]struct {
			name, v  string
			required bool
		}{{"related_object.id", r.ID, true}, {"related_object.type", r.Type, true}, {"related_object.url", r.URL, false}} {
			if err := checkToken(f.name, f.v, f.required); err != nil {
				return Thin{}, err
			}
		}
		t.Related = Related{ID: r.ID, Type: r.Type, URL: r.URL}
	}
	return t, nil
}

// Snapshot builds the snapshot event (object "event") that the thin event t stands
// for, with data.object set to obj, the related object's JSON as the API returned it:
// same id, the v1 type, created in unix seconds, livemode, and the context as
// account. Decode reads the result like any webhook body, so a thin event goes
// through exactly the path of its snapshot twin.
func (t Thin) Snapshot(obj json.RawMessage) ([]byte, error) {
	var created int64
	if !t.Created.IsZero() {
		created = t.Created.Unix()
	}
	return json.Marshal(struct {
		ID       string          `json:"id"`
		Object   string          `json:"object"`
		Account  string          `json:"account,omitempty"`
		Created  int64           `json:"created"`
		Livemode bool            `json:"livemode"`
		Type     string          `json:"type"`
		Data     json.RawMessage `json:"data"`
	}{t.ID, "event", t.Context, created, t.Livemode, t.V1Type(),
		json.RawMessage(append(append([]byte(`{"object":`), obj...), '}'))})
}
