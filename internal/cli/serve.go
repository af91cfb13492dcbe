package cli

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"regexp"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/creditgate/creditgate/internal/config"
	"github.com/creditgate/creditgate/internal/jsonlog"
	"github.com/creditgate/creditgate/internal/secret"
	"github.com/creditgate/creditgate/internal/server"
)

// DefaultGCPercent is the garbage collector's target when GOGC is not set: the heap
// may grow to three times what is live before a collection, instead of Go's two. On
// the load harness a webhook then cost about a fifth less CPU and peak RSS grew from
// about 23 to 27 MB (docs/benchmarks.md); GOMEMLIMIT, which the chart sets from the
// container's memory limit, still caps the heap. GOGC, when set, wins.
const DefaultGCPercent = 200

// tuneGC sets DefaultGCPercent unless GOGC is set.
func tuneGC(getenv func(string) string) {
	if getenv("GOGC") == "" {
		debug.SetGCPercent(DefaultGCPercent)
	}
}

func runServe(ctx context.Context, env Env, args []string) error {
	fs := newFlags("serve", env)
	path := fs.String("config", config.DefaultFile, "config file")
	watch := fs.Duration("watch-interval", DefaultWatchInterval, "how often to look for a changed config file or referenced file (0: only on SIGHUP)")
	if help, err := parse(fs, args); help || err != nil {
		return err
	}
	cfg, err := loadConfig(*path, env)
	if err != nil {
		return err
	}
	tuneGC(env.Getenv)
	level := new(slog.LevelVar)
	_ = level.UnmarshalText([]byte(cfg.LogLevel))
	lh := jsonlog.NewBuffered(env.Stderr, &slog.HandlerOptions{Level: level}, cfg.LogFlushInterval)
	defer lh.Flush() // last: after the stop's own lines
	log := slog.New(lh)
	a, err := build(cfg, log)
	if err != nil {
		return err
	}
	defer a.close()
	defer ownMemoryStore(cfg, log)()
	stopStripeWatch, err := a.startWatch(ctx)
	if err != nil {
		return err
	}
	defer stopStripeWatch()
	if exp := otlpExporter(env.Getenv, log); exp != nil {
		a.tracer.SetExporter(exp)
		defer func() {
			ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			exp.Shutdown(ctx)
		}()
	}
	webhookLn, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	adminLn, err := net.Listen("tcp", cfg.AdminListen)
	if err != nil {
		_ = webhookLn.Close()
		return fmt.Errorf("admin_listen: %w", err)
	}
	webhookLn = server.LimitListener(webhookLn, cfg.MaxConnections)
	adminLn = server.LimitListener(adminLn, cfg.AdminMaxConnections)
	inflight := server.NewBodyBudget(cfg.MaxInflightBodyBytes) // one budget across reloads
	rl := newReloader(*path, env.Getenv, a, level, func(cfg *config.Config, rs *routeSet) http.Handler {
		return server.NewWebhookHandler(server.Deps{
			Logger: log, Metrics: a.metrics, Pipeline: a.pipeline,
			Routes: rs.routes, MaxBodyBytes: cfg.MaxBodyBytes, Tracer: a.tracer,
			Inflight: inflight,
		})
	})
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	wctx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	go rl.watch(wctx, *watch, hup)
	gatherer := &backlog{reg: a.registry, m: a.metrics, list: a.deadLetters, routes: rl.routeNames, log: log}
	log.Info("creditgate started", "version", Version,
		"listen", webhookLn.Addr().String(), "admin_listen", adminLn.Addr().String(),
		"routes", routeList(cfg), "store", storeKind(cfg), "watch_interval", watch.String())
	return server.Serve(ctx, log, webhookLn, adminLn, rl.sw,
		server.NewAdminHandler(gatherer, a.log, a.checkers()...),
		cfg.ShutdownTimeout)
}

// routeList is "name=path,..." for the log.
func routeList(cfg *config.Config) string {
	paths := make([]string, 0, len(cfg.Routes))
	for _, r := range cfg.Routes {
		paths = append(paths, r.Name+"="+r.Path)
	}
	return strings.Join(paths, ",")
}

func storeKind(cfg *config.Config) string {
	switch {
	case cfg.Redis.Sentinel != nil:
		return "redis-sentinel"
	case len(cfg.Redis.ClusterAddrs) > 0:
		return "redis-cluster"
	case cfg.Redis.Enabled():
		return "redis"
	}
	return "memory"
}

func runCheckConfig(_ context.Context, env Env, args []string) error {
	fs := newFlags("check-config", env)
	path := fs.String("config", config.DefaultFile, "config file")
	if help, err := parse(fs, args); help || err != nil {
		return err
	}
	cfg, err := loadConfig(*path, env)
	if err != nil {
		return err
	}
	if err := checkBuild(cfg); err != nil {
		return notValid(*path, env, err)
	}
	fmt.Fprintf(env.Stdout, "config %s is valid: %d route(s), store %s\n", *path, len(cfg.Routes), storeKind(cfg))
	for _, r := range cfg.Routes {
		fmt.Fprintf(env.Stdout, "  route %s: POST %s (livemode=%t) -> %s, %d signing secret(s), %d forwarding key(s), events %s\n",
			r.Name, r.Path, r.Livemode, secret.URL(r.Forward.URL), len(r.Stripe.SigningSecrets), len(r.Forward.SigningKeys), strings.Join(r.Events, ","))
		for _, n := range r.Notes() {
			fmt.Fprintf(env.Stdout, "    note: %s\n", n)
		}
	}
	return nil
}

// stripeSecretLike matches values shaped like Stripe secrets: webhook signing secrets
// and secret or restricted API keys.
var stripeSecretLike = regexp.MustCompile(`\b(whsec|sk_live|sk_test|rk_live|rk_test)_[0-9A-Za-z_]+`)

// redactProblem hides Stripe-shaped secrets in a problem line. Config problems quote
// the values of ordinary fields (listen, log_level, events, forward.url, ...), and a
// secret that landed in one of them, say through the wrong ${VAR}, must not end up in
// a terminal or a CI log.
func redactProblem(line string) string {
	return stripeSecretLike.ReplaceAllString(line, "${1}_"+secret.Redacted)
}

// problemLines flattens joined errors into one line each, Stripe secrets redacted.
func problemLines(err error) []string {
	var out []string
	var walk func(error)
	walk = func(e error) {
		if j, ok := e.(interface{ Unwrap() []error }); ok {
			for _, c := range j.Unwrap() {
				walk(c)
			}
			return
		}
		out = append(out, redactProblem(strings.ReplaceAll(e.Error(), "\n", " ")))
	}
	walk(err)
	return out
}
