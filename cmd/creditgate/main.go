// Command creditgate verifies Stripe webhooks, credits each purchase exactly once, and
// forwards one signed request to the backend. See README.md.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/creditgate/creditgate/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Main(ctx, os.Args, os.Getenv, os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
