// Package dedupsuite is the behaviour every dedup.Store must show, as one test suite that
// runs against each implementation (the in-memory store and real Redis).
package dedupsuite

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/creditgate/creditgate/internal/dedup"
)

// NewStore returns a fresh, empty store for one test, and a function that lets time pass
// for it: a fake clock moves forward for the in-memory store, Redis just sleeps. The
// store is cleaned up by the function itself (t.Cleanup).
type NewStore func(t *testing.T) (s dedup.Store, advance func(time.Duration))

// Short is the lease and ttl the expiry cases use; advancing by Short+Margin must make
// them run out. Both are small so that the Redis run sleeps little.
const (
	Short  = 100 * time.Millisecond
	Margin = 100 * time.Millisecond
)

// long is a lease or ttl that never runs out during a test.
const long = time.Hour

// Run runs the suite; each case gets its own store from newStore and runs in parallel.
func Run(t *testing.T, newStore NewStore) {
	cases := []struct {
		name string
		run  func(t *testing.T, s dedup.Store, advance func(time.Duration))
	}{
		{"ClaimAbsentKey", claimAbsentKey},
		{"ClaimHeldKeyIsInFlight", claimHeldKeyIsInFlight},
		{"ClaimBySameTokenAgainIsClaimed", claimBySameTokenAgain},
		{"CompleteMakesDone", completeMakesDone},
		{"CompleteWithoutClaim", completeWithoutClaim},
		{"ReleaseByWrongTokenIsNoop", releaseByWrongToken},
		{"ReleaseDoneOrAbsentIsNoop", releaseDoneOrAbsent},
		{"ReleaseByHolderFreesKey", releaseByHolder},
		{"LeaseExpiryFreesKey", leaseExpiry},
		{"ReclaimRefreshesLease", reclaimRefreshesLease},
		{"DoneExpiresAfterTTL", doneExpires},
		{"KeysAreIndependent", keysAreIndependent},
		{"ConcurrentClaimsOneWinner", concurrentClaims},
		{"InvalidArguments", invalidArguments},
		{"VerifyConnection", verifyConnection},
		{"SettleMarksDoneAndRemembers", settle},
		{"ClaimEachIsClaimPerKey", claimEach},
		{"PeekDone", peekDone},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			s, advance := newStore(t)
			c.run(t, s, advance)
		})
	}
}

func claimAbsentKey(t *testing.T, s dedup.Store, _ func(time.Duration)) {
	expectClaim(t, s, "event:main:evt_1", "tok-a", long, dedup.Claimed)
}

func claimHeldKeyIsInFlight(t *testing.T, s dedup.Store, _ func(time.Duration)) {
	expectClaim(t, s, "event:main:evt_1", "tok-a", long, dedup.Claimed)
	expectClaim(t, s, "event:main:evt_1", "tok-b", long, dedup.InFlight)
	expectClaim(t, s, "event:main:evt_1", dedup.NewToken(), long, dedup.InFlight)
}

func claimBySameTokenAgain(t *testing.T, s dedup.Store, _ func(time.Duration)) {
	expectClaim(t, s, "purchase:main:cs_1", "tok-a", long, dedup.Claimed)
	expectClaim(t, s, "purchase:main:cs_1", "tok-a", long, dedup.Claimed)
	expectClaim(t, s, "purchase:main:cs_1", "tok-b", long, dedup.InFlight)
}

func completeMakesDone(t *testing.T, s dedup.Store, _ func(time.Duration)) {
	expectClaim(t, s, "purchase:main:cs_1", "tok-a", long, dedup.Claimed)
	complete(t, s, "purchase:main:cs_1", long)
	expectClaim(t, s, "purchase:main:cs_1", "tok-b", long, dedup.Done)
	expectClaim(t, s, "purchase:main:cs_1", "tok-a", long, dedup.Done) // even for the old holder
}

func completeWithoutClaim(t *testing.T, s dedup.Store, _ func(time.Duration)) {
	// Unconditional: another token holding the key does not stop the done mark.
	expectClaim(t, s, "purchase:main:cs_1", "tok-b", long, dedup.Claimed)
	complete(t, s, "purchase:main:cs_1", long)
	complete(t, s, "purchase:main:cs_2", long)
	expectClaim(t, s, "purchase:main:cs_1", "tok-c", long, dedup.Done)
	expectClaim(t, s, "purchase:main:cs_2", "tok-c", long, dedup.Done)
}

func releaseByWrongToken(t *testing.T, s dedup.Store, _ func(time.Duration)) {
	expectClaim(t, s, "event:main:evt_1", "tok-a", long, dedup.Claimed)
	release(t, s, "event:main:evt_1", "tok-b")
	expectClaim(t, s, "event:main:evt_1", "tok-c", long, dedup.InFlight)
}

