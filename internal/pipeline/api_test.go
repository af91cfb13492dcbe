package pipeline_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/creditgate/creditgate/internal/config"
	"github.com/creditgate/creditgate/internal/event"
	"github.com/creditgate/creditgate/internal/extract"
	"github.com/creditgate/creditgate/internal/outcome"
	"github.com/creditgate/creditgate/internal/pipeline"
	"github.com/creditgate/creditgate/internal/stripeapi"
)

// fakeAPI is pipeline.API with fixed answers.
type fakeAPI struct {
	lines   []stripeapi.Line
	invoice stripeapi.Invoice
	cus     map[string]string
	// sessions are the Checkout Sessions SessionFor finds, by "sub:<id>" or "pi:<id>".
	sessions map[string]stripeapi.Session
	// sessionPI is SessionPaymentIntent's answer, by session id.
	sessionPI map[string]string
	err       error
	calls     []string
}

func (f *fakeAPI) SessionFor(_ context.Context, account, sub, pi string) (stripeapi.Session, bool, error) {
	key := "pi:" + pi
	if sub != "" {
		key = "sub:" + sub
	}
	f.calls = append(f.calls, "sessions "+account+" "+key)
	s, ok := f.sessions[key]
	return s, ok, f.err
}

func (f *fakeAPI) SessionPaymentIntent(_ context.Context, account, id string) (string, error) {
	f.calls = append(f.calls, "session "+account+" "+id)
	return f.sessionPI[id], f.err
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
		result  outcome.Result
		reason  outcome.Reason
		credits int64
	}{
		{"table", []stripeapi.Line{{PriceID: "price_100", Quantity: 2}}, nil, outcome.Forwarded, "", 200},
		{"unknown price parked", []stripeapi.Line{{PriceID: "price_new", Quantity: 1}}, nil, outcome.DeadLettered, "unknown_price", 0},
		{"auth error parked", nil, fmt.Errorf("%w: HTTP 401", stripeapi.ErrAuth), outcome.DeadLettered, "stripe_auth", 0},
		{"permission error parked", nil, fmt.Errorf("%w: HTTP 403", stripeapi.ErrPermission), outcome.DeadLettered, "stripe_permission", 0},
		{"rate limit: 503 for Stripe to retry", nil, fmt.Errorf("%w: HTTP 429", stripeapi.ErrUnavailable), outcome.BackendUnavailable, "stripe_api", 0},
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
			if tt.result == outcome.BackendUnavailable {
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
	inv := stripeapi.Invoice{ID: "in_1", Customer: "cus_sub", PaymentIntent: "pi_inv", AmountPaid: 1999, Total: 1999, Currency: "eur", Paid: true,
		BillingReason: "subscription_cycle", Subscription: "sub_1",
		SubscriptionMetadata: map[string]string{"user_id": subUser},
		Lines: []stripeapi.Line{{PriceID: "price_m", Quantity: 1, ProductMetadata: map[string]string{"credits": "500"}},
			{PriceID: "price_old", Quantity: 1, Proration: true}}}
	e := newEnv(t, nil)
	recs := withReversals(e)
	e.rt.Events[outcome.EventInvoicePaid] = true
	api := &fakeAPI{invoice: inv}
	withAPI(t, e, api, config.Extract{UserID: []string{"subscription.metadata.user_id", "customer_map"}, Credits: []string{"price_metadata"}})

	o := e.process(invoiceDelivery(t, "evt_inv1", "in_1"))
	if o.Result != outcome.Forwarded || e.be.credited["in_1"] != 500 {
		t.Fatalf("%+v credited %v", o, e.be.credited)
	}
	req := e.be.sent()[0]
	if req.UserID != subUser || req.Stripe.InvoiceID != "in_1" || req.Stripe.SessionID != "" || req.Stripe.PaymentIntentID != "pi_inv" || req.Stripe.AmountTotal != 1999 || req.Stripe.CustomerID != "cus_sub" {
		t.Errorf("request %+v", req)
	}
	if _, ok, _ := recs.Get(context.Background(), route+":pi_inv"); !ok {
		t.Error("no purchase record for the invoice's payment intent")
	}
	if u, _, _ := e.cus.Customer(context.Background(), route, "cus_sub"); u != subUser {
		t.Errorf("the grant did not teach the customer map: %q", u)
	}
	// Another event for the same invoice is a duplicate purchase.
	if o := e.process(invoiceDelivery(t, "evt_inv2", "in_1")); o.Result != outcome.Duplicate {
		t.Fatalf("second event: %+v", o)
	}
	// The billing rules, invoice by invoice.
	tests := []struct {
		name   string
		change func(*stripeapi.Invoice)
		result outcome.Result
		reason outcome.Reason
	}{
		{"trial's $0 invoice", func(i *stripeapi.Invoice) { i.AmountPaid, i.Total, i.BillingReason = 0, 0, "subscription_create" }, outcome.Ignored, "zero_total"},
		{"proration only", func(i *stripeapi.Invoice) { i.BillingReason, i.Lines = "subscription_update", i.Lines[1:] }, outcome.Ignored, "proration"},
		{"threshold", func(i *stripeapi.Invoice) { i.BillingReason = "subscription_threshold" }, outcome.Ignored, "billing_reason"},
		{"unknown billing reason", func(i *stripeapi.Invoice) { i.BillingReason = "subscription_pause" }, outcome.DeadLettered, "unknown_billing_reason"},
		{"paid from the balance", func(i *stripeapi.Invoice) { i.AmountPaid, i.PaymentIntent = 0, "" }, outcome.Forwarded, ""},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := fmt.Sprintf("in_rule_%d", i)
			api.invoice = inv
			api.invoice.ID = id
			api.invoice.Lines = append([]stripeapi.Line(nil), inv.Lines...)
			tt.change(&api.invoice)
			o := e.process(invoiceDelivery(t, "evt_rule_"+id, id))
			if o.Result != tt.result || o.Reason != tt.reason {
				t.Fatalf("%s %s (%s), want %s %s", o.Result, o.Reason, o.Detail, tt.result, tt.reason)
			}
			if got := e.be.credited[id]; (got != 0) != (tt.result == outcome.Forwarded) {
				t.Errorf("credited %d", got)
			}
		})
	}
}

