package main

import (
	"fmt"
	"io"
	"maps"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"
)

// Targets of issues 6 and 15, checked on every run. The ratios are creditgate /
// ceiling in the same round at the same concurrency (at half rate: the same rate);
// with several rounds, the verdict is their median over the rounds.
const (
	targetRate    = 0.95 // req/s at max rate, at least
	targetCPU     = 1.00 // server CPU per event at max rate, at most
	targetMaxP99  = 1.30 // p99 at max rate, at most
	targetHalfP99 = 1.50 // p99 at half rate, at most
	targetPeakRSS = 40 << 20
	targetIdleRSS = 20 << 20
	targetReady   = 200 * time.Millisecond
	targetBinary  = 18 << 20 // the image must stay < 20 MB; distroless/static adds ~2 MB
)

// totalCPU is the CPU seconds per event of the server, Redis and the harness.
func (p *benchPhase) totalCPU() float64 {
	if p.load.Sent == 0 {
		return 0
	}
	return (p.used.cpu() + p.redisCPU + p.selfCPU).Seconds() / float64(p.load.Sent)
}

// verify checks what must hold at any load: every answer 2xx and "forwarded" (the
// events are distinct paid sessions), and the sink credited exactly those, each once,
// each with a valid signature.
func (b *bench) verify(p *benchPhase) {
	l, s := p.load, p.sink
	var problems []string
	if n := l.non2xx(); n > 0 {
		problems = append(problems, fmt.Sprintf("%d non-2xx answers (first: %s)", n, l.FirstErr))
	}
	if other := l.Sent - l.Words["forwarded"]; other > 0 {
		problems = append(problems, fmt.Sprintf("%d answers other than forwarded: %v", other, l.Words))
	}
	if s.Credited != l.Words["forwarded"] {
		problems = append(problems, fmt.Sprintf("sink credited %d, server answered forwarded %d", s.Credited, l.Words["forwarded"]))
	}
	if s.BadSignature+s.BadBody+s.Repeats > 0 {
		problems = append(problems, fmt.Sprintf("sink: %d bad signatures, %d bad bodies, %d repeated ids", s.BadSignature, s.BadBody, s.Repeats))
	}
	if len(problems) > 0 {
		b.exitErr = append(b.exitErr, fmt.Errorf("%s %s phase: %s", p.server.name, p.name, strings.Join(problems, "; ")))
	}
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond)) }
func mb(n int64) string         { return fmt.Sprintf("%.1f MB", float64(n)/(1<<20)) }

// per1000 is CPU seconds per 1,000 answered events.
func per1000(cpu time.Duration, n int) string {
	if n == 0 {
		return "-"
	}
	return fmt.Sprintf("%.3f", cpu.Seconds()*1000/float64(n))
}

// show is commands per event and per read ("9.00, 5.21").
func (c benchRedisCounts) show(sent int) string {
	if c.reads <= 0 {
		return "-"
	}
	return perEvent(c.commands, sent) + ", " + fmt.Sprintf("%.2f", float64(c.commands)/float64(c.reads))
}

// perEvent is n per answered event.
func perEvent(n int64, sent int) string {
	if sent == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f", float64(n)/float64(sent))
}

func answers(l *benchLoad) string {
	var parts []string
	for _, code := range slices.Sorted(maps.Keys(l.Codes)) {
		parts = append(parts, fmt.Sprintf("%d×%d", l.Codes[code], code))
	}
	if l.Transport > 0 {
		parts = append(parts, fmt.Sprintf("%d×no answer", l.Transport))
	}
	return strings.Join(parts, " ")
}

func check(ok bool) string {
	if ok {
		return "PASS"
	}
	return "MISS"
}

func (b *bench) report() {
	b.reportHeader()
	b.phaseTable()
	t := &benchTargets{w: b.out}
	b.targetTable(t)
	if b.o.strict && t.missed > 0 {
		b.exitErr = append(b.exitErr, fmt.Errorf("%d performance targets missed (-strict)", t.missed))
	}
	fmt.Fprintf(b.out, "\ncreditgate log (read from a pipe): %s\n", b.cg.log.summary())
}

func (b *bench) reportHeader() {
	w := b.out
	host, _ := os.Hostname()
	fmt.Fprintf(w, "\ncreditgate load harness — %s, %s/%s, %d CPUs (GOMAXPROCS %d, %s), %s\n",
		time.Now().UTC().Format(time.RFC3339), runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), runtime.GOMAXPROCS(0), benchCPUModel(), host)
	fmt.Fprintf(w, "load generator, sink, ceiling, creditgate and Redis share this machine; ~3 KB signed checkout.session.completed events, all distinct\n")
	fmt.Fprintf(w, "load average (1, 5, 15 min) before: %s, after: %s — anything else running skews absolute numbers; compare ratios\n", b.loadBefore, benchLoadAvg())
	fmt.Fprintf(w, "%d round(s), each: max rate at %s in flight, then ½ rate; servers in order %s at max rate and %s at ½ rate in odd rounds, reversed in even rounds\n\n",
		b.o.rounds, b.o.concurrency.String(), serverNames(append([]*benchServer{b.ceiling}, b.contenders()...)), serverNames(b.halfOrder()))
}

