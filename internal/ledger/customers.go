package ledger

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
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
	// Learn maps customerID to userID on route for ttl and returns userID; when a user
	// holds the customer already, it leaves the customer to that user, refreshes the
	// ttl and returns that user (another user is a conflict for the caller to park).
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
// Redis Cluster works. Learn is two plain commands in one round trip, PEXPIRE and then
// SET NX GET (Redis 7.0 and later take NX together with GET): the first refreshes a
// mapping that exists, the second maps the customer when nobody holds it and answers
// who held it otherwise. A server that refuses NX with GET (Redis 6.x) gets the learn
// script from its first refusal on (an ACL user needs +@scripting there, as for the
// dedup claims).
//
// A mapping that another user holds is refreshed by the conflicting learn too, on
// either path: its customer was seen again, and the conflict stays visible for as
// long as it is, rather than the customer passing silently to the conflicting user
// once the holder's last purchase is dedup.customer_ttl old. The plain commands cost
// Redis about half of the script (docs/benchmarks.md).
type RedisCustomers struct {
	c      redis.UniversalClient
	prefix string
	// Pipes carries Learn: c itself, as NewRedisCustomers sets it, or a
	// redisclient.Batch (round trips shared with other requests). Set it before first
	// use.
	Pipes    redisclient.Pipes
	noSetGet atomic.Bool // the server refused SET NX GET: the script from now on
}

var _ Customers = (*RedisCustomers)(nil)

// NewRedisCustomers returns the map on c; prefix is redis.key_prefix.
func NewRedisCustomers(c redis.UniversalClient, prefix string) *RedisCustomers {
	return &RedisCustomers{c: c, prefix: prefix, Pipes: c}
}

// learnScript: KEYS[1] the mapping, ARGV[1] the user, ARGV[2] the ttl in ms.
var learnScript = redis.NewScript(`
local cur = redis.call('GET', KEYS[1])
if cur then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return cur
end
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

// learn queues the learn on b (nil: sends it through Pipes when wait is called).
func (s *RedisCustomers) learn(ctx context.Context, route, customerID, userID string, ttl time.Duration, b *redisclient.Batch) (wait func() (string, error)) {
	key := storekey.CustomerMap(route, customerID)
	l := learning{key: s.prefix + key, user: userID, ttl: ttl}
	script := s.noSetGet.Load()
	queue := func(p redis.Pipeliner) error {
		if script {
			l.script = learnScript.EvalSha(ctx, p, []string{l.key}, l.user, l.ttl.Milliseconds())
			return nil
		}
		p.PExpire(ctx, l.key, l.ttl)
		l.set = p.SetArgs(ctx, l.key, l.user, redis.SetArgs{Mode: "NX", TTL: l.ttl, Get: true})
		return nil
	}
	sent := func() ([]redis.Cmder, error) { return s.Pipes.Pipelined(ctx, queue) }
	if b != nil {
		sent = b.Later(ctx, queue)
	}
	return func() (string, error) {
		_, _ = sent()
		held, err := s.held(ctx, l)
		if err != nil {
			return "", unavailable("learn customer", key, err)
		}
		return held, nil
	}
}

// learning is one learn on its way: by SET NX GET (set) or by the script.
type learning struct {
	key, user string
	ttl       time.Duration
	set       *redis.StatusCmd
	script    *redis.Cmd
}

// held reads l's answer: the user who holds the customer now. An "ERR ..." answer to
// SET NX GET (Redis 6.x: "ERR syntax error") turns s to the script for good and runs
// it now; a script unknown to the server (NOSCRIPT: restarted or flushed) is sent whole.
func (s *RedisCustomers) held(ctx context.Context, l learning) (string, error) {
	if l.set != nil {
		old, err := l.set.Result()
		switch {
		case errors.Is(err, redis.Nil): // nobody held it: l.user does now
			return l.user, nil
		case err == nil:
			return old, nil
		case !redisclient.RefusesSetGet(err):
			return "", err
		}
		s.noSetGet.Store(true)
	}
	if l.script == nil || redis.HasErrorPrefix(l.script.Err(), "NOSCRIPT") {
		l.script = learnScript.Eval(ctx, s.c, []string{l.key}, l.user, l.ttl.Milliseconds())
	}
	return l.script.Text()
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