// TestSessionAndFirstInvoice: a subscription's session and its first invoice, and a
// one-time session and Checkout's post-payment invoice, are one purchase in either
// order (one grant under the session's id); the session alone teaches the customer
// map, trials included.
func TestSessionAndFirstInvoice(t *testing.T) {
	first := stripeapi.Invoice{ID: "in_first", Customer: paidCust, PaymentIntent: "pi_first", AmountPaid: 999, Total: 999, Currency: "eur",
		BillingReason: "subscription_create", Subscription: "sub_1",
		Lines: []stripeapi.Line{{PriceID: "price_100", Quantity: 1}}}
	postPayment := stripeapi.Invoice{ID: "in_post", Customer: paidCust, PaymentIntent: paidPI, AmountPaid: 999, Total: 999, Currency: "eur",
		BillingReason: "manual", Lines: []stripeapi.Line{{PriceID: "price_100", Quantity: 1}}}
	cs := stripeapi.Session{ID: paidSession, Metadata: map[string]string{"user_id": user1, "credits": "100"}, Customer: paidCust}
	tests := []struct {
		name         string
		inv          stripeapi.Invoice
		mode         string
		invoiceFirst bool
	}{
		{"subscription, session first", first, "subscription", false},
		{"subscription, invoice first", first, "subscription", true},
		{"post-payment invoice, session first", postPayment, "payment", false},
		{"post-payment invoice, invoice first", postPayment, "payment", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, nil)
			e.rt.Events[outcome.EventInvoicePaid] = true
			api := &fakeAPI{invoice: tt.inv, sessions: map[string]stripeapi.Session{"sub:sub_1": cs, "pi:" + paidPI: cs}}
			withAPI(t, e, api, config.Extract{UserID: config.DefaultInvoiceUserIDSources, Credits: []string{"metadata.credits", "price_table"},
				PriceTable: map[string]int64{"price_100": 100}})
			session := delivery(t, paidFile)
			session.Event.Object.Mode = tt.mode
			invoice := invoiceDelivery(t, "evt_invoice", tt.inv.ID)
			invoice.Event.Object.Customer = paidCust
			order := []pipeline.Delivery{session, invoice}
			if tt.invoiceFirst {
				order = []pipeline.Delivery{invoice, session}
			}
			for _, d := range append(order, order...) { // and every redelivery
				if o := e.process(d); !is2xx(o.Result) {
					t.Fatalf("%s: %+v", d.Event.ID, o)
				}
			}
			if len(e.be.sent()) != 1 || e.be.credited[paidSession] != 100 {
				t.Fatalf("backend got %+v, want one grant of 100 under %s", e.be.sent(), paidSession)
			}
			if u, _, _ := e.cus.Customer(context.Background(), route, paidCust); u != user1 {
				t.Errorf("customer map: %q", u)
			}
		})
	}
}

