package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
)

// clockTicks is USER_HZ, the unit of utime and stime in /proc/<pid>/stat: 100 on
// every Linux architecture Go supports.
const clockTicks = 100

// benchCPU returns the user+system CPU time pid has used so far.
func benchCPU(pid int) (time.Duration, error) {
	u, err := benchTimes(pid)
	return u.cpu(), err
}

// benchUsed is what a process has used so far: CPU time in user space and in the
// kernel, and context switches of all its threads (voluntary: it waited, for a lock,
// a futex or I/O; involuntary: the scheduler took the CPU away).
type benchUsed struct {
	user, sys time.Duration
	switches  int64
}

// cpu is the CPU time in all, user and kernel.
func (u benchUsed) cpu() time.Duration { return u.user + u.sys }

func (u benchUsed) minus(v benchUsed) benchUsed {
	return benchUsed{u.user - v.user, u.sys - v.sys, u.switches - v.switches}
}

// benchUsage is benchTimes plus the context switches of every thread of pid, from
// their status files (a thread that ended takes its count with it).
func benchUsage(pid int) (benchUsed, error) {
	u, err := benchTimes(pid)
	if err != nil {
		return u, err
	}
	tasks, _ := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	for _, t := range tasks {
		st, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/status", pid, t.Name()))
		if err != nil {
			continue // the thread ended
		}
		for line := range strings.SplitSeq(string(st), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.HasSuffix(k, "ctxt_switches") {
				n, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
				u.switches += n
			}
		}
	}
	return u, nil
}

// benchTimes reads the user and kernel CPU time of pid from /proc/<pid>/stat.
func benchTimes(pid int) (benchUsed, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return benchUsed{}, err
	}
	// The command name (field 2) may contain spaces; count fields after its ')'.
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return benchUsed{}, errors.New("short /proc stat")
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return benchUsed{}, err
	}
	return benchUsed{user: time.Duration(utime) * time.Second / clockTicks, sys: time.Duration(stime) * time.Second / clockTicks}, nil
}

// benchMem returns VmRSS and VmHWM (peak RSS) of pid, in bytes.
func benchMem(pid int) (rss, peak int64, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		if err != nil {
			continue
		}
		switch k {
		case "VmRSS":
			rss = kb << 10
		case "VmHWM":
			peak = kb << 10
		}
	}
	return rss, peak, nil
}

// benchSelfCPU is the harness's own CPU time (load generator and sink).
func benchSelfCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// benchRedisCounts are Redis's own counters (INFO stats): commands processed and read
// events, one per batch of commands a client's write brought in. Commands per read
// is how many commands came in one round trip (the ceiling's: 1).
type benchRedisCounts struct{ commands, reads int64 }

func (c benchRedisCounts) minus(d benchRedisCounts) benchRedisCounts {
	return benchRedisCounts{c.commands - d.commands, c.reads - d.reads}
}

// benchRedisStats reads the counters; zero when INFO fails. The harness's own INFO
// counts as one command and one read.
func benchRedisStats(ctx context.Context, c *redis.Client) benchRedisCounts {
	var n benchRedisCounts
	info, err := c.InfoMap(ctx, "stats").Result()
	if err != nil {
		return n
	}
	n.commands, _ = strconv.ParseInt(info["Stats"]["total_commands_processed"], 10, 64)
	n.reads, _ = strconv.ParseInt(info["Stats"]["total_reads_processed"], 10, 64)
	return n
}

// benchServer is a server process under test.
type benchServer struct {
	name     string
	cmd      *exec.Cmd
	url      string // webhook URL
	ready    time.Duration
	idleRSS  int64
	log      *benchLog // its stdout and stderr
	done     chan error
	once     sync.Once
	dumps    int           // callgrind dumps so far (-callgrind)
	stopWait time.Duration // how long stop waits after SIGTERM before it kills
}

// benchLog reads a server's output from a pipe, as a container runtime would, and
// keeps counts and the last lines (a file on a busy disk can stall the writer).
type benchLog struct {
	mu                sync.Mutex
	lines, warn, errs int
	tail              []string
	trips             string // creditgate's last "redis round trips shared" line

	drained chan struct{}
}

