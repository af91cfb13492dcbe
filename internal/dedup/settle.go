package dedup

import (
	"context"
	"errors"
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
}

// Settler is implemented by stores that write a whole Settlement at once: Redis in
// one round trip (a pipeline of independent single-key commands, so it also works on
// Redis Cluster), Memory by calling its own methods. The result is the same as Complete for every
// key followed by RememberCustomer, including when some writes fail: each write is
// attempted, and the error joins one ErrUnavailable-wrapped error per failed write.
type Settler interface {
	Settle(ctx context.Context, s Settlement) error
}

var (
	_ Settler = (*Redis)(nil)
	_ Settler = (*Memory)(nil)
)

func (s Settlement) check() error {
	var errs []error
	for _, k := range s.Keys {
		errs = append(errs, checkComplete(k, s.TTL))
	}
	if s.CustomerID != "" {
		errs = append(errs, checkRemember(s.CustomerID, s.UserID))
	}
	return errors.Join(errs...)
}

// Settle implements Settler with one pipelined round trip of SET commands.
func (r *Redis) Settle(ctx context.Context, s Settlement) error {
	if err := s.check(); err != nil {
		return err
	}
	cmds, _ := r.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, k := range s.Keys {
			p.Set(ctx, r.prefix+k, doneValue, s.TTL)
		}
		if s.CustomerID != "" {
			p.Set(ctx, r.prefix+customerKey(s.CustomerID), s.UserID, max(s.TTL, 0))
		}
		return nil
	})
	var errs []error
	for i, c := range cmds {
		if c.Err() == nil {
			continue
		}
		if i < len(s.Keys) {
			errs = append(errs, unavailable("complete", s.Keys[i], c.Err()))
		} else {
			errs = append(errs, unavailable("remember customer", customerKey(s.CustomerID), c.Err()))
		}
	}
	return errors.Join(errs...)
}

// Settle implements Settler.
func (m *Memory) Settle(ctx context.Context, s Settlement) error {
	if err := s.check(); err != nil {
		return err
	}
	var errs []error
	for _, k := range s.Keys {
		errs = append(errs, m.Complete(ctx, k, s.TTL))
	}
	if s.CustomerID != "" {
		errs = append(errs, m.RememberCustomer(ctx, s.CustomerID, s.UserID, s.TTL))
	}
	return errors.Join(errs...)
}
