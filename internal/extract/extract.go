// Package extract finds who bought how many credits in a Checkout Session: it tries a
// route's sources in order (docs/design.md §3) and validates the result against the
// route's user_id_format and max_credits. The checks are compiled once per route
// (userid.go); go-playground/validator's uuid and uuid4 tags are their reference, held
// equal by FuzzUserIDFormat. A failure here is permanent (the event will never carry
// more), so its errors map to a dead-letter reason, except a store failure while
// reading the customer map, which wraps dedup.ErrUnavailable and is retried.
package extract

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/creditgate/creditgate/internal/config"
	"github.com/creditgate/creditgate/internal/event"
	"github.com/creditgate/creditgate/internal/outcome"
	"github.com/creditgate/creditgate/internal/stripeapi"
)

// Permanent extraction failures. Reason gives each a bounded metric label.
var (
	ErrNoUserID   = errors.New("no user id in any configured source")
	ErrBadUserID  = errors.New("user id does not match the route's format")
	ErrNoCredits  = errors.New("no credits in any configured source")
	ErrBadCredits = errors.New("credits is not an integer in range")
	// ErrUnknownPrice: a line item's price is not in the route's price_table (or has
	// no credits metadata) while others are: creditgate never guesses a part.
	ErrUnknownPrice = errors.New("a line item's price gives no credits")
)

// MaxUserIDLength bounds a user id whatever the format.
const MaxUserIDLength = 128

// Customers reads the customer map (Stripe customer id → user id).
type Customers interface {
	Customer(ctx context.Context, customerID string) (userID string, ok bool, err error)
}

// Grant is what a purchase gives, and where each half came from.
type Grant struct {
	UserID        string
	UserSource    string
	Credits       int64
	CreditsSource string
}

// Lookup is what the API-backed sources read, bound to one event's object (see
// package stripeapi). Implementations cache, so a source tried twice costs one call.
type Lookup interface {
	// Lines are the object's line items (a session's or an invoice's).
	Lines(ctx context.Context) ([]stripeapi.Line, error)
	// SubscriptionMetadata is the metadata of the invoice's subscription; nil when
	// the object has none.
	SubscriptionMetadata(ctx context.Context) (map[string]string, error)
	// CustomerMetadata is the metadata of the object's customer; nil when none.
	CustomerMetadata(ctx context.Context) (map[string]string, error)
}

// Extractor applies one route's extraction config. Build it with New; it is safe for
// concurrent use.
type Extractor struct {
	userSources   []string
	creditSources []string
	priceTable    map[string]int64
	maxCredits    int64
	validUser     func(string) bool // the route's user_id_format (userid.go)
}

// New compiles a route's extract config.
func New(c config.Extract) (*Extractor, error) {
	valid, err := userIDCheck(c.UserIDFormat)
	if err != nil {
		return nil, err
	}
	return &Extractor{
		userSources:   c.UserID,
		creditSources: c.Credits,
		priceTable:    c.PriceTable,
		maxCredits:    c.MaxCredits,
		validUser:     valid,
	}, nil
}

// Extract returns the grant of a checkout session, or an error wrapping one of the
// Err* sentinels (permanent) or the store's error (transient). It reads no API:
// the API-backed sources yield nothing; see ExtractWith.
func (x *Extractor) Extract(ctx context.Context, obj event.Object, customers Customers) (Grant, error) {
	return x.ExtractWith(ctx, obj, customers, nil)
}

