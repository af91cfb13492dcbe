package billing

import (
	"strings"
	"testing"
	"time"

	"github.com/creditgate/creditgate/internal/outcome"
)

func TestSession(t *testing.T) {
	tests := []struct {
		name   string
		f      SessionFacts
		want   Verdict
		reason outcome.Reason
	}{
		{"paid payment", SessionFacts{Completed: true, Mode: "payment", PaymentStatus: "paid"}, Grant, ""},
		{"old body without mode", SessionFacts{Completed: true, PaymentStatus: "paid"}, Grant, ""},
		{"unpaid waits", SessionFacts{Completed: true, Mode: "payment", PaymentStatus: "unpaid"}, Pending, outcome.ReasonUnpaid},
		{"async succeeded", SessionFacts{Mode: "payment", PaymentStatus: "paid"}, Grant, ""},
		{"free, not opted in", SessionFacts{Completed: true, Mode: "payment", PaymentStatus: "no_payment_required"}, Ignore, outcome.ReasonNoPaymentRequired},
		{"free, opted in", SessionFacts{Completed: true, Mode: "payment", PaymentStatus: "no_payment_required", GrantNoPaymentRequired: true}, Grant, ""},
		{"trial never granted by the option", SessionFacts{Completed: true, Mode: "subscription", PaymentStatus: "no_payment_required", GrantNoPaymentRequired: true}, Ignore, outcome.ReasonNoPaymentRequired},
		{"setup never granted", SessionFacts{Completed: true, Mode: "setup", PaymentStatus: "no_payment_required", GrantNoPaymentRequired: true}, Ignore, outcome.ReasonSetupSession},
		{"subscription on an invoice route learns", SessionFacts{Completed: true, Mode: "subscription", PaymentStatus: "paid", InvoicesGrant: true}, Learn, outcome.ReasonSubscriptionSession},
		{"trial on an invoice route learns", SessionFacts{Completed: true, Mode: "subscription", PaymentStatus: "no_payment_required", InvoicesGrant: true}, Learn, outcome.ReasonSubscriptionSession},
		{"subscription on a session route grants", SessionFacts{Completed: true, Mode: "subscription", PaymentStatus: "paid"}, Grant, ""},
		{"unknown status", SessionFacts{Completed: true, Mode: "payment", PaymentStatus: "refunded"}, Park, outcome.ReasonUnknownPaymentStatus},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := Session(tt.f)
			if d.Verdict != tt.want || d.Reason != tt.reason {
				t.Fatalf("Session(%+v) = %+v, want verdict %d reason %q", tt.f, d, tt.want, tt.reason)
			}
			if d.Verdict != Grant && d.Detail == "" {
				t.Errorf("no detail for the operator: %+v", d)
			}
		})
	}
}

