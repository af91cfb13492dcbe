// Package stripeapi is creditgate's narrow use of the Stripe API, through stripe-go
// v76's client.API: the line items of a Checkout Session or an Invoice (with their
// Price and Product, every page), an invoice's subscription and payment intent, a
// customer's metadata, and the Events API for `creditgate reconcile`.
//
// Every call is a GET (safe to retry): stripe-go retries connection errors, 409,
// 5xx and lock timeouts once; a rate limit (429) is not retried here, Stripe's own
// webhook redelivery does that. Each call is bounded by Options.Timeout and by the
// caller's context. Errors are classified once, in classify: the Err* sentinels below
// tell the pipeline whether a problem is permanent (dead-letter it) or transient
// (answer 503 so Stripe redelivers).
//
// The client pins stripe-go's API version (2023-10-16), so responses have one shape
// whatever the account's default version is.
package stripeapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/stripe/stripe-go/v76"
	"github.com/stripe/stripe-go/v76/client"

	"github.com/creditgate/creditgate/internal/outcome"
	"github.com/creditgate/creditgate/internal/secret"
)

// Classified failures. Every error a Client returns wraps exactly one of them.
var (
	// ErrAuth: the API key is wrong, revoked or expired (HTTP 401). Permanent until
	// an operator fixes the key; alert on it.
	ErrAuth = errors.New("stripe api: authentication failed")
	// ErrPermission: a restricted key lacks a permission (HTTP 403).
	ErrPermission = errors.New("stripe api: permission denied")
	// ErrNotFound: the object does not exist for this key and account (HTTP 404),
	// e.g. a test object read with a live key, or a Connect object without the account.
	ErrNotFound = errors.New("stripe api: object not found")
	// ErrInvalid: Stripe refused the request itself (other 4xx).
	ErrInvalid = errors.New("stripe api: invalid request")
	// ErrUnavailable: rate limited, 5xx, timeout or connection error. Transient.
	ErrUnavailable = errors.New("stripe api: unavailable")
)

// Reason is the dead-letter reason (a bounded label) of a permanent API error, or ""
// for a transient one (and for errors that are not from this package).
func Reason(err error) outcome.Reason {
	switch {
	case errors.Is(err, ErrAuth):
		return outcome.ReasonStripeAuth
	case errors.Is(err, ErrPermission):
		return outcome.ReasonStripePermission
	case errors.Is(err, ErrNotFound):
		return outcome.ReasonStripeNotFound
	case errors.Is(err, ErrInvalid):
		return outcome.ReasonStripeInvalidRequest
	}
	return ""
}

// DefaultTimeout bounds one call when Options.Timeout is zero.
const DefaultTimeout = 3 * time.Second

// Options configure a Client.
type Options struct {
	// Key is the secret (sk_) or restricted (rk_) API key.
	Key secret.Secret
	// BaseURL is the API's origin; empty means https://api.stripe.com.
	BaseURL string
	// Timeout bounds one call, every page and the retry included. Zero means
	// DefaultTimeout.
	Timeout time.Duration
	// HTTPClient carries the requests; nil means a client with Timeout.
	HTTPClient *http.Client
	// Retries is how often stripe-go retries what is safe to retry; 0 means 1,
	// negative means never.
	Retries int
	// Logger receives stripe-go's own messages at debug level; nil discards them.
	Logger *slog.Logger
	// Budget, when set, bounds the requests of this client together with every
	// other client that shares it (one Budget per API key); nil means no bound.
	Budget *Budget
}

// Client reads the Stripe API. It is safe for concurrent use.
type Client struct {
	api     *client.API
	timeout time.Duration
}

// New returns a Client.
func New(o Options) *Client {
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.BaseURL == "" {
		o.BaseURL = stripe.APIURL
	}
	hc := o.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: o.Timeout}
	}
	hc = withBudget(hc, o.Budget)
	retries := int64(o.Retries)
	switch {
	case o.Retries == 0:
		retries = 1
	case o.Retries < 0:
		retries = 0
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cfg := &stripe.BackendConfig{
		URL:               stripe.String(strings.TrimSuffix(o.BaseURL, "/")),
		HTTPClient:        hc,
		MaxNetworkRetries: stripe.Int64(retries),
		LeveledLogger:     leveled{log},
		EnableTelemetry:   stripe.Bool(false),
	}
	backends := &stripe.Backends{
		API:     stripe.GetBackendWithConfig(stripe.APIBackend, cfg),
		Connect: stripe.GetBackendWithConfig(stripe.ConnectBackend, cfg),
		Uploads: stripe.GetBackendWithConfig(stripe.UploadsBackend, cfg),
	}
	return &Client{api: client.New(o.Key.Reveal(), backends), timeout: o.Timeout}
}

