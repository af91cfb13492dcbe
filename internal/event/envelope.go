package event

import "encoding/json"

// wireEnvelope is the top level of an event without its data.
type wireEnvelope struct {
	ID         string  `json:"id"`
	Object     *string `json:"object"`
	Type       string  `json:"type"`
	APIVersion string  `json:"api_version"`
	Created    int64   `json:"created"`
	Livemode   bool    `json:"livemode"`
	Account    string  `json:"account"`
}

// DecodeEnvelope reads only the envelope of the event in raw: the top-level id, type,
// api_version, created, livemode and account, with Decode's rules for each; data is
// not looked at, and the View's Object is empty. It is for the event that Decode
// refused: when the route does not handle its type, what its data.object holds does
// not matter, and the event is ignored (200) rather than refused (400), which Stripe
// would retry for days. Every error wraps ErrMalformed.
func DecodeEnvelope(raw []byte) (View, error) {
	var w wireEnvelope
	if err := json.Unmarshal(raw, &w); err != nil {
		return View{}, describe(raw, err)
	}
	if err := checkTopLevel(raw); err != nil {
		return View{}, err
	}
	if err := checkEnvelope(w.Object, w.ID, w.Type, w.Account); err != nil {
		return View{}, err
	}
	return View{ID: w.ID, Type: w.Type, APIVersion: w.APIVersion, Created: w.Created, Livemode: w.Livemode, Account: w.Account}, nil
}
