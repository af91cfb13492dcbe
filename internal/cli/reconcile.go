package cli

import (
	"context"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/creditgate/creditgate/internal/config"
	"github.com/creditgate/creditgate/internal/event"
	"github.com/creditgate/creditgate/internal/pipeline"
	"github.com/creditgate/creditgate/internal/stripeapi"
)

const reconcileUsage = `usage: creditgate reconcile --route R [--since 72h] [--config F]`

// MaxReconcileWindow is how far back the Events API can list (Stripe keeps 30 days).
const MaxReconcileWindow = 720 * time.Hour

// runReconcile lists the route's event types from the Stripe Events API and runs each
// event, oldest first, through the same pipeline as a webhook (both dedup keys
// included), so it is safe to run at any time: what was handled is a duplicate. It
// prints one row per event and a summary, and fails (exit 1) when some event could
// not be settled now (503-class results), so a CronJob shows it.
func runReconcile(ctx context.Context, env Env, args []string) error {
	fs := newFlags("reconcile", env)
	path := fs.String("config", config.DefaultFile, "config file")
	routeName := fs.String("route", "", "route whose events to reconcile (required)")
	since := fs.Duration("since", 72*time.Hour, "how far back to list events (at most 720h)")
	if help, err := parse(fs, args); help || err != nil {
		return err
	}
	if *routeName == "" || fs.NArg() > 0 || *since <= 0 || *since > MaxReconcileWindow {
		fmt.Fprintln(env.Stderr, reconcileUsage)
		if *since <= 0 || *since > MaxReconcileWindow {
			fmt.Fprintf(env.Stderr, "--since must be between 1s and %s (Stripe keeps events for 30 days)\n", MaxReconcileWindow)
		}
		return errUsage
	}
	cfg, err := loadConfig(*path, env)
	if err != nil {
		return err
	}
	a, err := build(cfg, newLogger(env.Stderr, "warn"))
	if err != nil {
		return err
	}
	defer a.close()
	return a.reconcile(ctx, env, *routeName, *since)
}

// reconcileRow is one event's line of the table.
type reconcileRow struct {
	id, typ string
	created int64
	o       pipeline.Outcome
}

func (a *app) reconcile(ctx context.Context, env Env, routeName string, since time.Duration) error {
	rt, ok := a.byName[routeName]
	if !ok {
		return fmt.Errorf("route %q is not in the config", routeName)
	}
	api := a.apis[routeName]
	if api == nil {
		return fmt.Errorf("route %q has no Stripe API key (stripe.api_key_file): reconcile reads the Events API", routeName)
	}
	var types []string
	for _, rc := range a.cfg.Routes {
		if rc.Name == routeName {
			types = rc.Events
		}
	}
	var raws [][]byte
	err := api.Events(ctx, stripeapi.EventQuery{Since: time.Now().Add(-since), Types: types}, func(raw []byte) error {
		raws = append(raws, raw)
		return nil
	})
	if err != nil {
		return fmt.Errorf("list events: %w", err)
	}
	var rows []reconcileRow
	for i := len(raws) - 1; i >= 0; i-- { // the API lists newest first; credit before reversing
		if err := ctx.Err(); err != nil {
			return err
		}
		ev, err := event.Decode(raws[i])
		if err != nil {
			rows = append(rows, reconcileRow{o: pipeline.Outcome{Result: pipeline.MalformedEvent, Detail: err.Error()}})
			continue
		}
		o := a.pipeline.Process(ctx, rt, pipeline.Delivery{Raw: raws[i], Event: ev})
		rows = append(rows, reconcileRow{id: ev.ID, typ: ev.Type, created: ev.Created, o: o})
	}

	tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "EVENT\tTYPE\tCREATED\tRESULT\tREASON\tDETAIL")
	counts := map[string]int{}
	failed := 0
	for _, r := range rows {
		what := reconcileLabel(r.o.Result)
		counts[what]++
		if what == "failed" {
			failed++
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%.80s\n", r.id, r.typ, time.Unix(r.created, 0).UTC().Format(time.RFC3339), r.o.Result, r.o.Reason, r.o.Detail)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "%d events since %s: %d already done, %d credited now, %d parked, %d ignored, %d failed\n",
		len(rows), time.Now().Add(-since).UTC().Format(time.RFC3339),
		counts["already done"], counts["credited now"], counts["parked"], counts["ignored"], counts["failed"])
	if failed > 0 {
		return fmt.Errorf("%d of %d events could not be settled now; run reconcile again", failed, len(rows))
	}
	return nil
}

// reconcileLabel groups a Result for the summary line.
func reconcileLabel(r pipeline.Result) string {
	switch r {
	case pipeline.Duplicate:
		return "already done"
	case pipeline.Forwarded:
		return "credited now"
	case pipeline.DeadLettered:
		return "parked"
	case pipeline.Ignored, pipeline.PendingPayment, pipeline.LivemodeMismatch:
		return "ignored"
	}
	return "failed"
}
