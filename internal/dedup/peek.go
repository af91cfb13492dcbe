package dedup

import (
	"context"
	"errors"

	"github.com/redis/go-redis/v9"
)

// Peeker reads a key's state without claiming it, for read-only reports
// (`creditgate audit`). It is not part of Store: the pipeline never reads without
// claiming.
type Peeker interface {
	// Done reports whether key is marked done.
	Done(ctx context.Context, key string) (bool, error)
}

var (
	_ Peeker = (*Redis)(nil)
	_ Peeker = (*Memory)(nil)
)

// Done implements Peeker.
func (r *Redis) Done(ctx context.Context, key string) (bool, error) {
	v, err := r.c.Get(ctx, r.prefix+key).Result()
	switch {
	case errors.Is(err, redis.Nil):
		return false, nil
	case err != nil:
		return false, unavailable("get", key, err)
	}
	return v == doneValue, nil
}

// Done implements Peeker.
func (m *Memory) Done(ctx context.Context, key string) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.usable(ctx); err != nil {
		return false, err
	}
	v, ok := m.get(key, m.now())
	return ok && v == doneValue, nil
}
