package ledger

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/creditgate/creditgate/internal/dedup"
)

// ErrUnrecorded wraps a Book's failure to settle when the purchase record may be
// missing: on a route that takes credits back the grant must then not count as
// settled (its claims are released and Stripe redelivers it).
var ErrUnrecorded = errors.New("purchase record not written")

// Book is where a credited grant settles: the keys it claimed (package dedup) become
// done, and its purchase record, if it has one, is created. A record is never missing
// behind keys that Settle marked done: where marks and records share one Redis
// (RedisBook) both are one write, elsewhere (NewBook) the record is created first and
// the keys are marked only when it is there.
type Book interface {
	// Settle marks s.Keys done for s.TTL, as dedup.Store.Settle does, and, when e is
	// not nil, creates e's record unless one is there: a grant credited twice never
	// resets the reversal progress. Errors wrap dedup.ErrUnavailable or
	// dedup.ErrInvalid; when e is not nil and its record may be missing, they also
	// wrap ErrUnrecorded.
	Settle(ctx context.Context, s dedup.Settlement, e *Entry) error
}

// Entry is a purchase record a grant's settlement creates. Build it with NewEntry.
type Entry struct {
	key   string
	rec   Record
	value []byte // rec, encoded
	ttl   time.Duration
}

// NewEntry checks and encodes the record r that a settlement creates under key (Key)
// for ttl. Its errors wrap dedup.ErrInvalid.
func NewEntry(key string, r Record, ttl time.Duration) (*Entry, error) {
	b, err := encode(key, r, ttl)
	if err != nil {
		return nil, err
	}
	return &Entry{key: key, rec: r, value: b, ttl: ttl}, nil
}

// NewBook returns the Book of marks and records kept apart (the in-memory stores):
// the record is created first, with records.Create, and the keys are marked done with
// marks.Settle only when that worked.
func NewBook(marks dedup.Store, records Store) Book { return apart{marks, records} }

type apart struct {
	marks   dedup.Store
	records Store
}

func (b apart) Settle(ctx context.Context, s dedup.Settlement, e *Entry) error {
	if err := s.Check(); err != nil {
		return err // before the record: a refused settlement writes nothing
	}
	if e != nil {
		if _, err := b.records.Create(ctx, e.key, e.rec, e.ttl); err != nil {
			return fmt.Errorf("%w: %w", ErrUnrecorded, err)
		}
	}
	return b.marks.Settle(ctx, s)
}

// RedisBook is the marks and the records of one Redis deployment under one key
// prefix, and the Book that writes a grant's record with its done marks: on one Redis
// (or Sentinel) one MULTI/EXEC transaction, all or nothing; on Redis Cluster the
// record first, in a round trip of its own (dedup.Redis.SettleFirst).
type RedisBook struct {
	// Marks are the claims and done marks. Set its Replication before use.
	Marks *dedup.Redis
	// Records are the purchase records, where Settle writes them.
	Records *Redis
}

var _ Book = (*RedisBook)(nil)

// NewRedisBook returns the marks, the records and their Book on c under prefix
// (redis.key_prefix).
func NewRedisBook(c redis.UniversalClient, prefix string) *RedisBook {
	return &RedisBook{Marks: dedup.NewRedis(c, prefix), Records: NewRedis(c, prefix)}
}

// Settle implements Book. With an entry, every error wraps ErrUnrecorded: the marks
// and the record land together, or the record may be missing.
func (b *RedisBook) Settle(ctx context.Context, s dedup.Settlement, e *Entry) error {
	if e == nil {
		return b.Marks.Settle(ctx, s)
	}
	err := b.Marks.SettleFirst(ctx, s, dedup.Put{Key: keyPrefix + e.key, Value: e.value, TTL: e.ttl})
	if err != nil {
		return fmt.Errorf("%w: %w", ErrUnrecorded, err)
	}
	return nil
}
