package pipeline_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/creditgate/creditgate/internal/config"
	"github.com/creditgate/creditgate/internal/event"
	"github.com/creditgate/creditgate/internal/extract"
	"github.com/creditgate/creditgate/internal/pipeline"
	"github.com/creditgate/creditgate/internal/stripeapi"
)

// fakeAPI is pipeline.API with fixed answers.
type fakeAPI struct {
	lines   []stripeapi.Line
	invoice stripeapi.Invoice
	cus     map[string]string
	err     error
	calls   []string
}

func (f *fakeAPI) SessionLines(_ context.Context, account, id string) ([]stripeapi.Line, error) {
	f.calls = append(f.calls, "lines "+account+" "+id)
	return f.lines, f.err
}

func (f *fakeAPI) Invoice(_ context.Context, account, id string) (stripeapi.Invoice, error) {
	f.calls = append(f.calls, "invoice "+account+" "+id)
	return f.invoice, f.err
}

func (f *fakeAPI) CustomerMetadata(_ context.Context, account, id string) (map[string]string, error) {
	f.calls = append(f.calls, "customer "+account+" "+id)
	return f.cus, f.err
}

func withAPI(t *testing.T, e *env, api *fakeAPI, c config.Extract) {
	t.Helper()
	if c.MaxCredits == 0 {
		c.MaxCredits = config.DefaultMaxCredits
	}
	x, err := extract.New(c)
	if err != nil {
		t.Fatal(err)
	}
	e.rt.Extractor, e.rt.API = x, api
}

func TestPriceTableGrant(t *testing.T) {
	tests := []struct {
		name    string
		lines   []stripeapi.Line
		err     error
		result  pipeline.Result
		reason  string
		credits int64
	}{
		{"table", []stripeapi.Line{{PriceID: "price_100", Quantity: 2}}, nil, pipeline.Forwarded, "", 200},
		{"unknown price parked", []stripeapi.Line{{PriceID: "price_new", Quantity: 1}}, nil, pipeline.DeadLettered, "unknown_price", 0},
		{"auth error parked", nil, fmt.Errorf("%w: HTTP 401", stripeapi.ErrAuth), pipeline.DeadLettered, "stripe_auth", 0},
		{"permission error parked", nil, fmt.Errorf("%w: HTTP 403", stripeapi.ErrPermission), pipeline.DeadLettered, "stripe_permission", 0},
		{"rate limit: 503 for Stripe to retry", nil, fmt.Errorf("%w: HTTP 429", stripeapi.ErrUnavailable), pipeline.BackendUnavailable, "stripe_api", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, nil)
			withAPI(t, e, &fakeAPI{lines: tt.lines, err: tt.err}, config.Extract{
				UserID: config.DefaultUserIDSources, Credits: []string{"price_table"}, PriceTable: map[string]int64{"price_100": 100},
			})
			o := e.process(delivery(t, paidFile))
			if o.Result != tt.result || o.Reason != tt.reason {
				t.Fatalf("%s %s (%s), want %s %s", o.Result, o.Reason, o.Detail, tt.result, tt.reason)
			}
			if tt.credits > 0 && e.be.credited[paidSession] != tt.credits {
				t.Errorf("credited %v, want %d", e.be.credited, tt.credits)
			}
			if tt.result == pipeline.BackendUnavailable {
				if o.Result.Status() != 503 {
					t.Errorf("status %d", o.Result.Status())
				}
				e.wantKeys(paidEvent, paidSession, free, free)
			}
		})
	}
}

