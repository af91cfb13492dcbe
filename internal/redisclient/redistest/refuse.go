package redistest

import (
	"cmp"
	"context"
	"fmt"
	"strings"

	"github.com/redis/go-redis/v9"
)

// RefuseSetGet is a go-redis hook that answers every SET ... GET with an error: by
// default as Redis 6.x answers SET with both NX and GET ("ERR syntax error"); with
// Answer, as a server that cannot serve now ("LOADING ..."). In a pipeline only those
// commands are refused and the others go to Redis, as a real server answers each
// command of a pipeline on its own.
type RefuseSetGet struct{ Answer string }

type refusal string

func (e refusal) Error() string { return string(e) }
func (refusal) RedisError()     {}

// DialHook implements redis.Hook.
func (RefuseSetGet) DialHook(next redis.DialHook) redis.DialHook { return next }

// ProcessHook implements redis.Hook.
func (h RefuseSetGet) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if h.refused(cmd) {
			return cmd.Err()
		}
		return next(ctx, cmd)
	}
}

// ProcessPipelineHook implements redis.Hook.
func (h RefuseSetGet) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		rest := make([]redis.Cmder, 0, len(cmds))
		var err error
		for _, cmd := range cmds {
			if h.refused(cmd) {
				err = cmp.Or(err, cmd.Err())
				continue
			}
			rest = append(rest, cmd)
		}
		if len(rest) > 0 {
			err = cmp.Or(next(ctx, rest), err)
		}
		return err
	}
}

func (h RefuseSetGet) refused(cmd redis.Cmder) bool {
	args := cmd.Args()
	if cmd.Name() != "set" || !strings.EqualFold(fmt.Sprint(args[len(args)-1]), "get") {
		return false
	}
	cmd.SetErr(refusal(cmp.Or(h.Answer, "ERR syntax error")))
	return true
}
