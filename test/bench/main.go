// Command bench is creditgate's load harness (docs/benchmarks.md).
//
//	go run ./test/bench                      # full run: ~1.5 minutes
//	go run ./test/bench -smoke               # a few seconds, for CI
//	go run ./test/bench -profile /tmp/prof   # also write CPU and allocation profiles
//	go run ./test/bench -callgrind           # instructions per webhook, under valgrind (callgrind.go)
//	go run ./test/bench flood                # slow-body flood: peak RSS (docs/security.md)
//
// It builds the real creditgate binary (static, stripped) and starts it with a
// generated config against the Redis at -redis (its own key prefix, deleted at the
// end), a sink backend that verifies every forwarded Creditgate-Signature, and a
// ceiling server: a minimal hand-written Go server doing the same work without
// creditgate's structure (see ceiling.go). In each round it drives every server, one
// after the other, at each concurrency of -concurrency (16, then 64 by default) with
// distinct, freshly signed ~3 KB checkout.session.completed events; then, still in
// that round, it drives creditgate, the ceiling and the -other servers in an open
// loop at half of creditgate's maximum rate of that round at the first concurrency.
// Odd rounds run the servers in one order (ceiling, creditgate, -other at maximum
// rate; creditgate, ceiling, -other at half rate), even rounds in the reverse one, so
// that no server always runs after the other on a fuller Redis. It prints one table of
// phases: req/s, latency percentiles, answers by status, CPU seconds per 1,000 events
// (of the server and of Redis), peak RSS; and one of targets (issues 6 and 15):
// creditgate / ceiling req/s, server CPU per event and p99 at maximum rate, and p99 at
// half rate against the ceiling's at that rate, per round (and concurrency) and their
// median over the rounds, which is the verdict; RSS idle and peak, ready time, binary
// size.
//
// It exits non-zero when any answer is not 2xx, the sink saw a bad signature or a
// double credit, or a forwarded count does not match what the sink credited. The
// performance targets are printed as PASS/MISS but do not fail the run unless -strict
// is given: they depend on the machine.
package main

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/creditgate/creditgate/internal/testkit"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "ceiling" {
		if err := benchRunCeiling(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "ceiling:", err)
			os.Exit(1)
		}
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	runner := run
	if len(os.Args) > 1 && os.Args[1] == "flood" { // docs/security.md
		runner, os.Args = benchRunFlood, os.Args[1:]
	}
	err := runner(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// benchOptions are the flags.
type benchOptions struct {
	duration    time.Duration
	warmup      time.Duration
	concurrency benchConcurrency
	events      int
	openWorkers int
	rounds      int
	redisAddr   string
	profile     string
	strict      bool
	keep        bool
	other       string
	plainBuild  bool
	callgrind   bool
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := benchParseFlags(args, stderr)
	if err != nil {
		return err
	}
	b := &bench{o: o, out: stdout, errOut: stderr}
	defer b.cleanup()
	if err := b.setup(ctx); err != nil {
		return err
	}
	return b.run(ctx)
}

// benchConcurrency is the -concurrency flag: the requests in flight of the
// maximum-rate phases, one phase per value and server in each round.
type benchConcurrency []int

func (c *benchConcurrency) String() string {
	parts := make([]string, len(*c))
	for i, n := range *c {
		parts[i] = strconv.Itoa(n)
	}
	return strings.Join(parts, ",")
}

// Set replaces the list with the comma-separated values of s.
func (c *benchConcurrency) Set(s string) error {
	var list benchConcurrency
	for part := range strings.SplitSeq(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(part))
		if err != nil {
			return fmt.Errorf("%q is not a number", part)
		}
		list = append(list, n)
	}
	*c = list
	return nil
}

// valid says whether every value is in 1..1024, and appears once.
func (c benchConcurrency) valid() bool {
	for i, n := range c {
		if n < 1 || n > 1024 || slices.Contains(c[:i], n) {
			return false
		}
	}
	return len(c) > 0
}

