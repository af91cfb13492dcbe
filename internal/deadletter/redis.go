package deadletter

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/creditgate/creditgate/internal/outcome"
	"github.com/creditgate/creditgate/internal/redisclient"
	"github.com/creditgate/creditgate/internal/storekey"
)

// HashName is the name, after the key prefix, of the Redis hash that holds the list.
const HashName = storekey.DeadLetters

// Redis is a List in one Redis hash, prefix+"deadletter", that maps each id to the
// entry's JSON. One key, so it works on Redis Cluster unchanged.
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
	c   redis.UniversalClient
	key string
	now func() time.Time
	// Replication, when it asks for replicas, makes Park wait (Redis WAIT) until they
	// acknowledged the entry, so a failover cannot lose what Stripe was answered 200
	// for. Set it before first use.
	Replication redisclient.Replication
}

var _ List = (*Redis)(nil)

// NewRedis returns the list stored in the hash prefix+HashName on c.
func NewRedis(c redis.UniversalClient, prefix string) *Redis {
	return &Redis{c: c, key: prefix + HashName, now: time.Now}
}

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
	_, err = r.Replication.Write(ctx, r.c, nil, r.key, false, func(p redis.Pipeliner) error {
		p.HSet(ctx, r.key, e.ID, b)
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

// Delete implements List with HDEL.
func (r *Redis) Delete(ctx context.Context, id string) error {
	n, err := r.c.HDel(ctx, r.key, id).Result()
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
