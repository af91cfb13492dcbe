package dedup_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/creditgate/creditgate/internal/dedup"
	"github.com/creditgate/creditgate/internal/dedup/dedupsuite"
	"github.com/creditgate/creditgate/internal/redisclient"
	"github.com/creditgate/creditgate/internal/redisclient/redistest"
)

func TestRedis(t *testing.T) {
	c := redistest.Client(t)
	dedupsuite.Run(t, func(t *testing.T) (dedup.Store, func(time.Duration)) {
		return dedup.NewRedis(c, redistest.Prefix(t, c)), time.Sleep
	})
}

// TestRedisBatched runs the suite with the store's round trips shared with other
// callers (redisclient.Batch, as creditgate serves).
func TestRedisBatched(t *testing.T) {
	c := redistest.Client(t)
	dedupsuite.Run(t, func(t *testing.T) (dedup.Store, func(time.Duration)) {
		s := dedup.NewRedis(c, redistest.Prefix(t, c))
		s.Pipes = redisclient.NewBatch(c, 1)
		return s, time.Sleep
	})
}

// TestRedisClaimScript runs the suite with claims by the script, as on Redis 6.x,
// which refuses SET with both NX and GET.
func TestRedisClaimScript(t *testing.T) {
	c := redistest.Client(t)
	dedupsuite.Run(t, func(t *testing.T) (dedup.Store, func(time.Duration)) {
		s := dedup.NewRedis(c, redistest.Prefix(t, c))
		dedup.UseScript(s)
		return s, time.Sleep
	})
}

// TestRedisClaimMode: on Redis 7 the store finds SET NX GET by itself; a server that
// answers it with an error gets the script for good; an unreachable one decides
// nothing.
func TestRedisClaimMode(t *testing.T) {
	ctx := t.Context()
	c := redistest.Client(t)
	info := c.Info(ctx, "server").Val()
	s := dedup.NewRedis(c, redistest.Prefix(t, c))
	if st, err := s.Claim(ctx, "event:main:evt_mode", "tok", time.Minute); err != nil || st != dedup.Claimed {
		t.Fatalf("Claim: %v %v", st, err)
	}
	if strings.Contains(info, "redis_version:7.") || strings.Contains(info, "redis_version:8.") {
		if m := dedup.ClaimMode(s); m != "set-get" {
			t.Errorf("claim mode on %s = %s, want set-get", strings.SplitN(info[strings.Index(info, "redis_version:"):], "\r", 2)[0], m)
		}
	}

	refusing := redistest.Client(t)
	refusing.AddHook(redistest.RefuseSetGet{})
	rs := dedup.NewRedis(refusing, redistest.Prefix(t, refusing))
	cs := []dedup.Claim{{Key: "event:main:evt_a", Token: "tok"}, {Key: "purchase:main:cs_a", Token: "tok"}}
	rs.ClaimEach(ctx, time.Minute, cs)
	for _, cl := range cs {
		if cl.Err != nil || cl.State != dedup.Claimed {
			t.Errorf("ClaimEach %s on a server refusing SET NX GET: %v %v", cl.Key, cl.State, cl.Err)
		}
	}
	if m := dedup.ClaimMode(rs); m != "script" {
		t.Errorf("claim mode after the server refused SET NX GET = %s, want script", m)
	}

	loading := redistest.Client(t)
	loading.AddHook(redistest.RefuseSetGet{Answer: "LOADING Redis is loading the dataset in memory"})
	ls := dedup.NewRedis(loading, redistest.Prefix(t, loading))
	if st, err := ls.Claim(ctx, "k", "tok", time.Minute); err != nil || st != dedup.Claimed {
		t.Errorf("Claim when the probe met LOADING: %v %v, want claimed by the script", st, err)
	}
	if m := dedup.ClaimMode(ls); m != "unknown" {
		t.Errorf("claim mode after a LOADING answer = %s, want unknown (decided later)", m)
	}

	down := dedup.NewRedis(redistest.Unreachable(t), "x:")
	if _, err := down.Claim(ctx, "k", "tok", time.Minute); !errors.Is(err, dedup.ErrUnavailable) {
		t.Errorf("Claim without Redis: %v", err)
	}
	if m := dedup.ClaimMode(down); m != "unknown" {
		t.Errorf("claim mode after Redis could not be reached = %s, want unknown", m)
	}
}

