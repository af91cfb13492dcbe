package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/creditgate/creditgate/internal/config"
	"github.com/creditgate/creditgate/internal/deadletter"
	"github.com/creditgate/creditgate/internal/dedup"
	"github.com/creditgate/creditgate/internal/extract"
	"github.com/creditgate/creditgate/internal/forward"
	"github.com/creditgate/creditgate/internal/jsonlog"
	"github.com/creditgate/creditgate/internal/ledger"
	"github.com/creditgate/creditgate/internal/metrics"
	"github.com/creditgate/creditgate/internal/outcome"
	"github.com/creditgate/creditgate/internal/pipeline"
	"github.com/creditgate/creditgate/internal/redisclient"
	"github.com/creditgate/creditgate/internal/server"
	"github.com/creditgate/creditgate/internal/stripeapi"
	"github.com/creditgate/creditgate/internal/tracing"
)

// app is everything a command needs, built from one Config.
type app struct {
	cfg         *config.Config
	log         *slog.Logger
	registry    *prometheus.Registry
	metrics     *metrics.Metrics
	store       dedup.Store
	records     ledger.Store
	book        ledger.Book // settles a grant's marks in store and record in records
	customers   ledger.Customers
	payments    ledger.Payments
	deadLetters deadletter.List
	pipeline    *pipeline.Pipeline
	routes      []server.Route
	byName      map[string]*pipeline.Route
	apis        map[string]*stripeapi.Client // by route name, for routes with an API key
	batch       *redisclient.Batch           // the shared round trips, counted in the last log line
	redis       io.Closer                    // the shared Redis client, closed after the stores
	// forwardClient is the one keep-alive pool of every route's forwards, kept
	// across reloads.
	forwardClient *http.Client
	// tracer starts the spans; serve gives it an exporter when one is configured.
	tracer *tracing.Tracer
	// budgets are the Stripe API read budgets by API key, kept across reloads.
	budgets readBudgets
	// dry marks checkBuild's app: it is closed unused, and opens no file.
	dry bool
}

// newLogger returns the JSON logger every command uses.
func newLogger(w io.Writer, level string) *slog.Logger {
	var l slog.Level
	_ = l.UnmarshalText([]byte(level))
	return slog.New(jsonlog.New(w, &slog.HandlerOptions{Level: l}))
}

// build wires the stores, the pipeline and the routes. The caller closes the app.
func build(cfg *config.Config, log *slog.Logger) (*app, error) { return assemble(cfg, log, false) }

// checkBuild builds what serve builds from cfg, minus the listeners, and closes it
// again: the Redis client (built, never dialled), the stores, and every route's
// extractor, forwarder and Stripe API client. check-config runs it, so a config that
// passes check-config is one serve starts with. It writes nothing: the in-memory
// store's dead-letter file is not opened.
func checkBuild(cfg *config.Config) error {
	a, err := assemble(cfg, slog.New(slog.DiscardHandler), true)
	if err != nil {
		return err
	}
	a.close()
	return nil
}

// assemble is build; dry leaves the dead-letter file unopened (checkBuild).
func assemble(cfg *config.Config, log *slog.Logger, dry bool) (*app, error) {
	a := &app{cfg: cfg, log: log, registry: prometheus.NewRegistry(), forwardClient: forward.NewHTTPClient(), tracer: tracing.New(nil), budgets: readBudgets{}, dry: dry}
	a.metrics = metrics.New(a.registry, Version)
	if err := a.openStores(); err != nil {
		return nil, err
	}
	a.pipeline = &pipeline.Pipeline{
		Store: tracedStore{a.store, a.tracer}, DeadLetters: a.deadLetters, Records: a.records,
		Customers: a.customers, CustomerTTL: cfg.Dedup.CustomerTTL, Payments: a.payments,
		TTL: cfg.Dedup.TTL, RecordTTL: cfg.Dedup.RecordTTL, Lease: cfg.Dedup.Lease, Logger: log,
		Book: a.book, Unhurried: redisclient.Patient,
	}
	rs, err := a.compile(cfg)
	if err != nil {
		a.close()
		return nil, err
	}
	a.use(rs)
	a.metrics.ConfigReloadOK.Set(1)
	a.metrics.ConfigReloadAt.SetToCurrentTime()
	return a, nil
}