func TestInvoicePaid(t *testing.T) {
	const subUser = user2
	inv := stripeapi.Invoice{ID: "in_1", Customer: "cus_sub", PaymentIntent: "pi_inv", AmountPaid: 1999, Currency: "eur", Paid: true,
		SubscriptionMetadata: map[string]string{"user_id": subUser},
		Lines: []stripeapi.Line{{PriceID: "price_m", Quantity: 1, ProductMetadata: map[string]string{"credits": "500"}},
			{PriceID: "price_old", Quantity: 1, Proration: true}}}
	invoiceDelivery := func(t *testing.T, id string) pipeline.Delivery {
		d := delivery(t, "charge_refunded.json")
		d.Event.ID, d.Event.Type = id, pipeline.TypeInvoicePaid
		d.Event.Object = eventObject("in_1", "invoice", "cus_sub")
		return d
	}
	e := newEnv(t, nil)
	recs := withReversals(e)
	e.rt.Events[pipeline.TypeInvoicePaid] = true
	api := &fakeAPI{invoice: inv}
	withAPI(t, e, api, config.Extract{UserID: []string{"subscription.metadata.user_id", "customer_map"}, Credits: []string{"price_metadata"}})

	o := e.process(invoiceDelivery(t, "evt_inv1"))
	if o.Result != pipeline.Forwarded || e.be.credited["in_1"] != 500 {
		t.Fatalf("%+v credited %v", o, e.be.credited)
	}
	req := e.be.sent()[0]
	if req.UserID != subUser || req.Stripe.InvoiceID != "in_1" || req.Stripe.SessionID != "" || req.Stripe.PaymentIntentID != "pi_inv" || req.Stripe.AmountTotal != 1999 || req.Stripe.CustomerID != "cus_sub" {
		t.Errorf("request %+v", req)
	}
	if _, ok, _ := recs.Get(context.Background(), route+":pi_inv"); !ok {
		t.Error("no purchase record for the invoice's payment intent")
	}
	// Another event for the same invoice is a duplicate purchase.
	if o := e.process(invoiceDelivery(t, "evt_inv2")); o.Result != pipeline.Duplicate {
		t.Fatalf("second event: %+v", o)
	}
	// A free invoice (trial) is ignored unless the route grants free purchases.
	api.invoice.ID, api.invoice.AmountPaid = "in_2", 0
	d := invoiceDelivery(t, "evt_inv3")
	d.Event.Object.ID = "in_2"
	if o := e.process(d); o.Result != pipeline.Ignored || o.Reason != "no_payment_required" {
		t.Fatalf("trial invoice: %+v", o)
	}

	// The subscription's checkout session only teaches the customer map.
	e2 := newEnv(t, nil)
	e2.rt.Events[pipeline.TypeInvoicePaid] = true
	withAPI(t, e2, &fakeAPI{invoice: inv}, config.Extract{UserID: config.DefaultUserIDSources, Credits: []string{"price_metadata"}})
	sd := delivery(t, paidFile)
	sd.Event.Object.Mode = "subscription"
	if o := e2.process(sd); o.Result != pipeline.Ignored || o.Reason != "subscription_session" || len(e2.be.sent()) != 0 {
		t.Fatalf("subscription session: %+v", o)
	}
	if u, ok, _ := e2.mem.Customer(context.Background(), paidCust); !ok || u != user1 {
		t.Errorf("customer map: %q %t", u, ok)
	}
}

func TestConnect(t *testing.T) {
	tests := []struct {
		name      string
		routeLive bool
		allow     map[string]bool
		account   string
		live      bool
		result    pipeline.Result
		reason    string
	}{
		{"account copied", false, nil, connectAccount, false, pipeline.Forwarded, ""},
		{"allow-listed", false, map[string]bool{connectAccount: true}, connectAccount, false, pipeline.Forwarded, ""},
		{"not allow-listed", false, map[string]bool{"acct_other": true}, connectAccount, false, pipeline.Ignored, "account_not_allowed"},
		{"no account parked", false, nil, "", false, pipeline.DeadLettered, "no_account"},
		{"test event on a live Connect route", true, nil, connectAccount, false, pipeline.Ignored, "test_event"},
		{"live event on a test Connect route", false, nil, connectAccount, true, pipeline.LivemodeMismatch, "livemode"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, nil)
			e.rt.Connect, e.rt.ConnectAccounts, e.rt.Livemode = true, tt.allow, tt.routeLive
			d := delivery(t, connectFile)
			d.Event.Account, d.Event.Livemode = tt.account, tt.live
			o := e.process(d)
			if o.Result != tt.result || o.Reason != tt.reason {
				t.Fatalf("%s %s (%s), want %s %s", o.Result, o.Reason, o.Detail, tt.result, tt.reason)
			}
			if tt.result == pipeline.Forwarded {
				if got := e.be.sent()[0].Stripe.Account; got != tt.account {
					t.Errorf("forwarded account %q, want %q", got, tt.account)
				}
			}
		})
	}
}

func eventObject(id, object, customer string) event.Object {
	return event.Object{ID: id, Object: object, Customer: customer}
}