func releaseDoneOrAbsent(t *testing.T, s dedup.Store, _ func(time.Duration)) {
	expectClaim(t, s, "event:main:evt_1", "tok-a", long, dedup.Claimed)
	complete(t, s, "event:main:evt_1", long)
	release(t, s, "event:main:evt_1", "tok-a")
	expectClaim(t, s, "event:main:evt_1", "tok-b", long, dedup.Done)
	release(t, s, "event:main:never", "tok-a")
	expectClaim(t, s, "event:main:never", "tok-b", long, dedup.Claimed)
}

func releaseByHolder(t *testing.T, s dedup.Store, _ func(time.Duration)) {
	expectClaim(t, s, "event:main:evt_1", "tok-a", long, dedup.Claimed)
	release(t, s, "event:main:evt_1", "tok-a")
	expectClaim(t, s, "event:main:evt_1", "tok-b", long, dedup.Claimed)
	release(t, s, "event:main:evt_1", "tok-a") // no longer the holder: no-op
	expectClaim(t, s, "event:main:evt_1", "tok-c", long, dedup.InFlight)
}

func leaseExpiry(t *testing.T, s dedup.Store, advance func(time.Duration)) {
	expectClaim(t, s, "event:main:evt_1", "tok-a", Short, dedup.Claimed)
	advance(Short + Margin)
	expectClaim(t, s, "event:main:evt_1", "tok-b", long, dedup.Claimed)
	release(t, s, "event:main:evt_1", "tok-a") // the expired holder cannot free the new claim
	expectClaim(t, s, "event:main:evt_1", "tok-c", long, dedup.InFlight)
}

func reclaimRefreshesLease(t *testing.T, s dedup.Store, advance func(time.Duration)) {
	expectClaim(t, s, "event:main:evt_1", "tok-a", Short, dedup.Claimed)
	expectClaim(t, s, "event:main:evt_1", "tok-a", long, dedup.Claimed)
	advance(Short + Margin)
	expectClaim(t, s, "event:main:evt_1", "tok-b", long, dedup.InFlight)
}

func doneExpires(t *testing.T, s dedup.Store, advance func(time.Duration)) {
	expectClaim(t, s, "purchase:main:cs_1", "tok-a", long, dedup.Claimed)
	complete(t, s, "purchase:main:cs_1", Short)
	expectClaim(t, s, "purchase:main:cs_1", "tok-b", long, dedup.Done)
	advance(Short + Margin)
	expectClaim(t, s, "purchase:main:cs_1", "tok-b", long, dedup.Claimed)
}

func keysAreIndependent(t *testing.T, s dedup.Store, _ func(time.Duration)) {
	expectClaim(t, s, "event:main:x", "tok-a", long, dedup.Claimed)
	expectClaim(t, s, "purchase:main:x", "tok-b", long, dedup.Claimed)
	expectClaim(t, s, "event:other:x", "tok-c", long, dedup.Claimed)
	complete(t, s, "purchase:main:x", long)
	expectClaim(t, s, "event:main:x", "tok-d", long, dedup.InFlight)
}

func concurrentClaims(t *testing.T, s dedup.Store, _ func(time.Duration)) {
	const n = 50
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		states = map[dedup.State]int{}
		start  = make(chan struct{})
	)
	for range n {
		wg.Go(func() {
			<-start
			st, err := s.Claim(t.Context(), "purchase:main:cs_race", dedup.NewToken(), long)
			if err != nil {
				t.Errorf("Claim: %v", err)
			}
			mu.Lock()
			states[st]++
			mu.Unlock()
		})
	}
	close(start)
	wg.Wait()
	if states[dedup.Claimed] != 1 || states[dedup.InFlight] != n-1 {
		t.Errorf("%d concurrent claims gave %v; want exactly one claimed, the rest in_flight", n, states)
	}
}

// settle: one Settlement has the effect of Complete on every key.
func settle(t *testing.T, s dedup.Store, _ func(time.Duration)) {
	ctx := t.Context()
	expectClaim(t, s, "event:main:evt_settle", "tok-1", long, dedup.Claimed)
	expectClaim(t, s, "purchase:main:cs_settle", "tok-1", long, dedup.Claimed)
	if err := s.Settle(ctx, dedup.Settlement{
		Keys: []string{"event:main:evt_settle", "purchase:main:cs_settle", "never-claimed"}, TTL: long,
	}); err != nil {
		t.Fatalf("Settle: %v", err)
	}
	for _, k := range []string{"event:main:evt_settle", "purchase:main:cs_settle", "never-claimed"} {
		expectClaim(t, s, k, "tok-2", long, dedup.Done)
	}
	if err := s.Settle(ctx, dedup.Settlement{Keys: []string{"k"}, TTL: long}); err != nil {
		t.Fatalf("Settle of one key: %v", err)
	}
	expectClaim(t, s, "k", "tok-2", long, dedup.Done)
	for _, bad := range []dedup.Settlement{
		{Keys: []string{""}, TTL: long},
		{Keys: []string{"k2"}},
		{Keys: []string{"k3", ""}, TTL: long},
	} {
		if err := s.Settle(ctx, bad); !errors.Is(err, dedup.ErrInvalid) {
			t.Errorf("Settle(%+v) = %v, want ErrInvalid", bad, err)
		}
	}
	expectClaim(t, s, "k3", "tok-3", long, dedup.Claimed) // an invalid settlement writes nothing
}

