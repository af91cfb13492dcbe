// Command soak is creditgate's fault-injection soak (docs/soak.md): it proves, with
// real processes on loopback, that every paid Checkout Session is credited exactly
// once while Redis, the replicas and the backend fail around it.
//
//	go run ./test/soak                                   # full run: 10,000 purchases, ~2 minutes
//	go run ./test/soak -purchases 300 -duration-limit 100s   # the CI size, well under a minute
//
// It builds the creditgate binary once, starts its own redis-server (AOF fsynced on
// every write, in a temporary folder, on a free port; never the system Redis), two
// creditgate replicas sharing it, an in-process backend that verifies
// Creditgate-Signature with stripe-go and honours Idempotency-Key but misbehaves on a
// seeded schedule, and a Stripe simulator that delivers every purchase like Stripe
// does. Midway it restarts Redis (SIGKILL, then SIGTERM), SIGKILLs one replica and
// SIGTERMs the other. At the end it reads the backend's ledger and the dead-letter list
// from Redis and prints the invariant table.
//
// Exit status 1 when a purchase was lost or credited twice, a credit went to the wrong
// user or amount, an unexpected dead letter exists, an answer was wrong, a process
// crashed or a claim is stuck; 2 when the soak itself could not run.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/creditgate/creditgate/internal/testkit"
)

func main() {
	// The soak's own Redis clients (readiness probes, the final read) expect dial
	// failures while Redis is down; go-redis would print each one.
	redis.SetLogger(quiet{})
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	var v violations
	switch {
	case err == nil:
	case errors.As(err, &v):
		fmt.Fprintln(os.Stderr, "soak: FAIL:", err)
		os.Exit(1)
	default:
		fmt.Fprintln(os.Stderr, "soak:", err)
		os.Exit(2)
	}
}

// quiet is a go-redis logger that drops everything.
type quiet struct{}

func (quiet) Printf(context.Context, string, ...any) {}

// violations is the error of a run whose invariants did not hold.
type violations []string

func (v violations) Error() string { return strings.Join(v, "; ") }

// options are the flags.
type options struct {
	purchases     int
	durationLimit time.Duration
	traffic       time.Duration
	seed          uint64
	concurrency   int
	redisServer   string
	keep          bool
	verbose       bool
	logLevel      string
	idempotent    bool
	timeline      bool
}

// Fixed test secrets; the files holding them live in the temporary folder.
const (
	stripeSecret = "whsec_soak_0123456789abcdef0123456789"
	forwardKey   = "soak-forward-key-0123456789abcdef"
	keyPrefix    = "soak:"
	routeName    = "main"
	// directRoute takes only Checkout Session events and no reversals, so it answers
	// a grant before its settlement is written (docs/design.md §4); half the purchases
	// whose events are all session events go there (purchase.route). It is a Connect
	// route for directAccount, because check-config refuses two platform routes of
	// one mode that could grant one purchase (main takes invoice.paid).
	directRoute   = "direct"
	directAccount = "acct_1SoakDirectRoute0"
	mainPath      = "/stripe/webhook"
	directPath    = "/stripe/direct"
)

// Creditgate settings of the soak: a short forward timeout and budget, so slow answers
// hit them, and the shortest lease check-config accepts (forward budget 3s + Stripe
// API timeout 1s + three Redis calls of 500ms read + 500ms write + 2s = 9s), so a
// killed replica's claims heal within the run.
const (
	forwardTimeout  = "1s"
	forwardAttempts = 3
	forwardBudget   = "3s"
	lease           = 9 * time.Second
	apiTimeout      = "1s"
	shutdownTimeout = "5s"
)