// benchCPUModel is the CPU's model name from /proc/cpuinfo, or "CPU model unknown":
// the ratios to the ceiling differ between CPU kinds (docs/benchmarks.md), so a report
// names its own.
func benchCPUModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "CPU model unknown"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "CPU model unknown"
}

// serverNames joins the names of servers with commas.
func serverNames(servers []*benchServer) string {
	names := make([]string, len(servers))
	for i, s := range servers {
		names[i] = s.name
	}
	return strings.Join(names, ", ")
}

// phaseTable prints one row per measured phase.
func (b *bench) phaseTable() {
	w := b.out
	fmt.Fprintln(w, "| server | load | events | req/s | p50 | p90 | p99 | max | answers | server CPU s / 1000 ev (of it kernel) | server context switches / ev | Redis commands / ev, per read | Redis CPU s / 1000 ev | harness CPU s / 1000 ev | server peak RSS |")
	fmt.Fprintln(w, "|---|---|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|")
	for _, p := range b.phases {
		l := p.load
		redisCPU := "-"
		if b.hasRedisP {
			redisCPU = per1000(p.redisCPU, l.Sent)
		}
		fmt.Fprintf(w, "| %s | %s | %d | %.0f | %s | %s | %s | %s | %s | %s (%s) | %s | %s | %s | %s | %s |\n",
			p.server.name, b.loadLabel(p), l.Sent, l.rate(), ms(l.pct(0.50)), ms(l.pct(0.90)), ms(l.pct(0.99)), ms(l.pct(1)),
			answers(l), per1000(p.used.cpu(), l.Sent), per1000(p.used.sys, l.Sent), perEvent(p.used.switches, l.Sent), p.redis.show(l.Sent), redisCPU, per1000(p.selfCPU, l.Sent), mb(p.peakRSS))
	}
}

// loadLabel says how p was driven: "closed loop, 16 in flight, round 2", or the
// open loop's rate and pacing lag.
func (b *bench) loadLabel(p *benchPhase) string {
	load := fmt.Sprintf("closed loop, %d in flight", p.concurrency)
	if p.name == "half" {
		load = fmt.Sprintf("open loop, %.0f/s (½ creditgate's max at %d in flight), pacing lag ≤ %s", p.rate, b.o.concurrency[0], ms(p.load.Lag))
	}
	if b.o.rounds > 1 && p.round > 0 {
		load += fmt.Sprintf(", round %d", p.round)
	}
	if p.load.Exhausted {
		load += ", events ran out"
	}
	return load
}

// benchTargets writes the table of targets and counts the missed ones that fail
// the run under -strict.
type benchTargets struct {
	w      io.Writer
	missed int
}

// row writes one line of the table; verdict may be empty.
func (t *benchTargets) row(measure, value, target, verdict string) {
	fmt.Fprintf(t.w, "| %s | %s | %s | %s |\n", measure, value, target, verdict)
}

// judge writes a line with its PASS/MISS; a MISS counts for -strict when counts.
func (t *benchTargets) judge(measure, value, target string, ok, counts bool) {
	if !ok && counts {
		t.missed++
	}
	t.row(measure, value, target, check(ok))
}

// benchRatio is a target on a measure of a server divided by the ceiling's.
type benchRatio struct {
	measure string
	value   func(*benchPhase) float64
	show    func(float64) string // one side of the ratio, for the table
	bound   float64
	atLeast bool // the ratio passes at ≥ bound, else at ≤ bound
}

func (r benchRatio) of(p, ceil *benchPhase) float64 { return r.value(p) / r.value(ceil) }

func (r benchRatio) ok(x float64) bool {
	if r.atLeast {
		return x >= r.bound
	}
	return x <= r.bound
}

func (r benchRatio) target() string {
	if r.atLeast {
		return fmt.Sprintf("≥ %.2f", r.bound)
	}
	return fmt.Sprintf("≤ %.2f", r.bound)
}

func p99ms(p *benchPhase) float64     { return float64(p.load.pct(0.99)) / float64(time.Millisecond) }
func showMS(x float64) string         { return fmt.Sprintf("%.2f ms", x) }
func showRate(x float64) string       { return fmt.Sprintf("%.0f", x) }
func showCPU(x float64) string        { return fmt.Sprintf("%.3f s", x) }
func phaseRate(p *benchPhase) float64 { return p.load.rate() }

