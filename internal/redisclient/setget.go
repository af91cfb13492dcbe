package redisclient

import (
	"errors"
	"strings"

	"github.com/redis/go-redis/v9"
)

// RefusesSetGet reports whether err is the server refusing SET with both NX and GET,
// as Redis 6.x does ("ERR syntax error"; 7.0 and later take them together). Any other
// failure (no connection, LOADING, OOM, READONLY during a failover) says nothing about
// the server's version. The dedup claims and the customer map use it to fall back to
// their scripts.
func RefusesSetGet(err error) bool {
	var answer redis.Error
	return errors.As(err, &answer) && strings.HasPrefix(answer.Error(), "ERR")
}
