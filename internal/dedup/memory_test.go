package dedup_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/creditgate/creditgate/internal/dedup"
	"github.com/creditgate/creditgate/internal/dedup/dedupsuite"
	"github.com/creditgate/creditgate/internal/testkit"
)

func TestMemory(t *testing.T) {
	dedupsuite.Run(t, func(t *testing.T) (dedup.Store, func(time.Duration)) {
		clk := testkit.NewClock(time.Date(2026, 11, 27, 19, 6, 22, 0, time.UTC))
		m := dedup.NewMemory(clk.Now)
		t.Cleanup(func() { _ = m.Close() })
		return m, clk.Advance
	})
}

func TestMemoryUnavailable(t *testing.T) {
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	open := dedup.NewMemory(nil)
	closed := dedup.NewMemory(nil)
	_ = closed.Close()
	for name, c := range map[string]struct {
		s   *dedup.Memory
		ctx context.Context
	}{"closed": {closed, context.Background()}, "canceled context": {open, canceled}} {
		t.Run(name, func(t *testing.T) {
			for _, err := range everyCall(c.ctx, c.s) {
				if !errors.Is(err, dedup.ErrUnavailable) {
					t.Errorf("err = %v, want ErrUnavailable", err)
				}
			}
		})
	}
}

// everyCall makes one call of each Store method and returns their errors.
func everyCall(ctx context.Context, s dedup.Store) []error {
	_, claimErr := s.Claim(ctx, "event:main:evt_1", "tok", time.Minute)
	return []error{
		claimErr,
		s.Complete(ctx, "event:main:evt_1", time.Minute),
		s.Release(ctx, "event:main:evt_1", "tok"),
		s.Settle(ctx, dedup.Settlement{Keys: []string{"event:main:evt_1"}, TTL: time.Minute}),
		s.VerifyConnection(ctx),
	}
}
