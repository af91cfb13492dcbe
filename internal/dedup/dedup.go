// Package dedup owns the exactly-once bookkeeping of creditgate: the claim on an event
// or a purchase while it is being credited, and the "done" mark that answers later
// deliveries as duplicates.
//
// A key moves through three states (docs/design.md §4):
//
//	absent ──Claim──▶ processing:<token> (for a lease) ──Complete──▶ done (for a ttl)
//	                        │
//	                        └──Release by the token holder, or the lease runs out──▶ absent
//
// Two implementations satisfy Store: Redis, shared by every replica, and Memory, for a
// single replica. Both pass the same behaviour suite (package dedupsuite).
package dedup

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// ErrUnavailable wraps every failure to reach the store; the webhook pipeline maps it to
// 503 store_unavailable. Errors that wrap it also wrap the underlying cause.
var ErrUnavailable = errors.New("dedup store unavailable")

// ErrInvalid wraps the rejection of a call that can never succeed: an empty key or
// token, a non-positive lease or ttl. It is a bug in the caller, not an outage.
var ErrInvalid = errors.New("dedup: invalid argument")

// State is what Claim found. The zero value is not a valid state.
type State int

const (
	// Claimed: the caller now holds the key for the lease (it was absent, or the
	// caller's own token already held it).
	Claimed State = iota + 1
	// Done: the key was completed; the delivery is a duplicate.
	Done
	// InFlight: another token holds the key; someone else is crediting right now.
	InFlight
)

// String returns "claimed", "done" or "in_flight".
func (s State) String() string {
	switch s {
	case Claimed:
		return "claimed"
	case Done:
		return "done"
	case InFlight:
		return "in_flight"
	}
	return "State(" + strconv.Itoa(int(s)) + ")"
}

// Store is the dedup store. Implementations are safe for concurrent use.
type Store interface {
	// Claim atomically takes key for lease if it is absent, storing "processing:<token>",
	// and reports Claimed; a key already held by the same token is Claimed again with a
	// fresh lease (so a retried call is harmless). Otherwise it reports Done or InFlight
	// and changes nothing. Never check-then-set.
	Claim(ctx context.Context, key, token string, lease time.Duration) (State, error)
	// ClaimEach claims several keys at once (Redis: one round trip), filling in each
	// Claim's State or Err. Each is exactly what Claim would do for its key; they are
	// independent, not one atomic step: some may be Claimed while others are Done,
	// InFlight or failed. A claim whose Err is set may still have landed (the answer
	// was lost), as with Claim.
	ClaimEach(ctx context.Context, lease time.Duration, claims []Claim)
	// Complete marks key done for ttl, unconditionally: the backend already accepted the
	// credit, so the mark must land even if the lease ran out meanwhile.
	Complete(ctx context.Context, key string, ttl time.Duration) error
	// Release deletes key only if token still holds it. Releasing a key that is absent,
	// done or held by another token is a no-op, not an error.
	Release(ctx context.Context, key, token string) error
	// Settle marks every key of s done for s.TTL at once (Redis: one round trip). The
	// result is the same as Complete for every key, including when some writes fail:
	// each write is attempted. The error joins one ErrUnavailable-wrapped error per
	// failed write.
	Settle(ctx context.Context, s Settlement) error
	// VerifyConnection reports whether the store answers; /readyz calls it.
	VerifyConnection(ctx context.Context) error
	// Close releases what the store itself owns (see each implementation).
	Close() error
}

// NewToken returns a random 128-bit token in hex, to identify one claim holder.
func NewToken() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand panics instead)
	return hex.EncodeToString(b[:])
}

// Stored values, shared by both implementations (key shapes: package storekey).
const (
	processingPrefix = "processing:"
	doneValue        = "done"
)

func checkKeyToken(key, token string) error {
	switch {
	case key == "":
		return fmt.Errorf("%w: empty key", ErrInvalid)
	case token == "":
		return fmt.Errorf("%w: empty token", ErrInvalid)
	}
	return nil
}

func checkClaim(key, token string, lease time.Duration) error {
	if lease <= 0 {
		return fmt.Errorf("%w: lease %v is not positive", ErrInvalid, lease)
	}
	return checkKeyToken(key, token)
}

func checkComplete(key string, ttl time.Duration) error {
	switch {
	case key == "":
		return fmt.Errorf("%w: empty key", ErrInvalid)
	case ttl <= 0:
		return fmt.Errorf("%w: ttl %v is not positive", ErrInvalid, ttl)
	}
	return nil
}
