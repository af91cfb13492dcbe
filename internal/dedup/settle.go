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
// every key it claimed becomes done, and the customer map learns CustomerID → UserID
// (when CustomerID is set and UserID did not come from that map).
type Settlement struct {
	// Keys are marked done for TTL, unconditionally, as Complete does.
	Keys []string
	TTL  time.Duration
	// CustomerID and UserID, when CustomerID is not empty, are remembered for TTL, as
	// RememberCustomer does.
	CustomerID string
	UserID     string
	// First, when set, is written with SET NX for TTL, before the rest: on one Redis
	// (or Sentinel) the whole settlement is then one MULTI/EXEC transaction, all or
	// nothing; on Redis Cluster, whose keys live on different nodes, First gets a
	// round trip of its own before the rest, and the rest is not written when it
	// fails (First may land without the rest; settling again completes it). A grant's
	// purchase record (package ledger) goes here.
	First *Put
}

// Put is a value a Settlement writes under Key (prefixed like every key of the
// store) if Key is absent.
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

func (s Settlement) check() error {
	var errs []error
	add := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	if s.First != nil {
		add(checkComplete(s.First.Key, s.First.ttl(s)))
	}
	for _, k := range s.Keys {
		add(checkComplete(k, s.TTL))
	}
	if s.CustomerID != "" {
		add(checkRemember(s.CustomerID, s.UserID))
	}
	return errors.Join(errs...)
}

// Settle implements Store with one pipelined round trip of SET commands: a
// MULTI/EXEC transaction when First is set (two round trips on Redis Cluster).
func (r *Redis) Settle(ctx context.Context, s Settlement) error {
	if err := s.check(); err != nil {
		return err
	}
	setFirst := func(p redis.Pipeliner) { p.SetNX(ctx, r.prefix+s.First.Key, s.First.Value, s.First.ttl(s)) }
	setKey := func(k string) func(redis.Pipeliner) {
		return func(p redis.Pipeliner) { p.Set(ctx, r.prefix+k, doneValue, s.TTL) }
	}
	setCustomer := func(p redis.Pipeliner) { p.Set(ctx, r.prefix+customerKey(s.CustomerID), s.UserID, max(s.TTL, 0)) }
	var rest []func(redis.Pipeliner)
	for _, k := range s.Keys {
		rest = append(rest, setKey(k))
	}
	if s.CustomerID != "" {
		rest = append(rest, setCustomer)
	}
	var cmds []redis.Cmder
	var perr error
	switch {
	case !isCluster(r.c):
		// One transaction when First is set, on one connection, then WAIT on it.
		var all []func(redis.Pipeliner)
		if s.First != nil {
			all = append(all, setFirst)
		}
		cmds, perr = r.Replication.Write(ctx, r.c, "", s.First != nil, queue(append(all, rest...)))
	case s.First != nil:
		// Cluster: First gets a round trip of its own before the rest.
		if _, err := r.Replication.Write(ctx, r.c, r.prefix+s.First.Key, false, queue([]func(redis.Pipeliner){setFirst})); err != nil {
			return unavailable("settle", s.First.Key, err)
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

// settleRest writes the done markers and the customer map on Redis Cluster: one
// pipeline split by node, or, when replicas must acknowledge, one write and WAIT per
// key (WAIT counts one connection's writes, on one node).
func (r *Redis) settleRest(ctx context.Context, s Settlement, rest []func(redis.Pipeliner)) ([]redis.Cmder, error) {
	if r.Replication.Replicas <= 0 {
		return r.c.Pipelined(ctx, queue(rest))
	}
	keys := make([]string, 0, len(rest))
	for _, k := range s.Keys {
		keys = append(keys, r.prefix+k)
	}
	if s.CustomerID != "" {
		keys = append(keys, r.prefix+customerKey(s.CustomerID))
	}
	var all []redis.Cmder
	var errs []error
	for i, f := range rest {
		cmds, err := r.Replication.Write(ctx, r.c, keys[i], false, queue([]func(redis.Pipeliner){f}))
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
	if err := s.check(); err != nil {
		return err
	}
	var errs []error
	if s.First != nil {
		if err := m.putNX(ctx, s.First, s.First.ttl(s)); err != nil {
			return err
		}
	}
	for _, k := range s.Keys {
		errs = append(errs, m.Complete(ctx, k, s.TTL))
	}
	if s.CustomerID != "" {
		errs = append(errs, m.RememberCustomer(ctx, s.CustomerID, s.UserID, s.TTL))
	}
	return errors.Join(errs...)
}

// putNX stores p unless its key holds a live value.
func (m *Memory) putNX(ctx context.Context, p *Put, ttl time.Duration) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.usable(ctx); err != nil {
		return err
	}
	now := m.now()
	if _, ok := m.get(p.Key, now); !ok {
		m.set(p.Key, string(p.Value), now.Add(ttl))
	}
	return nil
}