// benchParseFlags reads the flags of a run, -smoke's presets included, and checks
// their ranges.
func benchParseFlags(args []string, stderr io.Writer) (benchOptions, error) {
	o := benchOptions{concurrency: benchConcurrency{16, 64}}
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "length of each measured phase")
	fs.DurationVar(&o.warmup, "warmup", 2*time.Second, "unmeasured warm-up before each server's first phase (at the first concurrency)")
	fs.Var(&o.concurrency, "concurrency", "comma-separated `list` of requests in flight at maximum rate (each 1..1024): each round runs every server at each value in turn; the round's half-rate phases take half of creditgate's maximum at the first")
	fs.IntVar(&o.events, "events", 80000, "distinct events generated per maximum-rate phase (the phase ends early if they run out)")
	fs.IntVar(&o.openWorkers, "open-workers", 64, "most requests in flight in the half-rate (open-loop) phase")
	fs.IntVar(&o.rounds, "rounds", 1, "rounds, each of maximum-rate phases (every server at each concurrency) then half-rate phases (every server), in reverse server order in even rounds; the ratios are reported per round, and judged on their median")
	fs.StringVar(&o.redisAddr, "redis", "127.0.0.1:6379", "Redis address (a private key prefix is used and deleted)")
	fs.StringVar(&o.profile, "profile", "", "folder for CPU and allocation profiles of creditgate and the ceiling")
	fs.BoolVar(&o.strict, "strict", false, "fail when a performance target is missed")
	fs.BoolVar(&o.keep, "keep", false, "keep the work folder (config, logs, binaries)")
	fs.StringVar(&o.other, "other", "", "comma-separated module roots of other creditgate checkouts to run as \"creditgate-<folder>\" in the same rounds, for A/B comparisons")
	fs.BoolVar(&o.plainBuild, "plain-build", false, "build with plain `go build` (reuses the build cache; the binary is not the stripped static one)")
	fs.BoolVar(&o.callgrind, "callgrind", false, "run every server under valgrind's callgrind and judge instructions per event at max rate against the ceiling's (repeatable where CPU seconds are not; no ½-rate phases; slow: use -duration 20s or more)")
	smoke := fs.Bool("smoke", false, "a few seconds in all, for CI: -duration 1s -warmup 300ms -concurrency 8 -events 3000 -plain-build")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if *smoke {
		o.duration, o.warmup, o.concurrency, o.events, o.openWorkers = time.Second, 300*time.Millisecond, benchConcurrency{8}, 3000, 16
		o.plainBuild = true
	}
	if o.duration <= 0 || o.duration > 10*time.Minute || !o.concurrency.valid() ||
		o.events < 100 || o.events > 1_000_000 || o.rounds < 1 || o.rounds > 10 || o.openWorkers < 1 {
		return o, errors.New("flags out of range: 0 < duration <= 10m, 1 <= each concurrency <= 1024 (each once), 100 <= events <= 1e6, 1 <= rounds <= 10")
	}
	if o.callgrind && o.profile != "" {
		return o, errors.New("-callgrind and -profile exclude each other: callgrind's dumps are the profile")
	}
	return o, nil
}

// bench is one harness run.
type bench struct {
	o      benchOptions
	out    io.Writer
	errOut io.Writer

	dir        string
	root       string
	binary     string // the creditgate that runs
	binSize    int64  // static, stripped cmd/creditgate
	rdb        *redis.Client
	redisPID   int
	prefix     string
	secret     string
	key        string
	sink       *benchSink
	ceiling    *benchServer
	cg         *benchServer
	others     []*benchServer // -other
	run0       string
	phases     []*benchPhase
	exitErr    []error
	hasRedisP  bool
	loadBefore string
}

func benchRandom(n int) string {
	return strings.ToLower(rand.Text()[:n])
}