// Line is one line item of a session or an invoice, as the price sources need it.
type Line struct {
	PriceID  string
	Quantity int64
	// Proration marks an invoice line that settles a mid-period change; the price
	// sources skip it (it is not a billed period).
	Proration       bool
	PriceMetadata   map[string]string
	ProductID       string
	ProductMetadata map[string]string
}

// SessionLines returns every line item of a Checkout Session, its Price and Product
// expanded. account is the connected account for Connect, or "".
func (c *Client) SessionLines(ctx context.Context, account, sessionID string) ([]Line, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	p := &stripe.CheckoutSessionListLineItemsParams{Session: stripe.String(sessionID)}
	p.Context = ctx
	p.Limit = stripe.Int64(100)
	p.AddExpand("data.price.product")
	setAccount(&p.ListParams, account)
	var out []Line
	it := c.api.CheckoutSessions.ListLineItems(p)
	for it.Next() {
		li := it.LineItem()
		out = append(out, line(li.Price, li.Quantity, false))
	}
	if err := it.Err(); err != nil {
		return nil, classify("list line items of "+sessionID, err)
	}
	return out, nil
}

// Invoice is what invoice.paid needs of an invoice.
type Invoice struct {
	ID                   string
	Customer             string
	PaymentIntent        string
	Subscription         string
	SubscriptionMetadata map[string]string
	AmountPaid           int64
	Currency             string
	Paid                 bool
	Lines                []Line
	// BillingReason is why the invoice was created (subscription_create, ...).
	BillingReason string
	// Total is the invoice's total after discounts and taxes, before the customer's
	// credit balance is applied (AmountPaid is 0 when the balance paid it all).
	Total int64
	// SubscriptionStarted is when the invoice's subscription was created; zero
	// without a subscription.
	SubscriptionStarted time.Time
}

// Prorations counts the invoice's proration lines.
func (in Invoice) Prorations() int {
	n := 0
	for _, l := range in.Lines {
		if l.Proration {
			n++
		}
	}
	return n
}

// Invoice reads an invoice with its subscription, then every line (Price and Product
// expanded).
func (c *Client) Invoice(ctx context.Context, account, invoiceID string) (Invoice, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	p := &stripe.InvoiceParams{}
	p.Context = ctx
	p.AddExpand("subscription")
	setAccountParams(&p.Params, account)
	in, err := c.api.Invoices.Get(invoiceID, p)
	if err != nil {
		return Invoice{}, classify("get invoice "+invoiceID, err)
	}
	out := Invoice{ID: in.ID, AmountPaid: in.AmountPaid, Currency: string(in.Currency), Paid: in.Paid,
		BillingReason: string(in.BillingReason), Total: in.Total}
	if in.Customer != nil {
		out.Customer = in.Customer.ID
	}
	if in.PaymentIntent != nil {
		out.PaymentIntent = in.PaymentIntent.ID
	}
	if in.Subscription != nil {
		out.Subscription = in.Subscription.ID
		out.SubscriptionMetadata = in.Subscription.Metadata
		if in.Subscription.Created > 0 {
			out.SubscriptionStarted = time.Unix(in.Subscription.Created, 0).UTC()
		}
	}
	if len(out.SubscriptionMetadata) == 0 && in.SubscriptionDetails != nil {
		out.SubscriptionMetadata = in.SubscriptionDetails.Metadata // the snapshot at finalization
	}
	lp := &stripe.InvoiceListLinesParams{Invoice: stripe.String(invoiceID)}
	lp.Context = ctx
	lp.Limit = stripe.Int64(100)
	lp.AddExpand("data.price.product")
	setAccount(&lp.ListParams, account)
	it := c.api.Invoices.ListLines(lp)
	for it.Next() {
		li := it.InvoiceLineItem()
		out.Lines = append(out.Lines, line(li.Price, li.Quantity, li.Proration))
	}
	if err := it.Err(); err != nil {
		return Invoice{}, classify("list lines of "+invoiceID, err)
	}
	return out, nil
}

