package extract_test

import (
	"context"
	"errors"
	"testing"

	"github.com/creditgate/creditgate/internal/config"
	"github.com/creditgate/creditgate/internal/event"
	"github.com/creditgate/creditgate/internal/extract"
	"github.com/creditgate/creditgate/internal/outcome"
	"github.com/creditgate/creditgate/internal/stripeapi"
)

// fakeLookup is an extract.Lookup with fixed answers; it counts calls.
type fakeLookup struct {
	lines    []stripeapi.Line
	err      error
	sub, cus map[string]string
	calls    int
}

func (f *fakeLookup) Lines(context.Context) ([]stripeapi.Line, error) {
	f.calls++
	return f.lines, f.err
}
func (f *fakeLookup) SubscriptionMetadata(context.Context) (map[string]string, error) {
	return f.sub, nil
}
func (f *fakeLookup) CustomerMetadata(context.Context) (map[string]string, error) {
	return f.cus, f.err
}

const uid = "e747de39-1b54-4cd0-96eb-e68f155931e2"

func TestPriceSources(t *testing.T) {
	table := map[string]int64{"price_100": 100, "price_500": 500}
	credits := func(md string) map[string]string { return map[string]string{"credits": md} }
	tests := []struct {
		name    string
		sources []string
		lines   []stripeapi.Line
		apiErr  error
		meta    map[string]string // the session's metadata
		want    int64
		source  string
		reason  outcome.Reason // dead-letter reason, when the extraction fails permanently
		wantErr error          // else the error wrapped
	}{
		{name: "table: quantity times value, summed", sources: []string{"price_table"},
			lines: []stripeapi.Line{{PriceID: "price_100", Quantity: 3}, {PriceID: "price_500", Quantity: 1}},
			want:  800, source: "price_table"},
		{name: "table: one price unknown is never guessed", sources: []string{"price_table"},
			lines:  []stripeapi.Line{{PriceID: "price_100", Quantity: 1}, {PriceID: "price_other", Quantity: 1}},
			reason: "unknown_price"},
		{name: "table: all unknown, no other source", sources: []string{"price_table"},
			lines: []stripeapi.Line{{PriceID: "price_other", Quantity: 1}}, reason: "unknown_price"},
		{name: "table: all unknown falls through to metadata.credits", sources: []string{"price_table", "metadata.credits"},
			lines: []stripeapi.Line{{PriceID: "price_other", Quantity: 1}}, meta: credits("7"), want: 7, source: "metadata.credits"},
		{name: "table: prorations skipped", sources: []string{"price_table"},
			lines: []stripeapi.Line{{PriceID: "price_500", Quantity: 1}, {PriceID: "price_100", Quantity: 1, Proration: true}},
			want:  500, source: "price_table"},
		{name: "table: no line items yields nothing", sources: []string{"price_table"}, reason: "no_credits"},
		{name: "table: sum above max_credits", sources: []string{"price_table"},
			lines: []stripeapi.Line{{PriceID: "price_500", Quantity: 2001}}, reason: "bad_credits"},
		{name: "table: quantity 0 gives 0 credits", sources: []string{"price_table"},
			lines: []stripeapi.Line{{PriceID: "price_500", Quantity: 0}}, reason: "bad_credits"},
		{name: "metadata: price before product", sources: []string{"price_metadata"},
			lines: []stripeapi.Line{{PriceID: "price_a", Quantity: 2, PriceMetadata: credits("50"), ProductMetadata: credits("999")}},
			want:  100, source: "price_metadata"},
		{name: "metadata: product when the price has none", sources: []string{"price_metadata"},
			lines: []stripeapi.Line{{PriceID: "price_a", Quantity: 1, ProductMetadata: credits("250")}},
			want:  250, source: "price_metadata"},
		{name: "metadata: bad value is bad_credits", sources: []string{"price_metadata"},
			lines:  []stripeapi.Line{{PriceID: "price_a", Quantity: 1, ProductMetadata: credits("1e3")}},
			reason: "bad_credits"},
		{name: "metadata: one line without credits", sources: []string{"price_metadata"},
			lines:  []stripeapi.Line{{PriceID: "price_a", Quantity: 1, ProductMetadata: credits("5")}, {PriceID: "price_b", Quantity: 1}},
			reason: "unknown_price"},
		{name: "metadata.credits first wins without an API call", sources: []string{"metadata.credits", "price_table"},
			meta: credits("42"), want: 42, source: "metadata.credits"},
		{name: "API auth error is permanent", sources: []string{"price_table"},
			apiErr: stripeapi.ErrAuth, reason: "stripe_auth"},
		{name: "API outage is transient", sources: []string{"price_metadata"},
			apiErr: stripeapi.ErrUnavailable, wantErr: stripeapi.ErrUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			x, err := extract.New(config.Extract{UserID: []string{"client_reference_id"}, Credits: tt.sources, PriceTable: table, MaxCredits: 1_000_000})
			if err != nil {
				t.Fatal(err)
			}
			api := &fakeLookup{lines: tt.lines, err: tt.apiErr}
			obj := event.Object{ID: "cs_1", ClientReferenceID: uid, Metadata: tt.meta}
			g, err := x.ExtractWith(context.Background(), obj, nil, api)
			switch {
			case tt.reason != "":
				if got := extract.Reason(err); got != tt.reason {
					t.Fatalf("err = %v (reason %q), want reason %q", err, got, tt.reason)
				}
			case tt.wantErr != nil:
				if !errors.Is(err, tt.wantErr) || extract.Reason(err) != "" {
					t.Fatalf("err = %v, want a transient %v", err, tt.wantErr)
				}
			case err != nil:
				t.Fatal(err)
			case g.Credits != tt.want || g.CreditsSource != tt.source || g.UserID != uid:
				t.Errorf("grant = %+v, want %d credits from %s", g, tt.want, tt.source)
			}
			if tt.source == "metadata.credits" && tt.sources[0] == "metadata.credits" && api.calls != 0 {
				t.Errorf("%d API calls, want none", api.calls)
			}
		})
	}
	// Without an API (no key), the API sources yield nothing.
	x, _ := extract.New(config.Extract{UserID: []string{"client_reference_id"}, Credits: []string{"price_table"}, PriceTable: table, MaxCredits: 10})
	if _, err := x.Extract(context.Background(), event.Object{ClientReferenceID: uid}, nil); extract.Reason(err) != "no_credits" {
		t.Errorf("without API: %v, want no_credits", err)
	}
}

