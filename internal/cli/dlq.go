package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/creditgate/creditgate/internal/config"
	"github.com/creditgate/creditgate/internal/deadletter"
	"github.com/creditgate/creditgate/internal/pipeline"
)

const dlqUsage = `usage: creditgate dlq <list|show ID|replay ID|replay --all|drop ID> [--config F]`

// runDLQ works the dead-letter list of the store the config names. A replay goes
// through the same pipeline as a live delivery (dedup included): an entry whose
// purchase was credited meanwhile is answered "duplicate" and removed.
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
	fs := newFlags("dlq "+sub, env)
	path := fs.String("config", config.DefaultFile, "config file")
	all := fs.Bool("all", false, "replay: every entry")
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
	cfg, err := loadConfig(*path, env)
	if err != nil {
		return err
	}
	log := newLogger(env.Stderr, "warn")
	a, err := build(cfg, log)
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
		entries, err := a.deadLetters.List(ctx)
		if err != nil {
			return err
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
		var entries []deadletter.Entry
		if *all {
			if entries, err = a.deadLetters.List(ctx); err != nil {
				return err
			}
		} else {
			id, err := needID()
			if err != nil {
				return err
			}
			e, err := a.deadLetters.Get(ctx, id)
			if err != nil {
				return err
			}
			entries = append(entries, e)
		}
		failed := 0
		for _, e := range entries {
			res, err := a.replay(ctx, e)
			if err != nil {
				failed++
				fmt.Fprintf(env.Stdout, "%s: %v\n", e.ID, err)
				continue
			}
			fmt.Fprintf(env.Stdout, "%s: %s\n", e.ID, res)
		}
		if failed > 0 {
			return fmt.Errorf("%d of %d replays did not complete; the entries stay in the list", failed, len(entries))
		}
		return nil
	}
	fmt.Fprintln(env.Stderr, dlqUsage)
	return errUsage
}

// replay runs one entry through the pipeline and removes it when its credit is
// settled (forwarded or already credited). Parked again: the entry is updated.
func (a *app) replay(ctx context.Context, e deadletter.Entry) (string, error) {
	rt, ok := a.byName[e.Route]
	if !ok {
		return "", fmt.Errorf("route %q is not in the config", e.Route)
	}
	o, err := a.replayOne(ctx, rt, e)
	if err != nil {
		return "", err
	}
	switch o.Result {
	case pipeline.Forwarded, pipeline.Duplicate, pipeline.Ignored, pipeline.PendingPayment:
		if err := a.deadLetters.Delete(ctx, e.ID); err != nil && !errors.Is(err, deadletter.ErrNotFound) {
			return "", fmt.Errorf("%s, but removing the entry failed: %w", o.Result, err)
		}
		return fmt.Sprintf("%s (%s); entry removed", o.Result, o.Detail), nil
	case pipeline.DeadLettered:
		return fmt.Sprintf("parked again: %s (%s)", o.Reason, o.Detail), nil
	}
	return "", fmt.Errorf("%s: %s", o.Result, o.Detail)
}