// Time budget of a run: after the traffic window, Stripe's retries get at least
// minTail to settle (a killed replica's claims need the lease to heal); checkReserve is
// kept at the end for draining the backend and reading Redis.
const (
	minTail      = 20 * time.Second
	checkReserve = 15 * time.Second
)

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var o options
	fs := flag.NewFlagSet("soak", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&o.purchases, "purchases", 10000, "distinct purchases (Checkout Sessions) to deliver")
	fs.DurationVar(&o.durationLimit, "duration-limit", 5*time.Minute, "hard limit on the whole run, build included")
	fs.DurationVar(&o.traffic, "traffic", 0, "window over which first deliveries are spread and faults placed (0: max(20s, purchases/150 per second))")
	fs.Uint64Var(&o.seed, "seed", 0, "seed of the plan, the backend's misbehaviour and the fault schedule (0: from the clock; printed)")
	fs.IntVar(&o.concurrency, "concurrency", 32, "deliveries in flight at most")
	fs.StringVar(&o.redisServer, "redis-server", "", "redis-server binary (default: from PATH, else /usr/bin/redis-server)")
	fs.BoolVar(&o.keep, "keep", false, "keep the temporary folder (logs, configs, Redis AOF) even when the run passes")
	fs.BoolVar(&o.verbose, "v", false, "print faults as they happen")
	fs.StringVar(&o.logLevel, "log-level", "info", "creditgate log_level of the replicas")
	fs.BoolVar(&o.idempotent, "backend-idempotency", true, "the backend honours Idempotency-Key; false applies every request (a negative control: expect doubles)")
	fs.BoolVar(&o.timeline, "timeline", false, "also print what happened in each second of the run")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if o.purchases < 1 || o.concurrency < 1 {
		return errors.New("-purchases and -concurrency must be positive")
	}
	if o.seed == 0 {
		o.seed = uint64(time.Now().UnixNano())
	}
	if o.traffic == 0 {
		o.traffic = max(20*time.Second, (time.Duration(o.purchases) * time.Second / 150).Round(time.Second))
	}
	if o.traffic+minTail+checkReserve > o.durationLimit {
		return fmt.Errorf("-duration-limit %s leaves no room for a traffic window of %s (needs at least traffic + %s)", o.durationLimit, o.traffic, minTail+checkReserve)
	}
	if o.redisServer == "" {
		if p, err := exec.LookPath("redis-server"); err == nil {
			o.redisServer = p
		} else {
			o.redisServer = "/usr/bin/redis-server"
		}
	}
	if _, err := os.Stat(o.redisServer); err != nil {
		return fmt.Errorf("redis-server not found (%v): install it (apt-get install redis-server) or pass -redis-server", err)
	}

	runStart := time.Now()
	hardDeadline := runStart.Add(o.durationLimit)
	ctx, cancel := context.WithDeadline(ctx, hardDeadline)
	defer cancel()

	root, err := moduleRoot(ctx)
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "creditgate-soak-")
	if err != nil {
		return err
	}
	var (
		nmu    sync.Mutex
		tStart time.Time
	)
	notef := func(format string, args ...any) {
		if !o.verbose && !strings.HasPrefix(format, "CRASH") && !strings.Contains(format, "failed") {
			return
		}
		nmu.Lock()
		defer nmu.Unlock()
		el := time.Since(runStart)
		if !tStart.IsZero() {
			el = time.Since(tStart)
		}
		fmt.Fprintf(stderr, "[%7.2fs] %s\n", el.Seconds(), fmt.Sprintf(format, args...))
	}

	// Everything started below is stopped here, whatever happens.
	var (
		procs []*proc
		be    *backend
		api   *stripeAPI
		res   error
	)
	defer func() {
		for _, p := range procs {
			p.stop(10 * time.Second)
		}
		if be != nil {
			be.close()
		}
		if api != nil {
			api.close()
		}
		var v violations
		if o.keep || errors.As(res, &v) {
			fmt.Fprintf(stderr, "soak: logs, configs and Redis data kept in %s\n", tmp)
		} else {
			_ = os.RemoveAll(tmp)
		}
	}()
	res = func() error {
		fmt.Fprintf(stderr, "soak: seed %d, %d purchases, traffic window %s, limit %s\n", o.seed, o.purchases, o.traffic, o.durationLimit)
		t0 := time.Now()
		bin := filepath.Join(tmp, "creditgate")
		if err := goBuild(ctx, root, bin); err != nil {
			return err
		}
		buildTime := time.Since(t0)

		// Redis, private and persistent.
		redisAddr, err := testkit.PickAddr()
		if err != nil {
			return err
		}
		redisDir := filepath.Join(tmp, "redis")
		if err := os.Mkdir(redisDir, 0o700); err != nil {
			return err
		}
		rp := redisProc(o.redisServer, redisAddr, redisDir, notef)
		procs = append(procs, rp)
		if err := rp.start(ctx); err != nil {
			return err
		}

		// The backend.
		backendAddr, err := testkit.PickAddr()
		if err != nil {
			return err
		}
		be = newBackend(backendAddr, forwardKey, o.idempotent, o.seed)
		if err := be.up(); err != nil {
			return err
		}

		// The Stripe API the subscriptions' invoices are read from.
		apiAddr, err := testkit.PickAddr()
		if err != nil {
			return err
		}
		api = newStripeAPI(apiAddr)
		if err := api.up(); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(tmp, "stripe-api-key"), []byte("sk_test_soak\n"), 0o600); err != nil {
			return err
		}

		// Two replicas.
		var (
			replicas []*proc
			urls     []string
		)
		for _, name := range []string{"A", "B"} {
			listen, err1 := testkit.PickAddr()
			admin, err2 := testkit.PickAddr()
			if err := errors.Join(err1, err2); err != nil {
				return err
			}
			cfg := filepath.Join(tmp, "replica-"+name+".yaml")
			if err := os.WriteFile(cfg, []byte(replicaConfig(listen, admin, redisAddr, backendAddr, apiAddr, o.logLevel)), 0o600); err != nil {
				return err
			}
			p := replicaProc("replica-"+name, bin, cfg, filepath.Join(tmp, "replica-"+name+".log"), "http://"+admin, notef)
			procs = append(procs, p)
			replicas = append(replicas, p)
			if err := p.start(ctx); err != nil {
				return err
			}
			if err := waitReady(ctx, "http://"+admin+"/readyz", 10*time.Second); err != nil {
				return fmt.Errorf("%s: %w", p.name, err)
			}
			urls = append(urls, "http://"+listen)
		}

		// Traffic and faults. Deliveries stop at deliverBy, which leaves time to check.
		deliverBy := hardDeadline.Add(-checkReserve)
		if room := time.Until(deliverBy); room < o.traffic+minTail {
			return fmt.Errorf("only %s left for deliveries after the setup (build took %s), the traffic window needs %s + %s: raise -duration-limit",
				room.Round(time.Second), buildTime.Round(time.Second), o.traffic, minTail)
		}
		ps := plan(o.purchases, o.seed, o.traffic, api)
		s := newSim(stripeSecret, urls, o.concurrency, deliverBy, o.seed)
		w := &world{redis: rp, replicas: replicas, backend: be, sim: s, notef: notef, lateFirst: lateFirstInvoices(ps)}
		faults := schedule(w, o.traffic, o.seed)

		trafficStart := time.Now()
		s.start = trafficStart
		countRequest := s.backendRequest
		be.onRequest.Store(&countRequest)
		nmu.Lock()
		tStart = trafficStart
		nmu.Unlock()
		fctx, stopFaults := context.WithCancel(ctx)
		var injected []faultEntry
		fdone := make(chan struct{})
		go func() {
			injected = inject(fctx, trafficStart, faults, notef)
			close(fdone)
		}()
		s.run(ctx, ps)
		deliveryTime := time.Since(trafficStart)
		stopFaults()
		<-fdone
		if ctx.Err() != nil && time.Now().Before(hardDeadline) {
			return errors.New("interrupted")
		}

		// Let the backend's slow handlers finish, then look at everything.
		drained := be.drain(10 * time.Second)
		rs, err := collect(context.WithoutCancel(ctx), redisAddr, ps, be, replicas, rp)
		if err != nil {
			return err
		}
		rs.opts, rs.sim, rs.faults, rs.drained = o, s, injected, drained
		rs.apiUnknown = api.unknownRequests()
		rs.buildTime, rs.deliveryTime, rs.wall = buildTime, deliveryTime, time.Since(runStart)
		return rs.print(stdout)
	}()
	return res
}