func (b *bench) logf(format string, args ...any) {
	fmt.Fprintf(b.errOut, "bench: "+format+"\n", args...)
}

// prepare finds the module, makes the work folder, draws the run's names and secrets
// (name tags them: "bench", "flood") and connects to Redis.
func (b *bench) prepare(ctx context.Context, name string) error {
	var err error
	if b.root, err = benchModuleRoot(ctx); err != nil {
		return err
	}
	if b.dir, err = os.MkdirTemp("", "creditgate-"+name+"-"); err != nil {
		return err
	}
	b.run0 = benchRandom(8)
	b.prefix = "cg" + name + ":" + b.run0 + ":"
	b.secret = "whsec_" + name + "_" + benchRandom(24)
	b.key = "fwd_" + name + "_" + benchRandom(24)
	b.rdb = redis.NewClient(&redis.Options{Addr: b.o.redisAddr, DialTimeout: time.Second})
	if err := b.rdb.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("redis at %s: %w (start redis-server)", b.o.redisAddr, err)
	}
	return nil
}

func (b *bench) setup(ctx context.Context) error {
	if err := b.prepare(ctx, "bench"); err != nil {
		return err
	}
	if b.o.callgrind {
		if err := callgrindCheck(); err != nil {
			return err
		}
	}
	if info, err := b.rdb.InfoMap(ctx, "server").Result(); err == nil {
		if _, err := fmt.Sscan(info["Server"]["process_id"], &b.redisPID); err == nil {
			_, err := benchCPU(b.redisPID)
			b.hasRedisP = err == nil // Redis on this machine and its /proc readable
		}
	}

	b.logf("building creditgate in %s", b.dir)
	plain := filepath.Join(b.dir, "creditgate")
	if err := benchGoBuild(ctx, b.root, "./cmd/creditgate", plain, b.o.plainBuild); err != nil {
		return err
	}
	st, err := os.Stat(plain)
	if err != nil {
		return err
	}
	b.binSize, b.binary = st.Size(), plain
	if b.o.profile != "" {
		if err := os.MkdirAll(b.o.profile, 0o755); err != nil {
			return err
		}
		b.binary = filepath.Join(b.dir, "creditgate-profiled")
		if err := benchGoBuild(ctx, b.root, "./test/bench/profiled", b.binary, b.o.plainBuild); err != nil {
			return err
		}
	}

	otherBinaries := map[string]string{} // name → binary
	var otherNames []string
	for dir := range strings.SplitSeq(b.o.other, ",") {
		if dir == "" {
			continue
		}
		name := "creditgate-" + filepath.Base(filepath.Clean(dir))
		bin := filepath.Join(b.dir, name)
		b.logf("building %s from %s", name, dir)
		if err := benchGoBuild(ctx, dir, "./cmd/creditgate", bin, b.o.plainBuild); err != nil {
			return err
		}
		otherBinaries[name] = bin
		otherNames = append(otherNames, name)
	}

	if b.sink, err = benchStartSink(b.key); err != nil {
		return err
	}
	if err := b.startCeiling(); err != nil {
		return err
	}
	if b.cg, err = b.startCreditgate("creditgate", b.binary, "CREDITGATE_BENCH_CPUPROFILE"); err != nil {
		return err
	}
	for _, name := range otherNames {
		o, err := b.startCreditgate(name, otherBinaries[name], "")
		if err != nil {
			return err
		}
		b.others = append(b.others, o)
	}
	return nil
}

func (b *bench) startCeiling() error {
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	addr, err := testkit.PickAddr()
	if err != nil {
		return err
	}
	cmd := b.serverCommand("ceiling", exe, "ceiling", "-listen", addr, "-redis", b.o.redisAddr, "-prefix", b.prefix+"ceiling:", "-sink", b.sink.url)
	cmd.Env = append(cmd.Environ(), "BENCH_STRIPE_SECRET="+b.secret, "BENCH_FORWARD_KEY="+b.key)
	if b.o.profile != "" {
		cmd.Env = append(cmd.Env, "BENCH_CPUPROFILE="+filepath.Join(b.o.profile, "ceiling.cpu.pprof"))
	}
	b.ceiling, err = benchStart("ceiling", cmd, "http://"+addr+"/stripe/webhook", "http://"+addr+"/readyz", b.readyWait())
	return err
}

