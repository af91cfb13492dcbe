package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/creditgate/creditgate/internal/config"
	"github.com/creditgate/creditgate/internal/deadletter"
	"github.com/creditgate/creditgate/internal/event"
	"github.com/creditgate/creditgate/internal/extract"
	"github.com/creditgate/creditgate/internal/outcome"
	"github.com/creditgate/creditgate/internal/pipeline"
)

// replayFix is what an operator supplies for an entry the event alone cannot credit
// (dlq replay ID --user U --credits N). The zero value supplies nothing.
type replayFix struct {
	user    string
	credits int64
}

func (f replayFix) isZero() bool { return f.user == "" && f.credits == 0 }

// fixableReasons are the reasons --user and --credits resolve: the event lacks a
// usable user id or credits. Any other reason has a cause outside the event (a
// backend, an API key, a payment) to fix first.
var fixableReasons = map[outcome.Reason]bool{
	outcome.ReasonNoUserID: true, outcome.ReasonBadUserID: true, outcome.ReasonNoCredits: true,
	outcome.ReasonBadCredits: true, outcome.ReasonUnknownPrice: true,
}

// replayed is what one replay came to.
type replayed struct {
	line        string // for the operator
	parkedAgain bool
}

func (a *app) replayOne(ctx context.Context, env Env, id string, fix replayFix) error {
	e, err := a.deadLetters.Get(ctx, id)
	if err != nil {
		return err
	}
	return a.replayEntries(ctx, env, []deadletter.Entry{e}, fix)
}

func (a *app) replayAll(ctx context.Context, env Env, f deadletter.Filter) error {
	entries, err := a.selectEntries(ctx, f)
	if err != nil {
		return err
	}
	return a.replayEntries(ctx, env, entries, replayFix{})
}

// replayEntries replays each entry and fails when any did not end settled: parked
// again (the cause is still there) or not finished (a store or backend outage).
func (a *app) replayEntries(ctx context.Context, env Env, entries []deadletter.Entry, fix replayFix) error {
	audit := newLogger(env.Stderr, "info")
	operator := env.Getenv("USER")
	failed, parked := 0, 0
	for _, e := range entries {
		r, err := a.replay(ctx, e, fix, operator, audit)
		switch {
		case err != nil:
			failed++
			fmt.Fprintf(env.Stdout, "%s: %v\n", e.ID, err)
		case r.parkedAgain:
			parked++
			fmt.Fprintf(env.Stdout, "%s: %s\n", e.ID, r.line)
		default:
			fmt.Fprintf(env.Stdout, "%s: %s\n", e.ID, r.line)
		}
	}
	var errs []error
	if parked > 0 {
		errs = append(errs, fmt.Errorf("%d of %d entries were parked again; `dlq show ID` says why", parked, len(entries)))
	}
	if failed > 0 {
		errs = append(errs, fmt.Errorf("%d of %d replays did not complete; the entries stay in the list", failed, len(entries)))
	}
	return errors.Join(errs...)
}

