package main

import (
	"bytes"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestMedian(t *testing.T) {
	for _, tc := range []struct {
		xs   []float64
		want float64
	}{
		{[]float64{0.9}, 0.9},
		{[]float64{1.2, 0.8, 1.0}, 1.0},
		{[]float64{2, 1, 4, 3}, 2.5},
	} {
		in := slices.Clone(tc.xs)
		if got := median(tc.xs); got != tc.want {
			t.Errorf("median(%v) = %v, want %v", in, got, tc.want)
		}
		if !slices.Equal(tc.xs, in) {
			t.Errorf("median reordered its argument: %v, was %v", tc.xs, in)
		}
	}
}

func TestBenchOrder(t *testing.T) {
	a, b, c := &benchServer{name: "a"}, &benchServer{name: "b"}, &benchServer{name: "c"}
	servers := []*benchServer{a, b, c}
	for round, want := range map[int][]*benchServer{1: {a, b, c}, 2: {c, b, a}, 3: {a, b, c}, 4: {c, b, a}} {
		if got := benchOrder(servers, round); !slices.Equal(got, want) {
			t.Errorf("round %d: %s, want %s", round, serverNames(got), serverNames(want))
		}
	}
	if !slices.Equal(servers, []*benchServer{a, b, c}) {
		t.Errorf("benchOrder reordered its argument: %s", serverNames(servers))
	}
}

// benchRoundFigures are one round's creditgate / ceiling ratios: req/s, server CPU
// per event, p99 at max rate and p99 at half rate.
type benchRoundFigures struct{ rate, cpu, maxP99, halfP99 float64 }

// testPhase is a phase of 1,000 events at rate req/s, with p99 ms and cpu server CPU
// seconds per 1,000 events.
func testPhase(s *benchServer, name string, round, c int, rate, p99, cpu float64) *benchPhase {
	return &benchPhase{server: s, name: name, round: round, concurrency: c, rate: rate, used: benchUsed{user: time.Duration(cpu * float64(time.Second))},
		load: &benchLoad{Sent: 1000, Elapsed: time.Duration(1000 / rate * float64(time.Second)), Latencies: []time.Duration{time.Duration(p99 * float64(time.Millisecond))}}}
}

// testBench is a run at 16 in flight whose creditgate / ceiling ratios are rounds'.
func testBench(rounds []benchRoundFigures) *bench {
	b := &bench{o: benchOptions{rounds: len(rounds), concurrency: benchConcurrency{16}},
		ceiling: &benchServer{name: "ceiling"}, cg: &benchServer{name: "creditgate"}}
	for i, f := range rounds {
		r := i + 1
		b.phases = append(b.phases,
			testPhase(b.ceiling, "max", r, 16, 1000, 10, 0.2),
			testPhase(b.cg, "max", r, 16, 1000*f.rate, 10*f.maxP99, 0.2*f.cpu),
			testPhase(b.cg, "half", r, 0, 500, 4*f.halfP99, 0.3),
			testPhase(b.ceiling, "half", r, 0, 500, 4, 0.3))
	}
	return b
}

// testTargets writes the table of targets of b and returns it with the misses that
// count for -strict.
func testTargets(b *bench) (string, int) {
	var out bytes.Buffer
	t := &benchTargets{w: &out}
	b.targetTable(t)
	return out.String(), t.missed
}

// testLine is the line of table that contains every one of parts ("" if none).
func testLine(table string, parts ...string) string {
	for line := range strings.SplitSeq(table, "\n") {
		if !slices.ContainsFunc(parts, func(p string) bool { return !strings.Contains(line, p) }) {
			return line
		}
	}
	return ""
}

func TestTargetsJudgeTheMedian(t *testing.T) {
	// Every target misses in one round out of three, and passes on the median.
	table, missed := testTargets(testBench([]benchRoundFigures{
		{rate: 0.90, cpu: 0.95, maxP99: 1.0, halfP99: 1.2},
		{rate: 1.00, cpu: 1.20, maxP99: 1.5, halfP99: 2.5},
		{rate: 0.97, cpu: 0.90, maxP99: 1.1, halfP99: 1.4},
	}))
	if missed != 0 {
		t.Errorf("%d targets missed, want 0 (the medians pass):\n%s", missed, table)
	}
	for _, want := range [][]string{
		{"req/s, 16 in flight, round 1", "= **0.90**", "(MISS)"},
		{"req/s, 16 in flight, median of 3 rounds", "**0.97** (rounds: 0.90, 1.00, 0.97)", "| PASS |"},
		{"server CPU s / 1000 ev, 16 in flight, round 2", "(MISS)"},
		{"server CPU s / 1000 ev, 16 in flight, median of 3 rounds", "**0.95**", "| PASS |"},
		{"p99 at max rate, 16 in flight, median of 3 rounds", "**1.10**", "| PASS |"},
		{"p99 at ½ max rate, same rate (500/s), round 2", "10.00 ms / 4.00 ms = **2.50**", "(MISS)"},
		{"p99 at ½ max rate, same rate, median of 3 rounds", "**1.40** (rounds: 1.20, 2.50, 1.40)", "| PASS |"},
	} {
		if testLine(table, want...) == "" {
			t.Errorf("no line with %q in:\n%s", want, table)
		}
	}
}

func TestTargetsMedianMisses(t *testing.T) {
	// Each target passes in one round out of two: the median (mean of two) misses.
	table, missed := testTargets(testBench([]benchRoundFigures{
		{rate: 0.96, cpu: 0.99, maxP99: 1.2, halfP99: 1.4},
		{rate: 0.80, cpu: 1.30, maxP99: 1.6, halfP99: 2.0},
	}))
	if missed != 4 {
		t.Errorf("%d targets missed, want 4 (req/s, CPU, p99 at max and at half rate):\n%s", missed, table)
	}
	if line := testLine(table, "p99 at ½ max rate, same rate, median of 2 rounds"); !strings.Contains(line, "**1.70**") || !strings.HasSuffix(line, "| MISS |") {
		t.Errorf("half-rate median line: %q\n%s", line, table)
	}
}

func TestTargetsOneRound(t *testing.T) {
	// With one round, its own ratios are the verdict: no median lines.
	table, missed := testTargets(testBench([]benchRoundFigures{{rate: 0.90, cpu: 1.0, maxP99: 1.0, halfP99: 1.6}}))
	if missed != 2 {
		t.Errorf("%d targets missed, want 2 (req/s and p99 at half rate):\n%s", missed, table)
	}
	if strings.Contains(table, "median") || strings.Contains(table, "(MISS)") {
		t.Errorf("one round, yet medians or parenthesized verdicts:\n%s", table)
	}
	if line := testLine(table, "p99 at ½ max rate, same rate (500/s), round 1"); !strings.HasSuffix(line, "| MISS |") {
		t.Errorf("half-rate line: %q\n%s", line, table)
	}
}

func TestTargetsCallgrind(t *testing.T) {
	// Under -callgrind, instructions per event are judged, the median over rounds is
	// the verdict, and no rate, latency, CPU-seconds or memory target is judged on
	// valgrind's figures.
	b := testBench([]benchRoundFigures{
		{rate: 1, cpu: 1, maxP99: 1, halfP99: 9},
		{rate: 1, cpu: 1, maxP99: 1, halfP99: 9},
		{rate: 1, cpu: 1, maxP99: 1, halfP99: 9},
	})
	b.o.callgrind = true
	for i, p := range b.phases {
		if p.name == "max" && p.server == b.ceiling {
			p.instr = 700_000_000 // 700k per event
			b.phases[i+1].instr = []int64{560_000_000, 770_000_000, 630_000_000}[p.round-1]
		}
	}
	table, missed := testTargets(b)
	if missed != 0 {
		t.Errorf("%d targets missed, want 0 (instructions median 0.90):\n%s", missed, table)
	}
	for _, want := range [][]string{
		{"instructions / event (callgrind), 16 in flight, round 2", "770.0k instr / 700.0k instr = **1.10**", "(MISS)"},
		{"instructions / event (callgrind), 16 in flight, median of 3 rounds", "**0.90** (rounds: 0.80, 1.10, 0.90)", "| PASS |"},
	} {
		if testLine(table, want...) == "" {
			t.Errorf("no line with %q in:\n%s", want, table)
		}
	}
	for _, not := range []string{"req/s", "server CPU", "p99", "RSS", "binary"} {
		if strings.Contains(table, not) {
			t.Errorf("a %q line under -callgrind:\n%s", not, table)
		}
	}
}

func TestCallgrindTotal(t *testing.T) {
	dir := t.TempDir()
	dump := dir + "/creditgate.callgrind.1"
	if err := os.WriteFile(dump, []byte("# callgrind format\nevents: Ir\nsummary: 5\n\nfn=(1) main\n0 123\n\ntotals: 1234567\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if n, err := callgrindTotal(dump); n != 1234567 || err != nil {
		t.Errorf("callgrindTotal = %d, %v; want 1234567", n, err)
	}
	cut := dir + "/cut.callgrind.1"
	if err := os.WriteFile(cut, []byte("# callgrind format\nevents: Ir\nsummary: 5\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := callgrindTotal(cut); err == nil || !strings.Contains(err.Error(), "no totals line") {
		t.Errorf("a dump without totals: %v, want an error that says so", err)
	}
}