// benchConfig is the creditgate config of the run: one route, Redis, production
// defaults otherwise (log_level info: one JSON line per webhook, to a pipe), with the
// Helm chart's log_flush_interval (100ms; the program's own default writes each line
// at once).
const benchConfig = `listen: %q
admin_listen: %q
log_level: info
log_flush_interval: 100ms
redis:
  url: "redis://%s/0"
  key_prefix: %q
routes:
  - name: bench
    path: /stripe/webhook
    livemode: false
    stripe:
      signing_secrets_file: stripe-secrets
    extract:
      user_id_format: uuid
    forward:
      url: %q
      signing_keys_file: forward-keys
`

func (b *bench) startCreditgate(name, binary, profileEnv string) (*benchServer, error) {
	listen, err := testkit.PickAddr()
	if err != nil {
		return nil, err
	}
	admin, err := testkit.PickAddr()
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(b.dir, name+"-run")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	cfg := filepath.Join(dir, "config.yaml")
	files := map[string]string{
		cfg:                                  fmt.Sprintf(benchConfig, listen, admin, b.o.redisAddr, b.prefix+name+":", b.sink.url),
		filepath.Join(dir, "stripe-secrets"): b.secret + "\n",
		filepath.Join(dir, "forward-keys"):   b.key + "\n",
	}
	for path, content := range files {
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			return nil, err
		}
	}
	cmd := b.serverCommand(name, binary, "serve", "--config", cfg)
	cmd.Dir = dir
	cmd.Env = cmd.Environ()
	if b.o.profile != "" && profileEnv != "" {
		cmd.Env = append(cmd.Env, profileEnv+"="+filepath.Join(b.o.profile, name+".cpu.pprof"))
	}
	s, err := benchStart(name, cmd, "http://"+listen+"/stripe/webhook", "http://"+admin+"/readyz", b.readyWait())
	if err != nil {
		return nil, err
	}
	time.Sleep(time.Second) // idle: after start, before any load
	s.idleRSS, _, err = benchMem(s.pid())
	return s, err
}

// benchPhase is one measured phase.
type benchPhase struct {
	server      *benchServer
	name        string // "warm", "max" or "half"
	round       int
	concurrency int // requests in flight of a closed-loop phase; 0 in an open-loop one
	load        *benchLoad
	rate        float64   // target rate of an open-loop phase
	used        benchUsed // the server's CPU (user, kernel) and context switches
	redisCPU    time.Duration
	redis       benchRedisCounts // commands and reads Redis processed
	selfCPU     time.Duration
	peakRSS     int64
	instr       int64 // instructions executed, under -callgrind (max-rate phases)
	sink        benchSinkStats
	generated   int
}

