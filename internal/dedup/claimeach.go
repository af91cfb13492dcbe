package dedup

import (
	"context"
	"errors"
	"time"

	"github.com/redis/go-redis/v9"
)

// Claim is one key of a ClaimEach call: Key and Token in, State or Err out.
type Claim struct {
	Key, Token string
	State      State
	Err        error
}

// ClaimEach implements Store with one pipelined round trip (each command touches one
// key, so Redis Cluster works): of SET NX GET where
// the server takes it (see claimMode), else of EVALSHA (EVAL once more for all, should
// Redis not know the script yet).
func (r *Redis) ClaimEach(ctx context.Context, lease time.Duration, claims []Claim) {
	valid := make([]int, 0, len(claims))
	for i := range claims {
		c := &claims[i]
		c.State, c.Err = 0, checkClaim(c.Key, c.Token, lease)
		if c.Err == nil {
			valid = append(valid, i)
		}
	}
	if len(valid) == 0 {
		return
	}
	if r.claimMode(ctx) == modeSetGet {
		r.claimEachSetGet(ctx, lease, claims, valid)
		return
	}
	run := func(evalsha bool) []redis.Cmder {
		cmds, _ := r.Pipes.Pipelined(ctx, func(p redis.Pipeliner) error {
			for _, i := range valid {
				keys := []string{r.prefix + claims[i].Key}
				args := []any{processingPrefix + claims[i].Token, millis(lease), doneValue}
				if evalsha {
					claimScript.EvalSha(ctx, p, keys, args...)
				} else {
					claimScript.Eval(ctx, p, keys, args...)
				}
			}
			return nil
		})
		return cmds
	}
	cmds := run(true)
	for _, c := range cmds {
		if redis.HasErrorPrefix(c.Err(), "NOSCRIPT") {
			cmds = run(false) // a restarted or flushed Redis: claims are idempotent per token
			break
		}
	}
	for j, i := range valid {
		c := &claims[i]
		var cmd *redis.Cmd
		if j < len(cmds) {
			cmd, _ = cmds[j].(*redis.Cmd)
		}
		if cmd == nil { // cannot happen: one script command per claim
			c.Err = unavailable("claim", c.Key, errors.New("no answer in the pipeline"))
			continue
		}
		n, err := cmd.Int()
		if err != nil {
			c.Err = unavailable("claim", c.Key, err)
			continue
		}
		c.State, c.Err = stateOf(n, c.Key)
	}
}

func (r *Redis) claimEachSetGet(ctx context.Context, lease time.Duration, claims []Claim, valid []int) {
	cmds, _ := r.Pipes.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, i := range valid {
			p.SetArgs(ctx, r.prefix+claims[i].Key, processingPrefix+claims[i].Token, setGetArgs(lease))
		}
		return nil
	})
	for j, i := range valid {
		c := &claims[i]
		var cmd *redis.StatusCmd
		if j < len(cmds) {
			cmd, _ = cmds[j].(*redis.StatusCmd)
		}
		if cmd == nil { // cannot happen: one SET per claim
			c.Err = unavailable("claim", c.Key, errors.New("no answer in the pipeline"))
			continue
		}
		old, err := cmd.Result()
		c.State, c.Err = r.setGetState(ctx, c.Key, c.Token, lease, old, err)
	}
}

// ClaimEach implements Store by calling Claim for each key.
func (m *Memory) ClaimEach(ctx context.Context, lease time.Duration, claims []Claim) {
	for i := range claims {
		c := &claims[i]
		c.State, c.Err = m.Claim(ctx, c.Key, c.Token, lease)
	}
}
