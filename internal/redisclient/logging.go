package redisclient

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/redis/go-redis/v9"
)

// RouteLibraryLogs sends go-redis' own log lines (pool dial failures and the like),
// which it otherwise prints in plain text to stderr, to l as JSON at warn level.
// go-redis keeps its logger in a process-wide variable, so only main calls this, once,
// before any client exists.
func RouteLibraryLogs(l *slog.Logger) {
	redis.SetLogger(libraryLogger{l})
}

type libraryLogger struct{ l *slog.Logger }

func (g libraryLogger) Printf(ctx context.Context, format string, v ...any) {
	g.l.WarnContext(ctx, "redis client", "detail", fmt.Sprintf(format, v...))
}