// replay runs one entry through the pipeline, with the operator's fix when there is
// one, and removes it when its credit is settled (forwarded, or already credited).
// Parked again, the entry keeps its first parked time and its original event, and
// records this replay. Every replay writes one audit log line.
func (a *app) replay(ctx context.Context, e deadletter.Entry, fix replayFix, operator string, audit *slog.Logger) (replayed, error) {
	rt, ok := a.byName[e.Route]
	if !ok {
		return replayed{}, fmt.Errorf("route %q is not in the config", e.Route)
	}
	payload := []byte(e.Payload)
	if !fix.isZero() {
		if !fixableReasons[outcome.Reason(e.Reason)] {
			return replayed{}, fmt.Errorf("parked for %s: --user and --credits resolve only a missing or bad user id or credits; fix the cause and replay without them", e.Reason)
		}
		if event.IsThin(payload) {
			return replayed{}, errors.New("a thin event carries no object to fix: correct the object in Stripe (its metadata) and replay without --user and --credits")
		}
		var err error
		if rt, err = a.fixedRoute(rt, fix); err != nil {
			return replayed{}, err
		}
		if payload, err = withFix(payload, fix); err != nil {
			return replayed{}, fmt.Errorf("stored payload: %w", err)
		}
	}
	o, err := a.processParked(ctx, rt, payload, e)
	if err != nil {
		return replayed{}, err
	}
	audit.Info("dlq replay", "entry", e.ID, "route", e.Route, "event_id", e.EventID, "operator", operator,
		"user_id", fix.user, "credits", fix.credits, "result", string(o.Result), "reason", string(o.Reason), "parked_at", e.ParkedAt)
	switch o.Result {
	case outcome.Forwarded, outcome.Duplicate, outcome.Ignored, outcome.PendingPayment:
		if err := a.deadLetters.Delete(ctx, e.ID); err != nil && !errors.Is(err, deadletter.ErrNotFound) {
			return replayed{}, fmt.Errorf("%s, but removing the entry failed: %w", o.Result, err)
		}
		return replayed{line: fmt.Sprintf("%s (%s); entry removed", o.Result, o.Detail)}, nil
	case outcome.DeadLettered:
		if err := a.keepHistory(ctx, e, deadletter.Replay{
			At: time.Now().UTC().Truncate(time.Millisecond), Operator: operator,
			UserID: fix.user, Credits: fix.credits, Result: string(o.Result), Reason: string(o.Reason),
		}); err != nil {
			return replayed{}, fmt.Errorf("parked again (%s), but restoring the entry's history failed: %w", o.Reason, err)
		}
		return replayed{line: fmt.Sprintf("parked again: %s (%s)", o.Reason, o.Detail), parkedAgain: true}, nil
	}
	return replayed{}, fmt.Errorf("%s: %s", o.Result, o.Detail)
}

// keepHistory rewrites the entry the replay parked again with the first parked time
// and the event as Stripe sent it, and records the replay.
func (a *app) keepHistory(ctx context.Context, first deadletter.Entry, r deadletter.Replay) error {
	cur, err := a.deadLetters.Get(ctx, first.ID)
	if err != nil {
		return err
	}
	cur.ParkedAt, cur.Payload, cur.LastReplay = first.ParkedAt, first.Payload, r
	return a.deadLetters.Park(ctx, cur)
}

// fixedRoute is rt extracting the user id, the credits or both from the event's
// metadata alone, where withFix puts the operator's values: they are validated like
// any live value (user_id_format, max_credits).
func (a *app) fixedRoute(rt *pipeline.Route, fix replayFix) (*pipeline.Route, error) {
	var ex config.Extract
	for _, rc := range a.cfg.Routes {
		if rc.Name == rt.Name {
			ex = rc.Extract
		}
	}
	if fix.user != "" {
		ex.UserID = []string{outcome.SourceMetadataUserID}
	}
	if fix.credits != 0 {
		ex.Credits = []string{outcome.SourceMetadataCredits}
	}
	x, err := extract.New(ex)
	if err != nil {
		return nil, err
	}
	fixed := *rt
	fixed.Extractor = x
	return &fixed, nil
}

// withFix returns the event with the operator's values in data.object.metadata.
func withFix(payload []byte, fix replayFix) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber() // amounts and timestamps stay exactly as Stripe sent them
	var ev map[string]any
	if err := dec.Decode(&ev); err != nil {
		return nil, err
	}
	data, _ := ev["data"].(map[string]any)
	obj, _ := data["object"].(map[string]any)
	if obj == nil {
		return nil, errors.New("no data.object")
	}
	md, _ := obj["metadata"].(map[string]any)
	if md == nil {
		md = map[string]any{}
	}
	if fix.user != "" {
		md["user_id"] = fix.user
	}
	if fix.credits != 0 {
		md["credits"] = strconv.FormatInt(fix.credits, 10)
	}
	obj["metadata"] = md
	return json.Marshal(ev)
}
