package ledger

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/creditgate/creditgate/internal/dedup"
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
	// Learn maps customerID to userID on route for ttl, or refreshes the ttl when it
	// is mapped to userID already, and returns userID; when another user holds the
	// customer it changes nothing and returns that user.
	Learn(ctx context.Context, route, customerID, userID string, ttl time.Duration) (held string, err error)
}

func checkLearn(route, customerID, userID string, ttl time.Duration) error {
	switch {
	case route == "" || customerID == "" || userID == "":
		return fmt.Errorf("%w: empty route, customer or user id", dedup.ErrInvalid)
	case ttl <= 0:
		return fmt.Errorf("%w: ttl %v is not positive", dedup.ErrInvalid, ttl)
	}
	return nil
}

// RedisCustomers is Customers in Redis: one string key per customer and route, so
// Redis Cluster works; Learn is one script (an ACL user needs +@scripting, as for
// the dedup claims on Redis 6).
type RedisCustomers struct {
	c      redis.UniversalClient
	prefix string
	// Pipes carries Learn: c itself, as NewRedisCustomers sets it, or a
	// redisclient.Batch (round trips shared with other requests). Set it before first
	// use.
	Pipes redisclient.Pipes
}

var _ Customers = (*RedisCustomers)(nil)

// NewRedisCustomers returns the map on c; prefix is redis.key_prefix.
func NewRedisCustomers(c redis.UniversalClient, prefix string) *RedisCustomers {
	return &RedisCustomers{c: c, prefix: prefix, Pipes: c}
}

// learnScript: KEYS[1] the mapping, ARGV[1] the user, ARGV[2] the ttl in ms.
var learnScript = redis.NewScript(`
local cur = redis.call('GET', KEYS[1])
if cur and cur ~= ARGV[1] then return cur end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return ARGV[1]`)

// Customer implements Customers.
func (s *RedisCustomers) Customer(ctx context.Context, route, customerID string) (string, bool, error) {
	key := storekey.CustomerMap(route, customerID)
	v, err := s.c.Get(ctx, s.prefix+key).Result()
	switch {
	case errors.Is(err, redis.Nil):
		return "", false, nil
	case err != nil:
		return "", false, unavailable("get customer", key, err)
	}
	return v, true, nil
}

// Learn implements Customers.
func (s *RedisCustomers) Learn(ctx context.Context, route, customerID, userID string, ttl time.Duration) (string, error) {
	if err := checkLearn(route, customerID, userID, ttl); err != nil {
		return "", err
	}
	return s.learn(ctx, route, customerID, userID, ttl, nil)()
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
	return s.learn(ctx, route, customerID, userID, ttl, b), true
}

// learn queues the learn script on b (nil: sends it through Pipes when wait is called).
func (s *RedisCustomers) learn(ctx context.Context, route, customerID, userID string, ttl time.Duration, b *redisclient.Batch) (wait func() (string, error)) {
	key := storekey.CustomerMap(route, customerID)
	keys, args := []string{s.prefix + key}, []any{userID, ttl.Milliseconds()}
	var cmd *redis.Cmd
	queue := func(p redis.Pipeliner) error {
		cmd = learnScript.EvalSha(ctx, p, keys, args...)
		return nil
	}
	sent := func() ([]redis.Cmder, error) { return s.Pipes.Pipelined(ctx, queue) }
	if b != nil {
		sent = b.Later(ctx, queue)
	}
	return func() (string, error) {
		_, _ = sent()
		if redis.HasErrorPrefix(cmd.Err(), "NOSCRIPT") { // a restarted or flushed Redis
			cmd = learnScript.Eval(ctx, s.c, keys, args...)
		}
		held, err := cmd.Text()
		if err != nil {
			return "", unavailable("learn customer", key, err)
		}
		return held, nil
	}
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
	held, _ := s.m.setUnless(storekey.CustomerMap(route, customerID), userID, ttl, func(cur string) bool { return cur != userID })
	return held, nil
}
