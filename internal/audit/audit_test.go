package audit_test

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/creditgate/creditgate/internal/audit"
	"github.com/creditgate/creditgate/internal/deadletter"
	"github.com/creditgate/creditgate/internal/dedup"
	"github.com/creditgate/creditgate/internal/ledger"
	"github.com/creditgate/creditgate/internal/outcome"
	"github.com/creditgate/creditgate/internal/secret"
	"github.com/creditgate/creditgate/internal/storekey"
	"github.com/creditgate/creditgate/internal/stripeapi"
	"github.com/creditgate/creditgate/internal/stripeapi/stripemock"
)

func list(t *testing.T, url string, items ...map[string]any) stripemock.Reply {
	t.Helper()
	b, err := json.Marshal(map[string]any{"object": "list", "url": url, "has_more": false, "data": items})
	if err != nil {
		t.Fatal(err)
	}
	return stripemock.Reply{Status: 200, Body: b}
}

func session(id, pi string) map[string]any {
	return map[string]any{"id": id, "object": "checkout.session", "status": "complete", "mode": "payment",
		"payment_status": "paid", "payment_intent": pi, "amount_total": 1000, "currency": "eur", "created": 1800000000}
}

// TestConnectDisputes: a Connect route's money is read per account; a won dispute
// whose credits were not given back, a lost one not taken back, and a reversal waiting
// in the dead-letter list are each one finding; a settled one is none.
func TestConnectDisputes(t *testing.T) {
	ctx := context.Background()
	const route, acctA, acctB = "connect", "acct_1AuditA", "acct_1AuditB"
	api := stripemock.NewRecorded(t, map[string]stripemock.Reply{
		"GET /v1/checkout/sessions @" + acctA: list(t, "/v1/checkout/sessions", session("cs_won", "pi_won"), session("cs_lost", "pi_lost")),
		"GET /v1/checkout/sessions @" + acctB: list(t, "/v1/checkout/sessions", session("cs_parked", "pi_parked"), session("cs_fine", "pi_fine")),
		"GET /v1/disputes @" + acctA: list(t, "/v1/disputes",
			map[string]any{"id": "dp_won", "object": "dispute", "status": "won", "amount": 1000, "payment_intent": "pi_won", "charge": "ch_1"},
			map[string]any{"id": "dp_lost", "object": "dispute", "status": "lost", "amount": 1000, "payment_intent": "pi_lost", "charge": "ch_2"}),
		"GET /v1/disputes @" + acctB: list(t, "/v1/disputes",
			map[string]any{"id": "dp_parked", "object": "dispute", "status": "needs_response", "amount": 1000, "payment_intent": "pi_parked", "charge": "ch_3"},
			map[string]any{"id": "dp_fine", "object": "dispute", "status": "under_review", "amount": 1000, "payment_intent": "pi_fine", "charge": "ch_4"}),
	})
	now := func() time.Time { return time.Unix(1_800_000_100, 0) }
	marks, records := dedup.NewMemory(now), ledger.NewMemory(now)
	parked, err := deadletter.OpenFile(filepath.Join(t.TempDir(), "dlq.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer parked.Close()
	for id, rec := range map[string]ledger.Record{
		"pi_won":    {PurchaseID: "cs_won", Credits: 100, Reversed: 100, Amount: 1000},
		"pi_lost":   {PurchaseID: "cs_lost", Credits: 100, Amount: 1000},
		"pi_parked": {PurchaseID: "cs_parked", Credits: 100, Amount: 1000},
		"pi_fine":   {PurchaseID: "cs_fine", Credits: 100, Reversed: 100, Amount: 1000},
	} {
		if err := marks.Complete(ctx, storekey.Purchase(route, rec.PurchaseID), time.Hour); err != nil {
			t.Fatal(err)
		}
		if _, err := records.Create(ctx, storekey.Record(route, id), rec, time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	payload := `{"id":"evt_dispute_parked","object":"event","type":"charge.dispute.created","account":"` + acctB + `","data":{"object":{"id":"dp_parked","object":"dispute","payment_intent":"pi_parked"}}}`
	if err := parked.Park(ctx, deadletter.Entry{Route: route, EventID: "evt_dispute_parked", EventType: "charge.dispute.created", Reason: "backend_rejected", Payload: payload}); err != nil {
		t.Fatal(err)
	}

	a := audit.Auditor{API: stripeapi.New(stripeapi.Options{Key: secret.New("sk_test_audit"), BaseURL: api.URL, Retries: -1}), Marks: marks, Records: records, Parked: parked}
	rep, err := a.Run(ctx, audit.Route{Name: route, Accounts: []string{acctA, acctB}, Events: map[string]bool{
		outcome.EventSessionCompleted: true, outcome.EventDisputeCreated: true, outcome.EventDisputeClosed: true,
	}}, time.Unix(1_799_000_000, 0))
	if err != nil {
		t.Fatal(err)
	}
	if rep.Paid != 4 || rep.Credited != 4 || rep.Disputes != 4 || len(rep.Findings) != 3 {
		t.Fatalf("report %+v, want 4 paid, 4 credited, 4 disputes, 3 findings", rep)
	}
	want := []struct{ kind, account, purchase, detail string }{
		{audit.WonNotRestored, acctA, "cs_won", "dispute dp_won won: 100 credits still taken back, 0 due"},
		{audit.DisputedNotReversed, acctA, "cs_lost", "dispute dp_lost (lost, 1000): 100 credits due back, 0 taken back"},
		{audit.ParkedKind, acctB, "cs_parked", "creditgate dlq show connect:evt_dispute_parked"},
	}
	for i, w := range want {
		f := rep.Findings[i]
		if f.Kind != w.kind || f.Account != w.account || f.Purchase != w.purchase || !strings.Contains(f.Detail, w.detail) {
			t.Errorf("finding %d = %+v, want %s %s %s …%s…", i, f, w.kind, w.account, w.purchase, w.detail)
		}
	}
	for _, r := range api.Requests() {
		if r.Header.Get("Stripe-Account") == "" {
			t.Errorf("%s read without Stripe-Account", r.URL.Path)
		}
	}
}

// invoice is a paid invoice; pi "" is an invoice paid without a PaymentIntent.
func invoice(id, pi string) map[string]any {
	inv := map[string]any{"id": id, "object": "invoice", "status": "paid", "amount_paid": 1000, "currency": "eur",
		"payment_intent": nil, "created": 1800000000}
	if pi != "" {
		inv["payment_intent"] = pi
	}
	return inv
}

// TestCreditedUnderAnotherID: a payment credited under another purchase's id (found
// through the payment's hold, or, for credits older than the holds, its purchase
// record) is credited, not paid_not_credited, and counts once for credited_twice;
// a payment credited under both ids is still credited twice.
func TestCreditedUnderAnotherID(t *testing.T) {
	ctx := context.Background()
	const route = "main"
	api := stripemock.NewRecorded(t, map[string]stripemock.Reply{
		"GET /v1/checkout/sessions": list(t, "/v1/checkout/sessions", session("cs_one", "pi_one"), session("cs_two", "pi_two")),
		"GET /v1/invoices": list(t, "/v1/invoices",
			invoice("in_one", "pi_one"),   // post-payment invoice; credited under its own id, before its session
			invoice("in_sub", "pi_sub"),   // a subscription's first invoice, credited under its session's id
			invoice("in_bal", ""),         // the same, paid from the balance: held by the invoice's id
			invoice("in_old", "pi_old"),   // credited under its session's id before the holds: the record says so
			invoice("in_miss", "pi_miss"), // never credited
			invoice("in_two", "pi_two")),  // post-payment invoice, credited under its own id and its session's
	})
	now := func() time.Time { return time.Unix(1_800_000_100, 0) }
	marks, records, holds := dedup.NewMemory(now), ledger.NewMemory(now), ledger.NewMemoryPayments(now)
	for _, id := range []string{"in_one", "cs_sub", "cs_bal", "cs_old", "cs_two", "in_two"} {
		if err := marks.Complete(ctx, storekey.Purchase(route, id), time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	for payment, id := range map[string]string{"pi_one": "in_one", "pi_sub": "cs_sub", "in_bal": "cs_bal", "pi_two": "cs_two"} {
		if _, err := holds.Hold(ctx, route, payment, id, time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := records.Create(ctx, storekey.Record(route, "pi_old"), ledger.Record{PurchaseID: "cs_old", Credits: 100, Amount: 1000}, time.Hour); err != nil {
		t.Fatal(err)
	}
	parked, err := deadletter.OpenFile(filepath.Join(t.TempDir(), "dlq.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer parked.Close()

	a := audit.Auditor{API: stripeapi.New(stripeapi.Options{Key: secret.New("sk_test_audit"), BaseURL: api.URL, Retries: -1}),
		Marks: marks, Records: records, Holds: holds, Parked: parked}
	rep, err := a.Run(ctx, audit.Route{Name: route, Accounts: []string{""}, Events: map[string]bool{
		outcome.EventSessionCompleted: true, outcome.EventInvoicePaid: true,
	}}, time.Unix(1_799_000_000, 0))
	if err != nil {
		t.Fatal(err)
	}
	if rep.Paid != 8 || rep.Credited != 7 || len(rep.Findings) != 2 {
		t.Fatalf("report %+v, want 8 paid, 7 credited, 2 findings", rep)
	}
	if f := rep.Findings[0]; f.Kind != audit.PaidNotCredited || f.Purchase != "in_miss" {
		t.Errorf("finding 0 = %+v, want in_miss paid_not_credited", f)
	}
	if f := rep.Findings[1]; f.Kind != audit.CreditedTwice || f.PaymentIntent != "pi_two" || !strings.Contains(f.Detail, "[cs_two in_two]") {
		t.Errorf("finding 1 = %+v, want pi_two credited twice as cs_two and in_two", f)
	}
}
