package stripeapi

import (
	"context"
	"time"

	"github.com/stripe/stripe-go/v76"
)

// The listings below feed `creditgate audit`: what Stripe says was paid and taken
// back since a time, every page, as the account's (Connect) or the platform's ("").

// AuditSession is a completed Checkout Session, as the audit lists it.
type AuditSession struct {
	ID, PaymentIntent, PaymentStatus, Mode, Currency string
	AmountTotal                                      int64
	Created                                          int64
}

// PaidInvoice is a paid invoice.
type PaidInvoice struct {
	ID, PaymentIntent, Currency string
	AmountPaid                  int64
	Created                     int64
}

// Refund is a refund with its charge's cumulative figures.
type Refund struct {
	ID, Status, PaymentIntent string
	// ChargeAmount and AmountRefunded are the charge's (all refunds so far).
	ChargeAmount, AmountRefunded int64
	ChargeRefunded               bool
}

// Dispute is a dispute (inquiries included).
type Dispute struct {
	ID, Status, PaymentIntent string
	Amount                    int64
}

func listParams(ctx context.Context, account string) stripe.ListParams {
	p := stripe.ListParams{Context: ctx, Limit: stripe.Int64(100)}
	setAccount(&p, account)
	return p
}

func since(t time.Time) *stripe.RangeQueryParams {
	return &stripe.RangeQueryParams{GreaterThanOrEqual: t.Unix()}
}

// CompletedSessions calls fn with every Checkout Session completed since t.
func (c *Client) CompletedSessions(ctx context.Context, account string, t time.Time, fn func(AuditSession) error) error {
	p := &stripe.CheckoutSessionListParams{ListParams: listParams(ctx, account), CreatedRange: since(t), Status: stripe.String("complete")}
	it := c.api.CheckoutSessions.List(p)
	for it.Next() {
		s := it.CheckoutSession()
		out := AuditSession{ID: s.ID, PaymentStatus: string(s.PaymentStatus), Mode: string(s.Mode), Currency: string(s.Currency), AmountTotal: s.AmountTotal, Created: s.Created}
		if s.PaymentIntent != nil {
			out.PaymentIntent = s.PaymentIntent.ID
		}
		if err := fn(out); err != nil {
			return err
		}
	}
	return wrapIter("list checkout sessions", it.Err())
}

// PaidInvoices calls fn with every invoice created since t that is paid.
func (c *Client) PaidInvoices(ctx context.Context, account string, t time.Time, fn func(PaidInvoice) error) error {
	p := &stripe.InvoiceListParams{ListParams: listParams(ctx, account), CreatedRange: since(t), Status: stripe.String("paid")}
	it := c.api.Invoices.List(p)
	for it.Next() {
		in := it.Invoice()
		out := PaidInvoice{ID: in.ID, Currency: string(in.Currency), AmountPaid: in.AmountPaid, Created: in.Created}
		if in.PaymentIntent != nil {
			out.PaymentIntent = in.PaymentIntent.ID
		}
		if err := fn(out); err != nil {
			return err
		}
	}
	return wrapIter("list invoices", it.Err())
}

// Refunds calls fn with every refund created since t, its charge expanded.
func (c *Client) Refunds(ctx context.Context, account string, t time.Time, fn func(Refund) error) error {
	p := &stripe.RefundListParams{ListParams: listParams(ctx, account), CreatedRange: since(t)}
	p.AddExpand("data.charge")
	it := c.api.Refunds.List(p)
	for it.Next() {
		r := it.Refund()
		out := Refund{ID: r.ID, Status: string(r.Status)}
		if r.PaymentIntent != nil {
			out.PaymentIntent = r.PaymentIntent.ID
		}
		if ch := r.Charge; ch != nil {
			out.ChargeAmount, out.AmountRefunded, out.ChargeRefunded = ch.Amount, ch.AmountRefunded, ch.Refunded
			if out.PaymentIntent == "" && ch.PaymentIntent != nil {
				out.PaymentIntent = ch.PaymentIntent.ID
			}
		}
		if err := fn(out); err != nil {
			return err
		}
	}
	return wrapIter("list refunds", it.Err())
}

// Disputes calls fn with every dispute created since t.
func (c *Client) Disputes(ctx context.Context, account string, t time.Time, fn func(Dispute) error) error {
	p := &stripe.DisputeListParams{ListParams: listParams(ctx, account), CreatedRange: since(t)}
	it := c.api.Disputes.List(p)
	for it.Next() {
		d := it.Dispute()
		out := Dispute{ID: d.ID, Status: string(d.Status), Amount: d.Amount}
		if d.PaymentIntent != nil {
			out.PaymentIntent = d.PaymentIntent.ID
		}
		if err := fn(out); err != nil {
			return err
		}
	}
	return wrapIter("list disputes", it.Err())
}

// wrapIter classifies a listing's error; nil stays nil.
func wrapIter(op string, err error) error {
	if err == nil {
		return nil
	}
	return classify(op, err)
}
