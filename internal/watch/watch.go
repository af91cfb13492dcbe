// Package watch notices when Stripe stops talking to a route. In the background it
// reads each route's webhook endpoint from the Stripe API (is it enabled, does its
// URL still point at the route, does it send every event type the route handles) and
// counts the events Stripe failed to deliver recently, and exports what it finds as
// gauges, so that an alert pages someone within minutes of Stripe disabling an
// endpoint after days of failures, instead of never.
//
// The watch only reads; its reads come out of the route's API read budget.
package watch

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/creditgate/creditgate/internal/stripeapi"
)

// API is the part of the Stripe API the watch reads (stripeapi.Client).
type API interface {
	WebhookEndpoint(ctx context.Context, id string) (stripeapi.Endpoint, error)
	WebhookEndpoints(ctx context.Context) ([]stripeapi.Endpoint, error)
	CountEvents(ctx context.Context, q stripeapi.EventQuery, limit int) (int, bool, error)
}

// MaxUndelivered is the most undelivered events one check counts (10 pages); the
// gauge then says "at least this many".
const MaxUndelivered = 1000

// Target is one route to watch.
type Target struct {
	Route string
	// Path is the route's path; the endpoint's URL must end in it.
	Path string
	// PublicURL, when set, is the origin the endpoint's URL must start with.
	PublicURL string
	// EndpointID names the endpoint; empty: every endpoint whose URL has Path.
	EndpointID string
	// Events are the route's event types; the endpoint must send each of them.
	Events []string
	// Accounts, on a Connect route, are the accounts whose undelivered events are
	// counted ([""] for the platform's own); nil counts none.
	Accounts []string
	API      API
}

// Status is what one check found.
type Status struct {
	// Endpoint is the endpoint checked; its ID is empty when none was found.
	Endpoint stripeapi.Endpoint
	// Enabled: found and its status is "enabled".
	Enabled bool
	// URLOK: found and its URL points at the route.
	URLOK bool
	// MissingEvents are route event types the endpoint does not send.
	MissingEvents []string
	// Undelivered counts the events of the route's types Stripe failed to deliver in
	// the window (at most MaxUndelivered); -1 when not counted.
	Undelivered int
}

// Defaults of the zero Options.
const (
	DefaultInterval = 60 * time.Second
	// DefaultWindow is Stripe's live-mode retry period.
	DefaultWindow = 72 * time.Hour
)

// Options configure a Watcher. Zero values: Interval DefaultInterval, Window
// DefaultWindow, Now time.Now, Logger discarded.
type Options struct {
	Interval time.Duration
	Window   time.Duration
	Now      func() time.Time
	Logger   *slog.Logger
}

// Watcher checks its targets every Interval. Build it with New.
type Watcher struct {
	opt     Options
	targets []Target
	m       *gauges
	mu      sync.Mutex
	last    map[string]Status // by route, for logging changes
}

