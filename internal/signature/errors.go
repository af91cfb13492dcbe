package signature

import (
	"errors"
	"fmt"
	"time"
)

// Header names and defaults.
const (
	// StripeHeader is the header Stripe signs webhooks with.
	StripeHeader = "Stripe-Signature"
	// ForwardHeader is the header creditgate signs forwarded requests with.
	ForwardHeader = "Creditgate-Signature"
	// DefaultTolerance is how far t may be from now, in either direction, when the
	// caller passes a tolerance of zero. It is Stripe's own default.
	DefaultTolerance = 300 * time.Second
	// MaxHeaderBytes bounds the header: a longer one is ErrInvalidHeader, unparsed.
	MaxHeaderBytes = 8 << 10
	// MaxSignatures bounds how many v1 values are kept; later ones are ignored.
	MaxSignatures = 16
)

// The errors that ParseHeader and Verify return, possibly wrapped with a detail
// (test with errors.Is). Modelled on stripe-go's webhook package; ErrTooNew is ours.
// The messages name no secret, signature or payload, but they are for logs and
// metrics only: clients should see a status word, never these strings.
var (
	// ErrNotSigned means the header is missing or empty.
	ErrNotSigned = errors.New("signature header is missing")
	// ErrInvalidHeader means the header is malformed: an item without '=', no t, a t
	// that is not a decimal number, t twice, no signature item at all, or too long.
	ErrInvalidHeader = errors.New("signature header is malformed")
	// ErrNoValidSignature means no v1 value matches any secret (or the header carries
	// signatures of other schemes only, such as v0).
	ErrNoValidSignature = errors.New("no v1 signature matches any secret")
	// ErrTooOld means t is more than the tolerance before now.
	ErrTooOld = errors.New("signature timestamp is older than the tolerance")
	// ErrTooNew means t is more than the tolerance after now.
	ErrTooNew = errors.New("signature timestamp is newer than the tolerance")
)

// Details of ErrInvalidHeader, made once so that rejecting junk allocates nothing.
var (
	errTooLong     = fmt.Errorf("%w: longer than %d bytes", ErrInvalidHeader, MaxHeaderBytes)
	errNoEquals    = fmt.Errorf("%w: an item has no '='", ErrInvalidHeader)
	errBadT        = fmt.Errorf("%w: t is not a decimal number of seconds", ErrInvalidHeader)
	errDuplicateT  = fmt.Errorf("%w: t appears twice", ErrInvalidHeader)
	errNoT         = fmt.Errorf("%w: no t", ErrInvalidHeader)
	errNoSignature = fmt.Errorf("%w: no signature (v1=...)", ErrInvalidHeader)
	errNoV1        = fmt.Errorf("%w: no well-formed v1 (other schemes are not accepted)", ErrNoValidSignature)
)
