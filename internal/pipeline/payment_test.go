package pipeline_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/creditgate/creditgate/internal/config"
	"github.com/creditgate/creditgate/internal/dedup"
	"github.com/creditgate/creditgate/internal/ledger"
	"github.com/creditgate/creditgate/internal/outcome"
	"github.com/creditgate/creditgate/internal/pipeline"
	"github.com/creditgate/creditgate/internal/stripeapi"
)

// TestLostSettlementKeepsThePurchaseID: a purchase whose id depends on what the
// Stripe API lists is forwarded, the backend applies it, and the store goes down
// before the settlement, so no done marker is written. The redelivery, or the other
// event of the same payment, must go out under the id of the first forward, whatever
// the API lists by then: the backend answers 409 and the purchase is credited once.
// (The double credit the soak found: a subscription's first invoice, first forwarded
// under its own id while the API did not list the session yet, then again under the
// session's id.)
func TestLostSettlementKeepsThePurchaseID(t *testing.T) {
	first := stripeapi.Invoice{ID: "in_first", Customer: paidCust, PaymentIntent: "pi_first", AmountPaid: 999, Total: 999, Currency: "eur",
		BillingReason: "subscription_create", Subscription: "sub_1", Lines: []stripeapi.Line{{PriceID: "price_100", Quantity: 1}}}
	fromBalance := first
	fromBalance.PaymentIntent, fromBalance.AmountPaid = "", 0 // paid from the customer's credit balance
	post := stripeapi.Invoice{ID: "in_post", Customer: paidCust, PaymentIntent: paidPI, AmountPaid: 999, Total: 999, Currency: "eur",
		BillingReason: "manual", Lines: []stripeapi.Line{{PriceID: "price_100", Quantity: 1}}}
	cs := stripeapi.Session{ID: paidSession, Metadata: map[string]string{"user_id": user1, "credits": "100"}, Customer: paidCust}
	session := func(t *testing.T) pipeline.Delivery { return delivery(t, paidFile) }
	invoice := func(id string) func(t *testing.T) pipeline.Delivery {
		return func(t *testing.T) pipeline.Delivery {
			d := invoiceDelivery(t, "evt_"+id, id)
			d.Event.Object.Customer = paidCust
			return d
		}
	}
	tests := []struct {
		name string
		inv  stripeapi.Invoice
		// lost is forwarded first and loses its settlement; once the store is back,
		// then, lost again and then once more are delivered.
		lost, then func(t *testing.T) pipeline.Delivery
		want       string // the one id credited
		reversals  bool   // the route takes credits back: a lost record answers 503
		listed     bool   // after the outage the API lists the session
	}{
		{"subscription's first invoice, redelivered", first, invoice("in_first"), invoice("in_first"), "in_first", true, true},
		{"the same, settlement logged", first, invoice("in_first"), invoice("in_first"), "in_first", false, true},
		// No PaymentIntent, no record to lose: the lost settlement answers 200, and
		// Stripe's duplicate delivery is what comes back.
		{"paid from the balance, delivered twice", fromBalance, invoice("in_first"), invoice("in_first"), "in_first", false, true},
		{"post-payment invoice, then its session", post, invoice("in_post"), session, "in_post", true, false},
		{"session, then its post-payment invoice", post, session, invoice("in_post"), paidSession, true, false},
		{"session, then its post-payment invoice, listed", post, session, invoice("in_post"), paidSession, true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, nil)
			if tt.reversals {
				withReversals(e)
			}
			e.rt.Events[outcome.EventInvoicePaid] = true
			api := &fakeAPI{invoice: tt.inv, sessions: map[string]stripeapi.Session{}}
			withAPI(t, e, api, config.Extract{UserID: config.DefaultInvoiceUserIDSources, Credits: []string{"metadata.credits", "price_table"},
				PriceTable: map[string]int64{"price_100": 100}})
			if _, err := e.cus.Learn(context.Background(), route, paidCust, user1, ttl); err != nil {
				t.Fatal(err)
			}
			e.be.answered = func() { e.store.setDown(true) } // the store dies after the backend applied
			e.p.Book = downBook{e}

			lost := tt.lost(t)
			o := e.process(lost)
			if n := e.be.granted(); n != 1 {
				t.Fatalf("first delivery: backend granted %d, want 1 (%+v)", n, o)
			}
			if tt.reversals == is2xx(o.Result) {
				t.Fatalf("first delivery: %s %s (%s); a lost settlement answers 2xx only where no record is lost", o.Result, o.Reason, o.Detail)
			}

			// The store is back, its claims have run out, the API may list the session.
			e.be.answered = nil
			e.store.setDown(false)
			e.clk.Advance(lease + 1)
			if tt.listed {
				api.sessions["sub:sub_1"], api.sessions["pi:"+paidPI] = cs, cs
			}
			for i, d := range []pipeline.Delivery{tt.then(t), lost, tt.then(t)} {
				if o := e.process(d); !is2xx(o.Result) {
					t.Fatalf("delivery %d after the outage: %s %s (%s)", i, o.Result, o.Reason, o.Detail)
				}
			}
			if n := e.be.granted(); n != 1 || e.be.credited[tt.want] != 100 {
				t.Fatalf("backend granted %d time(s): %v; want 100 credits once, under %s", n, e.be.credited, tt.want)
			}
			for _, r := range e.be.sent() {
				if r.ID != tt.want {
					t.Errorf("a request went out under %s, not %s: its Idempotency-Key differs", r.ID, tt.want)
				}
			}
		})
	}
}

