// Package audit compares money with credits: what Stripe says was paid, refunded and
// disputed since a time (read through the API) with what creditgate granted and took
// back (its done markers, its purchase records and its dead-letter list), and lists
// every difference per purchase. It only reads.
package audit

import (
	"context"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/creditgate/creditgate/internal/deadletter"
	"github.com/creditgate/creditgate/internal/dedup"
	"github.com/creditgate/creditgate/internal/event"
	"github.com/creditgate/creditgate/internal/ledger"
	"github.com/creditgate/creditgate/internal/outcome"
	"github.com/creditgate/creditgate/internal/storekey"
	"github.com/creditgate/creditgate/internal/stripeapi"
)

// Stripe is what the audit reads of the Stripe API (stripeapi.Client).
type Stripe interface {
	CompletedSessions(ctx context.Context, account string, since time.Time, fn func(stripeapi.AuditSession) error) error
	PaidInvoices(ctx context.Context, account string, since time.Time, fn func(stripeapi.PaidInvoice) error) error
	Refunds(ctx context.Context, account string, since time.Time, fn func(stripeapi.Refund) error) error
	Disputes(ctx context.Context, account string, since time.Time, fn func(stripeapi.Dispute) error) error
}

// Records reads purchase records (ledger.Store).
type Records interface {
	Get(ctx context.Context, key string) (ledger.Record, bool, error)
}

// Holds reads which purchase holds a payment (ledger.RedisPayments): the id a payment
// that could be credited under two ids was credited under.
type Holds interface {
	Held(ctx context.Context, route, payment string) (purchaseID string, ok bool, err error)
}

// Parked lists the dead-letter list (deadletter.List).
type Parked interface {
	List(ctx context.Context) ([]deadletter.Entry, error)
}

// Kinds of difference.
const (
	PaidNotCredited     = "paid_not_credited"
	ParkedKind          = "parked"
	CreditedTwice       = "credited_twice"
	RefundedNotReversed = "refunded_not_reversed"
	DisputedNotReversed = "disputed_not_reversed"
	WonNotRestored      = "won_not_restored"
)

// Kinds lists every kind, in the order a report shows them.
var Kinds = []string{PaidNotCredited, ParkedKind, CreditedTwice, RefundedNotReversed, DisputedNotReversed, WonNotRestored}

// Finding is one difference.
type Finding struct {
	Kind          string
	Account       string // connected account, "" for the platform's
	Purchase      string // cs_..., in_..., or the refund or dispute id
	PaymentIntent string
	Detail        string
}

// Report is the audit of one route.
type Report struct {
	// Paid, Credited, Refunds and Disputes count what was looked at.
	Paid, Credited, Refunds, Disputes int
	Findings                          []Finding
}

// Count returns the findings of kind.
func (r Report) Count(kind string) int {
	n := 0
	for _, f := range r.Findings {
		if f.Kind == kind {
			n++
		}
	}
	return n
}

// Route is the route audited.
type Route struct {
	Name                   string
	Events                 map[string]bool
	GrantNoPaymentRequired bool
	// Accounts are the accounts whose money is read: [""] for the platform's own.
	Accounts []string
}

// Auditor reads both sides. Every field is required.
type Auditor struct {
	API     Stripe
	Marks   dedup.Peeker
	Records Records
	Holds   Holds
	Parked  Parked
}

// Run audits rt for what happened since.
func (a Auditor) Run(ctx context.Context, rt Route, since time.Time) (Report, error) {
	parked, err := a.parkedByObject(ctx, rt.Name)
	if err != nil {
		return Report{}, err
	}
	r := &run{a: a, rt: rt, parked: parked, byPI: map[string][]string{}}
	for _, acct := range rt.Accounts {
		if err := r.account(ctx, acct, since); err != nil {
			return Report{}, fmt.Errorf("%s: %w", accountName(acct), err)
		}
	}
	for _, pi := range slices.Sorted(maps.Keys(r.byPI)) {
		if ids := r.byPI[pi]; len(ids) > 1 {
			r.add(Finding{Kind: CreditedTwice, Account: r.acctOf[pi], Purchase: ids[0], PaymentIntent: pi,
				Detail: fmt.Sprintf("one payment, %d purchases credited: %v", len(ids), ids)})
		}
	}
	return r.rep, nil
}

// run is the state of one Run.
type run struct {
	a      Auditor
	rt     Route
	parked map[string]deadletter.Entry // by data.object id and by payment intent
	byPI   map[string][]string         // payment intent → credited purchases
	acctOf map[string]string
	rep    Report
}

