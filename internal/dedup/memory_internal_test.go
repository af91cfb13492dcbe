package dedup

import (
	"fmt"
	"testing"
	"time"
)

// TestMemorySweepKeepsMemoryBounded writes many short-lived keys while time passes and
// checks that the map never grows far beyond the keys that are still alive.
func TestMemorySweepKeepsMemoryBounded(t *testing.T) {
	now := time.Unix(0, 0)
	m := NewMemory(func() time.Time { return now })
	ctx := t.Context()
	peak := 0
	for i := range 100_000 {
		if err := m.Complete(ctx, fmt.Sprintf("event:main:evt_%d", i), time.Second); err != nil {
			t.Fatal(err)
		}
		now = now.Add(time.Millisecond) // about 1000 keys alive at any time
		peak = max(peak, len(m.keys))
	}
	if limit := 3 * minSweep; peak > limit {
		t.Errorf("map grew to %d keys with ~1000 alive; want at most %d", peak, limit)
	}
}

func TestMemoryNilClockIsWallClock(t *testing.T) {
	m := NewMemory(nil)
	if d := time.Since(m.now()); d < 0 || d > time.Minute {
		t.Errorf("NewMemory(nil) clock is off by %v", d)
	}
}