// replicaConfig is the config file of one replica; both share Redis and key_prefix.
// Log lines wait up to 100ms, as the Helm chart has them: a SIGKILLed replica loses
// what waited (the log's counts in the report are a floor), never a panic's trace.
func replicaConfig(listen, admin, redisAddr, backendAddr, apiAddr, logLevel string) string {
	return fmt.Sprintf(`listen: %q
admin_listen: %q
log_level: %s
log_flush_interval: 100ms
shutdown_timeout: %s
redis:
  url: "redis://%s/0"
  key_prefix: %q
  dial_timeout: 500ms
  read_timeout: 500ms
  write_timeout: 500ms
dedup:
  lease: %s
watch:
  disabled: true # the soak's Stripe API simulates the calls a purchase makes, not webhook endpoints
routes:
  - name: %s
    path: %s
    livemode: false
    stripe:
      signing_secrets: [%q]
      api_key_file: stripe-api-key
      api_base_url: "http://%s"
      api_timeout: %s
      # The soak compresses Stripe's three days of retries into about a minute, so a
      # read the budget refuses has seconds, not days, to be retried in. At the
      # default (20 a second) the full run's invoice reads outrun that window and
      # purchases end "lost" only because the simulator gave up; live mode's 100 does not.
      api_reads_per_second: 100
    events: [checkout.session.completed, checkout.session.async_payment_succeeded, invoice.paid,
      charge.refunded, refund.updated, charge.dispute.created, charge.dispute.funds_withdrawn,
      charge.dispute.funds_reinstated, charge.dispute.closed]
    extract:
      user_id_format: uuid
      credits: [metadata.credits, price_metadata]
      max_credits: 100000
    forward:
      url: "http://%s/internal/credits"
      signing_keys: [%q]
      timeout: %s
      attempts: %d
      budget: %[17]s
  - name: %[18]s
    path: %[19]s
    livemode: false
    stripe:
      signing_secrets: [%[10]q]
    connect: true
    connect_accounts: [%[20]s]
    connect_trust_accounts: true # the soak's sessions carry their credits in metadata
    events: [checkout.session.completed, checkout.session.async_payment_succeeded]
    extract:
      user_id_format: uuid
      credits: [metadata.credits]
      max_credits: 100000
    forward:
      url: "http://%[13]s/internal/credits"
      signing_keys: [%[14]q]
      timeout: %[15]s
      attempts: %[16]d
      budget: %[17]s
`, listen, admin, logLevel, shutdownTimeout, redisAddr, keyPrefix, lease, routeName, mainPath,
		stripeSecret, apiAddr, apiTimeout, backendAddr, forwardKey, forwardTimeout, forwardAttempts, forwardBudget,
		directRoute, directPath, directAccount)
}