// serverCPU is the server's CPU seconds per 1,000 answered events.
func serverCPU(p *benchPhase) float64 {
	if p.load.Sent == 0 {
		return 0
	}
	return p.used.cpu().Seconds() * 1000 / float64(p.load.Sent)
}

// The targets of issue 15.
var (
	ratioRate    = benchRatio{"req/s", phaseRate, showRate, targetRate, true}
	ratioCPU     = benchRatio{"server CPU s / 1000 ev", serverCPU, showCPU, targetCPU, false}
	ratioMaxP99  = benchRatio{"p99 at max rate", p99ms, showMS, targetMaxP99, false}
	ratioHalfP99 = benchRatio{"p99 at ½ max rate", p99ms, showMS, targetHalfP99, false}
)

// ratio writes p / ceil for r, where names the phases ("16 in flight, round 1").
// With one round it is the verdict, and only creditgate's MISS counts for -strict
// (the -other servers' are for information); with several, the median over the
// rounds is (medianRows), and the round's verdict is shown in parentheses.
func (b *bench) ratio(t *benchTargets, r benchRatio, where string, p, ceil *benchPhase) {
	x := r.of(p, ceil)
	measure := fmt.Sprintf("%s / ceiling %s, %s", p.server.name, r.measure, where)
	value := fmt.Sprintf("%s / %s = **%.2f**", r.show(r.value(p)), r.show(r.value(ceil)), x)
	if b.o.rounds > 1 {
		t.row(measure, value, r.target(), "("+check(r.ok(x))+")")
		return
	}
	t.judge(measure, value, r.target(), r.ok(x), p.server == b.cg)
}

// benchStep is the place of a phase in the run: its round and concurrency (0 for a
// half-rate phase).
type benchStep struct{ round, concurrency int }

// benchSteps are phases by step, then by server.
type benchSteps map[benchStep]map[*benchServer]*benchPhase

// phasesNamed groups the phases named name ("max" or "half") by round and
// concurrency, then by server.
func (b *bench) phasesNamed(name string) benchSteps {
	steps := benchSteps{}
	for _, p := range b.phases {
		if p.name != name {
			continue
		}
		k := benchStep{p.round, p.concurrency}
		if steps[k] == nil {
			steps[k] = map[*benchServer]*benchPhase{}
		}
		steps[k][p.server] = p
	}
	return steps
}

// maxRatios are the targets judged at maximum rate, per round and concurrency; under
// -callgrind, instructions per event only (rates, latencies and CPU seconds then
// measure valgrind; the phase table still shows them).
func (b *bench) maxRatios() []benchRatio {
	if b.o.callgrind {
		return []benchRatio{ratioInstr}
	}
	return []benchRatio{ratioRate, ratioCPU, ratioMaxP99}
}

func (b *bench) targetTable(t *benchTargets) {
	fmt.Fprintln(t.w)
	fmt.Fprintln(t.w, "| measure | value | target | |")
	fmt.Fprintln(t.w, "|---|---|---|---|")
	steps := b.phasesNamed("max")
	for _, c := range b.o.concurrency {
		for round := 1; round <= b.o.rounds; round++ {
			b.stepRows(t, steps[benchStep{round, c}], fmt.Sprintf("%d in flight, round %d", c, round))
		}
		b.medianRows(t, steps, c, b.maxRatios(), fmt.Sprintf("%d in flight", c))
	}
	if !b.o.callgrind {
		b.halfRows(t)
	}
	b.resourceRows(t)
	if b.o.callgrind {
		fmt.Fprintln(t.w, "\nUnder -callgrind only instructions per event are judged: rates, latencies, CPU seconds and memory are valgrind's; run without it for those targets.")
	}
	if b.o.rounds > 1 {
		fmt.Fprintln(t.w, "\nA verdict in parentheses is one round's, to show the spread; the target's verdict is the median over the rounds (what -strict counts).")
	}
}

// contenders are the servers compared with the ceiling: creditgate, then -other.
func (b *bench) contenders() []*benchServer {
	return append([]*benchServer{b.cg}, b.others...)
}

// halfOrder is the order of the half-rate phases in odd rounds: creditgate, the
// ceiling, then -other.
func (b *bench) halfOrder() []*benchServer {
	return append([]*benchServer{b.cg, b.ceiling}, b.others...)
}

