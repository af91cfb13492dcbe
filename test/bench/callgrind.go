package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// -callgrind runs every server under valgrind's callgrind and counts the instructions
// each executes in its maximum-rate phases: CPU seconds on a shared 2-core VM swing by
// ±15 % between runs of the same code, an instruction count of the same work does not
// (docs/benchmarks.md). What it leaves out: the kernel's side (syscalls), what an
// instruction costs (cache misses), and true parallelism: valgrind runs one thread at
// a time, about 30 times slower, so a few more requests wait in each server than at
// full speed and creditgate's shared Redis trips carry a little more (the phase
// table's Redis commands per read shows how much).

// callgrindWait is how long a server under valgrind may take to become ready.
const callgrindWait = 2 * time.Minute

// serverCommand is the command that runs binary with args: as is, or under callgrind
// with its output in the work folder (name.callgrind, dumps name.callgrind.1, .2, ...).
func (b *bench) serverCommand(name, binary string, args ...string) *exec.Cmd {
	if !b.o.callgrind {
		return exec.Command(binary, args...)
	}
	vg := append([]string{"--tool=callgrind", "--callgrind-out-file=" + b.callgrindFile(name), binary}, args...)
	cmd := exec.Command("valgrind", vg...)
	// The same for every server: no signal-based preemption (valgrind work only, and
	// callgrind's signal handling is fragile with threads), and no RDTSCP, which Go's
	// clock uses where the CPU has it (AMD) and valgrind 3.19 cannot decode.
	cmd.Env = append(os.Environ(), "GODEBUG=asyncpreemptoff=1,cpu.rdtscp=off")
	return cmd
}

func (b *bench) callgrindFile(name string) string { return b.dir + "/" + name + ".callgrind" }

// readyWait is how long a server may take from exec to ready.
func (b *bench) readyWait() time.Duration {
	if b.o.callgrind {
		return callgrindWait
	}
	return 10 * time.Second
}

// callgrindCheck fails early when valgrind or callgrind_control is missing.
func callgrindCheck() error {
	for _, tool := range []string{"valgrind", "callgrind_control"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("-callgrind needs %s (Debian: apt-get install valgrind): %w", tool, err)
		}
	}
	return nil
}

// callgrindZero sets s's counters to zero (callgrind_control -z), at the start of a
// measured phase.
func callgrindZero(ctx context.Context, s *benchServer) error {
	return callgrindControl(ctx, s, "-z")
}

// callgrindDump waits a second for the work a server does after its last answer
// (creditgate's settlements, a log flush), dumps s's counters (callgrind_control
// -d) and returns the instructions executed since the last zero.
func (b *bench) callgrindDump(ctx context.Context, s *benchServer) (int64, error) {
	time.Sleep(time.Second)
	if err := callgrindControl(ctx, s, "-d"); err != nil {
		return 0, err
	}
	s.dumps++
	return callgrindTotal(fmt.Sprintf("%s.%d", b.callgrindFile(s.name), s.dumps))
}

func callgrindControl(ctx context.Context, s *benchServer, flag string) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "callgrind_control", flag, strconv.Itoa(s.pid())).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "OK") {
		return fmt.Errorf("callgrind_control %s %s (pid %d): %v: %s", flag, s.name, s.pid(), err, out)
	}
	return nil
}

// callgrindTotal reads the "totals:" line of a callgrind dump: instructions (Ir).
func callgrindTotal(path string) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "totals:"); ok {
			fields := strings.Fields(v)
			if len(fields) == 0 {
				break
			}
			return strconv.ParseInt(fields[0], 10, 64)
		}
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, errors.New(path + ": no totals line")
}

// instrPerEvent is the instructions per answered event of a phase, in thousands.
func instrPerEvent(p *benchPhase) float64 {
	if p.load.Sent == 0 {
		return 0
	}
	return float64(p.instr) / 1000 / float64(p.load.Sent)
}

func showInstr(x float64) string { return fmt.Sprintf("%.1fk instr", x) }

// ratioInstr is the -callgrind target: instructions per event at most the ceiling's,
// the repeatable reading of "server CPU per event".
var ratioInstr = benchRatio{"instructions / event (callgrind)", instrPerEvent, showInstr, targetCPU, false}