func (r *run) add(f Finding) { r.rep.Findings = append(r.rep.Findings, f) }

func (r *run) account(ctx context.Context, acct string, since time.Time) error {
	ev := r.rt.Events
	if ev[outcome.EventSessionCompleted] || ev[outcome.EventAsyncPaymentSucceeded] {
		err := r.a.API.CompletedSessions(ctx, acct, since, func(s stripeapi.AuditSession) error {
			paid := s.PaymentStatus == "paid" || s.PaymentStatus == "no_payment_required" && r.rt.GrantNoPaymentRequired
			if !paid || s.Mode == "setup" || s.Mode == "subscription" && ev[outcome.EventInvoicePaid] {
				return nil // nothing to credit, or credited through its invoices
			}
			return r.purchase(ctx, acct, s.ID, s.PaymentIntent, fmt.Sprintf("%d %s paid", s.AmountTotal, s.Currency))
		})
		if err != nil {
			return err
		}
	}
	if ev[outcome.EventInvoicePaid] {
		err := r.a.API.PaidInvoices(ctx, acct, since, func(in stripeapi.PaidInvoice) error {
			if in.AmountPaid == 0 && !r.rt.GrantNoPaymentRequired {
				return nil
			}
			return r.purchase(ctx, acct, in.ID, in.PaymentIntent, fmt.Sprintf("%d %s paid", in.AmountPaid, in.Currency))
		})
		if err != nil {
			return err
		}
	}
	if ev[outcome.EventChargeRefunded] {
		if err := r.a.API.Refunds(ctx, acct, since, func(rf stripeapi.Refund) error { return r.refund(ctx, acct, rf) }); err != nil {
			return err
		}
	}
	if ev[outcome.EventDisputeCreated] {
		if err := r.a.API.Disputes(ctx, acct, since, func(d stripeapi.Dispute) error { return r.dispute(ctx, acct, d) }); err != nil {
			return err
		}
	}
	return nil
}

// purchase checks one paid session or invoice. One credited under another purchase's
// id (a subscription's first invoice under its session's, Checkout's post-payment
// invoice and its session under each other's) counts as that purchase's credit.
func (r *run) purchase(ctx context.Context, acct, id, pi, paid string) error {
	r.rep.Paid++
	as, err := r.creditedAs(ctx, id, pi)
	if err != nil {
		return err
	}
	if as != "" {
		r.rep.Credited++
		if pi != "" && !slices.Contains(r.byPI[pi], as) {
			r.byPI[pi] = append(r.byPI[pi], as)
			if r.acctOf == nil {
				r.acctOf = map[string]string{}
			}
			r.acctOf[pi] = acct
		}
		return nil
	}
	if e, ok := r.parked[id]; ok {
		r.add(Finding{Kind: ParkedKind, Account: acct, Purchase: id, PaymentIntent: pi,
			Detail: fmt.Sprintf("%s; parked %s (%s): creditgate dlq show %s", paid, e.ParkedAt.Format(time.RFC3339), e.Reason, e.ID)})
		return nil
	}
	r.add(Finding{Kind: PaidNotCredited, Account: acct, Purchase: id, PaymentIntent: pi,
		Detail: paid + "; not credited: creditgate reconcile --route " + r.rt.Name})
	return nil
}

// creditedAs returns the id the purchase id, paid by pi, was credited under, or "":
// id itself when it is done, else the purchase that holds its payment (pi, or id for
// an invoice paid without one), else the one its purchase record names, when that one
// is done.
func (r *run) creditedAs(ctx context.Context, id, pi string) (string, error) {
	done := func(id string) (bool, error) { return r.a.Marks.Done(ctx, storekey.Purchase(r.rt.Name, id)) }
	if ok, err := done(id); ok || err != nil {
		return ifTrue(ok, id), err
	}
	payment := pi
	if payment == "" {
		payment = id
	}
	other, ok, err := r.a.Holds.Held(ctx, r.rt.Name, payment)
	if err != nil {
		return "", err
	}
	if !ok {
		rec, found, err := r.record(ctx, pi)
		if err != nil {
			return "", err
		}
		other, ok = rec.PurchaseID, found
	}
	if !ok || other == id {
		return "", nil
	}
	ok, err = done(other)
	return ifTrue(ok, other), err
}

// ifTrue is s when ok, else "".
func ifTrue(ok bool, s string) string {
	if ok {
		return s
	}
	return ""
}