// ExtractWith is Extract with the API-backed sources reading api (nil: they yield
// nothing). An API error is returned wrapped: stripeapi.Reason tells a permanent one
// (dead-letter) from a transient one (retry).
func (x *Extractor) ExtractWith(ctx context.Context, obj event.Object, customers Customers, api Lookup) (Grant, error) {
	var g Grant
	var err error
	g.UserID, g.UserSource, err = x.User(ctx, obj, customers, api)
	if err != nil {
		return g, err
	}
	unknown := ""
	for _, src := range x.creditSources {
		if src == outcome.SourcePriceTable || src == outcome.SourcePriceMetadata {
			n, ok, err := x.creditsFromLines(ctx, src, api)
			switch {
			case errors.Is(err, ErrUnknownPrice) && !ok:
				unknown = err.Error() // none matched: try the next source, remember why
				continue
			case err != nil:
				g.CreditsSource = src
				return g, err
			case !ok:
				continue
			}
			g.CreditsSource, g.Credits = src, n
			return g, nil
		}
		raw, ok := creditsFrom(src, obj)
		if !ok {
			continue
		}
		g.CreditsSource = src
		n, ok := parseCredits(raw)
		if !ok {
			return g, fmt.Errorf("%w: %s is %s, want a plain positive integer like \"100\"", ErrBadCredits, src, printable(raw))
		}
		if n < 1 || n > x.maxCredits {
			return g, fmt.Errorf("%w: %s is %d, allowed min=1 max=%d", ErrBadCredits, src, n, x.maxCredits)
		}
		g.Credits = n
		return g, nil
	}
	if unknown != "" {
		return g, fmt.Errorf("%w (tried %s; %s)", ErrUnknownPrice, strings.Join(x.creditSources, ", "), unknown)
	}
	return g, fmt.Errorf("%w (tried %s)", ErrNoCredits, strings.Join(x.creditSources, ", "))
}

// User finds and validates the user id alone (the user sources of ExtractWith).
func (x *Extractor) User(ctx context.Context, obj event.Object, customers Customers, api Lookup) (id, source string, err error) {
	for _, src := range x.userSources {
		v, err := userFrom(ctx, src, obj, customers, api)
		if err != nil {
			return "", src, err
		}
		if v != "" {
			id, source = v, src
			break
		}
	}
	if source == "" {
		return "", "", fmt.Errorf("%w (tried %s)", ErrNoUserID, strings.Join(x.userSources, ", "))
	}
	if !x.validUser(id) {
		return id, source, fmt.Errorf("%w: %s from %s (%d bytes) is not a valid user id", ErrBadUserID, printable(id), source, len(id))
	}
	return id, source, nil
}

// LocalUser is the user ExtractWith finds when the event alone decides it: the first
// user source with a value is metadata.user_id or client_reference_id, and the value
// is valid. ok is false whenever the customer map or the Stripe API would be asked
// first, or the value is not valid (ExtractWith then says why).
func (x *Extractor) LocalUser(obj event.Object) (id string, ok bool) {
	for _, src := range x.userSources {
		switch src {
		case outcome.SourceMetadataUserID:
			id = obj.Metadata["user_id"]
		case outcome.SourceClientReferenceID:
			id = obj.ClientReferenceID
		default:
			return "", false
		}
		if id != "" {
			return id, x.validUser(id)
		}
	}
	return "", false
}

// creditsFromLines is price_table or price_metadata: the sum over the line items
// (prorations skipped) of quantity times the price's credits. It yields a value (ok)
// only if every line's price gives credits; if none does, it yields nothing with an
// ErrUnknownPrice that says why; if only some do, that is an ErrUnknownPrice error.
func (x *Extractor) creditsFromLines(ctx context.Context, src string, api Lookup) (int64, bool, error) {
	if api == nil {
		return 0, false, nil
	}
	lines, err := api.Lines(ctx)
	if err != nil {
		return 0, false, err
	}
	var total int64
	known, counted := 0, 0
	var missing []string
	for _, l := range lines {
		if l.Proration {
			continue
		}
		counted++
		per, ok, err := x.perUnit(src, l)
		if err != nil {
			return 0, false, err
		}
		if !ok {
			missing = append(missing, printable(l.PriceID))
			continue
		}
		known++
		if l.Quantity < 0 || (l.Quantity > 0 && per > (x.maxCredits-total)/l.Quantity) {
			return 0, false, fmt.Errorf("%w: %s: line items add up to more than max_credits (%d)", ErrBadCredits, src, x.maxCredits)
		}
		total += per * l.Quantity
	}
	switch {
	case counted == 0:
		return 0, false, nil
	case known == 0:
		return 0, false, fmt.Errorf("%w: %s has no credits for %s", ErrUnknownPrice, src, strings.Join(missing, ", "))
	case len(missing) > 0:
		return 0, false, fmt.Errorf("%w: %s has credits for %d of %d line items, none for %s", ErrUnknownPrice, src, known, counted, strings.Join(missing, ", "))
	case total < 1:
		return 0, false, fmt.Errorf("%w: %s: line items give %d credits, allowed min=1 max=%d", ErrBadCredits, src, total, x.maxCredits)
	}
	return total, true, nil
}