// TestInvoiceUserWait: an invoice of a young subscription whose user nobody names yet
// is answered 409 (Stripe retries); once its session has taught the map, the retry
// grants; an old subscription's is parked.
func TestInvoiceUserWait(t *testing.T) {
	inv := stripeapi.Invoice{ID: "in_w", Customer: paidCust, PaymentIntent: "pi_w", AmountPaid: 999, Total: 999, Currency: "eur",
		BillingReason: "subscription_cycle", Subscription: "sub_w", SubscriptionStarted: start.Add(-time.Hour),
		Lines: []stripeapi.Line{{PriceID: "price_100", Quantity: 1}}}
	e := newEnv(t, nil)
	e.rt.Events[outcome.EventInvoicePaid] = true
	e.rt.UserWait = 24 * time.Hour
	api := &fakeAPI{invoice: inv}
	withAPI(t, e, api, config.Extract{UserID: config.DefaultInvoiceUserIDSources, Credits: []string{"price_table"}, PriceTable: map[string]int64{"price_100": 100}})
	d := invoiceDelivery(t, "evt_w", "in_w")
	d.Event.Object.Customer = paidCust
	o := e.process(d)
	if o.Result != outcome.InFlight || o.Reason != "awaiting_user" || o.Result.Status() != 409 {
		t.Fatalf("young subscription: %+v", o)
	}
	e.wantKeys("evt_w", "in_w", free, free)
	// A trial's session teaches the map without granting.
	trial := delivery(t, paidFile)
	trial.Event.Object.Mode, trial.Event.Object.PaymentStatus = "subscription", "no_payment_required"
	if o := e.process(trial); o.Result != outcome.Ignored || o.Reason != "subscription_session" {
		t.Fatalf("trial session: %+v", o)
	}
	if o := e.process(d); o.Result != outcome.Forwarded || e.be.credited["in_w"] != 100 {
		t.Fatalf("retry after the session: %+v %v", o, e.be.credited)
	}
	// An old subscription's invoice without a user is parked at once.
	api.invoice.ID, api.invoice.Customer, api.invoice.SubscriptionStarted = "in_old", "", start.Add(-25*time.Hour)
	old := invoiceDelivery(t, "evt_old", "in_old")
	if o := e.process(old); o.Result != outcome.DeadLettered || o.Reason != "no_user_id" {
		t.Fatalf("old subscription: %+v", o)
	}
	// A young subscription whose session was found and names nobody never will: parked.
	api.invoice.ID, api.invoice.Subscription, api.invoice.SubscriptionStarted = "in_named", "sub_named", start.Add(-time.Minute)
	api.sessions = map[string]stripeapi.Session{"sub:sub_named": {ID: "cs_nobody"}}
	if o := e.process(invoiceDelivery(t, "evt_named", "in_named")); o.Result != outcome.DeadLettered || o.Reason != "no_user_id" {
		t.Fatalf("session found without a user: %+v", o)
	}
}

// TestSubscriptionSessionRecord: a route that grants subscription sessions itself
// records the purchase under the PaymentIntent of the session's invoice.
func TestSubscriptionSessionRecord(t *testing.T) {
	e := newEnv(t, nil)
	recs := withReversals(e)
	api := &fakeAPI{sessionPI: map[string]string{paidSession: "pi_from_invoice"}}
	withAPI(t, e, api, config.Extract{UserID: config.DefaultUserIDSources, Credits: config.DefaultCreditsSources})
	d := delivery(t, paidFile)
	d.Event.Object.Mode, d.Event.Object.PaymentIntent = "subscription", ""
	if o := e.process(d); o.Result != outcome.Forwarded {
		t.Fatalf("%+v", o)
	}
	r, ok, _ := recs.Get(context.Background(), route+":pi_from_invoice")
	if !ok || r.PurchaseID != paidSession || r.Credits != 100 {
		t.Fatalf("record %+v %t", r, ok)
	}
	if got := e.be.sent()[0].Stripe.PaymentIntentID; got != "pi_from_invoice" {
		t.Errorf("forwarded payment_intent_id %q", got)
	}
}