// TestRedisLayout pins what lands in Redis, since operators read it with redis-cli.
func TestRedisLayout(t *testing.T) {
	c := redistest.Client(t)
	prefix := redistest.Prefix(t, c)
	s := dedup.NewRedis(c, prefix)
	ctx := t.Context()

	if _, err := s.Claim(ctx, "event:main:evt_1", "tok-a", 30*time.Second); err != nil {
		t.Fatal(err)
	}
	expectRaw(t, c.Get(ctx, prefix+"event:main:evt_1").Val(), "processing:tok-a")
	if ttl := c.PTTL(ctx, prefix+"event:main:evt_1").Val(); ttl <= 29*time.Second || ttl > 30*time.Second {
		t.Errorf("lease TTL = %v, want about 30s", ttl)
	}
	if err := s.Complete(ctx, "event:main:evt_1", 720*time.Hour); err != nil {
		t.Fatal(err)
	}
	expectRaw(t, c.Get(ctx, prefix+"event:main:evt_1").Val(), "done")
	if ttl := c.PTTL(ctx, prefix+"event:main:evt_1").Val(); ttl <= 719*time.Hour {
		t.Errorf("done TTL = %v, want about 720h", ttl)
	}
	if err := s.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if err := c.Ping(ctx).Err(); err != nil {
		t.Errorf("Close closed the caller's client: %v", err)
	}
}

// TestRedisReplicasShareClaims: two stores on one prefix behave like two replicas.
func TestRedisReplicasShareClaims(t *testing.T) {
	c := redistest.Client(t)
	prefix := redistest.Prefix(t, c)
	a, b := dedup.NewRedis(c, prefix), dedup.NewRedis(c, prefix)
	other := dedup.NewRedis(c, prefix+"other:")
	ctx := t.Context()
	for _, step := range []struct {
		s    dedup.Store
		tok  string
		want dedup.State
	}{{a, "tok-a", dedup.Claimed}, {b, "tok-b", dedup.InFlight}, {other, "tok-c", dedup.Claimed}} {
		got, err := step.s.Claim(ctx, "purchase:main:cs_1", step.tok, time.Minute)
		if err != nil || got != step.want {
			t.Fatalf("Claim(%s) = %v, %v; want %v", step.tok, got, err, step.want)
		}
	}
}

func TestRedisDown(t *testing.T) {
	s := dedup.NewRedis(redistest.Unreachable(t), "creditgate:")
	start := time.Now()
	for i, err := range everyCall(t.Context(), s) {
		if !errors.Is(err, dedup.ErrUnavailable) {
			t.Errorf("call %d: err = %v, want ErrUnavailable", i, err)
		}
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("six calls to a dead Redis took %v; want a quick failure", d)
	}
	t.Logf("six calls failed in %v", time.Since(start))
}

func expectRaw(t *testing.T, got, want string) {
	t.Helper()
	if got != want {
		t.Errorf("stored value = %q, want %q", got, want)
	}
}