// claimEach: each claim of one call does what Claim does for its key, whatever the
// others find.
func claimEach(t *testing.T, s dedup.Store, _ func(time.Duration)) {
	ctx := t.Context()
	expectClaim(t, s, "each:held", "other", long, dedup.Claimed)
	expectClaim(t, s, "each:done", "other", long, dedup.Claimed)
	complete(t, s, "each:done", long)
	expectClaim(t, s, "each:mine", "tok-1", long, dedup.Claimed)

	cs := []dedup.Claim{
		{Key: "each:absent", Token: "tok-1"},
		{Key: "each:held", Token: "tok-1"},
		{Key: "", Token: "tok-1"},
		{Key: "each:done", Token: "tok-1"},
		{Key: "each:mine", Token: "tok-1"},
	}
	s.ClaimEach(ctx, long, cs)
	want := []dedup.State{dedup.Claimed, dedup.InFlight, 0, dedup.Done, dedup.Claimed}
	for i, c := range cs {
		if i == 2 {
			if !errors.Is(c.Err, dedup.ErrInvalid) || c.State != 0 {
				t.Errorf("claim of an empty key: state %v, err %v; want ErrInvalid", c.State, c.Err)
			}
			continue
		}
		if c.Err != nil || c.State != want[i] {
			t.Errorf("ClaimEach %q: state %v, err %v; want %v", c.Key, c.State, c.Err, want[i])
		}
	}
	// The claims hold like Claim's: another token finds them in flight, and the
	// holder can release them.
	expectClaim(t, s, "each:absent", "tok-2", long, dedup.InFlight)
	release(t, s, "each:absent", "tok-1")
	expectClaim(t, s, "each:absent", "tok-2", long, dedup.Claimed)

	var none []dedup.Claim
	s.ClaimEach(ctx, long, none) // nothing to do, no panic
	bad := []dedup.Claim{{Key: "each:zero-lease", Token: "tok-1"}}
	s.ClaimEach(ctx, 0, bad)
	if !errors.Is(bad[0].Err, dedup.ErrInvalid) {
		t.Errorf("ClaimEach with lease 0: err %v, want ErrInvalid", bad[0].Err)
	}
	expectClaim(t, s, "each:zero-lease", "tok-2", long, dedup.Claimed) // nothing was written
}

func invalidArguments(t *testing.T, s dedup.Store, _ func(time.Duration)) {
	ctx := t.Context()
	checks := map[string]error{
		"claim empty key":      second(s.Claim(ctx, "", "tok", long)),
		"claim empty token":    second(s.Claim(ctx, "k", "", long)),
		"claim zero lease":     second(s.Claim(ctx, "k", "tok", 0)),
		"claim negative lease": second(s.Claim(ctx, "k", "tok", -time.Second)),
		"complete empty key":   s.Complete(ctx, "", long),
		"complete zero ttl":    s.Complete(ctx, "k", 0),
		"release empty token":  s.Release(ctx, "k", ""),
	}
	for name, err := range checks {
		if !errors.Is(err, dedup.ErrInvalid) || errors.Is(err, dedup.ErrUnavailable) {
			t.Errorf("%s: err = %v; want ErrInvalid and not ErrUnavailable", name, err)
		}
	}
	// Nothing was written by the rejected calls.
	expectClaim(t, s, "k", "tok-x", long, dedup.Claimed)
}

func verifyConnection(t *testing.T, s dedup.Store, _ func(time.Duration)) {
	if err := s.VerifyConnection(t.Context()); err != nil {
		t.Errorf("VerifyConnection: %v", err)
	}
}

func expectClaim(t *testing.T, s dedup.Store, key, token string, lease time.Duration, want dedup.State) {
	t.Helper()
	got, err := s.Claim(t.Context(), key, token, lease)
	if err != nil {
		t.Fatalf("Claim(%s, %s): %v", key, token, err)
	}
	if got != want {
		t.Fatalf("Claim(%s, %s) = %v, want %v", key, token, got, want)
	}
}

func complete(t *testing.T, s dedup.Store, key string, ttl time.Duration) {
	t.Helper()
	if err := s.Complete(t.Context(), key, ttl); err != nil {
		t.Fatalf("Complete(%s): %v", key, err)
	}
}

func release(t *testing.T, s dedup.Store, key, token string) {
	t.Helper()
	if err := s.Release(t.Context(), key, token); err != nil {
		t.Fatalf("Release(%s, %s): %v", key, token, err)
	}
}

func second[T any](_ T, err error) error { return err }
