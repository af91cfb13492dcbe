package cli

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"text/tabwriter"
	"time"

	"github.com/creditgate/creditgate/internal/config"
	"github.com/creditgate/creditgate/internal/deadletter"
	"github.com/creditgate/creditgate/internal/event"
	"github.com/creditgate/creditgate/internal/outcome"
	"github.com/creditgate/creditgate/internal/pipeline"
	"github.com/creditgate/creditgate/internal/stripeapi"
)

const reconcileUsage = `usage: creditgate reconcile --route R [--since 72h] [--undelivered] [--config F]`

// MaxReconcileWindow is how far back the Events API can list (Stripe keeps 30 days).
const MaxReconcileWindow = 720 * time.Hour

// reconcileOptions are reconcile's flags.
type reconcileOptions struct {
	route       string
	since       time.Duration
	undelivered bool // only the events Stripe failed to deliver (delivery_success=false)
}

// runReconcile lists the route's event types from the Stripe Events API (every
// allowed account's on a Connect route) and runs each event, oldest first, through the
// same pipeline as a webhook (both dedup keys included), so it is safe to run at any
// time: what was handled is a duplicate. It refuses what it cannot deduplicate: a
// window longer than dedup.ttl, and the in-memory store while a server owns it. It
// prints one row per event and a summary, and fails (exit 1) when some event could
// not be settled now (503-class results), so a CronJob shows it.
func runReconcile(ctx context.Context, env Env, args []string) error {
	fs := newFlags("reconcile", env)
	path := fs.String("config", config.DefaultFile, "config file")
	var o reconcileOptions
	fs.StringVar(&o.route, "route", "", "route whose events to reconcile (required)")
	fs.DurationVar(&o.since, "since", 72*time.Hour, "how far back to list events (at most 720h and at most dedup.ttl)")
	fs.BoolVar(&o.undelivered, "undelivered", false, "only the events Stripe failed to deliver (delivery_success=false)")
	if help, err := parse(fs, args); help || err != nil {
		return err
	}
	if o.route == "" || fs.NArg() > 0 || o.since <= 0 || o.since > MaxReconcileWindow {
		fmt.Fprintln(env.Stderr, reconcileUsage)
		if o.since <= 0 || o.since > MaxReconcileWindow {
			fmt.Fprintf(env.Stderr, "--since must be between 1s and %s (Stripe keeps events for 30 days)\n", MaxReconcileWindow)
		}
		return errUsage
	}
	cfg, err := loadConfig(*path, env)
	if err != nil {
		return err
	}
	if err := withinTTL(cfg, o.since, "purchases older than the dedup markers would be forwarded again"); err != nil {
		return err
	}
	release, err := lockMemoryStore(cfg)
	if errors.Is(err, errStoreBusy) {
		return fmt.Errorf("the in-memory store (no redis configured) belongs to a running `creditgate serve` (%w): reconcile in its own process cannot see the server's dedup markers and would forward again what the server credited; configure redis (redis.url) so both share the store, or stop the server first", err)
	}
	if err != nil {
		return err
	}
	defer release()
	if !cfg.Redis.Enabled() {
		fmt.Fprintln(env.Stderr, "creditgate: warning: no redis configured: reconcile starts with empty dedup markers; only the backend's Idempotency-Key stops a second credit of what a server credited before")
	}
	a, err := build(cfg, newLogger(env.Stderr, "warn"))
	if err != nil {
		return err
	}
	defer a.close()
	return a.reconcile(ctx, env, o)
}

// reconcileRow is one event's line of the table.
type reconcileRow struct {
	id, typ, account string
	created          int64
	o                pipeline.Outcome
	label            string
}

// listed is one event from the Events API, with the account it was listed for.
type listed struct {
	raw     []byte
	account string
	created int64
	order   int // position in the listing, newest first
}

func (a *app) reconcile(ctx context.Context, env Env, opt reconcileOptions) error {
	rt, ok := a.byName[opt.route]
	if !ok {
		return fmt.Errorf("route %q is not in the config", opt.route)
	}
	api := a.apis[opt.route]
	if api == nil {
		return fmt.Errorf("route %q has no Stripe API key (stripe.api_key_file): reconcile reads the Events API", opt.route)
	}
	rc := a.routeConfig(opt.route)
	accounts, err := reconcileAccounts(ctx, rc, api)
	if err != nil {
		return err
	}
	since := time.Now().Add(-opt.since)
	var events []listed
	for _, acct := range accounts {
		q := stripeapi.EventQuery{Since: since, Types: rc.Events, Account: acct, Undelivered: opt.undelivered}
		err := api.Events(ctx, q, func(raw []byte) error {
			ev, _ := event.DecodeEnvelope(raw)
			events = append(events, listed{raw: raw, account: acct, created: ev.Created, order: len(events)})
			return nil
		})
		if err != nil {
			return fmt.Errorf("list events%s: %w", accountSuffix(acct), err)
		}
	}
	// Oldest first, so a purchase is credited before its refund; the API lists newest
	// first, so within one second the later position is the older event.
	slices.SortStableFunc(events, func(x, y listed) int {
		return cmp.Or(cmp.Compare(x.created, y.created), cmp.Compare(y.order, x.order))
	})
	rows := make([]reconcileRow, 0, len(events))
	for _, e := range events {
		if err := ctx.Err(); err != nil {
			return err
		}
		rows = append(rows, a.reconcileOne(ctx, rt, e))
	}
	return printReconcile(env, rows, since, opt, accounts)
}