// perUnit is the credits one unit of l's price gives under src.
func (x *Extractor) perUnit(src string, l stripeapi.Line) (int64, bool, error) {
	if src == outcome.SourcePriceTable {
		n, ok := x.priceTable[l.PriceID]
		return n, ok && l.PriceID != "", nil
	}
	for _, m := range []struct {
		where string
		md    map[string]string
	}{{"price " + l.PriceID, l.PriceMetadata}, {"product " + l.ProductID, l.ProductMetadata}} {
		raw, ok := m.md["credits"]
		if !ok {
			continue
		}
		n, ok := parseCredits(raw)
		if !ok || n > x.maxCredits {
			return 0, false, fmt.Errorf("%w: metadata.credits of %s is %s, want a plain positive integer up to %d", ErrBadCredits, printable(m.where), printable(raw), x.maxCredits)
		}
		return n, true, nil
	}
	return 0, false, nil
}

func userFrom(ctx context.Context, src string, obj event.Object, customers Customers, api Lookup) (string, error) {
	switch src {
	case outcome.SourceSubscriptionUserID, outcome.SourceCustomerUserID:
		if api == nil {
			return "", nil
		}
		get := api.SubscriptionMetadata
		if src == outcome.SourceCustomerUserID {
			if obj.Customer == "" {
				return "", nil
			}
			get = api.CustomerMetadata
		}
		md, err := get(ctx)
		if err != nil {
			return "", err
		}
		return md["user_id"], nil
	case outcome.SourceMetadataUserID:
		return obj.Metadata["user_id"], nil
	case outcome.SourceClientReferenceID:
		return obj.ClientReferenceID, nil
	case outcome.SourceCustomerMap:
		if obj.Customer == "" || customers == nil {
			return "", nil
		}
		id, ok, err := customers.Customer(ctx, obj.Customer)
		if err != nil || !ok {
			return "", err
		}
		return id, nil
	}
	return "", nil
}

func creditsFrom(src string, obj event.Object) (string, bool) {
	if src == outcome.SourceMetadataCredits {
		v, ok := obj.Metadata["credits"]
		return v, ok
	}
	return "", false
}

// parseCredits accepts only a plain decimal integer without sign, spaces, leading
// zeros, exponent or fraction: "100" yes; "+5", " 5", "007", "1e3", "5.0" no.
func parseCredits(s string) (int64, bool) {
	if s == "" || len(s) > 18 || s[0] == '0' {
		return 0, false
	}
	var n int64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// Reason maps an extraction error to its dead-letter reason (a bounded label).
func Reason(err error) outcome.Reason {
	switch {
	case errors.Is(err, ErrNoUserID):
		return outcome.ReasonNoUserID
	case errors.Is(err, ErrBadUserID):
		return outcome.ReasonBadUserID
	case errors.Is(err, ErrNoCredits):
		return outcome.ReasonNoCredits
	case errors.Is(err, ErrBadCredits):
		return outcome.ReasonBadCredits
	case errors.Is(err, ErrUnknownPrice):
		return outcome.ReasonUnknownPrice
	}
	return stripeapi.Reason(err)
}

// printable quotes a value for an operator message, cut to 64 bytes, with control
// characters escaped, so a hostile value cannot forge log lines.
func printable(s string) string {
	const max = 64
	if len(s) > max {
		return fmt.Sprintf("%q…", s[:max])
	}
	return fmt.Sprintf("%q", s)
}
