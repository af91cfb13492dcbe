// Package extract finds who bought how many credits in a Checkout Session: it tries a
// route's sources in order (DESIGN §3) and validates the result with
// go-playground/validator. A failure here is permanent (the event will never carry
// more), so its errors map to a dead-letter reason, except a store failure while
// reading the customer map, which wraps dedup.ErrUnavailable and is retried.
package extract

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/go-playground/validator/v10"

	"github.com/creditgate/creditgate/internal/config"
	"github.com/creditgate/creditgate/internal/event"
)

// Permanent extraction failures. Reason gives each a bounded metric label.
var (
	ErrNoUserID   = errors.New("no user id in any configured source")
	ErrBadUserID  = errors.New("user id does not match the route's format")
	ErrNoCredits  = errors.New("no credits in any configured source")
	ErrBadCredits = errors.New("credits is not an integer in range")
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

// Extractor applies one route's extraction config. Build it with New; it is safe for
// concurrent use.
type Extractor struct {
	userSources   []string
	creditSources []string
	validate      *validator.Validate
	userTag       string
	creditsTag    string
}

// New compiles a route's extract config.
func New(c config.Extract) (*Extractor, error) {
	v := validator.New()
	x := &Extractor{
		userSources:   c.UserID,
		creditSources: c.Credits,
		validate:      v,
		creditsTag:    fmt.Sprintf("min=1,max=%d", c.MaxCredits),
	}
	if err := v.RegisterValidation("cg_userid", defaultUserID); err != nil {
		return nil, err
	}
	switch f := c.UserIDFormat; {
	case f == "":
		x.userTag = "required,cg_userid"
	case f == "uuid" || f == "uuid4":
		x.userTag = "required,max=128," + f
	case strings.HasPrefix(f, "regexp:"):
		re, err := regexp.Compile(`^(?:` + strings.TrimPrefix(f, "regexp:") + `)$`)
		if err != nil {
			return nil, fmt.Errorf("user_id_format: %w", err)
		}
		if err := v.RegisterValidation("cg_userid_re", func(fl validator.FieldLevel) bool {
			return re.MatchString(fl.Field().String())
		}); err != nil {
			return nil, err
		}
		x.userTag = "required,max=128,cg_userid_re"
	default:
		return nil, config.ValidUserIDFormat(f)
	}
	return x, nil
}

// Extract returns the grant of a checkout session, or an error wrapping one of the
// Err* sentinels (permanent) or the store's error (transient).
func (x *Extractor) Extract(ctx context.Context, obj event.Object, customers Customers) (Grant, error) {
	var g Grant
	for _, src := range x.userSources {
		id, err := userFrom(ctx, src, obj, customers)
		if err != nil {
			return g, err
		}
		if id != "" {
			g.UserID, g.UserSource = id, src
			break
		}
	}
	if g.UserSource == "" {
		return g, fmt.Errorf("%w (tried %s)", ErrNoUserID, strings.Join(x.userSources, ", "))
	}
	if err := x.validate.Var(g.UserID, x.userTag); err != nil {
		return g, fmt.Errorf("%w: %s from %s (%d bytes) is not a valid user id", ErrBadUserID, printable(g.UserID), g.UserSource, len(g.UserID))
	}
	for _, src := range x.creditSources {
		raw, ok := creditsFrom(src, obj)
		if !ok {
			continue
		}
		g.CreditsSource = src
		n, ok := parseCredits(raw)
		if !ok {
			return g, fmt.Errorf("%w: %s is %s, want a plain positive integer like \"100\"", ErrBadCredits, src, printable(raw))
		}
		if err := x.validate.Var(n, x.creditsTag); err != nil {
			return g, fmt.Errorf("%w: %s is %d, allowed %s", ErrBadCredits, src, n, strings.ReplaceAll(x.creditsTag, ",", " "))
		}
		g.Credits = n
		return g, nil
	}
	return g, fmt.Errorf("%w (tried %s)", ErrNoCredits, strings.Join(x.creditSources, ", "))
}

func userFrom(ctx context.Context, src string, obj event.Object, customers Customers) (string, error) {
	switch src {
	case config.SourceMetadataUserID:
		return obj.Metadata["user_id"], nil
	case config.SourceClientReferenceID:
		return obj.ClientReferenceID, nil
	case config.SourceCustomerMap:
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
	if src == config.SourceMetadataCredits {
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
func Reason(err error) string {
	switch {
	case errors.Is(err, ErrNoUserID):
		return "no_user_id"
	case errors.Is(err, ErrBadUserID):
		return "bad_user_id"
	case errors.Is(err, ErrNoCredits):
		return "no_credits"
	case errors.Is(err, ErrBadCredits):
		return "bad_credits"
	}
	return ""
}

// defaultUserID: 1-128 printable characters, no spaces, valid UTF-8.
func defaultUserID(fl validator.FieldLevel) bool {
	s := fl.Field().String()
	if s == "" || len(s) > MaxUserIDLength*utf8.UTFMax || !utf8.ValidString(s) || utf8.RuneCountInString(s) > MaxUserIDLength {
		return false
	}
	for _, r := range s {
		if !unicode.IsPrint(r) || unicode.IsSpace(r) {
			return false
		}
	}
	return true
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
