package forward

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/creditgate/creditgate/internal/testkit"
)

func TestRequestJSONNormalizesTime(t *testing.T) {
	r := sampleRequest()
	r.OccurredAt = time.Date(2026, 11, 27, 20, 6, 22, 987654321, time.FixedZone("CET", 3600))
	r.Stripe = StripeRef{EventID: "evt_1", EventType: "charge.refunded", SessionID: "cs_1", AmountTotal: 0}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"id":"cs_test_a1b2c3","type":"credit.granted","user_id":"e747de39-1b54-4cd0-96eb-e68f155931e2","credits":100,"livemode":false,"occurred_at":"2026-11-27T19:06:22Z","stripe":{"event_id":"evt_1","event_type":"charge.refunded","session_id":"cs_1","amount_total":0}}`
	if string(b) != want {
		t.Errorf("JSON =\n%s\nwant\n%s", b, want)
	}
	var back Request
	if err := json.Unmarshal(b, &back); err != nil || !back.OccurredAt.Equal(r.OccurredAt.Truncate(time.Second)) {
		t.Errorf("round trip: %v %v", back.OccurredAt, err)
	}
}

func TestRequestValidate(t *testing.T) {
	tests := []struct {
		name   string
		change func(*Request)
		want   string // "" means valid
	}{
		{"sample", func(*Request) {}, ""},
		{"reversal", func(r *Request) { r.Type, r.Credits, r.ID = TypeReversed, -40, "evt_refund_1" }, ""},
		{"no id", func(r *Request) { r.ID = "" }, "id is empty"},
		{"long id", func(r *Request) { r.ID = strings.Repeat("x", 256) }, "longer than"},
		{"header injection", func(r *Request) { r.ID = "cs_1\r\nX-Evil: 1" }, "printable ASCII"},
		{"space in id", func(r *Request) { r.ID = "cs 1" }, "printable ASCII"},
		{"no user", func(r *Request) { r.UserID = "" }, "user_id is empty"},
		{"no event", func(r *Request) { r.Stripe.EventID = "" }, "event_id is empty"},
		{"zero grant", func(r *Request) { r.Credits = 0 }, "positive"},
		{"negative grant", func(r *Request) { r.Credits = -1 }, "positive"},
		{"positive reversal", func(r *Request) { r.Type = TypeReversed }, "negative"},
		{"unknown type", func(r *Request) { r.Type = "credit.gifted" }, "unknown type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := sampleRequest()
			tt.change(&r)
			err := r.Validate()
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Validate = %v, want %q", err, tt.want)
			}
			if !errors.Is(err, ErrInvalid) || !errors.Is(err, ErrRejected) || errors.Is(err, ErrUnavailable) {
				t.Errorf("%v must be ErrInvalid and ErrRejected only", err)
			}
		})
	}
}

// TestMarshalCoversEveryField: every field of Request filled with plain values, the
// hand-written bytes are encoding/json's. A field added to Request or StripeRef
// without teaching marshal fails here.
func TestMarshalCoversEveryField(t *testing.T) {
	var r Request
	testkit.FillPlain(&r)
	got, err := r.MarshalJSON()
	type plain Request
	want, _ := json.Marshal(plain(r))
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("marshal:\n got %s (%v)\nwant %s", got, err, want)
	}
}
