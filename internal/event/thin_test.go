package event

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func readThin(t testing.TB, name string) []byte {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", "thin", name))
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func TestDecodeThin(t *testing.T) {
	cases := []struct {
		file string
		want Thin
	}{
		{"checkout_session_completed.json", Thin{
			ID: "evt_test_65RM8sQZ0dDMvBLnG16RM8rsB9SQKeDJcT2oCEvJ5kG9Fm", Type: "v1.checkout.session.completed",
			Created: time.Date(2026, 11, 27, 19, 6, 22, 482e6, time.UTC),
			Related: Related{ID: "cs_test_a1thin9Rk2bQv8yT3cT0d1", Type: "checkout.session", URL: "/v1/checkout/sessions/cs_test_a1thin9Rk2bQv8yT3cT0d1"},
		}},
		{"checkout_session_completed_connect.json", Thin{
			ID: "evt_test_65RMconnectThin000000000000000000000000000", Type: "v1.checkout.session.completed",
			Created: time.Date(2026, 11, 27, 19, 6, 22, 0, time.UTC), Context: "acct_1bYhhkDlE8OUkVJV",
			Related: Related{ID: "cs_test_a1connectThin00000000", Type: "checkout.session", URL: "/v1/checkout/sessions/cs_test_a1connectThin00000000"},
		}},
		{"health_event_generation_failure.json", Thin{
			ID: "evt_test_65RM9xHealthGenFail0000000000000000000000000", Type: "v2.core.health.event_generation_failure.resolved",
			Created: time.Date(2026, 11, 28, 8, 0, 0, 0, time.UTC),
		}},
	}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			raw := readThin(t, c.file)
			if !IsThin(raw) {
				t.Fatal("IsThin = false")
			}
			got, err := DecodeThin(raw)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, c.want) {
				t.Fatalf("got  %+v\nwant %+v", got, c.want)
			}
			if _, err := Decode(raw); !errors.Is(err, ErrMalformed) {
				t.Fatalf("Decode of a thin event: err = %v, want ErrMalformed", err)
			}
		})
	}
}

func TestThinV1Type(t *testing.T) {
	for typ, want := range map[string]string{
		"v1.checkout.session.completed": "checkout.session.completed",
		"v1.invoice.paid":               "invoice.paid",
		"v2.core.account.created":       "",
		"checkout.session.completed":    "",
	} {
		if got := (Thin{Type: typ}).V1Type(); got != want {
			t.Errorf("V1Type(%q) = %q, want %q", typ, got, want)
		}
	}
}

func TestDecodeThinRejects(t *testing.T) {
	base := `"id":"evt_1","type":"v1.checkout.session.completed"`
	cases := map[string]struct{ body, want string }{
		"snapshot event":       {`{"object":"event",` + base + `}`, `object is "event", want "v2.core.event"`},
		"no object":            {`{` + base + `}`, `object is missing or null`},
		"null":                 {`null`, "top level: got JSON null"},
		"array":                {`[]`, "top level: got JSON array"},
		"no id":                {`{"object":"v2.core.event","type":"v1.x"}`, "id is missing"},
		"created unix seconds": {`{"object":"v2.core.event",` + base + `,"created":1700000000}`, "created: got JSON number"},
		"created not a time":   {`{"object":"v2.core.event",` + base + `,"created":"yesterday"}`, "created is \"yesterday\", want an RFC 3339 time"},
		"context with space":   {`{"object":"v2.core.event",` + base + `,"context":"acct 1"}`, "context has byte 0x20"},
		"related without id":   {`{"object":"v2.core.event",` + base + `,"related_object":{"type":"checkout.session"}}`, "related_object.id is missing"},
		"related not object":   {`{"object":"v2.core.event",` + base + `,"related_object":"cs_1"}`, "related_object: got JSON string"},
		"trailing garbage":     {`{"object":"v2.core.event",` + base + `} x`, "invalid JSON"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := DecodeThin([]byte(c.body))
			if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want ErrMalformed containing %q", err, c.want)
			}
		})
	}
}

// TestThinSnapshot: the snapshot a thin event stands for decodes like the webhook
// body Stripe would have sent for it.
func TestThinSnapshot(t *testing.T) {
	th, err := DecodeThin(readThin(t, "checkout_session_completed_connect.json"))
	if err != nil {
		t.Fatal(err)
	}
	obj := json.RawMessage(`{"id":"cs_test_a1connectThin00000000","object":"checkout.session","payment_status":"paid","amount_total":999,"currency":"eur","metadata":{"user_id":"u1"}}`)
	raw, err := th.Snapshot(obj)
	if err != nil {
		t.Fatal(err)
	}
	v, err := Decode(raw)
	if err != nil {
		t.Fatal(err)
	}
	want := View{ID: th.ID, Type: "checkout.session.completed", Created: th.Created.Unix(), Account: "acct_1bYhhkDlE8OUkVJV",
		Object: Object{ID: "cs_test_a1connectThin00000000", Object: "checkout.session", PaymentStatus: "paid",
			AmountTotal: 999, Currency: "eur", Metadata: map[string]string{"user_id": "u1"}}}
	if !reflect.DeepEqual(v, want) {
		t.Fatalf("got  %+v\nwant %+v", v, want)
	}
}

// FuzzDecodeThin checks that DecodeThin never panics, fails only with a short
// ErrMalformed and an empty Thin, and that a success has its required fields and
// agrees with IsThin.
func FuzzDecodeThin(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "thin", "*.json"))
	for _, file := range files {
		raw, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(raw)
	}
	f.Add([]byte(`{"object":"v2.core.event","id":"evt_1","type":"v1.x","created":"2026-01-01T00:00:00+01:00"}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		th, err := DecodeThin(raw)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			if !reflect.DeepEqual(th, Thin{}) {
				t.Fatalf("Thin %+v returned with error %v", th, err)
			}
			if n := len(err.Error()); n > 256 {
				t.Fatalf("error message is %d bytes long: %q", n, err)
			}
			return
		}
		if th.ID == "" || th.Type == "" {
			t.Fatalf("DecodeThin succeeded with an empty ID or Type: %+v", th)
		}
		if !IsThin(raw) {
			t.Fatal("DecodeThin succeeded but IsThin is false")
		}
		if th.Related.ID != "" {
			snap, err := th.Snapshot(json.RawMessage(`{"id":"x_1"}`))
			if err != nil {
				t.Fatal(err)
			}
			if th.V1Type() != "" {
				if _, err := Decode(snap); err != nil {
					t.Fatalf("Snapshot of a decoded thin event does not decode: %v", err)
				}
			}
		}
	})
}