func newBenchLog(r io.ReadCloser) *benchLog {
	l := &benchLog{drained: make(chan struct{})}
	go func() {
		defer close(l.drained)
		defer r.Close()
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			l.mu.Lock()
			l.lines++
			if strings.Contains(line, `"level":"WARN"`) {
				l.warn++
			}
			if strings.Contains(line, `"level":"ERROR"`) {
				l.errs++
			}
			if strings.Contains(line, `"msg":"redis round trips shared"`) {
				l.trips = line
			}
			if len(l.tail) == 50 {
				l.tail = l.tail[1:]
			}
			l.tail = append(l.tail, line)
			l.mu.Unlock()
		}
	}()
	return l
}

// lastLines returns up to n of the last lines.
func (l *benchLog) lastLines(n int) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.tail[max(0, len(l.tail)-n):], "\n")
}

// count is the number of lines read so far.
func (l *benchLog) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lines
}

func (l *benchLog) summary() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := fmt.Sprintf("%d lines, %d WARN, %d ERROR", l.lines, l.warn, l.errs)
	var t struct {
		Calls      int64 `json:"calls"`
		RoundTrips int64 `json:"round_trips"`
	}
	if json.Unmarshal([]byte(l.trips), &t) == nil && t.RoundTrips > 0 {
		out += fmt.Sprintf("; Redis calls %d in %d shared round trips (%.2f per trip)",
			t.Calls, t.RoundTrips, float64(t.Calls)/float64(t.RoundTrips))
	}
	return out
}

// benchStart starts cmd, waits until readyURL answers 200 (polling every 2 ms, for
// at most wait) and returns the time that took.
func benchStart(name string, cmd *exec.Cmd, url, readyURL string, wait time.Duration) (*benchServer, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = w, w
	s := &benchServer{name: name, cmd: cmd, url: url, done: make(chan error, 1), stopWait: max(wait, 10*time.Second)}
	start := time.Now()
	err = cmd.Start()
	_ = w.Close()
	if err != nil {
		_ = r.Close()
		return nil, err
	}
	s.log = newBenchLog(r)
	go func() { s.done <- cmd.Wait() }()
	hc := &http.Client{Timeout: time.Second}
	for time.Since(start) < wait {
		select {
		case err := <-s.done:
			<-s.log.drained
			return nil, fmt.Errorf("%s exited during start: %v\n%s", name, err, s.log.lastLines(20))
		default:
		}
		if resp, err := hc.Get(readyURL); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				s.ready = time.Since(start)
				return s, nil
			}
		}
		time.Sleep(2 * time.Millisecond)
	}
	s.stop()
	return nil, fmt.Errorf("%s not ready after %s\n%s", name, wait, s.log.lastLines(20))
}

func (s *benchServer) pid() int { return s.cmd.Process.Pid }

// stop sends SIGTERM and waits up to stopWait, then kills. Only the first call acts.
func (s *benchServer) stop() {
	s.once.Do(func() {
		_ = s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.done:
		case <-time.After(s.stopWait):
			_ = s.cmd.Process.Kill()
			<-s.done
		}
	})
}

// benchGoBuild builds pkg (relative to the module root) into out, static and
// stripped as a container image would carry it, or, plain, as `go build` does by
// default (which reuses what earlier builds left in the cache).
func benchGoBuild(ctx context.Context, root, pkg, out string, plain bool) error {
	args := []string{"build", "-trimpath", "-ldflags=-s -w", "-o", out, pkg}
	env := append(os.Environ(), "CGO_ENABLED=0")
	if plain {
		args, env = []string{"build", "-o", out, pkg}, os.Environ()
	}
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = root
	cmd.Env = env
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s: %v\n%s", pkg, err, b)
	}
	return nil
}

// benchModuleRoot is the folder of go.mod.
func benchModuleRoot(ctx context.Context) (string, error) {
	b, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", err
	}
	mod := strings.TrimSpace(string(b))
	if mod == "" || mod == os.DevNull {
		return "", errors.New("not inside the creditgate module: run from the repository")
	}
	return mod[:strings.LastIndexByte(mod, '/')], nil
}