// reconcileOne runs one listed event through the pipeline and labels its outcome.
func (a *app) reconcileOne(ctx context.Context, rt *pipeline.Route, e listed) reconcileRow {
	ev, err := event.Decode(e.raw)
	if err != nil {
		o := pipeline.Outcome{Result: outcome.MalformedEvent, Detail: err.Error()}
		return reconcileRow{account: e.account, o: o, label: "failed"}
	}
	o := a.pipeline.Process(ctx, rt, pipeline.Delivery{Raw: e.raw, Event: ev})
	r := reconcileRow{id: ev.ID, typ: ev.Type, account: ev.Account, created: ev.Created, o: o, label: reconcileLabel(o)}
	if o.Result == outcome.Duplicate && o.Reason == outcome.ReasonEvent {
		// Settled before: credited, or parked and answered 200 then. Say which.
		switch entry, err := a.deadLetters.Get(ctx, deadletter.EntryID(rt.Name, ev.ID)); {
		case err == nil:
			r.label, r.o.Reason = "parked", outcome.ReasonParkedEarlier
			r.o.Detail = fmt.Sprintf("in the dead-letter list since %s (%s): creditgate dlq show %s", entry.ParkedAt.Format(time.RFC3339), entry.Reason, entry.ID)
		case !errors.Is(err, deadletter.ErrNotFound):
			r.label, r.o.Detail = "failed", "dead-letter list: "+err.Error()
		}
	}
	return r
}

func printReconcile(env Env, rows []reconcileRow, since time.Time, opt reconcileOptions, accounts []string) error {
	tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "EVENT\tTYPE\tCREATED\tRESULT\tREASON\tDETAIL")
	counts := map[string]int{}
	for _, r := range rows {
		counts[r.label]++
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%.80s\n", r.id, r.typ, time.Unix(r.created, 0).UTC().Format(time.RFC3339), r.o.Result, r.o.Reason, r.o.Detail)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	what := "events"
	if opt.undelivered {
		what = "undelivered events"
	}
	var where string
	if len(accounts) != 1 || accounts[0] != "" { // a Connect route
		where = fmt.Sprintf(" in %d account(s)", len(accounts))
	}
	fmt.Fprintf(env.Stdout, "%d %s%s since %s: %d already done, %d credited now, %d parked, %d ignored, %d failed\n",
		len(rows), what, where, since.UTC().Format(time.RFC3339),
		counts["already done"], counts["credited now"], counts["parked"], counts["ignored"], counts["failed"])
	if n := counts["failed"]; n > 0 {
		return fmt.Errorf("%d of %d events could not be settled now; run reconcile again", n, len(rows))
	}
	return nil
}

// reconcileAccounts are the accounts whose events reconcile lists: the platform's
// own ("") on an ordinary route; on a Connect route every allowed account, or, with
// no allow-list, every connected account the platform's API lists.
func reconcileAccounts(ctx context.Context, rc config.Route, api *stripeapi.Client) ([]string, error) {
	if !rc.Connect {
		return []string{""}, nil
	}
	if len(rc.ConnectAccounts) > 0 {
		return rc.ConnectAccounts, nil
	}
	var out []string
	err := api.Accounts(ctx, func(id string) error {
		out = append(out, id)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list connected accounts (route %q has no connect_accounts): %w", rc.Name, err)
	}
	return out, nil
}

// withinTTL refuses a --since beyond dedup.ttl; why says what would go wrong.
func withinTTL(cfg *config.Config, since time.Duration, why string) error {
	if since > cfg.Dedup.TTL {
		return fmt.Errorf("--since %s reaches beyond dedup.ttl (%s): %s; use --since %s or less, or raise dedup.ttl", since, cfg.Dedup.TTL, why, cfg.Dedup.TTL)
	}
	return nil
}

// routeConfig returns the configured route named name (it exists: byName has it).
func (a *app) routeConfig(name string) config.Route {
	for _, rc := range a.cfg.Routes {
		if rc.Name == name {
			return rc
		}
	}
	return config.Route{}
}

func accountSuffix(acct string) string {
	if acct == "" {
		return ""
	}
	return " of " + acct
}

// reconcileLabel groups an Outcome for the summary line. A backend that had the
// credit already (409) is "already done", not "credited now".
func reconcileLabel(o pipeline.Outcome) string {
	switch o.Result {
	case outcome.Duplicate:
		return "already done"
	case outcome.Forwarded:
		if o.Reason == outcome.ReasonAlreadyCredited {
			return "already done"
		}
		return "credited now"
	case outcome.DeadLettered:
		return "parked"
	case outcome.Ignored, outcome.PendingPayment, outcome.LivemodeMismatch:
		return "ignored"
	}
	return "failed"
}