// TestRedisClaimEachLoadsScript: on a server that has never seen the claim script (a
// fresh or restarted Redis), the pipelined EVALSHA answers NOSCRIPT and ClaimEach
// sends the script itself.
func TestRedisClaimEachLoadsScript(t *testing.T) {
	c := redistest.Server(t)
	ctx := t.Context()
	if ok := c.ScriptExists(ctx, "0000000000000000000000000000000000000000").Val(); len(ok) != 1 || ok[0] {
		t.Fatalf("SCRIPT EXISTS on a fresh server = %v", ok)
	}
	s := dedup.NewRedis(c, "fresh:")
	cs := []dedup.Claim{{Key: "event:main:evt_1", Token: "tok-1"}, {Key: "purchase:main:cs_1", Token: "tok-1"}}
	s.ClaimEach(ctx, time.Minute, cs)
	for _, cl := range cs {
		if cl.Err != nil || cl.State != dedup.Claimed {
			t.Errorf("ClaimEach %s on a fresh server: state %v, err %v", cl.Key, cl.State, cl.Err)
		}
		expectRaw(t, c.Get(ctx, "fresh:"+cl.Key).Val(), "processing:tok-1")
	}
}

// TestRedisClaimEachUnreachable: every claim reports ErrUnavailable.
func TestRedisClaimEachUnreachable(t *testing.T) {
	s := dedup.NewRedis(redistest.Unreachable(t), "x:")
	cs := []dedup.Claim{{Key: "a", Token: "t"}, {Key: "b", Token: "t"}}
	s.ClaimEach(t.Context(), time.Minute, cs)
	for _, cl := range cs {
		if !errors.Is(cl.Err, dedup.ErrUnavailable) || cl.State != 0 {
			t.Errorf("ClaimEach %s without Redis: state %v, err %v; want ErrUnavailable", cl.Key, cl.State, cl.Err)
		}
	}
}

// TestRedisSettleFirst: first is written with SET NX and the settlement's ttl; it
// never replaces an existing value; and on one Redis it lands with the done marks or
// not at all. A user whose ACL forbids the first key makes the transaction abort at
// queue time (NOPERM): then no done mark may land either.
func TestRedisSettleFirst(t *testing.T) {
	t.Run("own round trips", func(t *testing.T) { testRedisSettleFirst(t, false) })
	t.Run("batched", func(t *testing.T) { testRedisSettleFirst(t, true) })
}