// TestPostPaymentInvoiceWithoutSession: when the API does not name the session of
// Checkout's post-payment invoice, the purchase record its session's grant left under
// the PaymentIntent still makes the invoice a duplicate.
func TestPostPaymentInvoiceWithoutSession(t *testing.T) {
	e := postPaymentEnv(t)
	if o := e.process(delivery(t, paidFile)); o.Result != outcome.Forwarded {
		t.Fatalf("session: %+v", o)
	}
	inv := invoiceDelivery(t, "evt_post", "in_post")
	inv.Event.Object.Customer = paidCust
	if o := e.process(inv); o.Result != outcome.Duplicate || !strings.Contains(o.Detail, paidSession) {
		t.Fatalf("invoice: %+v", o)
	}
	if n := len(e.be.sent()); n != 1 {
		t.Errorf("backend got %d requests, want 1", n)
	}
}

// TestPostPaymentInvoiceFirstWithoutSession: the same when the invoice came first and
// was granted under its own id: the session's grant finds the record of its
// PaymentIntent and is a duplicate.
func TestPostPaymentInvoiceFirstWithoutSession(t *testing.T) {
	e := postPaymentEnv(t)
	if _, err := e.cus.Learn(context.Background(), route, paidCust, user1, ttl); err != nil {
		t.Fatal(err)
	}
	inv := invoiceDelivery(t, "evt_post", "in_post")
	inv.Event.Object.Customer = paidCust
	if o := e.process(inv); o.Result != outcome.Forwarded || e.be.credited["in_post"] != 100 {
		t.Fatalf("invoice: %+v", o)
	}
	if o := e.process(delivery(t, paidFile)); o.Result != outcome.Duplicate || !strings.Contains(o.Detail, "in_post") {
		t.Fatalf("session: %+v", o)
	}
	if n := len(e.be.sent()); n != 1 {
		t.Errorf("backend got %d requests, want 1", n)
	}
}

// postPaymentEnv is a route with reversals and invoice.paid whose API knows Checkout's
// post-payment invoice in_post (paid by the session's PaymentIntent) but not its session.
func postPaymentEnv(t *testing.T) *env {
	t.Helper()
	e := newEnv(t, nil)
	withReversals(e)
	e.rt.Events[outcome.EventInvoicePaid] = true
	api := &fakeAPI{invoice: stripeapi.Invoice{ID: "in_post", Customer: paidCust, PaymentIntent: paidPI, AmountPaid: 999, Total: 999,
		BillingReason: "manual", Lines: []stripeapi.Line{{PriceID: "price_100", Quantity: 1}}}}
	withAPI(t, e, api, config.Extract{UserID: config.DefaultInvoiceUserIDSources, Credits: []string{"metadata.credits", "price_table"},
		PriceTable: map[string]int64{"price_100": 100}})
	return e
}

func invoiceDelivery(t *testing.T, evt, id string) pipeline.Delivery {
	d := delivery(t, "charge_refunded.json")
	d.Event.ID, d.Event.Type = evt, outcome.EventInvoicePaid
	d.Event.Object = eventObject(id, "invoice", "")
	return d
}

func TestConnect(t *testing.T) {
	tests := []struct {
		name      string
		routeLive bool
		allow     map[string]bool
		account   string
		live      bool
		result    outcome.Result
		reason    outcome.Reason
	}{
		{"account copied", false, nil, connectAccount, false, outcome.Forwarded, ""},
		{"allow-listed", false, map[string]bool{connectAccount: true}, connectAccount, false, outcome.Forwarded, ""},
		{"not allow-listed", false, map[string]bool{"acct_other": true}, connectAccount, false, outcome.Ignored, "account_not_allowed"},
		{"no account parked", false, nil, "", false, outcome.DeadLettered, "no_account"},
		{"test event on a live Connect route", true, nil, connectAccount, false, outcome.Ignored, "test_event"},
		{"live event on a test Connect route", false, nil, connectAccount, true, outcome.LivemodeMismatch, "livemode"},
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
			if tt.result == outcome.Forwarded {
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
