package dedup

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/creditgate/creditgate/internal/redisclient"
	"github.com/creditgate/creditgate/internal/storekey"
)

// claimScript is Claim in one round trip: SET NX PX, else look at who holds the key.
// KEYS[1] key; ARGV[1] "processing:<token>", ARGV[2] lease in ms, ARGV[3] "done".
// Returns 1 Claimed, 2 Done, 3 InFlight.
var claimScript = redis.NewScript(`
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return 1
end
local v = redis.call('GET', KEYS[1])
if v == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
if v == ARGV[3] then
  return 2
end
return 3
`)

// releaseScript deletes KEYS[1] only if it still holds ARGV[1] ("processing:<token>").
var releaseScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
`)

// Redis is a Store in Redis, shared by every replica. Every key is prefix+key, as the
// caller shapes it ("event:<route>:<evt_id>", "purchase:<route>:<cs_id>"). Each command
// and script touches one key, so it works on Redis Cluster unchanged. Values:
// "processing:<token>" with the lease as expiry, "done" with the ttl as expiry.
//
// Use NewRedis; the zero value is not usable.
type Redis struct {
	c      redis.UniversalClient
	prefix string
	// Replication, when it asks for replicas, makes Settle wait (Redis WAIT) until
	// they acknowledged the settlement, so a failover cannot lose it. Set it before
	// first use.
	Replication redisclient.Replication
	// Pipes carries the claims and the settlement (without replicas to wait for): c
	// itself, as NewRedis sets it (each call a round trip of its own), or a
	// redisclient.Batch (round trips shared with other requests). Set it before first
	// use.
	Pipes  redisclient.Pipes
	probed atomic.Bool  // VerifyConnection's command probe has passed once
	mode   atomic.Int32 // how claims are made: modeUnknown until claimMode has found out
}

// How Claim talks to Redis.
const (
	modeUnknown int32 = iota
	// modeSetGet: SET key processing:<token> NX PX lease GET, one plain command that
	// claims or reports the holder (Redis 7.0 and later take NX together with GET). It
	// costs Redis about a third of the script.
	modeSetGet
	// modeScript: the claim script, for servers that refuse NX with GET (Redis 6.x).
	modeScript
)

var _ Store = (*Redis)(nil)

// NewRedis returns a store on c that puts prefix in front of every key (creditgate
// passes redis.key_prefix, "creditgate:" by default; an empty prefix is allowed).
func NewRedis(c redis.UniversalClient, prefix string) *Redis {
	return &Redis{c: c, prefix: prefix, Pipes: c}
}

// Claim implements Store with one command: SET NX GET where the server takes it (see
// claimMode), else the claim script.
func (r *Redis) Claim(ctx context.Context, key, token string, lease time.Duration) (State, error) {
	if err := checkClaim(key, token, lease); err != nil {
		return 0, err
	}
	if r.claimMode(ctx) == modeSetGet {
		var cmd *redis.StatusCmd
		_, _ = r.Pipes.Pipelined(ctx, func(p redis.Pipeliner) error {
			cmd = p.SetArgs(ctx, r.prefix+key, processingPrefix+token, setGetArgs(lease))
			return nil
		})
		old, err := cmd.Result()
		return r.setGetState(ctx, key, token, lease, old, err)
	}
	return r.claimByScript(ctx, key, token, lease)
}

func (r *Redis) claimByScript(ctx context.Context, key, token string, lease time.Duration) (State, error) {
	n, err := claimScript.Run(ctx, r.c, []string{r.prefix + key}, processingPrefix+token, millis(lease), doneValue).Int()
	if err != nil {
		return 0, unavailable("claim", key, err)
	}
	return stateOf(n, key)
}

func setGetArgs(lease time.Duration) redis.SetArgs {
	return redis.SetArgs{Mode: "NX", TTL: time.Duration(millis(lease)) * time.Millisecond, Get: true}
}

// setGetState maps the answer of SET NX GET: no old value means the key is ours now.
// A key our own token already holds (a retried claim) goes through the script, which
// renews the lease only if the key is still ours, in one step.
func (r *Redis) setGetState(ctx context.Context, key, token string, lease time.Duration, old string, err error) (State, error) {
	switch {
	case errors.Is(err, redis.Nil):
		return Claimed, nil
	case err != nil:
		return 0, unavailable("claim", key, err)
	case old == doneValue:
		return Done, nil
	case old == processingPrefix+token:
		return r.claimByScript(ctx, key, token, lease)
	}
	return InFlight, nil
}

// claimMode finds out once whether the server takes SET with both NX and GET, by
// trying it on a probe key that expires after a second. An "ERR ..." answer (Redis
// 6.x: "ERR syntax error") means the script for good; anything else that fails (no
// connection, LOADING, OOM, READONLY during a failover) decides nothing: the script
// this time, another try next time.
func (r *Redis) claimMode(ctx context.Context) int32 {
	if m := r.mode.Load(); m != modeUnknown {
		return m
	}
	key := r.prefix + storekey.Probe(NewToken())
	err := r.c.SetArgs(ctx, key, "probe", redis.SetArgs{Mode: "NX", TTL: time.Second, Get: true}).Err()
	switch {
	case err == nil || errors.Is(err, redis.Nil):
		r.mode.CompareAndSwap(modeUnknown, modeSetGet)
	case redisclient.RefusesSetGet(err):
		r.mode.CompareAndSwap(modeUnknown, modeScript)
	default:
		return modeScript
	}
	return r.mode.Load()
}

// stateOf maps the claim script's answer.
func stateOf(n int, key string) (State, error) {
	switch n {
	case 1:
		return Claimed, nil
	case 2:
		return Done, nil
	case 3:
		return InFlight, nil
	}
	return 0, unavailable("claim", key, fmt.Errorf("unexpected script result %d", n))
}

// Complete implements Store with SET key done PX ttl.
func (r *Redis) Complete(ctx context.Context, key string, ttl time.Duration) error {
	if err := checkComplete(key, ttl); err != nil {
		return err
	}
	if _, err := r.Pipes.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.Set(ctx, r.prefix+key, doneValue, ttl)
		return nil
	}); err != nil {
		return unavailable("complete", key, err)
	}
	return nil
}

// Release implements Store with a compare-and-delete Lua script.
func (r *Redis) Release(ctx context.Context, key, token string) error {
	if err := checkKeyToken(key, token); err != nil {
		return err
	}
	if err := releaseScript.Run(ctx, r.c, []string{r.prefix + key}, processingPrefix+token).Err(); err != nil {
		return unavailable("release", key, err)
	}
	return nil
}

// VerifyConnection implements Store with PING and, until it has passed once, a probe
// of the commands the store needs beyond plain reads and writes: the claim script
// (EVALSHA/EVAL) and a MULTI/EXEC, on a probe key that expires after a second. A Redis
// ACL that forbids them then keeps creditgate unready with a message that names the
// missing permission, instead of failing every credit after the backend took it.
func (r *Redis) VerifyConnection(ctx context.Context) error {
	if err := r.c.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("%w: ping: %w", ErrUnavailable, err)
	}
	if r.probed.Load() {
		return nil
	}
	key := r.prefix + storekey.Probe(NewToken())
	if err := claimScript.Run(ctx, r.c, []string{key}, processingPrefix+"probe", 1000, doneValue).Err(); err != nil {
		return fmt.Errorf("%w: the claim script (EVALSHA/EVAL) failed: %w; a Redis ACL user needs +@scripting", ErrUnavailable, err)
	}
	if _, err := r.c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Set(ctx, key, doneValue, time.Second)
		return nil
	}); err != nil {
		return fmt.Errorf("%w: MULTI/EXEC failed: %w; a Redis ACL user needs +@transaction", ErrUnavailable, err)
	}
	r.probed.Store(true)
	return nil
}

// Close does nothing: the client belongs to the caller, who may share it between
// stores and closes it once.
func (r *Redis) Close() error { return nil }

func unavailable(op, key string, err error) error {
	return fmt.Errorf("%w: %s %s: %w", ErrUnavailable, op, key, err)
}

// millis rounds d up to whole milliseconds, at least 1, for PX.
func millis(d time.Duration) int64 {
	return max(1, int64((d+time.Millisecond-1)/time.Millisecond))
}