func testRedisSettleFirst(t *testing.T, batched bool) {
	c := redistest.Client(t)
	prefix := redistest.Prefix(t, c)
	s := dedup.NewRedis(c, prefix)
	if batched {
		s.Pipes = redisclient.NewBatch(c, 1)
	}
	ctx := t.Context()
	first := dedup.Put{Key: "record:main:pi_1", Value: []byte(`{"credits":100}`)}
	if err := s.SettleFirst(ctx, dedup.Settlement{Keys: []string{"event:main:evt_1"}, TTL: time.Hour}, first); err != nil {
		t.Fatal(err)
	}
	expectRaw(t, c.Get(ctx, prefix+"record:main:pi_1").Val(), `{"credits":100}`)
	if ttl := c.PTTL(ctx, prefix+"record:main:pi_1").Val(); ttl <= 59*time.Minute || ttl > time.Hour {
		t.Errorf("record TTL = %v, want about 1h", ttl)
	}
	again := dedup.Put{Key: "record:main:pi_1", Value: []byte(`{"credits":1}`)}
	if err := s.SettleFirst(ctx, dedup.Settlement{Keys: []string{"event:main:evt_2"}, TTL: time.Hour}, again); err != nil {
		t.Fatal(err)
	}
	expectRaw(t, c.Get(ctx, prefix+"record:main:pi_1").Val(), `{"credits":100}`)
	expectRaw(t, c.Get(ctx, prefix+"event:main:evt_2").Val(), "done")

	// A first with a ttl of its own (a purchase record outlives the done marks).
	long := dedup.Put{Key: "record:main:pi_long", Value: []byte(`{}`), TTL: 4320 * time.Hour}
	if err := s.SettleFirst(ctx, dedup.Settlement{Keys: []string{"event:main:evt_3"}, TTL: time.Hour}, long); err != nil {
		t.Fatal(err)
	}
	if ttl := c.PTTL(ctx, prefix+"record:main:pi_long").Val(); ttl <= 4319*time.Hour || ttl > 4320*time.Hour {
		t.Errorf("record TTL = %v, want its own 4320h", ttl)
	}
	if ttl := c.PTTL(ctx, prefix+"event:main:evt_3").Val(); ttl > time.Hour {
		t.Errorf("done mark TTL = %v, want the settlement's 1h", ttl)
	}

	// All or nothing, on a private server (ACL changes stay off the shared one).
	own := redistest.Server(t)
	if err := own.Do(ctx, "ACL", "SETUSER", "limited", "on", ">limited-pw", "~p:event:*", "+@all").Err(); err != nil {
		t.Fatal(err)
	}
	opts := own.(*redis.Client).Options()
	limited := redis.NewClient(&redis.Options{Addr: opts.Addr, Username: "limited", Password: "limited-pw"})
	t.Cleanup(func() { _ = limited.Close() })
	ls := dedup.NewRedis(limited, "p:")
	if batched {
		ls.Pipes = redisclient.NewBatch(limited, 1)
	}
	err := ls.SettleFirst(ctx, dedup.Settlement{Keys: []string{"event:main:evt_3", "event:main:evt_4"}, TTL: time.Hour},
		dedup.Put{Key: "record:main:pi_3", Value: []byte("{}")})
	if !errors.Is(err, dedup.ErrUnavailable) {
		t.Fatalf("SettleFirst with a forbidden first key: err %v, want ErrUnavailable", err)
	}
	for _, k := range []string{"p:event:main:evt_3", "p:event:main:evt_4", "p:record:main:pi_3"} {
		if n := own.Exists(ctx, k).Val(); n != 0 {
			t.Errorf("%s was written although the transaction failed", k)
		}
	}
	// The same settlement without first goes through: the ACL was the only obstacle.
	if err := ls.Settle(ctx, dedup.Settlement{Keys: []string{"event:main:evt_3"}, TTL: time.Hour}); err != nil {
		t.Fatalf("Settle without first as the limited user: %v", err)
	}
	// An invalid first is refused before anything is written.
	if err := s.SettleFirst(ctx, dedup.Settlement{Keys: []string{"event:main:evt_5"}, TTL: time.Hour}, dedup.Put{Value: []byte("x")}); !errors.Is(err, dedup.ErrInvalid) {
		t.Errorf("SettleFirst with an empty first key = %v, want ErrInvalid", err)
	}
	if n := c.Exists(ctx, prefix+"event:main:evt_5").Val(); n != 0 {
		t.Error("an invalid SettleFirst marked its key done")
	}
	expectRaw(t, own.Get(ctx, "p:event:main:evt_3").Val(), "done")
}

// TestRedisSettleAllOrNothing: on one Redis a settlement is one MULTI/EXEC, and what
// makes Redis refuse any of it refuses all of it: a done mark the ACL forbids (not only
// the first key), and a server out of memory (both refused when queued, so EXEC
// aborts). Nothing lands; once the obstacle is gone the same settlement goes through.
func TestRedisSettleAllOrNothing(t *testing.T) {
	t.Run("own round trips", func(t *testing.T) { testRedisSettleAllOrNothing(t, false) })
	t.Run("batched", func(t *testing.T) { testRedisSettleAllOrNothing(t, true) })
}