// New returns a Watcher whose metrics are registered with reg.
func New(reg prometheus.Registerer, opt Options, targets []Target) (*Watcher, error) {
	if opt.Interval <= 0 {
		opt.Interval = DefaultInterval
	}
	if opt.Window <= 0 {
		opt.Window = DefaultWindow
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	m, err := newGauges(reg)
	if err != nil {
		return nil, err
	}
	for _, tg := range targets {
		m.errors.WithLabelValues(tg.Route).Add(0)
	}
	return &Watcher{opt: opt, targets: targets, m: m, last: map[string]Status{}}, nil
}

// Run checks every target at once, then every Interval, until ctx is done.
func (w *Watcher) Run(ctx context.Context) {
	t := time.NewTicker(w.opt.Interval)
	defer t.Stop()
	for {
		for _, tg := range w.targets {
			if ctx.Err() != nil {
				return
			}
			_, _ = w.Check(ctx, tg)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Check checks one target now, updates its gauges and returns what it found. On an
// API error the gauges keep their last values (the staleness gauge tells how old they
// are), the error counter grows, and the error is returned.
func (w *Watcher) Check(ctx context.Context, tg Target) (Status, error) {
	st, err := w.check(ctx, tg)
	if err != nil {
		w.m.errors.WithLabelValues(tg.Route).Inc()
		w.opt.Logger.Warn("stripe watch: check failed", "route", tg.Route, "error", err)
		return st, err
	}
	w.m.set(tg.Route, st, w.opt.Now())
	w.logChange(tg.Route, st)
	return st, nil
}

func (w *Watcher) check(ctx context.Context, tg Target) (Status, error) {
	st := Status{Undelivered: -1}
	ep, found, err := findEndpoint(ctx, tg)
	if err != nil {
		return st, err
	}
	if found {
		st.Endpoint = ep
		st.Enabled = ep.Status == "enabled"
		st.URLOK = urlPointsAt(ep.URL, tg.PublicURL, tg.Path)
		if !slices.Contains(ep.EnabledEvents, "*") {
			for _, e := range tg.Events {
				if !slices.Contains(ep.EnabledEvents, e) {
					st.MissingEvents = append(st.MissingEvents, e)
				}
			}
		}
	} else {
		st.MissingEvents = tg.Events
	}
	if tg.Accounts != nil {
		st.Undelivered = 0
		since := w.opt.Now().Add(-w.opt.Window)
		for _, acct := range tg.Accounts {
			n, _, err := tg.API.CountEvents(ctx, stripeapi.EventQuery{Since: since, Types: tg.Events, Account: acct, Undelivered: true}, MaxUndelivered-st.Undelivered)
			if err != nil {
				return st, fmt.Errorf("count undelivered events%s: %w", accountOf(acct), err)
			}
			if st.Undelivered += n; st.Undelivered >= MaxUndelivered {
				break
			}
		}
	}
	return st, nil
}

// findEndpoint reads the target's endpoint: by id, or the best endpoint whose URL
// points at the route (an enabled one before a disabled one).
func findEndpoint(ctx context.Context, tg Target) (stripeapi.Endpoint, bool, error) {
	if tg.EndpointID != "" {
		ep, err := tg.API.WebhookEndpoint(ctx, tg.EndpointID)
		if err != nil {
			if stripeapi.Reason(err) == "stripe_not_found" {
				return stripeapi.Endpoint{}, false, nil // deleted: as bad as disabled
			}
			return ep, false, err
		}
		return ep, true, nil
	}
	eps, err := tg.API.WebhookEndpoints(ctx)
	if err != nil {
		return stripeapi.Endpoint{}, false, err
	}
	var best stripeapi.Endpoint
	found := false
	for _, ep := range eps {
		if !urlPointsAt(ep.URL, tg.PublicURL, tg.Path) {
			continue
		}
		if !found || best.Status != "enabled" && ep.Status == "enabled" {
			best, found = ep, true
		}
	}
	return best, found, nil
}

// urlPointsAt reports whether an endpoint URL reaches the route: its path is the
// route's path and, when public is set, its origin is public's.
func urlPointsAt(raw, public, path string) bool {
	u, err := url.Parse(raw)
	if err != nil || u.RawQuery != "" {
		return false
	}
	p := u.Path
	if p == "" {
		p = "/"
	}
	if p != path {
		return false
	}
	if public == "" {
		return true
	}
	pu, err := url.Parse(public)
	return err == nil && u.Scheme == pu.Scheme && u.Host == pu.Host
}

// logChange logs a route's status when it differs from the last one: a warning
// when something is wrong, info when all is well again.
func (w *Watcher) logChange(route string, st Status) {
	w.mu.Lock()
	prev, seen := w.last[route]
	w.last[route] = st
	w.mu.Unlock()
	healthy := st.Enabled && st.URLOK && len(st.MissingEvents) == 0 && st.Undelivered <= 0
	if seen && prev.Enabled == st.Enabled && prev.URLOK == st.URLOK && slices.Equal(prev.MissingEvents, st.MissingEvents) && (prev.Undelivered > 0) == (st.Undelivered > 0) {
		return
	}
	lvl := slog.LevelInfo
	if !healthy {
		lvl = slog.LevelWarn
	}
	w.opt.Logger.Log(context.Background(), lvl, "stripe watch", "route", route, "endpoint", st.Endpoint.ID,
		"endpoint_status", st.Endpoint.Status, "url_ok", st.URLOK, "missing_events", st.MissingEvents, "undelivered", st.Undelivered)
}

func accountOf(acct string) string {
	if acct == "" {
		return ""
	}
	return " of " + acct
}
