package main

import (
	"fmt"
	"maps"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"
)

// Targets of issue 6, checked on every run.
const (
	targetRatio   = 0.70
	targetHalfP99 = 5 * time.Millisecond
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
	return (p.cpu + p.redisCPU + p.selfCPU).Seconds() / float64(p.load.Sent)
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
	w := b.out
	host, _ := os.Hostname()
	fmt.Fprintf(w, "\ncreditgate load harness — %s, %s/%s, %d CPUs (GOMAXPROCS %d), %s\n",
		time.Now().UTC().Format(time.RFC3339), runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), runtime.GOMAXPROCS(0), host)
	fmt.Fprintf(w, "load generator, sink, ceiling, creditgate and Redis share this machine; ~3 KB signed checkout.session.completed events, all distinct\n")
	fmt.Fprintf(w, "load average (1, 5, 15 min) before: %s, after: %s — anything else running skews absolute numbers; compare ratios\n\n", b.loadBefore, benchLoadAvg())
	fmt.Fprintln(w, "| server | load | events | req/s | p50 | p90 | p99 | max | answers | server CPU s / 1000 ev | Redis CPU s / 1000 ev | harness CPU s / 1000 ev | server peak RSS |")
	fmt.Fprintln(w, "|---|---|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|")
	for _, p := range b.phases {
		l := p.load
		load := fmt.Sprintf("closed loop, %d in flight", b.o.concurrency)
		if p.name == "half" {
			load = fmt.Sprintf("open loop, %.0f/s (½ creditgate's max), pacing lag ≤ %s", p.rate, ms(l.Lag))
		}
		if b.o.rounds > 1 && p.round > 0 {
			load += fmt.Sprintf(", round %d", p.round)
		}
		if l.Exhausted {
			load += ", events ran out"
		}
		redisCPU := "-"
		if b.hasRedisP {
			redisCPU = per1000(p.redisCPU, l.Sent)
		}
		fmt.Fprintf(w, "| %s | %s | %d | %.0f | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n",
			p.server.name, load, l.Sent, l.rate(), ms(l.pct(0.50)), ms(l.pct(0.90)), ms(l.pct(0.99)), ms(l.pct(1)),
			answers(l), per1000(p.cpu, l.Sent), redisCPU, per1000(p.selfCPU, l.Sent), mb(p.peakRSS))
	}

	fmt.Fprintln(w)
	fmt.Fprintln(w, "| measure | value | target | |")
	fmt.Fprintln(w, "|---|---|---|---|")
	byRound := map[int]map[*benchServer]*benchPhase{}
	var half, ceilHalf *benchPhase
	var peak int64
	non2xx := 0
	for _, p := range b.phases {
		non2xx += p.load.non2xx()
		if p.name == "half" {
			if p.server == b.cg {
				half = p
			} else {
				ceilHalf = p
			}
		} else {
			if byRound[p.round] == nil {
				byRound[p.round] = map[*benchServer]*benchPhase{}
			}
			byRound[p.round][p.server] = p
		}
		if p.server == b.cg {
			peak = max(peak, p.peakRSS)
		}
	}
	ratioOK := true
	for round := 1; round <= b.o.rounds; round++ {
		ceil := byRound[round][b.ceiling]
		for _, s := range append([]*benchServer{b.cg}, b.others...) {
			p := byRound[round][s]
			if p == nil || ceil == nil {
				continue
			}
			r := p.load.rate() / ceil.load.rate()
			if s == b.cg {
				ratioOK = ratioOK && r >= targetRatio
			}
			fmt.Fprintf(w, "| %s / ceiling req/s, round %d | %.0f / %.0f = **%.2f** | ≥ %.2f | %s |\n",
				s.name, round, p.load.rate(), ceil.load.rate(), r, targetRatio, check(r >= targetRatio))
			if b.hasRedisP {
				cr := ceil.totalCPU() / p.totalCPU()
				fmt.Fprintf(w, "| %s / ceiling by CPU cost, round %d (server + Redis + harness CPU per event) | %.3f / %.3f ms = **%.2f** | (robust to other load) | |\n",
					s.name, round, ceil.totalCPU()*1000, p.totalCPU()*1000, cr)
			}
		}
	}
	if half != nil {
		p99 := half.load.pct(0.99)
		fmt.Fprintf(w, "| p99 at ½ max rate (%.0f/s) | %s | < %s | %s |\n", half.rate, ms(p99), ms(targetHalfP99), check(p99 < targetHalfP99))
	}
	if ceilHalf != nil {
		fmt.Fprintf(w, "| p99 of the ceiling at the same rate (this machine's own tail) | %s | | |\n", ms(ceilHalf.load.pct(0.99)))
	}
	fmt.Fprintf(w, "| non-2xx answers, all phases | %d | 0 | %s |\n", non2xx, check(non2xx == 0))
	fmt.Fprintf(w, "| creditgate RSS idle (1 s after ready) | %s | < %s | %s |\n", mb(b.cg.idleRSS), mb(targetIdleRSS), check(b.cg.idleRSS < targetIdleRSS))
	fmt.Fprintf(w, "| creditgate peak RSS (VmHWM) | %s | < %s | %s |\n", mb(peak), mb(targetPeakRSS), check(peak < targetPeakRSS))
	fmt.Fprintf(w, "| creditgate ready (exec → /readyz 200, Redis ping included) | %s | < %s | %s |\n", ms(b.cg.ready), ms(targetReady), check(b.cg.ready < targetReady))
	for _, o := range b.others {
		fmt.Fprintf(w, "| %s RSS idle / ready | %s / %s | | |\n", o.name, mb(o.idleRSS), ms(o.ready))
	}
	fmt.Fprintf(w, "| ceiling ready | %s | | |\n", ms(b.ceiling.ready))
	if b.o.plainBuild {
		fmt.Fprintf(w, "| binary (plain go build, not stripped) | %s | (see a full run) | |\n", mb(b.binSize))
	} else {
		fmt.Fprintf(w, "| binary (static, -trimpath -s -w) | %s | image < 20 MB | %s |\n", mb(b.binSize), check(b.binSize < targetBinary))
	}

	if b.o.strict {
		if !ratioOK || half == nil || half.load.pct(0.99) >= targetHalfP99 || peak >= targetPeakRSS ||
			b.cg.idleRSS >= targetIdleRSS || b.cg.ready >= targetReady || (!b.o.plainBuild && b.binSize >= targetBinary) {
			b.exitErr = append(b.exitErr, fmt.Errorf("a performance target was missed (-strict)"))
		}
	}
	fmt.Fprintf(w, "\ncreditgate log (read from a pipe): %s\n", b.cg.log.summary())
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
