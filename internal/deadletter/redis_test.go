package deadletter_test

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/creditgate/creditgate/internal/deadletter"
	"github.com/creditgate/creditgate/internal/deadletter/deadlettersuite"
	"github.com/creditgate/creditgate/internal/redisclient/redistest"
)

func TestRedis(t *testing.T) {
	c := redistest.Client(t)
	deadlettersuite.Run(t, func(t *testing.T) func() deadletter.List {
		prefix := redistest.Prefix(t, c)
		return func() deadletter.List { return deadletter.NewRedis(c, prefix) }
	})
}

// TestRedisLayout pins what lands in Redis, since operators read it with redis-cli.
func TestRedisLayout(t *testing.T) {
	c := redistest.Client(t)
	prefix := redistest.Prefix(t, c)
	l := deadletter.NewRedis(c, prefix)
	ctx := t.Context()
	park(t, l, deadlettersuite.Sample(1))

	if typ := c.Type(ctx, prefix+"deadletter").Val(); typ != "hash" {
		t.Fatalf("%sdeadletter is a %q, want a hash", prefix, typ)
	}
	v := c.HGet(ctx, prefix+"deadletter", "main:evt_001").Val()
	want := `{"id":"main:evt_001","route":"main","event_id":"evt_001","event_type":"checkout.session.completed","reason":"no_user_id","detail":"no user id in metadata.user_id or client_reference_id","parked_at":"2026-11-27T19:07:22Z","replays":0,"payload":"{\"id\":\"evt_001\",\"object\":\"event\",\"type\":\"checkout.session.completed\"}"}`
	if v != want {
		t.Errorf("stored value\n%s\nwant\n%s", v, want)
	}
	if ttl := c.TTL(ctx, prefix+"deadletter").Val(); ttl != -1 {
		t.Errorf("the list has a TTL (%v); entries must not expire", ttl)
	}
}

// TestRedisUndecodableValue: a hand-written value is shown, not hidden, and can be dropped.
func TestRedisUndecodableValue(t *testing.T) {
	c := redistest.Client(t)
	prefix := redistest.Prefix(t, c)
	l := deadletter.NewRedis(c, prefix)
	ctx := t.Context()
	if err := c.HSet(ctx, prefix+"deadletter", "main:evt_junk", "not json").Err(); err != nil {
		t.Fatal(err)
	}
	park(t, l, deadlettersuite.Sample(1))
	es, err := l.List(ctx)
	if err != nil || len(es) != 2 {
		t.Fatalf("List = %v, %v; want 2 entries", es, err)
	}
	junk := es[0] // zero ParkedAt sorts first
	if junk.ID != "main:evt_junk" || junk.Reason != "undecodable" || junk.Payload != "not json" {
		t.Errorf("undecodable entry shown as %+v", junk)
	}
	if err := l.Delete(ctx, "main:evt_junk"); err != nil {
		t.Errorf("Delete(undecodable): %v", err)
	}
}

func TestRedisDown(t *testing.T) {
	l := deadletter.NewRedis(redistest.Unreachable(t), "creditgate:")
	ctx := t.Context()
	start := time.Now()
	_, listErr := l.List(ctx)
	_, getErr := l.Get(ctx, "main:evt_001")
	_, lenErr := l.Len(ctx)
	for name, err := range map[string]error{
		"Park":   l.Park(ctx, deadlettersuite.Sample(1)),
		"List":   listErr,
		"Get":    getErr,
		"Delete": l.Delete(ctx, "main:evt_001"),
		"Len":    lenErr,
	} {
		if !errors.Is(err, deadletter.ErrUnavailable) || errors.Is(err, deadletter.ErrNotFound) {
			t.Errorf("%s = %v, want ErrUnavailable", name, err)
		}
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("five calls to a dead Redis took %v; want a quick failure", d)
	}
}

// TestRedisCounts: Counts, read from the index without payloads, says what
// Count(List) says after parks, a re-park under another reason, a drop, values written
// and deleted by hand, and an index lost altogether (a list from before the index).
func TestRedisCounts(t *testing.T) {
	c := redistest.Client(t)
	prefix := redistest.Prefix(t, c)
	l := deadletter.NewRedis(c, prefix)
	ctx := t.Context()
	check := func(step string) {
		t.Helper()
		got, err := l.Counts(ctx)
		if err != nil {
			t.Fatalf("%s: Counts: %v", step, err)
		}
		es, err := l.List(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if want := deadletter.Count(es); !reflect.DeepEqual(got, want) {
			t.Errorf("%s: Counts = %v, Count(List) = %v", step, got, want)
		}
	}
	check("empty")
	for i := 1; i <= 3; i++ {
		park(t, l, deadlettersuite.Sample(i))
	}
	check("three parked")
	again := deadlettersuite.Sample(2)
	again.Reason = "customer_conflict"
	park(t, l, again)
	check("re-parked under another reason")
	if err := l.Delete(ctx, deadlettersuite.Sample(1).ID); err != nil {
		t.Fatal(err)
	}
	check("one dropped")
	if err := c.HSet(ctx, prefix+"deadletter", "main:evt_hand", "not json").Err(); err != nil {
		t.Fatal(err)
	}
	check("a value written by hand")
	if err := c.HDel(ctx, prefix+"deadletter", deadlettersuite.Sample(3).ID).Err(); err != nil {
		t.Fatal(err)
	}
	check("an entry deleted by hand")
	index := prefix + "deadletter:reasons:{" + prefix + "deadletter}"
	if err := c.Del(ctx, index).Err(); err != nil {
		t.Fatal(err)
	}
	check("the index lost")
	if n := c.HLen(ctx, index).Val(); n != c.HLen(ctx, prefix+"deadletter").Val() {
		t.Errorf("after Counts the index has %d fields for %d entries", n, c.HLen(ctx, prefix+"deadletter").Val())
	}
}

// TestRedisClusterIndex: on Redis Cluster the list and its index share a slot, so a
// park and a drop stay one MULTI/EXEC (CROSSSLOT otherwise).
func TestRedisClusterIndex(t *testing.T) {
	c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: redistest.Cluster(t)})
	t.Cleanup(func() { _ = c.Close() })
	for _, prefix := range []string{"creditgate:", "other-prefix:"} {
		l := deadletter.NewRedis(c, prefix)
		park(t, l, deadlettersuite.Sample(1))
		park(t, l, deadlettersuite.Sample(2))
		if err := l.Delete(t.Context(), deadlettersuite.Sample(1).ID); err != nil {
			t.Fatalf("prefix %q: Delete: %v", prefix, err)
		}
		got, err := l.Counts(t.Context())
		if err != nil || !reflect.DeepEqual(got, map[string]map[string]int{"main": {"no_user_id": 1}}) {
			t.Errorf("prefix %q: Counts = %v, %v; want main/no_user_id 1", prefix, got, err)
		}
	}
}
