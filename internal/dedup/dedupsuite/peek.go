package dedupsuite

import (
	"context"
	"testing"
	"time"

	"github.com/creditgate/creditgate/internal/dedup"
)

// peekDone: Done sees done markers only, never a claim in flight, and changes nothing.
func peekDone(t *testing.T, s dedup.Store, _ func(time.Duration)) {
	ctx := context.Background()
	p, ok := s.(dedup.Peeker)
	if !ok {
		t.Fatalf("%T does not implement dedup.Peeker", s)
	}
	check := func(key string, want bool) {
		t.Helper()
		if got, err := p.Done(ctx, key); err != nil || got != want {
			t.Fatalf("Done(%s) = %t, %v; want %t", key, got, err, want)
		}
	}
	check("purchase:r:absent", false)
	if st, err := s.Claim(ctx, "purchase:r:held", "tok", long); err != nil || st != dedup.Claimed {
		t.Fatalf("Claim: %v %v", st, err)
	}
	check("purchase:r:held", false)
	if st, _ := s.Claim(ctx, "purchase:r:held", "other", long); st != dedup.InFlight {
		t.Fatalf("after Done, the claim is %v, want still in flight", st)
	}
	if err := s.Complete(ctx, "purchase:r:done", long); err != nil {
		t.Fatal(err)
	}
	check("purchase:r:done", true)
	if st, _ := s.Claim(ctx, "purchase:r:absent", "tok", long); st != dedup.Claimed {
		t.Fatalf("Done created the key it peeked at: %v", st)
	}
}