// routeSet is a config's routes, compiled: the table the webhook handler serves and
// the pipeline routes and Stripe API clients by route name. The hot reload compiles a
// new one and swaps it in whole.
type routeSet struct {
	routes []server.Route
	byName map[string]*pipeline.Route
	apis   map[string]*stripeapi.Client // routes with an API key
}

// compile builds the routes of cfg on the app's stores and metrics. It changes
// nothing in the app: an error leaves the routes that serve untouched.
func (a *app) compile(cfg *config.Config) (*routeSet, error) {
	rs := &routeSet{byName: map[string]*pipeline.Route{}, apis: map[string]*stripeapi.Client{}}
	for _, rc := range cfg.Routes {
		x, err := extract.New(rc.Extract)
		if err != nil {
			return nil, fmt.Errorf("route %s: %w", rc.Name, err)
		}
		fw, err := forward.New(forward.Options{
			URL: rc.Forward.URL, Keys: rc.Forward.SigningKeys,
			Timeout: rc.Forward.Timeout, Attempts: rc.Forward.Attempts, Budget: rc.Forward.Budget,
			UserAgent: "creditgate/" + Version, Client: a.forwardClient, Logger: a.log,
			Inject: injectTraceparent,
		})
		if err != nil {
			return nil, fmt.Errorf("route %s: %w", rc.Name, err)
		}
		events := map[string]bool{}
		for _, e := range rc.Events {
			events[e] = true
		}
		pr := &pipeline.Route{
			Name: rc.Name, Livemode: rc.Livemode, Events: events,
			GrantNoPaymentRequired: rc.GrantNoPaymentRequired, Extractor: x,
			Forwarder: timedForwarder{next: fw, seconds: a.metrics.ForwardDuration.WithLabelValues(rc.Name), tr: a.tracer},
			Connect:   rc.Connect, Budget: rc.Forward.Budget, UserWait: rc.Extract.InvoiceUserWait,
		}
		if len(rc.ConnectAccounts) > 0 {
			pr.ConnectAccounts = map[string]bool{}
			for _, acct := range rc.ConnectAccounts {
				pr.ConnectAccounts[acct] = true
			}
		}
		if !rc.Stripe.APIKey.IsZero() {
			api := stripeapi.New(stripeapi.Options{
				Key: rc.Stripe.APIKey, BaseURL: rc.Stripe.APIBaseURL, Timeout: rc.Stripe.APITimeout,
				HTTPClient: &http.Client{Timeout: rc.Stripe.APITimeout, Transport: stripeSpans{next: http.DefaultTransport, tr: a.tracer}}, Logger: a.log,
				Budget: a.budgets.of(rc.Stripe),
			})
			rs.apis[rc.Name] = api
			pr.API = api
		}
		rs.byName[rc.Name] = pr
		rs.routes = append(rs.routes, server.Route{
			Path: rc.Path, Secrets: rc.Stripe.SigningSecrets, Tolerance: rc.Stripe.Tolerance, Pipeline: pr,
		})
	}
	return rs, nil
}

// use makes rs the app's routes and creates their metric series at 0.
func (a *app) use(rs *routeSet) {
	results := make([]string, 0, len(outcome.AllResults))
	for _, r := range outcome.AllResults {
		results = append(results, string(r))
	}
	for name := range rs.byName {
		a.metrics.InitRoute(name, results)
	}
	a.routes, a.byName, a.apis = rs.routes, rs.byName, rs.apis
}

// timedForwarder observes creditgate_forward_duration_seconds (the time one credit
// spent with the backend, every attempt and backoff included, whatever the outcome)
// and the forward's span, whose traceparent the backend receives (injectTraceparent).
type timedForwarder struct {
	next    pipeline.Forwarder
	seconds prometheus.Observer
	tr      *tracing.Tracer
}

