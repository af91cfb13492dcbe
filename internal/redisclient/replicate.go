package redisclient

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// ErrNotReplicated: a write landed on the primary but fewer replicas than asked
// acknowledged it within the timeout. A failover now could lose it, so it must not be
// answered as durable; the write itself stays (writing it again is harmless).
var ErrNotReplicated = errors.New("write not acknowledged by enough replicas")

// Replication asks that a write be acknowledged by Replicas replicas (Redis WAIT)
// before it counts as done. Redis replicates asynchronously: without this, a Sentinel
// or Cluster failover right after a write can lose it. The zero value waits for none.
type Replication struct {
	Replicas int           // replicas that must acknowledge; 0: no WAIT
	Timeout  time.Duration // how long WAIT may block; 0 means DefaultWaitTimeout
}

// DefaultWaitTimeout bounds one WAIT when Replication.Timeout is zero.
const DefaultWaitTimeout = time.Second

// Write runs write as one pipeline (a MULTI/EXEC transaction when tx is set) on one
// connection to the primary that holds key, then, when Replicas > 0, WAIT on that same
// connection: WAIT counts the writes of its own connection, so a pooled connection
// would not do. Without replicas to wait for, the pipeline goes through via (a Batch;
// nil: c). It returns the pipeline's commands and the first error; a WAIT short of
// Replicas wraps ErrNotReplicated.
func (r Replication) Write(ctx context.Context, c redis.UniversalClient, via Pipes, key string, tx bool, write func(redis.Pipeliner) error) ([]redis.Cmder, error) {
	if r.Replicas <= 0 {
		if via == nil {
			via = c
		}
		if tx {
			return via.TxPipelined(ctx, write)
		}
		return via.Pipelined(ctx, write)
	}
	var node *redis.Client
	switch cc := c.(type) {
	case *redis.ClusterClient:
		n, err := cc.MasterForKey(ctx, key)
		if err != nil {
			return nil, err
		}
		node = n
	case *redis.Client: // a single Redis, or Sentinel's failover client
		node = cc
	default:
		return nil, fmt.Errorf("redis: cannot WAIT for replicas on a %T", c)
	}
	conn := node.Conn()
	defer conn.Close()
	pipelined := conn.Pipelined
	if tx {
		pipelined = conn.TxPipelined
	}
	cmds, err := pipelined(ctx, write)
	if err != nil {
		return cmds, err
	}
	timeout := r.Timeout
	if timeout <= 0 {
		timeout = DefaultWaitTimeout
	}
	n, err := conn.Wait(ctx, r.Replicas, timeout).Result()
	switch {
	case err != nil:
		return cmds, fmt.Errorf("WAIT: %w", err)
	case n < int64(r.Replicas):
		return cmds, fmt.Errorf("%w: %d of %d within %s", ErrNotReplicated, n, r.Replicas, timeout)
	}
	return cmds, nil
}