// phase generates n events (ids unique per server, name, round and concurrency),
// drives s with them and measures the CPU of s, Redis and the harness around it.
func (b *bench) phase(ctx context.Context, s *benchServer, name string, round, concurrency, n int, drive func([]benchEvent) *benchLoad) (*benchPhase, error) {
	tag := fmt.Sprintf("%s%s%s%dc%d", b.run0, s.name[len(s.name)-2:], name, round, concurrency)
	events := benchGenerate(n, tag, b.secret)
	_ = b.sink.take()
	p := &benchPhase{server: s, name: name, round: round, concurrency: concurrency, generated: n}
	use0, err := benchUsage(s.pid())
	if err != nil {
		return nil, err
	}
	var r0 time.Duration
	if b.hasRedisP {
		r0, _ = benchCPU(b.redisPID)
	}
	self0 := benchSelfCPU()
	rs0 := benchRedisStats(ctx, b.rdb)
	counted := b.o.callgrind && name == "max"
	if counted {
		if err := callgrindZero(ctx, s); err != nil {
			return nil, err
		}
	}
	p.load = drive(events)
	if counted {
		if p.instr, err = b.callgrindDump(ctx, s); err != nil {
			return nil, err
		}
	}
	use1, err := benchUsage(s.pid())
	if err != nil {
		return nil, fmt.Errorf("%s died: %v\n%s", s.name, err, s.log.lastLines(20))
	}
	p.redis = benchRedisStats(ctx, b.rdb).minus(rs0)
	p.used = use1.minus(use0)
	p.selfCPU = benchSelfCPU() - self0
	if b.hasRedisP {
		r1, _ := benchCPU(b.redisPID)
		p.redisCPU = r1 - r0
	}
	_, p.peakRSS, _ = benchMem(s.pid())
	p.sink = b.sink.take()
	b.verify(p)
	return p, ctx.Err()
}

func (b *bench) run(ctx context.Context) error {
	b.loadBefore = benchLoadAvg()
	servers := append([]*benchServer{b.ceiling, b.cg}, b.others...)
	for _, s := range servers {
		if err := b.warm(ctx, s); err != nil {
			return err
		}
	}
	for round := 1; round <= b.o.rounds; round++ {
		if err := b.round(ctx, round, servers); err != nil {
			return err
		}
		if round < b.o.rounds {
			b.freshRedis(ctx)
		}
	}
	// Stop the servers before reporting, so that profiles are written.
	for _, s := range servers {
		s.stop()
	}
	b.report()
	if b.o.profile != "" {
		fmt.Fprintf(b.out, "\nProfiles: go tool pprof -top %s/creditgate.cpu.pprof (and ceiling.cpu.pprof, *.allocs)\n", b.o.profile)
	}
	return errors.Join(b.exitErr...)
}

// warm drives s, unmeasured, for -warmup at the first concurrency.
func (b *bench) warm(ctx context.Context, s *benchServer) error {
	o := b.o
	if o.warmup <= 0 {
		return nil
	}
	n := min(o.events, max(200, int(o.warmup.Seconds()*8000)))
	_, err := b.phase(ctx, s, "warm", 0, o.concurrency[0], n, func(ev []benchEvent) *benchLoad {
		return benchClosedLoop(ctx, s.url, ev, o.concurrency[0], o.warmup)
	})
	return err
}

// benchOrder is the order of servers in round: as given in odd rounds, reversed in
// even ones, so that with two servers each runs first in half the rounds.
func benchOrder(servers []*benchServer, round int) []*benchServer {
	order := slices.Clone(servers)
	if round%2 == 0 {
		slices.Reverse(order)
	}
	return order
}

// round runs one round: at each concurrency in turn, every server one after the
// other at maximum rate (servers: ceiling, creditgate, -other); then every server at
// half of creditgate's maximum rate of this round at the first concurrency
// (creditgate, ceiling, -other). Even rounds take the servers in reverse order.
func (b *bench) round(ctx context.Context, round int, servers []*benchServer) error {
	var reference *benchPhase
	for _, c := range b.o.concurrency {
		for _, s := range benchOrder(servers, round) {
			p, err := b.maxPhase(ctx, s, round, c)
			if err != nil {
				return err
			}
			if s == b.cg && c == b.o.concurrency[0] {
				reference = p
			}
		}
	}
	if b.o.callgrind {
		return nil // rates under valgrind say nothing about the tail
	}
	rate := reference.load.rate() / 2
	half := append([]*benchServer{b.cg, b.ceiling}, b.others...)
	for _, s := range benchOrder(half, round) {
		b.logf("round %d: %s at half creditgate's maximum rate: %.0f/s, open loop, for %s", round, s.name, rate, b.o.duration)
		if err := b.halfPhase(ctx, s, round, rate); err != nil {
			return err
		}
	}
	return nil
}

