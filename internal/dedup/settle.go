package dedup

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Settlement is what one credited delivery writes once the backend has its credit:
// every key it claimed becomes done.
type Settlement struct {
	// Keys are marked done for TTL, unconditionally, as Complete does.
	Keys []string
	TTL  time.Duration
}

// Put is a value SettleFirst writes under Key (prefixed like every key of the store)
// if Key is absent: a grant's purchase record (package ledger's RedisBook).
type Put struct {
	Key   string
	Value []byte
	// TTL is how long the value lives; zero: the settlement's TTL.
	TTL time.Duration
}

// ttl is how long p lives in settlement s.
func (p *Put) ttl(s Settlement) time.Duration {
	if p.TTL > 0 {
		return p.TTL
	}
	return s.TTL
}

// Check returns the ErrInvalid-wrapped problems of s (an empty key, a ttl that is not
// positive), or nil: what Settle refuses before writing anything.
func (s Settlement) Check() error { return s.check(nil) }

func (s Settlement) check(first *Put) error {
	var errs []error
	add := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	if first != nil {
		add(checkComplete(first.Key, first.ttl(s)))
	}
	for _, k := range s.Keys {
		add(checkComplete(k, s.TTL))
	}
	return errors.Join(errs...)
}

// Settle implements Store with one pipelined round trip of SET commands.
func (r *Redis) Settle(ctx context.Context, s Settlement) error { return r.settle(ctx, s, nil) }

// SettleFirst writes first with SET NX, then settles s, as one step where Redis
// allows: on one Redis (or Sentinel) one MULTI/EXEC transaction, all or nothing; on
// Redis Cluster, whose keys live on different nodes, first gets a round trip of its
// own before the rest, and the rest is not written when it fails (first may land
// without the rest; settling again completes it). Errors are Settle's.
func (r *Redis) SettleFirst(ctx context.Context, s Settlement, first Put) error {
	return r.settle(ctx, s, &first)
}

func (r *Redis) settle(ctx context.Context, s Settlement, first *Put) error {
	if err := s.check(first); err != nil {
		return err
	}
	setFirst := func(p redis.Pipeliner) { p.SetNX(ctx, r.prefix+first.Key, first.Value, first.ttl(s)) }
	setKey := func(k string) func(redis.Pipeliner) {
		return func(p redis.Pipeliner) { p.Set(ctx, r.prefix+k, doneValue, s.TTL) }
	}
	var rest []func(redis.Pipeliner)
	for _, k := range s.Keys {
		rest = append(rest, setKey(k))
	}
	var cmds []redis.Cmder
	var perr error
	switch {
	case !isCluster(r.c):
		// One transaction when first is set, on one connection, then WAIT on it.
		var all []func(redis.Pipeliner)
		if first != nil {
			all = append(all, setFirst)
		}
		cmds, perr = r.Replication.Write(ctx, r.c, r.Pipes, "", first != nil, queue(append(all, rest...)))
	case first != nil:
		// Cluster: first gets a round trip of its own before the rest.
		if _, err := r.Replication.Write(ctx, r.c, nil, r.prefix+first.Key, false, queue([]func(redis.Pipeliner){setFirst})); err != nil {
			return unavailable("settle", first.Key, err)
		}
		fallthrough
	default:
		cmds, perr = r.settleRest(ctx, s, rest)
	}
	var errs []error
	for _, c := range cmds {
		if c.Err() == nil {
			continue
		}
		var key string
		if args := c.Args(); len(args) > 1 { // SET or SETNX <key> ...
			key = strings.TrimPrefix(fmt.Sprint(args[1]), r.prefix)
		}
		errs = append(errs, unavailable("settle", key, c.Err()))
	}
	if len(errs) == 0 && perr != nil { // not pinned on a command: WAIT fell short
		errs = append(errs, unavailable("settle", "", perr))
	}
	return errors.Join(errs...)
}

// settleRest writes the done markers on Redis Cluster: one pipeline split by node, or,
// when replicas must acknowledge, one write and WAIT per key (WAIT counts one
// connection's writes, on one node).
func (r *Redis) settleRest(ctx context.Context, s Settlement, rest []func(redis.Pipeliner)) ([]redis.Cmder, error) {
	if r.Replication.Replicas <= 0 {
		return r.c.Pipelined(ctx, queue(rest))
	}
	keys := make([]string, 0, len(rest))
	for _, k := range s.Keys {
		keys = append(keys, r.prefix+k)
	}
	var all []redis.Cmder
	var errs []error
	for i, f := range rest {
		cmds, err := r.Replication.Write(ctx, r.c, nil, keys[i], false, queue([]func(redis.Pipeliner){f}))
		all = append(all, cmds...)
		errs = append(errs, err)
	}
	return all, errors.Join(errs...)
}

// queue is a pipeline body that queues each command in turn.
func queue(fs []func(redis.Pipeliner)) func(redis.Pipeliner) error {
	return func(p redis.Pipeliner) error {
		for _, f := range fs {
			f(p)
		}
		return nil
	}
}

func isCluster(c redis.UniversalClient) bool {
	_, ok := c.(*redis.ClusterClient)
	return ok
}

// Settle implements Store by calling its own methods.
func (m *Memory) Settle(ctx context.Context, s Settlement) error {
	if err := s.check(nil); err != nil {
		return err
	}
	var errs []error
	for _, k := range s.Keys {
		errs = append(errs, m.Complete(ctx, k, s.TTL))
	}
	return errors.Join(errs...)
}
