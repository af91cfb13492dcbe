package stripeapi_test

import (
	"context"
	"errors"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/creditgate/creditgate/internal/outcome"
	"github.com/creditgate/creditgate/internal/secret"
	"github.com/creditgate/creditgate/internal/stripeapi"
	"github.com/creditgate/creditgate/internal/stripeapi/stripemock"
)

func newClient(base, key string) *stripeapi.Client {
	return stripeapi.New(stripeapi.Options{Key: secret.New(key), BaseURL: base, Timeout: 5 * time.Second, Retries: -1})
}

// TestStripeMock checks the wiring against stripe-mock: the real HTTP paths, the
// expand parameters (stripe-mock validates every parameter against Stripe's OpenAPI
// spec and rejects unknown ones), the Stripe-Account header and error mapping.
func TestStripeMock(t *testing.T) {
	base := stripemock.Start(t)
	ctx := context.Background()
	c := newClient(base, stripemock.Key)

	t.Run("session line items with price and product", func(t *testing.T) {
		lines, err := c.SessionLines(ctx, "", "cs_test_any")
		if err != nil {
			t.Fatal(err)
		}
		if len(lines) == 0 {
			t.Fatal("no line items")
		}
		l := lines[0]
		if !strings.HasPrefix(l.PriceID, "price_") || !strings.HasPrefix(l.ProductID, "prod_") || l.Quantity < 1 {
			t.Errorf("line = %+v, want a price_, an expanded prod_ and a quantity", l)
		}
	})
	t.Run("connect account header accepted", func(t *testing.T) {
		if _, err := c.SessionLines(ctx, "acct_1bYhhkDlE8OUkVJV", "cs_test_any"); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("customer metadata", func(t *testing.T) {
		if _, err := c.CustomerMetadata(ctx, "", "cus_any"); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("invoice and its lines", func(t *testing.T) {
		in, err := c.Invoice(ctx, "", "in_any")
		if err != nil {
			t.Fatal(err)
		}
		if in.ID == "" {
			t.Errorf("invoice = %+v, want an id", in)
		}
	})
	t.Run("checkout session of a subscription and of a payment intent", func(t *testing.T) {
		// stripe-mock validates the list filters against the spec; it answers with its
		// fixed session whatever the filter.
		for _, q := range [][2]string{{"sub_any", ""}, {"", "pi_any"}} {
			s, ok, err := c.SessionFor(ctx, "", q[0], q[1])
			if err != nil || !ok || !strings.HasPrefix(s.ID, "cs_") {
				t.Errorf("SessionFor(%q, %q) = %+v %t %v", q[0], q[1], s, ok, err)
			}
		}
	})
	t.Run("a session's payment intent, its invoice expanded", func(t *testing.T) {
		if _, err := c.SessionPaymentIntent(ctx, "", "cs_test_any"); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("events", func(t *testing.T) {
		n := 0
		err := c.Events(ctx, stripeapi.EventQuery{Since: time.Now().Add(-72 * time.Hour), Types: []string{"checkout.session.completed"}}, func(raw []byte) error {
			n++
			if !strings.Contains(string(raw), `"object":"event"`) {
				t.Errorf("event JSON = %.200s", raw)
			}
			return nil
		})
		if err != nil || n == 0 {
			t.Fatalf("Events: %d events, %v", n, err)
		}
	})
	t.Run("bad key is an auth error", func(t *testing.T) {
		_, err := newClient(base, "sk_live_not_accepted_by_stripe_mock").SessionLines(ctx, "", "cs_test_any")
		if !errors.Is(err, stripeapi.ErrAuth) || stripeapi.Reason(err) != "stripe_auth" {
			t.Fatalf("err = %v, want ErrAuth", err)
		}
		if strings.Contains(err.Error(), "not_accepted") {
			t.Errorf("error quotes the key: %v", err)
		}
	})
}

// TestSessionLookups: the Checkout Session of a subscription (the list endpoint's
// subscription filter, one page of one), none for a subscription Checkout did not
// start, and a subscription session's PaymentIntent from its expanded invoice.
func TestSessionLookups(t *testing.T) {
	ctx := context.Background()
	srv := stripemock.NewRecorded(t, map[string]stripemock.Reply{
		"GET /v1/checkout/sessions":                                  stripemock.File(t, "testdata/checkout_sessions_by_subscription.json"),
		"GET /v1/checkout/sessions/cs_test_a1SubscriptionCheckout01": stripemock.File(t, "testdata/checkout_session_expanded_invoice.json"),
	})
	c := newClient(srv.URL, "sk_test_recorded")
	s, ok, err := c.SessionFor(ctx, "", "sub_1PgdSubscription01", "")
	if err != nil || !ok || s.ID != "cs_test_a1SubscriptionCheckout01" || s.Customer != "cus_QXgSubscriber01" ||
		s.Metadata["user_id"] != "5c2e1a94-7b3f-4d8e-a6c0-91f4d2b3e8a7" || s.PaymentIntent != "" {
		t.Fatalf("SessionFor = %+v %t %v", s, ok, err)
	}
	q := srv.Requests()[0].URL.Query()
	if q.Get("subscription") != "sub_1PgdSubscription01" || q.Get("limit") != "1" || q.Has("payment_intent") {
		t.Errorf("query %v", q)
	}
	pi, err := c.SessionPaymentIntent(ctx, "", "cs_test_a1SubscriptionCheckout01")
	if err != nil || pi != "pi_3PgdFirstInvoicePI01" {
		t.Errorf("SessionPaymentIntent = %q %v", pi, err)
	}
	if q := srv.Requests()[1].URL.Query(); q.Get("expand[0]") != "invoice" {
		t.Errorf("session query %v", q)
	}
	srv.Set(map[string]stripemock.Reply{"GET /v1/checkout/sessions": {Status: 200, Body: []byte(`{"object":"list","data":[],"has_more":false,"url":"/v1/checkout/sessions"}`)}})
	if s, ok, err := c.SessionFor(ctx, "acct_1Connected", "", "pi_none"); ok || err != nil || s.ID != "" {
		t.Errorf("SessionFor without a session = %+v %t %v", s, ok, err)
	}
	last := srv.Requests()[2]
	if last.URL.Query().Get("payment_intent") != "pi_none" || last.Header.Get("Stripe-Account") != "acct_1Connected" {
		t.Errorf("request %v %v", last.URL, last.Header)
	}
}

// TestRecorded covers what stripe-mock cannot produce: several pages, real-shaped
// prices and products with credits metadata, prorations, and every error class.
func TestRecorded(t *testing.T) {
	ctx := context.Background()
	srv := stripemock.NewRecorded(t, map[string]stripemock.Reply{
		"GET /v1/checkout/sessions/cs_test_recorded/line_items":                                            stripemock.File(t, "testdata/session_line_items_page1.json"),
		"GET /v1/checkout/sessions/cs_test_recorded/line_items?starting_after=li_1PgcA1B7WZ01zgkW9c0Qn1aB": stripemock.File(t, "testdata/session_line_items_page2.json"),
		"GET /v1/invoices/in_1PgdInvoiceRecorded01":                                                        stripemock.File(t, "testdata/invoice.json"),
		"GET /v1/invoices/in_1PgdInvoiceRecorded01/lines":                                                  stripemock.File(t, "testdata/invoice_lines.json"),
		"GET /v1/customers/cus_QXgSubscriber01":                                                            stripemock.File(t, "testdata/customer.json"),
	})
	c := newClient(srv.URL, "sk_test_recorded")

	lines, err := c.SessionLines(ctx, "acct_1Connected", "cs_test_recorded")
	if err != nil {
		t.Fatal(err)
	}
	want := []stripeapi.Line{
		{PriceID: "price_1PgcA0B7WZ01zgkWcredit100", Quantity: 2, PriceMetadata: map[string]string{}, ProductID: "prod_QXgCredits100", ProductMetadata: map[string]string{"credits": "100"}},
		{PriceID: "price_1PgcA0B7WZ01zgkWbonus050", Quantity: 1, PriceMetadata: map[string]string{"credits": "50"}, ProductID: "prod_QXgBonus", ProductMetadata: map[string]string{"credits": "999"}},
	}
	if !reflect.DeepEqual(lines, want) {
		t.Errorf("lines = %+v\nwant %+v", lines, want)
	}
	for _, r := range srv.Requests() {
		if got := r.Header.Get("Stripe-Account"); got != "acct_1Connected" {
			t.Errorf("%s: Stripe-Account = %q", r.URL, got)
		}
		if !strings.Contains(r.URL.RawQuery, "expand") {
			t.Errorf("%s: no expand parameter", r.URL)
		}
	}

	in, err := c.Invoice(ctx, "", "in_1PgdInvoiceRecorded01")
	if err != nil {
		t.Fatal(err)
	}
	if in.Customer != "cus_QXgSubscriber01" || in.PaymentIntent != "pi_3PgdInvoicePaymentInt" || in.AmountPaid != 1999 ||
		in.Subscription != "sub_1PgdSubscription01" || in.SubscriptionMetadata["user_id"] != "5c2e1a94-7b3f-4d8e-a6c0-91f4d2b3e8a7" ||
		len(in.Lines) != 2 || in.Lines[0].Proration || !in.Lines[1].Proration || in.Lines[0].ProductMetadata["credits"] != "500" ||
		in.BillingReason != "subscription_cycle" || in.Total != 1999 || in.Prorations() != 1 || in.SubscriptionStarted.Unix() != 1721000000 {
		t.Errorf("invoice = %+v", in)
	}
	md, err := c.CustomerMetadata(ctx, "", "cus_QXgSubscriber01")
	if err != nil || md["user_id"] != "9a0d6f3b-41c2-4e85-b7d9-3c8e1f2a6b40" {
		t.Errorf("customer metadata = %v, %v", md, err)
	}
}

func TestErrorClasses(t *testing.T) {
	tests := []struct {
		name   string
		reply  stripemock.Reply
		want   error
		reason outcome.Reason
	}{
		{"401 invalid key", stripemock.Error(t, 401, "testdata/error_auth.json"), stripeapi.ErrAuth, "stripe_auth"},
		{"403 restricted key", stripemock.Error(t, 403, "testdata/error_permission.json"), stripeapi.ErrPermission, "stripe_permission"},
		{"404 no such session", stripemock.Error(t, 404, "testdata/error_not_found.json"), stripeapi.ErrNotFound, "stripe_not_found"},
		{"400 bad parameter", stripemock.Error(t, 400, "testdata/error_invalid.json"), stripeapi.ErrInvalid, "stripe_invalid_request"},
		{"429 rate limited", stripemock.Error(t, 429, "testdata/error_rate_limit.json"), stripeapi.ErrUnavailable, ""},
		{"500 api error", stripemock.Error(t, 500, "testdata/error_api.json"), stripeapi.ErrUnavailable, ""},
		{"503 html from a proxy", stripemock.Reply{Status: 503, Body: []byte("<html>down</html>")}, stripeapi.ErrUnavailable, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := stripemock.NewRecorded(t, map[string]stripemock.Reply{"GET /v1/checkout/sessions/cs_x/line_items": tt.reply})
			_, err := newClient(srv.URL, "sk_test_x").SessionLines(context.Background(), "", "cs_x")
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if got := stripeapi.Reason(err); got != tt.reason {
				t.Errorf("Reason = %q, want %q", got, tt.reason)
			}
		})
	}
	t.Run("connection refused", func(t *testing.T) {
		srv := stripemock.NewRecorded(t, nil)
		url := srv.URL
		srv.Close()
		_, err := newClient(url, "sk_test_x").CustomerMetadata(context.Background(), "", "cus_1")
		if !errors.Is(err, stripeapi.ErrUnavailable) || stripeapi.Reason(err) != "" {
			t.Fatalf("err = %v, want ErrUnavailable", err)
		}
	})
	t.Run("timeout", func(t *testing.T) {
		block := make(chan struct{})
		defer close(block)
		srv := stripemock.NewRecorded(t, nil)
		srv.Config.Handler = http.HandlerFunc(func(http.ResponseWriter, *http.Request) { <-block })
		c := stripeapi.New(stripeapi.Options{Key: secret.New("sk_test_x"), BaseURL: srv.URL, Timeout: 200 * time.Millisecond, Retries: -1})
		start := time.Now()
		_, err := c.CustomerMetadata(context.Background(), "", "cus_1")
		if !errors.Is(err, stripeapi.ErrUnavailable) || time.Since(start) > 2*time.Second {
			t.Fatalf("err = %v after %s, want ErrUnavailable within the timeout", err, time.Since(start))
		}
	})
}

// A 500 on a GET is retried once (safe), a 429 is not: Stripe redelivers the webhook.
func TestRetries(t *testing.T) {
	tests := []struct {
		name     string
		status   int
		file     string
		requests int
	}{
		{"500 retried once", 500, "testdata/error_api.json", 2},
		{"429 not retried", 429, "testdata/error_rate_limit.json", 1},
		{"401 not retried", 401, "testdata/error_auth.json", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := stripemock.NewRecorded(t, map[string]stripemock.Reply{"GET /v1/customers/cus_1": stripemock.Error(t, tt.status, tt.file)})
			c := stripeapi.New(stripeapi.Options{Key: secret.New("sk_test_x"), BaseURL: srv.URL, Timeout: 5 * time.Second})
			_, _ = c.CustomerMetadata(context.Background(), "", "cus_1")
			if got := len(srv.Requests()); got != tt.requests {
				t.Errorf("%d requests, want %d", got, tt.requests)
			}
		})
	}
}
