package ledger

import (
	"context"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/creditgate/creditgate/internal/redisclient"
	"github.com/creditgate/creditgate/internal/storekey"
)

// Customers is the customer map: per route, which user a Stripe customer (cus_...)
// belongs to, learned from Checkout Sessions and grants. The first user a route
// learns for a customer holds it; a second one is a conflict for the caller to park
// (package billing), never a silent redirect. Every failure to reach the store wraps
// dedup.ErrUnavailable.
type Customers interface {
	// Customer returns the user mapped to customerID on route; ok is false when none.
	Customer(ctx context.Context, route, customerID string) (userID string, ok bool, err error)
	// Learn maps customerID to userID on route for ttl and returns userID; when a user
	// holds the customer already, it leaves the customer to that user, refreshes the
	// ttl and returns that user (another user is a conflict for the caller to park).
	Learn(ctx context.Context, route, customerID, userID string, ttl time.Duration) (held string, err error)
}

func checkLearn(route, customerID, userID string, ttl time.Duration) error {
	return checkHold(route, customerID, userID, ttl, "customer or user id")
}

// RedisCustomers is Customers in Redis: one string key per customer and route, so
// Redis Cluster works, each learned as a first-holder key (holds: PEXPIRE, then SET NX
// GET, in one round trip).
//
// A mapping that another user holds is refreshed by the conflicting learn too, on
// either path: its customer was seen again, and the conflict stays visible for as
// long as it is, rather than the customer passing silently to the conflicting user
// once the holder's last purchase is dedup.customer_ttl old. The plain commands cost
// Redis about half of the script (docs/benchmarks.md).
type RedisCustomers struct{ holds }

var _ Customers = (*RedisCustomers)(nil)

// NewRedisCustomers returns the map on c; prefix is redis.key_prefix.
func NewRedisCustomers(c redis.UniversalClient, prefix string) *RedisCustomers {
	return &RedisCustomers{holds{c: c, prefix: prefix, Pipes: c, op: "learn customer"}}
}

// Customer implements Customers.
func (s *RedisCustomers) Customer(ctx context.Context, route, customerID string) (string, bool, error) {
	return s.get(ctx, storekey.CustomerMap(route, customerID), "get customer")
}

// Learn implements Customers.
func (s *RedisCustomers) Learn(ctx context.Context, route, customerID, userID string, ttl time.Duration) (string, error) {
	if err := checkLearn(route, customerID, userID, ttl); err != nil {
		return "", err
	}
	return s.hold(ctx, storekey.CustomerMap(route, customerID), userID, ttl, nil)()
}

// LearnLater is Learn in two halves when Pipes is a redisclient.Batch: the learn is
// queued at once and goes out with the caller's next round trip (the pipeline's
// claims), and wait returns Learn's answer; call it exactly once. ok is false, and
// nothing is queued, without a Batch or with invalid arguments: call Learn then.
func (s *RedisCustomers) LearnLater(ctx context.Context, route, customerID, userID string, ttl time.Duration) (wait func() (string, error), ok bool) {
	b, batched := s.Pipes.(*redisclient.Batch)
	if !batched || checkLearn(route, customerID, userID, ttl) != nil {
		return nil, false
	}
	return s.hold(ctx, storekey.CustomerMap(route, customerID), userID, ttl, b), true
}

// MemoryCustomers is Customers in memory, for the in-memory store (one replica).
type MemoryCustomers struct{ m *expiring[string] }

var _ Customers = (*MemoryCustomers)(nil)

// NewMemoryCustomers returns an empty map; now is the clock (nil: time.Now).
func NewMemoryCustomers(now func() time.Time) *MemoryCustomers {
	return &MemoryCustomers{m: newExpiring[string](now)}
}

// Customer implements Customers.
func (s *MemoryCustomers) Customer(_ context.Context, route, customerID string) (string, bool, error) {
	u, ok := s.m.get(storekey.CustomerMap(route, customerID))
	return u, ok, nil
}

// Learn implements Customers.
func (s *MemoryCustomers) Learn(_ context.Context, route, customerID, userID string, ttl time.Duration) (string, error) {
	if err := checkLearn(route, customerID, userID, ttl); err != nil {
		return "", err
	}
	return s.m.refreshOrSet(storekey.CustomerMap(route, customerID), userID, ttl), nil
}