func TestAPIUserSources(t *testing.T) {
	const subUser, cusUser = "5c2e1a94-7b3f-4d8e-a6c0-91f4d2b3e8a7", "9a0d6f3b-41c2-4e85-b7d9-3c8e1f2a6b40"
	tests := []struct {
		name     string
		sources  []string
		customer string
		sub, cus map[string]string
		want     string
		reason   outcome.Reason
	}{
		{"subscription first", []string{"subscription.metadata.user_id", "customer.metadata.user_id"}, "cus_1",
			map[string]string{"user_id": subUser}, map[string]string{"user_id": cusUser}, subUser, ""},
		{"customer when the subscription has none", []string{"subscription.metadata.user_id", "customer.metadata.user_id"}, "cus_1",
			nil, map[string]string{"user_id": cusUser}, cusUser, ""},
		{"no customer, no call", []string{"customer.metadata.user_id"}, "", nil, map[string]string{"user_id": cusUser}, "", "no_user_id"},
		{"bad user id from the customer", []string{"customer.metadata.user_id"}, "cus_1", nil, map[string]string{"user_id": "not a uuid"}, "", "bad_user_id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			x, err := extract.New(config.Extract{UserID: tt.sources, UserIDFormat: "uuid", Credits: []string{"metadata.credits"}, MaxCredits: 100})
			if err != nil {
				t.Fatal(err)
			}
			obj := event.Object{Customer: tt.customer, Metadata: map[string]string{"credits": "5"}}
			g, err := x.ExtractWith(context.Background(), obj, nil, &fakeLookup{sub: tt.sub, cus: tt.cus})
			if tt.reason != "" {
				if got := extract.Reason(err); got != tt.reason {
					t.Fatalf("err = %v, want reason %s", err, tt.reason)
				}
				return
			}
			if err != nil || g.UserID != tt.want {
				t.Fatalf("grant = %+v, %v; want user %s", g, err, tt.want)
			}
		})
	}
}