// stepRows writes the ratios of every server to the ceiling at one round and
// concurrency.
func (b *bench) stepRows(t *benchTargets, step map[*benchServer]*benchPhase, where string) {
	ceil := step[b.ceiling]
	for _, s := range b.contenders() {
		p := step[s]
		if p == nil || ceil == nil {
			continue
		}
		for _, r := range b.maxRatios() {
			b.ratio(t, r, where, p, ceil)
		}
		if b.hasRedisP {
			t.row(fmt.Sprintf("%s / ceiling by CPU cost, %s (server + Redis + harness CPU per event)", s.name, where),
				fmt.Sprintf("%.3f / %.3f ms = **%.2f**", ceil.totalCPU()*1000, p.totalCPU()*1000, ceil.totalCPU()/p.totalCPU()),
				"(robust to other load)", "")
		}
	}
}

// medianRows writes, when there are several rounds, each contender's median over
// the rounds of each ratio of rs to the ceiling at concurrency c (0: half rate), where
// names ("16 in flight"): the verdict, with the rounds' ratios in round order.
func (b *bench) medianRows(t *benchTargets, steps benchSteps, c int, rs []benchRatio, where string) {
	if b.o.rounds < 2 {
		return
	}
	for _, s := range b.contenders() {
		for _, r := range rs {
			xs := b.roundRatios(steps, r, s, c)
			if len(xs) == 0 {
				continue
			}
			m := median(xs)
			t.judge(fmt.Sprintf("%s / ceiling %s, %s, median of %d rounds", s.name, r.measure, where, len(xs)),
				fmt.Sprintf("**%.2f** (rounds: %s)", m, showRatios(xs)), r.target(), r.ok(m), s == b.cg)
		}
	}
}

// roundRatios are r's ratios of s to the ceiling at concurrency c, in round order,
// for the rounds that measured both.
func (b *bench) roundRatios(steps benchSteps, r benchRatio, s *benchServer, c int) []float64 {
	var xs []float64
	for round := 1; round <= b.o.rounds; round++ {
		step := steps[benchStep{round, c}]
		if step[s] != nil && step[b.ceiling] != nil {
			xs = append(xs, r.of(step[s], step[b.ceiling]))
		}
	}
	return xs
}

// showRatios joins xs with two decimals.
func showRatios(xs []float64) string {
	parts := make([]string, len(xs))
	for i, x := range xs {
		parts[i] = fmt.Sprintf("%.2f", x)
	}
	return strings.Join(parts, ", ")
}

// median of xs (left as they are).
func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// halfRows writes each contender's p99 at half rate against the ceiling's at the
// same rate, per round, then their median over the rounds.
func (b *bench) halfRows(t *benchTargets) {
	steps := b.phasesNamed("half")
	measured := false
	for round := 1; round <= b.o.rounds; round++ {
		step := steps[benchStep{round, 0}]
		for _, s := range b.contenders() {
			if p, ceil := step[s], step[b.ceiling]; p != nil && ceil != nil {
				b.ratio(t, ratioHalfP99, fmt.Sprintf("same rate (%.0f/s), round %d", p.rate, round), p, ceil)
				measured = measured || s == b.cg
			}
		}
	}
	if !measured {
		t.judge("creditgate / ceiling "+ratioHalfP99.measure, "not measured", ratioHalfP99.target(), false, true)
		return
	}
	b.medianRows(t, steps, 0, []benchRatio{ratioHalfP99}, "same rate")
}

// resourceRows writes the answers, memory, start-up and size targets.
func (b *bench) resourceRows(t *benchTargets) {
	non2xx := 0
	var peak int64
	for _, p := range b.phases {
		non2xx += p.load.non2xx()
		if p.server == b.cg {
			peak = max(peak, p.peakRSS)
		}
	}
	t.row("non-2xx answers, all phases", fmt.Sprint(non2xx), "0", check(non2xx == 0)) // fails the run anyway (verify)
	if b.o.callgrind {
		return
	}
	t.judge("creditgate RSS idle (1 s after ready)", mb(b.cg.idleRSS), "< "+mb(targetIdleRSS), b.cg.idleRSS < targetIdleRSS, true)
	t.judge("creditgate peak RSS (VmHWM)", mb(peak), "< "+mb(targetPeakRSS), peak < targetPeakRSS, true)
	t.judge("creditgate ready (exec → /readyz 200, Redis ping included)", ms(b.cg.ready), "< "+ms(targetReady), b.cg.ready < targetReady, true)
	for _, o := range b.others {
		t.row(o.name+" RSS idle / ready", mb(o.idleRSS)+" / "+ms(o.ready), "", "")
	}
	t.row("ceiling ready", ms(b.ceiling.ready), "", "")
	if b.o.plainBuild {
		t.row("binary (plain go build, not stripped)", mb(b.binSize), "(see a full run)", "")
	} else {
		t.judge("binary (static, -trimpath -s -w)", mb(b.binSize), "image < 20 MB", b.binSize < targetBinary, true)
	}
}

// benchLoadAvg is the first three fields of /proc/loadavg.
func benchLoadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}