// maxPhase drives s in a closed loop with concurrency requests in flight.
func (b *bench) maxPhase(ctx context.Context, s *benchServer, round, concurrency int) (*benchPhase, error) {
	b.logf("round %d: %s at concurrency %d for %s", round, s.name, concurrency, b.o.duration)
	p, err := b.phase(ctx, s, "max", round, concurrency, b.o.events, func(ev []benchEvent) *benchLoad {
		return benchClosedLoop(ctx, s.url, ev, concurrency, b.o.duration)
	})
	if err != nil {
		return nil, err
	}
	b.phases = append(b.phases, p)
	return p, nil
}

// halfPhase drives s in an open loop at rate: the tail this machine gives a server
// there (creditgate's, against the ceiling's at the same rate in the same round).
func (b *bench) halfPhase(ctx context.Context, s *benchServer, round int, rate float64) error {
	n := int(rate*b.o.duration.Seconds()) + 1
	p, err := b.phase(ctx, s, "half", round, 0, n, func(ev []benchEvent) *benchLoad {
		return benchOpenLoop(ctx, s.url, ev, rate, b.o.openWorkers, b.o.duration)
	})
	if err != nil {
		return err
	}
	p.rate = rate
	b.phases = append(b.phases, p)
	return nil
}

func (b *bench) cleanup() {
	for _, s := range append([]*benchServer{b.cg, b.ceiling}, b.others...) {
		if s != nil {
			s.stop()
		}
	}
	if b.sink != nil {
		b.sink.close()
	}
	if b.rdb != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		n, err := benchCleanRedis(ctx, b.rdb, b.prefix)
		cancel()
		if err != nil {
			b.logf("cleaning Redis keys %s*: %v", b.prefix, err)
		} else {
			b.logf("deleted %d Redis keys under %s", n, b.prefix)
		}
		_ = b.rdb.Close()
	}
	if b.dir != "" {
		if b.o.keep {
			b.logf("work folder kept: %s", b.dir)
		} else {
			_ = os.RemoveAll(b.dir)
		}
	}
}

// freshRedis deletes the run's keys between rounds, so that every round starts on the
// same Redis. Left in place, a 3-round run puts over 2 million keys in it (creditgate
// writes four or five per webhook, the ceiling one), and Redis's table grows through
// rehashes during the last rounds: its CPU per webhook rose by half in round 3 for
// every server alike (docs/benchmarks.md), a drift of the run, not of a server. The
// servers keep no state in Redis that a later phase reads: every phase's events are new.
func (b *bench) freshRedis(ctx context.Context) {
	start := time.Now()
	n, err := benchCleanRedis(ctx, b.rdb, b.prefix)
	if err != nil {
		b.logf("cleaning Redis keys %s* between rounds: %v", b.prefix, err)
		return
	}
	b.logf("between rounds: deleted %d Redis keys under %s in %s", n, b.prefix, time.Since(start).Round(time.Millisecond))
	time.Sleep(time.Second) // let Redis free them (UNLINK) before the next phase
}

// benchCleanRedis deletes the run's keys (SCAN and UNLINK, never a flush).
func benchCleanRedis(ctx context.Context, c *redis.Client, prefix string) (int, error) {
	total := 0
	var cursor uint64
	for range 100_000 { // bounded: 1000 keys per step
		keys, next, err := c.Scan(ctx, cursor, prefix+"*", 1000).Result()
		if err != nil {
			return total, err
		}
		if len(keys) > 0 {
			if err := c.Unlink(ctx, keys...).Err(); err != nil {
				return total, err
			}
			total += len(keys)
		}
		if cursor = next; cursor == 0 {
			return total, nil
		}
	}
	return total, errors.New("too many keys")
}
