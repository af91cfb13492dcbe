package event

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// wireEvent is the envelope as it travels; only the fields Decode needs.
type wireEvent struct {
	ID         string    `json:"id"`
	Object     *string   `json:"object"` // nil when absent or null
	Type       string    `json:"type"`
	APIVersion string    `json:"api_version"`
	Created    int64     `json:"created"`
	Livemode   bool      `json:"livemode"`
	Account    string    `json:"account"`
	Data       *wireData `json:"data"`
}

type wireData struct {
	Object *wireObject `json:"object"`
}

type wireObject struct {
	ID                string               `json:"id"`
	Object            string               `json:"object"`
	ClientReferenceID string               `json:"client_reference_id"`
	Customer          idRef                `json:"customer"`
	PaymentIntent     idRef                `json:"payment_intent"`
	PaymentStatus     string               `json:"payment_status"`
	Status            string               `json:"status"`
	Mode              string               `json:"mode"`
	AmountTotal       int64                `json:"amount_total"`
	Currency          string               `json:"currency"`
	Metadata          map[string]metaValue `json:"metadata"`
	Amount            int64                `json:"amount"`
	AmountRefunded    int64                `json:"amount_refunded"`
	Refunded          bool                 `json:"refunded"`
	AmountCaptured    int64                `json:"amount_captured"`
	Created           int64                `json:"created"`
}

// Decode reads the view of the Stripe event in raw, the exact request body.
//
// The top level must be a JSON object (and nothing after it but white space) with a
// string id and type, and data.object must be a JSON object. A top-level "object",
// when present and not null, must be "event". Identifiers (see MaxTokenLen) must be
// 1 to MaxTokenLen bytes of printable ASCII without spaces; the optional ones may
// also be absent, null or empty. Every other field is optional: absent and null give
// the zero value, unknown fields are ignored, and api_version is taken as it is.
// A field Decode reads that has the wrong JSON type (e.g. amount_total as a string)
// makes the body malformed: Stripe never sends one, so it points at a forgery or a
// bug, and the error names the field. Numbers (created, amount_total, amount,
// amount_refunded, amount_captured, data.object.created) must be JSON
// integers that fit an int64: 1.0 and 1e3 are malformed.
//
// Keys match as in encoding/json: exactly or, failing that, case-insensitively, and
// the last of duplicate keys wins. Stripe sends neither, and the body is signed.
//
// Every error wraps ErrMalformed.
func Decode(raw []byte) (View, error) {
	var w wireEvent
	if !fastPath || !decodeFast(raw, &w) { // the common case in one pass; see decodeFast
		w = wireEvent{}
		if err := json.Unmarshal(raw, &w); err != nil {
			return View{}, describe(raw, err)
		}
	}
	if err := checkTopLevel(raw); err != nil {
		return View{}, err
	}
	if err := w.check(); err != nil {
		return View{}, err
	}
	o := w.Data.Object
	return View{
		ID:         w.ID,
		Type:       w.Type,
		APIVersion: w.APIVersion,
		Created:    w.Created,
		Livemode:   w.Livemode,
		Account:    w.Account,
		Object: Object{
			ID:                o.ID,
			Object:            o.Object,
			ClientReferenceID: o.ClientReferenceID,
			Customer:          string(o.Customer),
			PaymentIntent:     string(o.PaymentIntent),
			PaymentStatus:     o.PaymentStatus,
			Status:            o.Status,
			Mode:              o.Mode,
			AmountTotal:       o.AmountTotal,
			Currency:          o.Currency,
			Metadata:          stringValues(o.Metadata),
			Amount:            o.Amount,
			AmountRefunded:    o.AmountRefunded,
			Refunded:          o.Refunded,
			AmountCaptured:    o.AmountCaptured,
			Created:           o.Created,
		},
	}, nil
}

// check applies the rules that encoding/json cannot: required fields and bounds.
func (w *wireEvent) check() error {
	if err := checkEnvelope(w.Object, w.ID, w.Type, w.Account); err != nil {
		return err
	}
	if w.Data == nil {
		return malformed("data is missing or null")
	}
	o := w.Data.Object
	if o == nil {
		return malformed("data.object is missing or null")
	}
	for _, f := range [...]struct{ name, v string }{
		{"data.object.id", o.ID},
		{"data.object.customer", string(o.Customer)},
		{"data.object.payment_intent", string(o.PaymentIntent)},
	} {
		if err := checkToken(f.name, f.v, false); err != nil {
			return err
		}
	}
	return nil
}

// checkTopLevel refuses JSON null, the only non-object that json.Unmarshal accepts
// into a struct. raw has been unmarshalled without error, so it is not blank.
func checkTopLevel(raw []byte) error {
	if t := bytes.TrimLeft(raw, " \t\r\n"); t[0] != '{' {
		return malformed("top level: got JSON null, want object")
	}
	return nil
}

// checkEnvelope applies the envelope's rules: a top-level "object", when present and
// not null, is "event"; id and type are required identifiers, account an optional one.
func checkEnvelope(object *string, id, typ, account string) error {
	if object != nil && *object != "event" {
		return malformed("object is %s, want \"event\"", excerpt(*object))
	}
	for _, f := range [...]struct {
		name, v  string
		required bool
	}{{"id", id, true}, {"type", typ, true}, {"account", account, false}} {
		if err := checkToken(f.name, f.v, f.required); err != nil {
			return err
		}
	}
	return nil
}

// stringValues keeps the string values of m; nil when there is none.
func stringValues(m map[string]metaValue) map[string]string {
	n := 0
	for _, v := range m {
		if v.ok {
			n++
		}
	}
	if n == 0 {
		return nil
	}
	out := make(map[string]string, n)
	for k, v := range m {
		if v.ok {
			out[k] = v.s
		}
	}
	return out
}

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrMalformed}, args...)...)
}
