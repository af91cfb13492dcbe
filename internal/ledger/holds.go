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
)

// holds are first-holder keys in Redis, the mechanism of the customer map and the
// payments: the first value stored under a key holds it for its ttl, and every later
// hold refreshes the ttl and answers the value that holds the key. A hold is two plain
// commands in one round trip, PEXPIRE and then SET NX GET (Redis 7.0 and later take
// NX together with GET): the first refreshes a key that exists, the second stores the
// value when nobody holds the key and answers who held it otherwise. A server that
// refuses NX with GET (Redis 6.x) gets the hold script from its first refusal on (an
// ACL user needs +@scripting there, as for the dedup claims).
type holds struct {
	c      redis.UniversalClient
	prefix string
	// Pipes carries the holds: c itself, as the constructors set it, or a
	// redisclient.Batch (round trips shared with other requests). Set it before first
	// use.
	Pipes redisclient.Pipes
	// Replication, when it asks for replicas, has every hold acknowledged by them
	// (Redis WAIT) before it counts: the payments' holds, whose loss in a failover
	// would let a redelivery choose another purchase id. The zero value waits for none.
	Replication redisclient.Replication
	op          string      // what a hold is, for errors: "learn customer"
	noSetGet    atomic.Bool // the server refused SET NX GET: the script from now on
}

// checkHold refuses a hold that can never succeed: an empty route, key or value (what
// names the two), or a ttl that is not positive. Its errors wrap dedup.ErrInvalid.
func checkHold(route, key, value string, ttl time.Duration, what string) error {
	switch {
	case route == "" || key == "" || value == "":
		return fmt.Errorf("%w: empty route, %s", dedup.ErrInvalid, what)
	case ttl <= 0:
		return fmt.Errorf("%w: ttl %v is not positive", dedup.ErrInvalid, ttl)
	}
	return nil
}

// get returns the value that holds key (without the prefix); ok is false when none
// does. op names the read in errors.
func (s *holds) get(ctx context.Context, key, op string) (string, bool, error) {
	v, err := s.c.Get(ctx, s.prefix+key).Result()
	switch {
	case errors.Is(err, redis.Nil):
		return "", false, nil
	case err != nil:
		return "", false, unavailable(op, key, err)
	}
	return v, true, nil
}

// holdScript: KEYS[1] the key, ARGV[1] the value, ARGV[2] the ttl in ms.
var holdScript = redis.NewScript(`
local cur = redis.call('GET', KEYS[1])
if cur then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return cur
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return ARGV[1]`)

// hold queues the hold of key (without the prefix) for value on b (nil: sends it
// through Pipes when wait is called); wait answers the value that holds key now.
func (s *holds) hold(ctx context.Context, key, value string, ttl time.Duration, b *redisclient.Batch) (wait func() (string, error)) {
	h := holding{key: s.prefix + key, value: value, ttl: ttl}
	script := s.noSetGet.Load()
	queue := func(p redis.Pipeliner) error {
		if script {
			h.script = holdScript.EvalSha(ctx, p, []string{h.key}, h.value, h.ttl.Milliseconds())
			return nil
		}
		p.PExpire(ctx, h.key, h.ttl)
		h.set = p.SetArgs(ctx, h.key, h.value, redis.SetArgs{Mode: "NX", TTL: h.ttl, Get: true})
		return nil
	}
	sent := func() ([]redis.Cmder, error) { return s.Pipes.Pipelined(ctx, queue) }
	if b != nil {
		sent = b.Later(ctx, queue)
	}
	return func() (string, error) {
		_, _ = sent()
		held, err := s.held(ctx, h)
		if err == nil {
			err = s.replicated(ctx, h)
		}
		if err != nil {
			return "", unavailable(s.op, key, err)
		}
		return held, nil
	}
}

// replicated waits, when Replication asks for replicas, until they have h. WAIT counts
// the writes of its own connection, and h went through Pipes (or the script's), so a
// refresh of h's key goes first on the WAIT's connection: it comes after the hold in the
// replication stream, and its acknowledgement covers the hold. A shortfall wraps
// redisclient.ErrNotReplicated: the hold stays, but does not count.
func (s *holds) replicated(ctx context.Context, h holding) error {
	if s.Replication.Replicas <= 0 {
		return nil
	}
	_, err := s.Replication.Write(ctx, s.c, nil, h.key, false, func(p redis.Pipeliner) error {
		p.PExpire(ctx, h.key, h.ttl)
		return nil
	})
	return err
}

// holding is one hold on its way: by SET NX GET (set) or by the script.
type holding struct {
	key, value string
	ttl        time.Duration
	set        *redis.StatusCmd
	script     *redis.Cmd
}

// held reads h's answer: the value that holds the key now. An "ERR ..." answer to
// SET NX GET (Redis 6.x: "ERR syntax error") turns s to the script for good and runs
// it now; a script unknown to the server (NOSCRIPT: restarted or flushed) is sent whole.
func (s *holds) held(ctx context.Context, h holding) (string, error) {
	if h.set != nil {
		old, err := h.set.Result()
		switch {
		case errors.Is(err, redis.Nil): // nobody held it: h.value does now
			return h.value, nil
		case err == nil:
			return old, nil
		case !redisclient.RefusesSetGet(err):
			return "", err
		}
		s.noSetGet.Store(true)
	}
	if h.script == nil || redis.HasErrorPrefix(h.script.Err(), "NOSCRIPT") {
		h.script = holdScript.Eval(ctx, s.c, []string{h.key}, h.value, h.ttl.Milliseconds())
	}
	return h.script.Text()
}