// record returns the purchase record of pi; ok is false when the route did not
// credit it (a payment of something else).
func (r *run) record(ctx context.Context, pi string) (ledger.Record, bool, error) {
	if pi == "" {
		return ledger.Record{}, false, nil
	}
	return r.a.Records.Get(ctx, storekey.Record(r.rt.Name, pi))
}

func (r *run) refund(ctx context.Context, acct string, rf stripeapi.Refund) error {
	if rf.Status == "failed" || rf.Status == "canceled" {
		return nil
	}
	rec, ok, err := r.record(ctx, rf.PaymentIntent)
	if err != nil || !ok {
		return err
	}
	r.rep.Refunds++
	// What the charge's refunds stand for now, by the rules the pipeline reverses with
	// (package billing): the API's amount_refunded is newer than anything an event
	// reported, and failed refunds are already taken out of it.
	m := rec.Money.Clone()
	m.AddRefunds(math.MaxInt64, rf.AmountRefunded, 0, rf.ChargeRefunded)
	want := m.Taken(rec.Credits, rec.Amount)
	if rec.Reversed >= want {
		return nil
	}
	f := Finding{Kind: RefundedNotReversed, Account: acct, Purchase: rec.PurchaseID, PaymentIntent: rf.PaymentIntent,
		Detail: fmt.Sprintf("%d of %d refunded (%s): %d credits due back, %d taken back", rf.AmountRefunded, rf.ChargeAmount, rf.ID, want, rec.Reversed)}
	r.parkedInstead(&f)
	r.add(f)
	return nil
}

func (r *run) dispute(ctx context.Context, acct string, d stripeapi.Dispute) error {
	rec, ok, err := r.record(ctx, d.PaymentIntent)
	if err != nil || !ok {
		return err
	}
	r.rep.Disputes++
	if !handlesDisputes(r.rt.Events) {
		return nil
	}
	// The dispute's current status merged into what the record knows, by the rules
	// the pipeline reverses with: an inquiry takes nothing, an open or lost chargeback
	// its amount's share, a won one nothing.
	m := rec.Money.Clone()
	m.AddDispute(d.ID, d.Status, d.Amount)
	want := m.Taken(rec.Credits, rec.Amount)
	f := Finding{Account: acct, Purchase: rec.PurchaseID, PaymentIntent: d.PaymentIntent}
	switch {
	case want > rec.Reversed:
		f.Kind, f.Detail = DisputedNotReversed, fmt.Sprintf("dispute %s (%s, %d): %d credits due back, %d taken back", d.ID, d.Status, d.Amount, want, rec.Reversed)
	case want < rec.Reversed:
		f.Kind, f.Detail = WonNotRestored, fmt.Sprintf("dispute %s %s: %d credits still taken back, %d due", d.ID, d.Status, rec.Reversed, want)
	default:
		return nil
	}
	r.parkedInstead(&f)
	r.add(f)
	return nil
}

// handlesDisputes reports whether a route's events include a dispute event (only
// then does creditgate move credits for disputes).
func handlesDisputes(events map[string]bool) bool {
	for e := range events {
		if strings.HasPrefix(e, "charge.dispute.") {
			return true
		}
	}
	return false
}

// parkedInstead turns a missing reversal whose event is in the dead-letter list
// into a parked finding.
func (r *run) parkedInstead(f *Finding) {
	if e, ok := r.parked[f.PaymentIntent]; ok {
		f.Detail += fmt.Sprintf("; %s parked (%s): creditgate dlq show %s", e.EventType, e.Reason, e.ID)
		f.Kind = ParkedKind
	}
}

// parkedByObject indexes the route's dead-letter entries by the id of the object
// their event is about and by its payment intent.
func (a Auditor) parkedByObject(ctx context.Context, route string) (map[string]deadletter.Entry, error) {
	all, err := a.Parked.List(ctx)
	if err != nil {
		return nil, err
	}
	out := map[string]deadletter.Entry{}
	for _, e := range all {
		if e.Route != route {
			continue
		}
		raw := []byte(e.Payload)
		if v, err := event.Decode(raw); err == nil {
			out[v.Object.ID] = e
			if v.Object.PaymentIntent != "" {
				out[v.Object.PaymentIntent] = e
			}
		} else if th, err := event.DecodeThin(raw); err == nil && th.Related.ID != "" {
			out[th.Related.ID] = e
		}
	}
	return out, nil
}

func accountName(acct string) string {
	if acct == "" {
		return "platform account"
	}
	return acct
}
