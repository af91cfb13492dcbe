package deadletter

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/creditgate/creditgate/internal/outcome"
	"github.com/creditgate/creditgate/internal/redisclient"
	"github.com/creditgate/creditgate/internal/storekey"
)

// HashName is the name, after the key prefix, of the Redis hash that holds the list.
const HashName = storekey.DeadLetters

// Redis is a List in one Redis hash, prefix+"deadletter", that maps each id to the
// entry's JSON, beside an index hash (indexKey) that maps each id to its route and
// reason, so that Counts never reads payloads. Both keys hash to one Cluster slot, and
// Park and Delete write both in one MULTI/EXEC. The prefix must not contain braces
// (redis.key_prefix cannot).
//
// Durability: Park returns once Redis has the entry in memory — and, with Replication,
// once that many replicas acknowledged it. It survives a restart of Redis only with
// persistence on — appendonly yes (AOF), ideally appendfsync always — which is what
// "parked durably" relies on; RDB snapshots alone can lose the last minutes. It
// survives a Sentinel or Cluster failover only with Replication (docs/security.md).
//
// A value in the hash that is not an entry (written by hand, say) is listed as an entry
// with Reason "undecodable", the problem in Detail and the stored value as Payload, so
// it can be seen and dropped.
//
// Use NewRedis; the zero value is not usable.
type Redis struct {
	c     redis.UniversalClient
	key   string
	index string // indexKey(key)
	now   func() time.Time
	// Replication, when it asks for replicas, makes Park wait (Redis WAIT) until they
	// acknowledged the entry, so a failover cannot lose what Stripe was answered 200
	// for. Set it before first use.
	Replication redisclient.Replication
}

var _ List = (*Redis)(nil)

// NewRedis returns the list stored in the hash prefix+HashName on c.
func NewRedis(c redis.UniversalClient, prefix string) *Redis {
	key := prefix + HashName
	return &Redis{c: c, key: key, index: indexKey(key), now: time.Now}
}

// indexKey is the index hash beside the list's hash key: "<key>:reasons:{<key>}". It
// starts with the key, so an ACL that allows the key prefix allows it, and its hash tag
// is the whole list key, so both land in one Redis Cluster slot (a MULTI/EXEC needs
// that). redis.key_prefix has no braces (config), so the list key has no tag of its own.
func indexKey(key string) string { return key + ":reasons:{" + key + "}" }

// indexValue is what the index holds for an entry: its route and reason.
func indexValue(route, reason string) string { return route + "\x1f" + reason }

// Park implements List with HSET.
func (r *Redis) Park(ctx context.Context, e Entry) error {
	e, err := prepare(e, r.now())
	if err != nil {
		return err
	}
	b, err := marshalEntry(e)
	if err != nil {
		return fmt.Errorf("deadletter: encoding %s: %w", e.ID, err)
	}
	_, err = r.Replication.Write(ctx, r.c, nil, r.key, true, func(p redis.Pipeliner) error {
		p.HSet(ctx, r.key, e.ID, b)
		p.HSet(ctx, r.index, e.ID, indexValue(e.Route, e.Reason))
		return nil
	})
	if err != nil {
		return unavailable("park "+e.ID, err)
	}
	return nil
}

// List implements List with HGETALL.
func (r *Redis) List(ctx context.Context) ([]Entry, error) {
	all, err := r.c.HGetAll(ctx, r.key).Result()
	if err != nil {
		return nil, unavailable("list", err)
	}
	es := make([]Entry, 0, len(all))
	for id, v := range all {
		es = append(es, decodeStored(id, v))
	}
	sortEntries(es)
	return es, nil
}

// Get implements List with HGET.
func (r *Redis) Get(ctx context.Context, id string) (Entry, error) {
	v, err := r.c.HGet(ctx, r.key, id).Result()
	switch {
	case errors.Is(err, redis.Nil):
		return Entry{}, fmt.Errorf("%w: %s", ErrNotFound, id)
	case err != nil:
		return Entry{}, unavailable("get "+id, err)
	}
	return decodeStored(id, v), nil
}

// Delete implements List with HDEL (of the entry and its index field, in one
// MULTI/EXEC).
func (r *Redis) Delete(ctx context.Context, id string) error {
	var del *redis.IntCmd
	_, err := r.c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		del = p.HDel(ctx, r.key, id)
		p.HDel(ctx, r.index, id)
		return nil
	})
	n := del.Val()
	if err != nil {
		return unavailable("delete "+id, err)
	}
	if n == 0 {
		return fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	return nil
}

// Len implements List with HLEN.
func (r *Redis) Len(ctx context.Context) (int, error) {
	n, err := r.c.HLen(ctx, r.key).Result()
	if err != nil {
		return 0, unavailable("len", err)
	}
	return int(n), nil
}

// Counts implements Counter from the index hash: ids, routes and reasons, never the
// payloads. When the index and the list differ in size (entries parked before the
// index existed, or written or deleted by hand), it rebuilds the index from the list
// first. (A value replaced by hand under an existing id keeps its old reason in the
// index until that entry is parked again or dropped.)
func (r *Redis) Counts(ctx context.Context) (map[string]map[string]int, error) {
	var size *redis.IntCmd
	var index *redis.MapStringStringCmd
	if _, err := r.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		size, index = p.HLen(ctx, r.key), p.HGetAll(ctx, r.index)
		return nil
	}); err != nil {
		return nil, unavailable("count", err)
	}
	if int(size.Val()) != len(index.Val()) {
		return r.reindex(ctx)
	}
	out := map[string]map[string]int{}
	for _, v := range index.Val() {
		route, reason, _ := strings.Cut(v, "\x1f")
		if out[route] == nil {
			out[route] = map[string]int{}
		}
		out[route][reason]++
	}
	return out, nil
}

// reindex writes the index anew from the list and returns the list's counts.
func (r *Redis) reindex(ctx context.Context) (map[string]map[string]int, error) {
	entries, err := r.List(ctx)
	if err != nil {
		return nil, err
	}
	fields := make([]any, 0, 2*len(entries))
	for _, e := range entries {
		fields = append(fields, e.ID, indexValue(e.Route, e.Reason))
	}
	if _, err := r.c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Del(ctx, r.index)
		if len(fields) > 0 {
			p.HSet(ctx, r.index, fields...)
		}
		return nil
	}); err != nil {
		return nil, unavailable("reindex", err)
	}
	return Count(entries), nil
}

// Close does nothing: the client belongs to the caller, who may share it between
// stores and closes it once.
func (r *Redis) Close() error { return nil }

// decodeStored decodes a hash value, or shows it as an undecodable entry.
func decodeStored(id, v string) Entry {
	e, err := unmarshalEntry([]byte(v))
	if err == nil && e.ID == id {
		return e
	}
	if err == nil {
		err = fmt.Errorf("stored under %q but its id is %q", id, e.ID)
	}
	return Entry{ID: id, Reason: string(outcome.ReasonUndecodable), Detail: "stored value is not a dead-letter entry: " + err.Error(), Payload: v}
}

func unavailable(op string, err error) error {
	return fmt.Errorf("%w: %s: %w", ErrUnavailable, op, err)
}
