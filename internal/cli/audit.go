package cli

import (
	"context"
	"errors"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/push"

	"github.com/creditgate/creditgate/internal/audit"
	"github.com/creditgate/creditgate/internal/config"
	"github.com/creditgate/creditgate/internal/dedup"
)

const auditUsage = `usage: creditgate audit --route R [--since 72h] [--push-url URL] [--config F]`

// runAudit compares what Stripe says was paid and taken back with what creditgate
// granted and reversed (package audit), prints every difference and a summary, and
// exits 1 on drift. It only reads; with --push-url it pushes its counts to a
// Prometheus Pushgateway (for a CronJob).
func runAudit(ctx context.Context, env Env, args []string) error {
	fs := newFlags("audit", env)
	path := fs.String("config", config.DefaultFile, "config file")
	route := fs.String("route", "", "route to audit (required)")
	since := fs.Duration("since", 72*time.Hour, "how far back to compare (at most dedup.ttl)")
	pushURL := fs.String("push-url", "", "Prometheus Pushgateway to push the findings to (job creditgate_audit)")
	if help, err := parse(fs, args); help || err != nil {
		return err
	}
	if *route == "" || fs.NArg() > 0 || *since <= 0 {
		fmt.Fprintln(env.Stderr, auditUsage)
		return errUsage
	}
	cfg, err := loadConfig(*path, env)
	if err != nil {
		return err
	}
	if err := withinTTL(cfg, *since, "creditgate's markers and records of older purchases are gone, so every one would look uncredited"); err != nil {
		return err
	}
	if !cfg.Redis.Enabled() {
		return errors.New("audit reads creditgate's markers and purchase records from Redis; with the in-memory store (no redis configured) they live inside the server process: configure redis (redis.url)")
	}
	a, err := build(cfg, newLogger(env.Stderr, "warn"))
	if err != nil {
		return err
	}
	defer a.close()
	return a.audit(ctx, env, *route, time.Now().Add(-*since), *pushURL)
}

func (a *app) audit(ctx context.Context, env Env, route string, since time.Time, pushURL string) error {
	rt, ok := a.byName[route]
	if !ok {
		return fmt.Errorf("route %q is not in the config", route)
	}
	api := a.apis[route]
	if api == nil {
		return fmt.Errorf("route %q has no Stripe API key (stripe.api_key_file): audit reads payments through the API", route)
	}
	marks, ok := a.store.(dedup.Peeker)
	if !ok {
		return fmt.Errorf("the store %T cannot be read without claiming", a.store)
	}
	holds, ok := a.payments.(audit.Holds)
	if !ok {
		return fmt.Errorf("the payments %T cannot be read without holding", a.payments)
	}
	rc := a.routeConfig(route)
	accounts, err := reconcileAccounts(ctx, rc, api)
	if err != nil {
		return err
	}
	rep, err := audit.Auditor{API: api, Marks: marks, Records: a.records, Holds: holds, Parked: a.deadLetters}.Run(ctx,
		audit.Route{Name: route, Events: rt.Events, GrantNoPaymentRequired: rt.GrantNoPaymentRequired, Accounts: accounts}, since)
	if err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	if err := printAudit(env, rep, since); err != nil {
		return err
	}
	if pushURL != "" {
		if err := pushAudit(ctx, pushURL, route, rep); err != nil {
			return fmt.Errorf("push the findings to %s: %w", pushURL, err)
		}
	}
	if n := len(rep.Findings); n > 0 {
		return fmt.Errorf("%d differences between Stripe and creditgate on route %q", n, route)
	}
	return nil
}

func printAudit(env Env, rep audit.Report, since time.Time) error {
	tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KIND\tACCOUNT\tPURCHASE\tPAYMENT_INTENT\tDETAIL")
	for _, f := range rep.Findings {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", f.Kind, dash(f.Account), f.Purchase, dash(f.PaymentIntent), f.Detail)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "since %s: %d paid, %d credited, %d refunds, %d disputes; %d differences",
		since.UTC().Format(time.RFC3339), rep.Paid, rep.Credited, rep.Refunds, rep.Disputes, len(rep.Findings))
	for _, k := range audit.Kinds {
		if n := rep.Count(k); n > 0 {
			fmt.Fprintf(env.Stdout, ", %d %s", n, k)
		}
	}
	_, err := fmt.Fprintln(env.Stdout)
	return err
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// pushAudit pushes creditgate_audit_differences{route,kind} and the time of the run
// to a Pushgateway, grouped by route, replacing the route's previous push.
func pushAudit(ctx context.Context, url, route string, rep audit.Report) error {
	diffs := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "creditgate_audit_differences",
		Help: "Differences between Stripe and creditgate found by the last `creditgate audit`, by kind."}, []string{"kind"})
	for _, k := range audit.Kinds {
		diffs.WithLabelValues(k).Set(float64(rep.Count(k)))
	}
	last := prometheus.NewGauge(prometheus.GaugeOpts{Name: "creditgate_audit_last_run_timestamp_seconds",
		Help: "Unix time of the last completed `creditgate audit`."})
	last.SetToCurrentTime()
	return push.New(url, "creditgate_audit").Grouping("route", route).Collector(diffs).Collector(last).PushContext(ctx)
}