func testRedisSettleAllOrNothing(t *testing.T, batched bool) {
	own := redistest.Server(t)
	ctx := t.Context()
	if err := own.Do(ctx, "ACL", "SETUSER", "narrow", "on", ">narrow-pw", "~p:record:*", "~p:event:main:evt_1", "+@all").Err(); err != nil {
		t.Fatal(err)
	}
	narrow := redis.NewClient(&redis.Options{Addr: own.(*redis.Client).Options().Addr, Username: "narrow", Password: "narrow-pw"})
	t.Cleanup(func() { _ = narrow.Close() })
	keys := []string{"p:record:main:pi_1", "p:event:main:evt_1", "p:event:main:evt_2"}
	nothing := func(when string) {
		t.Helper()
		for _, k := range keys {
			if n := own.Exists(ctx, k).Val(); n != 0 {
				t.Errorf("%s: %s was written although the settlement failed", when, k)
			}
		}
	}
	st := dedup.Settlement{Keys: []string{"event:main:evt_1", "event:main:evt_2"}, TTL: time.Hour}
	first := dedup.Put{Key: "record:main:pi_1", Value: []byte("{}")}
	store := func(c redis.UniversalClient) *dedup.Redis {
		s := dedup.NewRedis(c, "p:")
		if batched {
			s.Pipes = redisclient.NewBatch(c, 1)
		}
		return s
	}
	err := store(narrow).SettleFirst(ctx, st, first)
	if !errors.Is(err, dedup.ErrUnavailable) || !strings.Contains(err.Error(), "event:main:evt_2") {
		t.Fatalf("SettleFirst with a forbidden done mark: %v, want ErrUnavailable naming the keys", err)
	}
	nothing("a forbidden done mark")

	if err := own.ConfigSet(ctx, "maxmemory", "1").Err(); err != nil {
		t.Fatal(err)
	}
	s := store(own)
	if err := s.SettleFirst(ctx, st, first); !errors.Is(err, dedup.ErrUnavailable) || !strings.Contains(err.Error(), "OOM") {
		t.Fatalf("SettleFirst on a Redis out of memory: %v, want ErrUnavailable with OOM", err)
	}
	nothing("out of memory")
	if err := own.ConfigSet(ctx, "maxmemory", "0").Err(); err != nil {
		t.Fatal(err)
	}
	if err := s.SettleFirst(ctx, st, first); err != nil {
		t.Fatalf("SettleFirst once memory is back: %v", err)
	}
	for _, k := range keys[1:] {
		expectRaw(t, own.Get(ctx, k).Val(), "done")
	}
	expectRaw(t, own.Get(ctx, keys[0]).Val(), "{}")
}

// TestRedisSettleReplicas: with Replication asking for a replica, a settlement returns
// only once the replica has all of it (read from the replica right after); asking for
// more replicas than there are fails with ErrNotReplicated, and what was written stays.
func TestRedisSettleReplicas(t *testing.T) {
	primary := redistest.Server(t)
	replica := redistest.Replica(t, primary.(*redis.Client).Options().Addr)
	ctx := t.Context()
	s := dedup.NewRedis(primary, "p:")
	s.Replication = redisclient.Replication{Replicas: 1, Timeout: 5 * time.Second}
	st := dedup.Settlement{Keys: []string{"event:main:evt_1", "purchase:main:cs_1"}, TTL: time.Hour}
	if err := s.SettleFirst(ctx, st, dedup.Put{Key: "record:main:pi_1", Value: []byte("{}")}); err != nil {
		t.Fatalf("SettleFirst with one replica: %v", err)
	}
	for _, k := range st.Keys {
		expectRaw(t, replica.Get(ctx, "p:"+k).Val(), "done")
	}
	expectRaw(t, replica.Get(ctx, "p:record:main:pi_1").Val(), "{}")

	s.Replication = redisclient.Replication{Replicas: 2, Timeout: 100 * time.Millisecond}
	err := s.Settle(ctx, dedup.Settlement{Keys: []string{"event:main:evt_2"}, TTL: time.Hour})
	if !errors.Is(err, dedup.ErrUnavailable) || !errors.Is(err, redisclient.ErrNotReplicated) {
		t.Fatalf("Settle with two replicas asked, one there: %v", err)
	}
	expectRaw(t, primary.Get(ctx, "p:event:main:evt_2").Val(), "done")
}

