package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/creditgate/creditgate/internal/config"
	"github.com/creditgate/creditgate/internal/deadletter"
)

const dlqUsage = `usage: creditgate dlq <list|show ID|replay ID|replay --all|drop ID> [--config F]
  list    [--route R] [--reason W] [--older-than D] [--newer-than D] [--json]
  replay  ID [--user U] [--credits N]   supply what the event lacks (see the runbook)
  replay  --all [--route R] [--reason W] [--older-than D] [--newer-than D]`

// dlqFlags are the flags of every dlq subcommand.
type dlqFlags struct {
	config, user, credits string
	all, json             bool
	filter                deadletter.Filter
}

// runDLQ works the dead-letter list of the store the config names.
func runDLQ(ctx context.Context, env Env, args []string) error {
	if len(args) == 0 {
		fmt.Fprintln(env.Stderr, dlqUsage)
		return errUsage
	}
	sub := args[0]
	switch sub {
	case "list", "show", "replay", "drop":
	case "-h", "--help", "help":
		fmt.Fprintln(env.Stderr, dlqUsage)
		return nil
	default:
		// Before loading the config: a typo is a usage error, not a store to open.
		fmt.Fprintf(env.Stderr, "creditgate dlq: unknown subcommand %q\n", sub)
		fmt.Fprintln(env.Stderr, dlqUsage)
		return errUsage
	}
	var f dlqFlags
	fs := newFlags("dlq "+sub, env)
	fs.StringVar(&f.config, "config", config.DefaultFile, "config file")
	fs.BoolVar(&f.all, "all", false, "replay: every entry (that the filters select)")
	fs.StringVar(&f.filter.Route, "route", "", "list, replay --all: only entries of this route")
	fs.StringVar(&f.filter.Reason, "reason", "", "list, replay --all: only entries parked for this reason (no_user_id, ...)")
	fs.DurationVar(&f.filter.Older, "older-than", 0, "list, replay --all: only entries parked at least this long ago (e.g. 24h)")
	fs.DurationVar(&f.filter.Newer, "newer-than", 0, "list, replay --all: only entries parked less than this long ago")
	fs.BoolVar(&f.json, "json", false, "list: print the entries as a JSON array (without their payloads; see show)")
	fs.StringVar(&f.user, "user", "", "replay ID: the user id to credit, for an entry parked for a missing or bad user id")
	fs.StringVar(&f.credits, "credits", "", "replay ID: the credits to grant, for an entry parked for missing or bad credits")
	// Accept flags before and after the id.
	var ids []string
	rest := args[1:]
	for {
		if help, err := parse(fs, rest); help || err != nil {
			return err
		}
		if fs.NArg() == 0 {
			break
		}
		ids = append(ids, fs.Arg(0))
		rest = fs.Args()[1:]
	}
	fix, err := f.fix(sub, ids)
	if err != nil {
		fmt.Fprintf(env.Stderr, "creditgate dlq %s: %v\n", sub, err)
		fmt.Fprintln(env.Stderr, dlqUsage)
		return errUsage
	}
	cfg, err := loadConfig(f.config, env)
	if err != nil {
		return err
	}
	a, err := build(cfg, newLogger(env.Stderr, "warn"))
	if err != nil {
		return err
	}
	defer a.close()
	needID := func() (string, error) {
		if len(ids) != 1 {
			fmt.Fprintln(env.Stderr, dlqUsage)
			return "", errUsage
		}
		return ids[0], nil
	}
	switch sub {
	case "list":
		return a.listDLQ(ctx, env, f)
	case "show":
		id, err := needID()
		if err != nil {
			return err
		}
		e, err := a.deadLetters.Get(ctx, id)
		if err != nil {
			return err
		}
		enc := json.NewEncoder(env.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(e)
	case "drop":
		id, err := needID()
		if err != nil {
			return err
		}
		if err := a.deadLetters.Delete(ctx, id); err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "dropped %s\n", id)
		return nil
	case "replay":
		if f.all {
			return a.replayAll(ctx, env, f.filter)
		}
		id, err := needID()
		if err != nil {
			return err
		}
		return a.replayOne(ctx, env, id, fix)
	}
	fmt.Fprintln(env.Stderr, dlqUsage)
	return errUsage
}

// fix checks the flag combinations and returns what replay --user/--credits supply.
func (f dlqFlags) fix(sub string, ids []string) (replayFix, error) {
	var fix replayFix
	if f.user == "" && f.credits == "" {
		return fix, nil
	}
	if sub != "replay" || f.all || len(ids) != 1 {
		return fix, fmt.Errorf("--user and --credits fix one entry: dlq replay ID --user U --credits N")
	}
	fix.user = f.user
	if f.credits != "" {
		n, err := strconv.ParseInt(f.credits, 10, 64)
		if err != nil || n < 1 {
			return fix, fmt.Errorf("--credits %q: want a positive integer", f.credits)
		}
		fix.credits = n
	}
	return fix, nil
}

// listDLQ prints the entries the filter selects, as a table or JSON.
func (a *app) listDLQ(ctx context.Context, env Env, f dlqFlags) error {
	entries, err := a.selectEntries(ctx, f.filter)
	if err != nil {
		return err
	}
	if f.json {
		for i := range entries {
			entries[i].Payload = ""
		}
		if entries == nil {
			entries = []deadletter.Entry{}
		}
		enc := json.NewEncoder(env.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(entries)
	}
	tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tPARKED\tREASON\tTYPE\tREPLAYS\tDETAIL")
	for _, e := range entries {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%.80s\n", e.ID, e.ParkedAt.Format(time.RFC3339), e.Reason, e.EventType, e.Replays, e.Detail)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "%d entries\n", len(entries))
	return nil
}

// selectEntries returns the entries f selects, oldest first.
func (a *app) selectEntries(ctx context.Context, f deadletter.Filter) ([]deadletter.Entry, error) {
	all, err := a.deadLetters.List(ctx)
	if err != nil {
		return nil, err
	}
	var out []deadletter.Entry
	now := time.Now()
	for _, e := range all {
		if f.Match(e, now) {
			out = append(out, e)
		}
	}
	return out, nil
}
