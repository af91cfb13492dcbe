package cli

import (
	"context"
	"fmt"
	"net"
	"regexp"
	"strings"

	"github.com/creditgate/creditgate/internal/config"
	"github.com/creditgate/creditgate/internal/secret"
	"github.com/creditgate/creditgate/internal/server"
)

func runServe(ctx context.Context, env Env, args []string) error {
	fs := newFlags("serve", env)
	path := fs.String("config", config.DefaultFile, "config file")
	if help, err := parse(fs, args); help || err != nil {
		return err
	}
	cfg, err := loadConfig(*path, env)
	if err != nil {
		return err
	}
	log := newLogger(env.Stderr, cfg.LogLevel)
	a, err := build(cfg, log)
	if err != nil {
		return err
	}
	defer a.close()
	defer ownMemoryStore(cfg, log)()
	stopWatch, err := a.startWatch(ctx)
	if err != nil {
		return err
	}
	defer stopWatch()
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
	paths := make([]string, 0, len(cfg.Routes))
	for _, r := range cfg.Routes {
		paths = append(paths, r.Name+"="+r.Path)
	}
	log.Info("creditgate started", "version", Version,
		"listen", webhookLn.Addr().String(), "admin_listen", adminLn.Addr().String(),
		"routes", strings.Join(paths, ","), "store", storeKind(cfg))
	return server.Serve(ctx, log, webhookLn, adminLn,
		server.NewWebhookHandler(server.Deps{
			Logger: log, Metrics: a.metrics, Pipeline: a.pipeline,
			Routes: a.routes, MaxBodyBytes: cfg.MaxBodyBytes,
			Inflight: server.NewBodyBudget(cfg.MaxInflightBodyBytes),
		}),
		server.NewAdminHandler(a.registry, a.log, a.checkers()...),
		cfg.ShutdownTimeout)
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