// downBook settles through the env's store and records, all or nothing as RedisBook
// does: while the store is down nothing is written, and with a record to create the
// error says it may be missing.
type downBook struct{ e *env }

func (b downBook) Settle(ctx context.Context, s dedup.Settlement, en *ledger.Entry) error {
	if b.e.store.fault("Settle") {
		if en == nil {
			return injected("Settle")
		}
		return fmt.Errorf("%w: %w", ledger.ErrUnrecorded, injected("Settle"))
	}
	return ledger.NewBook(b.e.store, b.e.p.Records).Settle(ctx, s, en)
}

// TestHoldFaults: the payment's hold goes to the store just before the forward. When
// it fails, nothing is forwarded and Stripe retries; when it landed but its answer was
// lost, the retry finds its own id holding the payment. Either way one credit.
func TestHoldFaults(t *testing.T) {
	for _, after := range []bool{false, true} {
		t.Run(fmt.Sprintf("answer lost %t", after), func(t *testing.T) {
			e := newEnv(t, nil)
			e.rt.Events[outcome.EventInvoicePaid] = true
			withAPI(t, e, &fakeAPI{}, config.Extract{UserID: config.DefaultUserIDSources, Credits: config.DefaultCreditsSources})
			e.store.arm("Hold", 1, after)
			d := delivery(t, paidFile)
			o := e.process(d)
			if o.Result != outcome.StoreUnavailable || o.Reason != outcome.ReasonStore || !errors.Is(o.Err, dedup.ErrUnavailable) {
				t.Fatalf("hold failed: %+v", o)
			}
			if len(e.be.sent()) != 0 {
				t.Fatal("forwarded without a hold")
			}
			e.wantKeys(d.Event.ID, paidSession, free, free)
			if o := e.process(d); o.Result != outcome.Forwarded || e.be.granted() != 1 {
				t.Fatalf("retry: %+v, backend granted %d", o, e.be.granted())
			}
			if n := e.store.count("Hold"); n != 2 {
				t.Errorf("%d holds, want one per delivery", n)
			}
		})
	}
}

// TestHeldElsewhere: when the payment is held by a purchase being credited right now
// (another delivery's claim), the delivery answers in flight (Stripe retries) and
// forwards nothing; once that purchase is done, it is a duplicate.
func TestHeldElsewhere(t *testing.T) {
	e := newEnv(t, nil)
	e.rt.Events[outcome.EventInvoicePaid] = true
	withAPI(t, e, &fakeAPI{}, config.Extract{UserID: config.DefaultUserIDSources, Credits: config.DefaultCreditsSources})
	if _, err := e.pay.Hold(context.Background(), route, paidPI, "in_other", ttl); err != nil {
		t.Fatal(err)
	}
	e.claimElsewhere(purchaseKey("in_other"))
	d := delivery(t, paidFile)
	if o := e.process(d); o.Result != outcome.InFlight || o.Reason != outcome.ReasonPurchase {
		t.Fatalf("held by a purchase in flight: %+v", o)
	}
	e.wantKeys(d.Event.ID, paidSession, free, free)
	e.complete(purchaseKey("in_other"))
	if o := e.process(d); o.Result != outcome.Duplicate || o.Reason != outcome.ReasonPurchase {
		t.Fatalf("held by a purchase credited: %+v", o)
	}
	if len(e.be.sent()) != 0 {
		t.Fatalf("forwarded %+v", e.be.sent())
	}
}
