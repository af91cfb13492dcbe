package redisclient_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/creditgate/creditgate/internal/redisclient"
	"github.com/creditgate/creditgate/internal/redisclient/redistest"
)

// TestReplicationWrite: a write with Replicas: 1 returns only once the replica has it
// (read from the replica at once, no sleep); asking for more replicas than there are
// fails with ErrNotReplicated after the timeout, the write itself kept.
func TestReplicationWrite(t *testing.T) {
	ctx := context.Background()
	primary := redistest.Server(t)
	replica := redistest.Replica(t, primary.(*redis.Client).Options().Addr)
	set := func(key string) func(redis.Pipeliner) error {
		return func(p redis.Pipeliner) error { p.Set(ctx, key, "v", time.Minute); return nil }
	}
	for _, tx := range []bool{false, true} {
		key := "acked:" + map[bool]string{false: "pipeline", true: "tx"}[tx]
		if _, err := (redisclient.Replication{Replicas: 1, Timeout: 5 * time.Second}).Write(ctx, primary, nil, key, tx, set(key)); err != nil {
			t.Fatalf("tx %t: %v", tx, err)
		}
		if v, err := replica.Get(ctx, key).Result(); err != nil || v != "v" {
			t.Fatalf("tx %t: the replica has %q, %v right after the acknowledged write", tx, v, err)
		}
	}
	start := time.Now()
	_, err := (redisclient.Replication{Replicas: 2, Timeout: 100 * time.Millisecond}).Write(ctx, primary, nil, "short", false, set("short"))
	if !errors.Is(err, redisclient.ErrNotReplicated) || err.Error() != "write not acknowledged by enough replicas: 1 of 2 within 100ms" {
		t.Fatalf("two replicas asked, one there: err = %v", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Fatalf("WAIT took %s, want about its 100ms timeout", time.Since(start))
	}
	if v, _ := primary.Get(ctx, "short").Result(); v != "v" {
		t.Errorf("the write itself was not kept: %q", v)
	}
	// The zero value waits for nobody, on any client.
	if _, err := (redisclient.Replication{}).Write(ctx, primary, nil, "plain", false, set("plain")); err != nil {
		t.Fatal(err)
	}
}

// TestReplicationWriteCluster: on Redis Cluster the write and its WAIT go to the
// primary that holds the key (this private cluster has no replicas, so the WAIT falls
// short and says so; the write is there).
func TestReplicationWriteCluster(t *testing.T) {
	ctx := context.Background()
	c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: redistest.Cluster(t)})
	defer c.Close()
	for _, key := range []string{"a", "b", "c", "d"} { // spread over the nodes
		_, err := (redisclient.Replication{Replicas: 1, Timeout: 50 * time.Millisecond}).Write(ctx, c, nil, key, false, func(p redis.Pipeliner) error {
			p.Set(ctx, key, "v", time.Minute)
			return nil
		})
		if !errors.Is(err, redisclient.ErrNotReplicated) {
			t.Fatalf("%s: err = %v, want ErrNotReplicated (no replicas), not a MOVED", key, err)
		}
		if v, err := c.Get(ctx, key).Result(); err != nil || v != "v" {
			t.Fatalf("%s = %q, %v after the write", key, v, err)
		}
	}
}
