package signature

import (
	"crypto/hmac"
	"fmt"
	"time"

	"github.com/creditgate/creditgate/internal/secret"
)

// maxTimestamp bounds t before it becomes a time.Time, where time.Unix would overflow
// for values near MaxInt64. 2^40 seconds is the year 36812: far beyond any clock.
const maxTimestamp = 1 << 40

// Verify checks a signature header against payload, the raw request body.
//
// It parses the header (see ParseHeader), then checks that t is within tolerance of
// now in both directions, then computes HMAC-SHA256(secret, "<t>.<payload>") for every
// non-empty secret and compares it with every v1 value in constant time (hmac.Equal),
// without stopping at the first match. It returns nil when any v1 matches any secret.
//
// The caller passes the configured tolerance; zero means DefaultTolerance. A negative
// tolerance rejects every header (fail closed): configuration should refuse it.
// Empty secrets are skipped, so a blank configuration value can never verify anything;
// with no usable secret the result is ErrNoValidSignature.
//
// Errors are ErrNotSigned, ErrInvalidHeader, ErrNoValidSignature, ErrTooOld and ErrTooNew,
// possibly wrapped with a detail; none contains a secret, a signature or the payload.
//
// Order, as in stripe-go: the time window is checked before any HMAC, so a replayed or
// stale header costs no hashing, and the operator learns "clock or replay" (ErrTooOld,
// ErrTooNew, with the offset) rather than "wrong secret". That order tells an attacker
// nothing: t is theirs, the window is public, and the time check does not depend on any
// secret. Signature comparison is constant time and covers every (secret, v1) pair, so
// timing does not reveal which secret matched or how much of a guess was right.
func Verify(payload []byte, header string, secrets []secret.Secret, tolerance time.Duration, now time.Time) error {
	h, err := ParseHeader(header)
	if err != nil {
		return err
	}
	if err := checkTime(h.Timestamp, now, tolerance); err != nil {
		return err
	}
	if !h.matches(payload, secrets) {
		return ErrNoValidSignature
	}
	return nil
}

// checkTime reports whether t is within tolerance of now, in both directions.
func checkTime(t int64, now time.Time, tolerance time.Duration) error {
	if tolerance == 0 {
		tolerance = DefaultTolerance
	}
	if t > maxTimestamp {
		return fmt.Errorf("%w: t=%d is beyond any clock", ErrTooNew, t)
	}
	age := now.Sub(time.Unix(t, 0)) // saturates instead of overflowing
	if age > tolerance {
		return fmt.Errorf("%w: signed %s ago, tolerance %s", ErrTooOld, age, tolerance)
	}
	// stripe-go v76 accepts any timestamp in the future (it only checks age > tolerance).
	// We do not: a header dated ahead would stay replayable for as long as it is ahead,
	// and the contract bounds |now - t| in both directions.
	if age < -tolerance {
		return fmt.Errorf("%w: signed %s in the future, tolerance %s", ErrTooNew, -age, tolerance)
	}
	return nil
}

// matches reports whether any v1 of h is the signature of payload under any non-empty
// secret. It tries every pair and does not return early.
func (h *Header) matches(payload []byte, secrets []secret.Secret) bool {
	st := getMAC()
	defer putMAC(st)
	ok := false
	for _, s := range secrets {
		if s.IsZero() {
			continue
		}
		mac := st.sum(s.Reveal(), h.Timestamp, payload)
		for i := range h.n {
			eq := hmac.Equal(mac[:], h.v1[i][:])
			ok = ok || eq
		}
	}
	return ok
}

// Verifier verifies signature headers for one route. The zero value has no secrets
// and so rejects everything with ErrNoValidSignature. It is safe for concurrent use as
// long as its fields are not changed.
type Verifier struct {
	// Secrets are the signing secrets; a header verifies if it matches any of them.
	Secrets []secret.Secret
	// Tolerance is how far t may be from now, either way. Zero means DefaultTolerance.
	Tolerance time.Duration
	// Now is the clock. Nil means time.Now.
	Now func() time.Time
}

// Verify checks header against payload with v's secrets, tolerance and clock. See the
// package-level Verify for the rules and the errors.
func (v *Verifier) Verify(payload []byte, header string) error {
	now := time.Now
	if v.Now != nil {
		now = v.Now
	}
	return Verify(payload, header, v.Secrets, v.Tolerance, now())
}
