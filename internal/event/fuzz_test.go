package event

import (
	"encoding/json"
	"errors"
	"path/filepath"
	"reflect"
	"testing"
)

// FuzzDecode checks that Decode never panics, that every failure is an ErrMalformed
// with a short message, and that a success is complete and stable: decoding again,
// or decoding the view re-encoded as an event, gives the same view.
//
// The seed corpus is testdata/fuzz/FuzzDecode plus every fixture in testdata.
func FuzzDecode(f *testing.F) {
	addFixtures(f)
	f.Fuzz(func(t *testing.T, raw []byte) {
		v, err := Decode(raw)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			if !reflect.DeepEqual(v, View{}) {
				t.Fatalf("View %+v returned with error %v", v, err)
			}
			if n := len(err.Error()); n > 256 {
				t.Fatalf("error message is %d bytes long: %q", n, err)
			}
			return
		}
		if v.ID == "" || v.Type == "" {
			t.Fatalf("Decode succeeded with an empty ID or Type: %+v", v)
		}
		again, err := Decode(raw)
		if err != nil || !reflect.DeepEqual(again, v) {
			t.Fatalf("second Decode differs:\n got %+v, %v\nwant %+v", again, err, v)
		}
		round, err := Decode(encode(t, v))
		if err != nil || !reflect.DeepEqual(round, v) {
			t.Fatalf("Decode of the re-encoded view differs:\n got %+v, %v\nwant %+v", round, err, v)
		}
	})
}

// encode writes v back as a Stripe-shaped event.
func encode(t *testing.T, v View) []byte {
	t.Helper()
	type object struct {
		ID                string            `json:"id"`
		Object            string            `json:"object"`
		ClientReferenceID string            `json:"client_reference_id"`
		Customer          string            `json:"customer"`
		PaymentIntent     string            `json:"payment_intent"`
		PaymentStatus     string            `json:"payment_status"`
		Status            string            `json:"status"`
		Mode              string            `json:"mode"`
		AmountTotal       int64             `json:"amount_total"`
		Currency          string            `json:"currency"`
		Amount            int64             `json:"amount"`
		AmountRefunded    int64             `json:"amount_refunded"`
		Refunded          bool              `json:"refunded"`
		AmountCaptured    int64             `json:"amount_captured"`
		Created           int64             `json:"created"`
		Metadata          map[string]string `json:"metadata"`
	}
	type data struct {
		Object object `json:"object"`
	}
	b, err := json.Marshal(struct {
		ID         string `json:"id"`
		Object     string `json:"object"`
		Type       string `json:"type"`
		APIVersion string `json:"api_version"`
		Created    int64  `json:"created"`
		Livemode   bool   `json:"livemode"`
		Account    string `json:"account"`
		Data       data   `json:"data"`
	}{v.ID, "event", v.Type, v.APIVersion, v.Created, v.Livemode, v.Account, data{object(v.Object)}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// FuzzDecodeEnvelope checks that DecodeEnvelope never panics, fails only with a short
// ErrMalformed, and agrees with Decode: whatever Decode accepts, DecodeEnvelope
// accepts with the same envelope.
func FuzzDecodeEnvelope(f *testing.F) {
	addFixtures(f)
	f.Add([]byte(`{"id":"evt_1","object":"event","type":"customer.updated","data":{"object":{"amount_total":"12"}}}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		env, err := DecodeEnvelope(raw)
		if err != nil {
			if !errors.Is(err, ErrMalformed) || !reflect.DeepEqual(env, View{}) || len(err.Error()) > 256 {
				t.Fatalf("DecodeEnvelope error %v (view %+v)", err, env)
			}
		} else if env.ID == "" || env.Type == "" || !reflect.DeepEqual(env.Object, Object{}) {
			t.Fatalf("DecodeEnvelope succeeded with %+v", env)
		}
		v, err := Decode(raw)
		if err != nil {
			return
		}
		v.Object = Object{}
		if !reflect.DeepEqual(env, v) {
			t.Fatalf("Decode accepted the event but the envelopes differ:\nDecode         %+v\nDecodeEnvelope %+v", v, env)
		}
	})
}

// addFixtures seeds f with every fixture in testdata, good and broken.
func addFixtures(f *testing.F) {
	for _, pattern := range []string{"*.json", "broken/*"} {
		files, err := filepath.Glob(filepath.Join("testdata", pattern))
		if err != nil {
			f.Fatal(err)
		}
		for _, file := range files {
			rel, _ := filepath.Rel("testdata", file)
			f.Add(readFixture(f, rel))
		}
	}
}
