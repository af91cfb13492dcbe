package ledger

import (
	"context"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/creditgate/creditgate/internal/storekey"
)

// Payments is, per route, the purchase id each payment (a PaymentIntent, or an
// invoice paid without one) was first forwarded under. Some payments can be credited
// under two ids: a subscription's first invoice is the session's purchase once the
// Stripe API lists the session and the invoice's own before, and Checkout's
// post-payment invoice is granted by its session's event or its own. The first id
// forwarded holds the payment, so that every later delivery forwards it under that id
// and the backend's Idempotency-Key catches a repeat even when creditgate's own done
// markers were lost. Every failure to reach the store wraps dedup.ErrUnavailable.
type Payments interface {
	// Hold gives payment to purchaseID on route for ttl unless a purchase holds it
	// already, and returns the purchase id that holds it now (its ttl refreshed).
	Hold(ctx context.Context, route, payment, purchaseID string, ttl time.Duration) (held string, err error)
}

func checkPayment(route, payment, purchaseID string, ttl time.Duration) error {
	return checkHold(route, payment, purchaseID, ttl, "payment or purchase id")
}

// RedisPayments is Payments in Redis: one first-holder key per payment and route
// (holds). With redis.wait_replicas, set Replication: a hold counts only once the
// replicas acknowledged it, so a failover cannot lose the id of a credit the backend has.
type RedisPayments struct{ holds }

var _ Payments = (*RedisPayments)(nil)

// NewRedisPayments returns the payments on c; prefix is redis.key_prefix.
func NewRedisPayments(c redis.UniversalClient, prefix string) *RedisPayments {
	return &RedisPayments{holds{c: c, prefix: prefix, Pipes: c, op: "hold payment"}}
}

// Hold implements Payments.
func (s *RedisPayments) Hold(ctx context.Context, route, payment, purchaseID string, ttl time.Duration) (string, error) {
	if err := checkPayment(route, payment, purchaseID, ttl); err != nil {
		return "", err
	}
	return s.hold(ctx, storekey.Payment(route, payment), purchaseID, ttl, nil)()
}

// Held returns the purchase id that holds payment on route; ok is false when none
// does (for read-only reports: `creditgate audit`).
func (s *RedisPayments) Held(ctx context.Context, route, payment string) (string, bool, error) {
	return s.get(ctx, storekey.Payment(route, payment), "get payment")
}

// MemoryPayments is Payments in memory, for the in-memory store (one replica).
type MemoryPayments struct{ m *expiring[string] }

var _ Payments = (*MemoryPayments)(nil)

// NewMemoryPayments returns empty payments; now is the clock (nil: time.Now).
func NewMemoryPayments(now func() time.Time) *MemoryPayments {
	return &MemoryPayments{m: newExpiring[string](now)}
}

// Held returns the purchase id that holds payment on route; ok is false when none does.
func (s *MemoryPayments) Held(_ context.Context, route, payment string) (string, bool, error) {
	id, ok := s.m.get(storekey.Payment(route, payment))
	return id, ok, nil
}

// Hold implements Payments.
func (s *MemoryPayments) Hold(_ context.Context, route, payment, purchaseID string, ttl time.Duration) (string, error) {
	if err := checkPayment(route, payment, purchaseID, ttl); err != nil {
		return "", err
	}
	return s.m.refreshOrSet(storekey.Payment(route, payment), purchaseID, ttl), nil
}
