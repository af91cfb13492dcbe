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
	pipelined := r.c.Pipelined
	if s.First != nil {
		if isCluster(r.c) {
			if err := r.c.SetNX(ctx, r.prefix+s.First.Key, s.First.Value, s.First.ttl(s)).Err(); err != nil {
				return unavailable("settle", s.First.Key, err)
			}
		} else {
			pipelined = r.c.TxPipelined
		}
	}
	cmds, perr := pipelined(ctx, func(p redis.Pipeliner) error {
		if s.First != nil && !isCluster(r.c) { // in the transaction
			p.SetNX(ctx, r.prefix+s.First.Key, s.First.Value, s.First.ttl(s))
		}
		for _, k := range s.Keys {
			p.Set(ctx, r.prefix+k, doneValue, s.TTL)
		}
		if s.CustomerID != "" {
			p.Set(ctx, r.prefix+customerKey(s.CustomerID), s.UserID, max(s.TTL, 0))
		}
		return nil
	})
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
	if len(errs) == 0 && perr != nil { // not pinned on a command (cannot happen today)
		errs = append(errs, unavailable("settle", "", perr))
	}
	return errors.Join(errs...)
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