// TestRedisVerifyConnectionProbesPermissions: a Redis ACL user without scripting or
// transactions is reported by VerifyConnection (so /readyz stays 503) with the
// permission it lacks; with both, the probe passes and leaves no key behind for long.
func TestRedisVerifyConnectionProbesPermissions(t *testing.T) {
	own := redistest.Server(t)
	ctx := t.Context()
	addr := own.(*redis.Client).Options().Addr
	users := map[string]string{
		"noscript": "+@read +@write +@transaction -@dangerous +ping +hello +client|setname",
		"notx":     "+@read +@write +@scripting -@dangerous +ping +hello +client|setname",
		"full":     "+@read +@write +@scripting +@transaction -@dangerous +ping +hello +client|setname",
	}
	want := map[string]string{"noscript": "+@scripting", "notx": "+@transaction", "full": ""}
	for user, acl := range users {
		args := []any{"ACL", "SETUSER", user, "on", ">pw-" + user, "~p:*"}
		for _, a := range strings.Fields(acl) {
			args = append(args, a)
		}
		if err := own.Do(ctx, args...).Err(); err != nil {
			t.Fatal(err)
		}
		c := redis.NewClient(&redis.Options{Addr: addr, Username: user, Password: "pw-" + user})
		t.Cleanup(func() { _ = c.Close() })
		err := dedup.NewRedis(c, "p:").VerifyConnection(ctx)
		switch {
		case want[user] == "" && err != nil:
			t.Errorf("%s: VerifyConnection: %v", user, err)
		case want[user] != "" && (!errors.Is(err, dedup.ErrUnavailable) || !strings.Contains(err.Error(), want[user])):
			t.Errorf("%s: VerifyConnection = %v, want ErrUnavailable naming %s", user, err, want[user])
		}
	}
}

// TestRedisCluster runs the behaviour suite on a private three-node Redis Cluster:
// every command touches one key, ClaimEach's keys land on different nodes, and
// SettleFirst takes the Cluster path (first in a round trip of its own).
func TestRedisCluster(t *testing.T) {
	c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: redistest.Cluster(t)})
	t.Cleanup(func() { _ = c.Close() })
	dedupsuite.Run(t, func(t *testing.T) (dedup.Store, func(time.Duration)) {
		return dedup.NewRedis(c, redistest.Prefix(t, c)), time.Sleep
	})
	t.Run("ClaimEachAcrossNodes", func(t *testing.T) {
		prefix := redistest.Prefix(t, c)
		s := dedup.NewRedis(c, prefix)
		ctx := t.Context()
		var cs []dedup.Claim
		slots := map[int64]bool{}
		for i := 0; len(slots) < 3 && i < 100; i++ {
			k := fmt.Sprintf("event:main:evt_%d", i)
			slot := c.ClusterKeySlot(ctx, prefix+k).Val()
			node := min(slot/5461, 2) // the ranges redistest.Cluster gives each node, to within a slot
			if !slots[node] {
				slots[node] = true
				cs = append(cs, dedup.Claim{Key: k, Token: "tok"})
			}
		}
		s.ClaimEach(ctx, time.Minute, cs)
		for _, cl := range cs {
			if cl.Err != nil || cl.State != dedup.Claimed {
				t.Errorf("ClaimEach %s: %v %v", cl.Key, cl.State, cl.Err)
			}
		}
		err := s.SettleFirst(ctx, dedup.Settlement{Keys: []string{cs[0].Key, cs[1].Key, cs[2].Key}, TTL: time.Hour},
			dedup.Put{Key: "record:main:pi_1", Value: []byte("{}")})
		if err != nil {
			t.Fatalf("Settle across nodes: %v", err)
		}
		for _, cl := range cs {
			expectRaw(t, c.Get(ctx, prefix+cl.Key).Val(), "done")
		}
		expectRaw(t, c.Get(ctx, prefix+"record:main:pi_1").Val(), "{}")
		if err := s.VerifyConnection(ctx); err != nil {
			t.Errorf("VerifyConnection on the cluster: %v", err)
		}
	})
}
