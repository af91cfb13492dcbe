// Command profiled is cmd/creditgate with profiling: when CREDITGATE_BENCH_CPUPROFILE
// names a file, it writes a CPU profile there for the whole run and an allocation
// profile next to it (".allocs") when it exits. The load harness builds it for
// -profile; it is never shipped.
package main

import (
	"context"
	"log/slog"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"

	"github.com/creditgate/creditgate/internal/cli"
	"github.com/creditgate/creditgate/internal/redisclient"
)

func main() {
	redisclient.RouteLibraryLogs(slog.New(slog.NewJSONHandler(os.Stderr, nil)))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	path := os.Getenv("CREDITGATE_BENCH_CPUPROFILE")
	var f *os.File
	if path != "" {
		var err error
		if f, err = os.Create(path); err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			slog.Error("cpu profile", "error", err)
			os.Exit(1)
		}
	}
	code := cli.Main(ctx, os.Args, os.Getenv, os.Stdin, os.Stdout, os.Stderr)
	stop()
	if f != nil {
		pprof.StopCPUProfile()
		_ = f.Close()
		if a, err := os.Create(path + ".allocs"); err == nil {
			_ = pprof.Lookup("allocs").WriteTo(a, 0)
			_ = a.Close()
		}
	}
	os.Exit(code)
}