func TestInvoiceDecision(t *testing.T) {
	tests := []struct {
		name   string
		inv    Invoice
		want   Verdict
		reason outcome.Reason
	}{
		{"first period", Invoice{BillingReason: SubscriptionCreate, Total: 999, AmountPaid: 999, Lines: 1}, Grant, ""},
		{"renewal", Invoice{BillingReason: SubscriptionCycle, Total: 999, AmountPaid: 999, Lines: 1}, Grant, ""},
		{"legacy reason", Invoice{BillingReason: SubscriptionLegacy, Total: 999, AmountPaid: 999, Lines: 1}, Grant, ""},
		{"trial's $0 invoice", Invoice{BillingReason: SubscriptionCreate, Total: 0, Lines: 1}, Ignore, outcome.ReasonZeroTotal},
		{"paid from the balance", Invoice{BillingReason: SubscriptionCycle, Total: 999, AmountPaid: 0, Lines: 1}, Grant, ""},
		{"proration only", Invoice{BillingReason: SubscriptionUpdate, Total: 500, AmountPaid: 500, Lines: 2, Prorations: 2}, Ignore, outcome.ReasonProration},
		{"update with a new period", Invoice{BillingReason: SubscriptionUpdate, Total: 500, AmountPaid: 500, Lines: 3, Prorations: 2}, Grant, ""},
		{"threshold", Invoice{BillingReason: SubscriptionThreshold, Total: 500, AmountPaid: 500, Lines: 1}, Ignore, outcome.ReasonBillingReason},
		{"pending items", Invoice{BillingReason: PendingItems, Total: 500, AmountPaid: 500, Lines: 1}, Ignore, outcome.ReasonBillingReason},
		{"upcoming", Invoice{BillingReason: Upcoming, Total: 500, Lines: 1}, Ignore, outcome.ReasonBillingReason},
		{"manual", Invoice{BillingReason: Manual, Total: 500, AmountPaid: 500, Lines: 1}, Grant, ""},
		{"quote", Invoice{BillingReason: QuoteAccept, Total: 500, AmountPaid: 500, Lines: 1}, Grant, ""},
		{"unknown", Invoice{BillingReason: "subscription_pause", Total: 500, AmountPaid: 500, Lines: 1}, Park, outcome.ReasonUnknownBillingReason},
		{"missing", Invoice{Total: 500, AmountPaid: 500, Lines: 1}, Park, outcome.ReasonUnknownBillingReason},
		{"credit note total", Invoice{BillingReason: SubscriptionCycle, Total: -10, Lines: 1}, Ignore, outcome.ReasonZeroTotal},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := InvoiceDecision(tt.inv)
			if d.Verdict != tt.want || d.Reason != tt.reason {
				t.Fatalf("InvoiceDecision(%+v) = %+v, want verdict %d reason %q", tt.inv, d, tt.want, tt.reason)
			}
		})
	}
	long := InvoiceDecision(Invoice{BillingReason: strings.Repeat("x", 500), Total: 1})
	if len(long.Detail) > 120 {
		t.Errorf("an untrusted billing_reason is quoted unbounded: %d bytes", len(long.Detail))
	}
}

func TestPurchase(t *testing.T) {
	tests := []struct {
		name          string
		inv           Invoice
		sub, pi       string
		session, want string
	}{
		{"first invoice of a checkout subscription", Invoice{ID: "in_1", BillingReason: SubscriptionCreate, Subscription: "sub_1", PaymentIntent: "pi_1"}, "sub_1", "", "cs_1", "cs_1"},
		{"renewal keeps its own id", Invoice{ID: "in_2", BillingReason: SubscriptionCycle, Subscription: "sub_1", PaymentIntent: "pi_2"}, "sub_1", "", "cs_1", "in_2"},
		{"subscription without checkout", Invoice{ID: "in_3", BillingReason: SubscriptionCreate, Subscription: "sub_2"}, "sub_2", "", "", "in_3"},
		{"checkout's post-payment invoice", Invoice{ID: "in_4", BillingReason: Manual, PaymentIntent: "pi_4"}, "", "pi_4", "cs_4", "cs_4"},
		{"one-off invoice", Invoice{ID: "in_5", BillingReason: Manual, PaymentIntent: "pi_5"}, "", "pi_5", "", "in_5"},
		{"paid out of band", Invoice{ID: "in_6", BillingReason: Manual}, "", "", "", "in_6"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sub, pi := SessionQuery(tt.inv)
			if sub != tt.sub || pi != tt.pi {
				t.Errorf("SessionQuery = %q, %q; want %q, %q", sub, pi, tt.sub, tt.pi)
			}
			if got := PurchaseID(tt.inv, tt.session); got != tt.want {
				t.Errorf("PurchaseID = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestConflictAndWait(t *testing.T) {
	if Conflict("", "u1") || Conflict("u1", "u1") || !Conflict("u1", "u2") {
		t.Error("Conflict: only a different known user conflicts")
	}
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	if !AwaitUser(now.Add(-time.Hour), now, DefaultUserWait) {
		t.Error("a subscription an hour old does not wait for its user")
	}
	if AwaitUser(now.Add(-25*time.Hour), now, DefaultUserWait) {
		t.Error("a subscription 25 hours old still waits")
	}
	if AwaitUser(time.Time{}, now, DefaultUserWait) {
		t.Error("an invoice without a subscription waits")
	}
}