// Session is what creditgate reads of a Checkout Session found through the API.
type Session struct {
	ID                string
	ClientReferenceID string
	Metadata          map[string]string
	Customer          string
	PaymentIntent     string
}

// SessionFor finds the Checkout Session that started subscription, or (subscription
// empty) that was paid by paymentIntent: the list endpoint filters by either. ok is
// false when Checkout made neither (a subscription created through the API).
func (c *Client) SessionFor(ctx context.Context, account, subscription, paymentIntent string) (s Session, ok bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	p := &stripe.CheckoutSessionListParams{}
	what := "payment_intent " + paymentIntent
	if subscription != "" {
		p.Subscription, what = stripe.String(subscription), "subscription "+subscription
	} else {
		p.PaymentIntent = stripe.String(paymentIntent)
	}
	p.Context = ctx
	p.Limit = stripe.Int64(1)
	p.Single = true // one page: at most one session starts a subscription or is paid by a PaymentIntent
	setAccount(&p.ListParams, account)
	it := c.api.CheckoutSessions.List(p)
	if it.Next() {
		cs := it.CheckoutSession()
		s = Session{ID: cs.ID, ClientReferenceID: cs.ClientReferenceID, Metadata: cs.Metadata}
		if cs.Customer != nil {
			s.Customer = cs.Customer.ID
		}
		if cs.PaymentIntent != nil {
			s.PaymentIntent = cs.PaymentIntent.ID
		}
		ok = true
	}
	if err := it.Err(); err != nil {
		return Session{}, false, classify("list checkout sessions of "+what, err)
	}
	return s, ok, nil
}

// SessionPaymentIntent is the PaymentIntent that paid a Checkout Session: its own,
// or, for a subscription session (whose payment_intent is null), its first
// invoice's. "" when there is none (a trial, a free session).
func (c *Client) SessionPaymentIntent(ctx context.Context, account, sessionID string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	p := &stripe.CheckoutSessionParams{}
	p.Context = ctx
	p.AddExpand("invoice")
	setAccountParams(&p.Params, account)
	cs, err := c.api.CheckoutSessions.Get(sessionID, p)
	if err != nil {
		return "", classify("get checkout session "+sessionID, err)
	}
	switch {
	case cs.PaymentIntent != nil:
		return cs.PaymentIntent.ID, nil
	case cs.Invoice != nil && cs.Invoice.PaymentIntent != nil:
		return cs.Invoice.PaymentIntent.ID, nil
	}
	return "", nil
}

// CustomerMetadata returns a customer's metadata (nil for a deleted customer).
func (c *Client) CustomerMetadata(ctx context.Context, account, customerID string) (map[string]string, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	p := &stripe.CustomerParams{}
	p.Context = ctx
	setAccountParams(&p.Params, account)
	cus, err := c.api.Customers.Get(customerID, p)
	if err != nil {
		return nil, classify("get customer "+customerID, err)
	}
	if cus.Deleted {
		return nil, nil
	}
	return cus.Metadata, nil
}

// EventQuery selects events for reconciliation.
type EventQuery struct {
	Since time.Time
	Types []string // at most 20 (the API's limit)
	// PageTimeout bounds each page; zero means the client's timeout.
	PageTimeout time.Duration
	// Account lists a connected account's events (Stripe-Account); "" the platform's.
	Account string
	// Undelivered lists only the events Stripe failed to deliver to an endpoint
	// (delivery_success=false).
	Undelivered bool
}