func (t timedForwarder) Send(ctx context.Context, r forward.Request) (forward.Result, error) {
	ctx, span := t.tr.Start(ctx, "forward", tracing.Client)
	start := time.Now()
	res, err := t.next.Send(ctx, r)
	t.seconds.Observe(time.Since(start).Seconds())
	span.Set("http.response.status_code", strconv.Itoa(res.Status))
	span.Set("creditgate.forward.attempts", strconv.Itoa(res.Attempts))
	span.Finish(err)
	return res, err
}

func (a *app) openStores() error {
	cfg := a.cfg
	if !cfg.Redis.Enabled() {
		a.log.Warn("no redis configured: using the in-memory store; run exactly one replica",
			"dead_letter_file", cfg.DeadLetter.File)
		store, records := dedup.NewMemory(time.Now), ledger.NewMemory(time.Now)
		a.store, a.records, a.book = store, records, ledger.NewBook(store, records)
		a.customers, a.payments = ledger.NewMemoryCustomers(time.Now), ledger.NewMemoryPayments(time.Now)
		if a.dry {
			return nil
		}
		f, err := deadletter.OpenFile(cfg.DeadLetter.File)
		if err != nil {
			return fmt.Errorf("open dead-letter file: %w", err)
		}
		a.deadLetters = f
		return nil
	}
	r := cfg.Redis
	client, err := redisclient.New(r.ClientOptions())
	if err != nil {
		return fmt.Errorf("redis: %w", err)
	}
	a.redis = client
	repl := redisclient.Replication{Replicas: r.WaitReplicas, Timeout: r.WaitTimeout}
	// One book on the one client and prefix: a grant's record lands with its marks.
	book, list := ledger.NewRedisBook(client, r.KeyPrefix), deadletter.NewRedis(client, r.KeyPrefix)
	book.Marks.Replication, list.Replication = repl, repl
	// Claims, settlements and the customer map of concurrent webhooks share round trips.
	batch := redisclient.NewBatch(client, redisFlushes)
	a.batch = batch
	book.Marks.Pipes = batch
	customers, payments := ledger.NewRedisCustomers(client, r.KeyPrefix), ledger.NewRedisPayments(client, r.KeyPrefix)
	customers.Pipes, payments.Pipes = batch, batch
	payments.Replication = repl // a hold lost in a failover could change a purchase's id
	a.store, a.records, a.book = book.Marks, book.Records, book
	a.customers, a.payments = customers, payments
	a.deadLetters = list
	return nil
}

// redisFlushes is how many shared round trips (redisclient.Batch) may be on their way
// at once; docs/benchmarks.md has the measurements behind it.
const redisFlushes = 1

// readiness checks the store and, with Redis, nothing else (the list lives there too).
func (a *app) checkers() []server.Checker { return []server.Checker{a.store} }

func (a *app) close() {
	if a.pipeline != nil {
		a.pipeline.WaitSettled() // the settlements answers did not wait for, before the stores close
	}
	var errs []error
	if a.deadLetters != nil {
		errs = append(errs, a.deadLetters.Close())
	}
	if a.store != nil {
		errs = append(errs, a.store.Close())
	}
	if a.batch != nil && !a.dry {
		calls, trips := a.batch.Trips()
		a.log.Info("redis round trips shared", "calls", calls, "round_trips", trips)
	}
	if a.redis != nil {
		errs = append(errs, a.redis.Close())
	}
	if err := errors.Join(errs...); err != nil {
		a.log.Warn("closing stores", "error", err)
	}
}

// loadConfig loads the file and prints every problem on failure.
func loadConfig(path string, env Env) (*config.Config, error) {
	cfg, err := config.Load(path, env.Getenv)
	if err != nil {
		return nil, notValid(path, env, err)
	}
	return cfg, nil
}

// notValid prints every problem of err as the config's and returns exit code 1.
func notValid(path string, env Env, err error) error {
	fmt.Fprintf(env.Stderr, "creditgate: config %s is not valid:\n", path)
	for _, line := range problemLines(err) {
		fmt.Fprintf(env.Stderr, "  - %s\n", line)
	}
	return ExitError{Code: 1}
}
