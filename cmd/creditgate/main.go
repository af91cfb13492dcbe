// Command creditgate verifies Stripe webhooks, credits each purchase exactly once, and
// forwards one signed request to the backend. See README.md.
package main

import (
	"context"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/creditgate/creditgate/internal/cli"
	"github.com/creditgate/creditgate/internal/redisclient"
)

func main() {
	redisclient.RouteLibraryLogs(slog.New(slog.NewJSONHandler(os.Stderr, nil)))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Main(ctx, os.Args, os.Getenv, os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