// Events lists the events of the account that match q, newest first, every page,
// and calls fn with each one's JSON (the event re-encoded from stripe-go's struct;
// data.object keeps Stripe's exact bytes). fn's error stops the listing and is
// returned as it is.
func (c *Client) Events(ctx context.Context, q EventQuery, fn func(raw []byte) error) error {
	if len(q.Types) > 20 {
		return fmt.Errorf("%w: at most 20 event types per listing, got %d", ErrInvalid, len(q.Types))
	}
	p := &stripe.EventListParams{CreatedRange: &stripe.RangeQueryParams{GreaterThanOrEqual: q.Since.Unix()}}
	p.Context = ctx
	p.Limit = stripe.Int64(100)
	for _, t := range q.Types {
		p.Types = append(p.Types, stripe.String(t))
	}
	setAccount(&p.ListParams, q.Account)
	if q.Undelivered {
		p.DeliverySuccess = stripe.Bool(false)
	}
	it := c.api.Events.List(p)
	for it.Next() {
		if e := it.Event(); e != nil && e.Account == "" {
			e.Account = q.Account // listed with Stripe-Account: the event is that account's
		}
		raw, err := encodeEvent(it.Event())
		if err != nil {
			return err
		}
		if err := fn(raw); err != nil {
			return err
		}
	}
	if err := it.Err(); err != nil {
		return classify("list events", err)
	}
	return nil
}

func setAccount(p *stripe.ListParams, account string) {
	if account != "" {
		p.SetStripeAccount(account)
	}
}

func setAccountParams(p *stripe.Params, account string) {
	if account != "" {
		p.SetStripeAccount(account)
	}
}

func line(pr *stripe.Price, qty int64, proration bool) Line {
	l := Line{Quantity: qty, Proration: proration}
	if pr == nil {
		return l
	}
	l.PriceID, l.PriceMetadata = pr.ID, pr.Metadata
	if pr.Product != nil {
		l.ProductID, l.ProductMetadata = pr.Product.ID, pr.Product.Metadata
	}
	return l
}

// classify wraps err in the sentinel that says what the pipeline should do with it.
// The message keeps Stripe's error type, code and request id, never the key.
func classify(op string, err error) error {
	var se *stripe.Error
	if !errors.As(err, &se) {
		return fmt.Errorf("%w: %s: %w", ErrUnavailable, op, err)
	}
	what := fmt.Sprintf("%s: HTTP %d %s", op, se.HTTPStatusCode, se.Type)
	if se.Code != "" {
		what += " " + string(se.Code)
	}
	if se.RequestID != "" {
		what += " (request " + se.RequestID + ")"
	}
	switch s := se.HTTPStatusCode; {
	case s == http.StatusUnauthorized:
		return fmt.Errorf("%w: %s", ErrAuth, what)
	case s == http.StatusForbidden:
		return fmt.Errorf("%w: %s", ErrPermission, what)
	case s == http.StatusNotFound:
		return fmt.Errorf("%w: %s", ErrNotFound, what)
	case s == http.StatusTooManyRequests, s == http.StatusConflict, s == http.StatusRequestTimeout, s >= 500, s == 0:
		return fmt.Errorf("%w: %s", ErrUnavailable, what)
	default:
		return fmt.Errorf("%w: %s", ErrInvalid, what)
	}
}

// leveled routes stripe-go's messages to slog at debug level: the pipeline logs the
// classified error itself, and stripe-go's error messages may quote response bodies.
type leveled struct{ l *slog.Logger }

func (l leveled) Debugf(f string, v ...any) {
	l.l.Debug(fmt.Sprintf(f, v...), "component", "stripe-go")
}
func (l leveled) Infof(f string, v ...any) { l.l.Debug(fmt.Sprintf(f, v...), "component", "stripe-go") }
func (l leveled) Warnf(f string, v ...any) { l.l.Debug(fmt.Sprintf(f, v...), "component", "stripe-go") }
func (l leveled) Errorf(f string, v ...any) {
	l.l.Debug(fmt.Sprintf(f, v...), "component", "stripe-go")
}

// encodeEvent re-encodes an event of the Events API as a webhook body would carry it.
func encodeEvent(e *stripe.Event) ([]byte, error) {
	if e == nil || e.Data == nil || len(e.Data.Raw) == 0 {
		return nil, fmt.Errorf("%w: an event in the listing has no data.object", ErrInvalid)
	}
	return json.Marshal(struct {
		ID         string          `json:"id"`
		Object     string          `json:"object"`
		Account    string          `json:"account,omitempty"`
		APIVersion string          `json:"api_version"`
		Created    int64           `json:"created"`
		Livemode   bool            `json:"livemode"`
		Type       string          `json:"type"`
		Data       json.RawMessage `json:"data"`
	}{e.ID, "event", e.Account, e.APIVersion, e.Created, e.Livemode, string(e.Type),
		json.RawMessage(append(append([]byte(`{"object":`), e.Data.Raw...), '}'))})
}
