package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sort"
	"sync"
	"syscall"
	"time"
)

// world is everything the faults act on.
type world struct {
	redis    *proc
	replicas []*proc
	backend  *backend
	sim      *sim
	notef    func(string, ...any)
	// lateFirst are the first invoices of the subscriptions whose session the API
	// lists late: credited under the invoice's id or the session's (kindSubLate).
	lateFirst map[string]bool
}

// fault is one scheduled fault.
type fault struct {
	at   time.Duration // after the start of traffic
	name string
	run  func(ctx context.Context) string // does it; returns what happened
}

// faultEntry is one fault that was injected.
type faultEntry struct {
	at     time.Duration
	name   string
	detail string
}

// Scheduled windows of backend misbehaviour.
var (
	burst5xx   = &misbehaviour{name: "5xx burst", fail: 0.8}
	resets     = &misbehaviour{name: "connection resets", reset: 0.4}
	slowWindow = &misbehaviour{name: "slow answers", slow: 0.5}
)

// schedule places the faults over the traffic window, each at a fixed fraction of it
// moved by a seeded jitter of up to ±2% of the window. Which replica is SIGKILLed (and
// later frozen) and which is SIGTERMed is seeded too. Faults on one process never
// overlap (proc.faults); the backend's windows may.
func schedule(w *world, traffic time.Duration, seed uint64) []fault {
	rng := rand.New(rand.NewPCG(seed, 0xfa017))
	at := func(frac float64) time.Duration {
		j := (rng.Float64()*2 - 1) * 0.02
		return time.Duration((frac + j) * float64(traffic))
	}
	kill := rng.IntN(len(w.replicas))
	term := (kill + 1) % len(w.replicas)
	fs := []fault{
		{at(0.08), "backend: 5xx burst (80% for 1.5s)", w.window(burst5xx, 1500*time.Millisecond)},
		{at(0.16), "backend: slow answers past forward.timeout (50% for 2s)", w.window(slowWindow, 2*time.Second)},
		{at(0.14), "redis: SIGKILL as the backend applies a late-listed subscription's first invoice under its own id, restart after 1s",
			w.killRedisOnApply(func(g grant) bool { return w.lateFirst[g.ID] }, time.Second, traffic*3/4)},
		{at(0.25), "redis: SIGKILL, restart after 1.5s", w.restartRedis(syscall.SIGKILL, 1500*time.Millisecond)},
		{at(0.34), "backend: connection resets (40% for 1.5s)", w.window(resets, 1500*time.Millisecond)},
		{at(0.40), fmt.Sprintf("replica %s: SIGKILL, restart after 1s", w.replicas[kill].name), w.restartReplica(kill, syscall.SIGKILL, time.Second)},
		{at(0.48), fmt.Sprintf("replica %s: SIGTERM (graceful), restart", w.replicas[term].name), w.restartReplica(term, syscall.SIGTERM, 0)},
		{at(0.55), fmt.Sprintf("replica %s: SIGSTOP for %s (longer than the lease), then SIGCONT", w.replicas[kill].name, freeze), w.freezeReplica(kill, freeze)},
		{at(0.62), "backend: 5xx burst (80% for 1.5s)", w.window(burst5xx, 1500*time.Millisecond)},
		{at(0.70), "redis: SIGTERM, restart after 1s", w.restartRedis(syscall.SIGTERM, time.Second)},
		{at(0.79), "backend: full outage for 3s (listener and connections closed)", w.outage(3 * time.Second)},
		{at(0.88), "backend: slow answers past forward.timeout (50% for 2s)", w.window(slowWindow, 2*time.Second)},
	}
	sort.Slice(fs, func(i, j int) bool { return fs[i].at < fs[j].at })
	return fs
}

// inject runs each fault at its time (after start) until ctx ends; a fault that has
// begun always finishes, so every process is up again when inject returns.
func inject(ctx context.Context, start time.Time, fs []fault, notef func(string, ...any)) []faultEntry {
	var (
		mu  sync.Mutex
		out []faultEntry
		wg  sync.WaitGroup
	)
	for _, f := range fs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if !sleepUntil(ctx, start.Add(f.at)) {
				return
			}
			at := time.Since(start)
			notef("fault: %s", f.name)
			detail := f.run(context.WithoutCancel(ctx))
			notef("fault done: %s: %s", f.name, detail)
			mu.Lock()
			out = append(out, faultEntry{at: at, name: f.name, detail: detail})
			mu.Unlock()
		}()
	}
	wg.Wait()
	sort.Slice(out, func(i, j int) bool { return out[i].at < out[j].at })
	return out
}

func (w *world) window(m *misbehaviour, d time.Duration) func(context.Context) string {
	return func(context.Context) string {
		before := w.backendCounts()
		w.backend.setMode(m)
		time.Sleep(d)
		w.backend.endMode(m)
		after := w.backendCounts()
		return fmt.Sprintf("%d requests in the window: %d 5xx, %d resets, %d slow",
			after.requests-before.requests, after.failed-before.failed, after.resets-before.resets, after.slow-before.slow)
	}
}

func (w *world) backendCounts() backendStats {
	w.backend.mu.Lock()
	defer w.backend.mu.Unlock()
	return w.backend.stats
}

func (w *world) outage(d time.Duration) func(context.Context) string {
	return func(context.Context) string {
		inflight := w.backend.inflight.Load()
		w.backend.down()
		time.Sleep(d)
		if err := w.backend.up(); err != nil {
			w.notef("backend: cannot listen again: %v", err)
			return "could not reopen: " + err.Error()
		}
		return fmt.Sprintf("down %s, %d requests were being handled", d, inflight)
	}
}

func (w *world) restartRedis(sig syscall.Signal, down time.Duration) func(context.Context) string {
	return func(ctx context.Context) string {
		w.redis.faults.Lock()
		defer w.redis.faults.Unlock()
		t0 := time.Now()
		exit := w.redis.kill(sig, 10*time.Second)
		time.Sleep(down)
		if err := w.redis.start(ctx); err != nil {
			w.notef("redis: restart failed: %v", err)
			return "restart failed: " + err.Error()
		}
		return fmt.Sprintf("exited in %s, answering again after %s", exit.Round(time.Millisecond), time.Since(t0).Round(time.Millisecond))
	}
}

// killRedisOnApply kills Redis the moment the backend has applied a credit that match
// picks, before the backend's 200 goes out: the credit is in the backend, and
// creditgate's settlement finds Redis gone (the window in which only the backend's
// Idempotency-Key stands between a redelivery and a second credit). Redis restarts
// after down. It waits up to wait for such a credit.
func (w *world) killRedisOnApply(match func(grant) bool, down, wait time.Duration) func(context.Context) string {
	return func(ctx context.Context) string {
		w.redis.faults.Lock()
		defer w.redis.faults.Unlock()
		fired := make(chan string, 1)
		var once sync.Once
		hook := func(g grant) {
			if match(g) {
				once.Do(func() {
					w.redis.kill(syscall.SIGKILL, 10*time.Second)
					fired <- g.ID
				})
			}
		}
		w.backend.onApplied.Store(&hook)
		defer w.backend.onApplied.Store(nil)
		var id string
		select {
		case id = <-fired:
		case <-time.After(wait):
			w.backend.onApplied.Store(nil)
			once.Do(func() {}) // no kill starts after this; one under way has finished
			select {
			case id = <-fired: // it struck at the last moment: restart below
			default:
				return fmt.Sprintf("NOT INJECTED: no such credit in %s", wait)
			}
		}
		t0 := time.Now()
		time.Sleep(down)
		if err := w.redis.start(ctx); err != nil {
			w.notef("redis: restart failed: %v", err)
			return "restart failed: " + err.Error()
		}
		return fmt.Sprintf("killed as the backend applied %s, answering again after %s", id, time.Since(t0).Round(time.Millisecond))
	}
}

// freeze is how long a replica is stopped: past the lease, as a VM pause or a long GC
// stall would, so its claims expire under its running forwards.
const freeze = lease + 2*time.Second

func (w *world) freezeReplica(i int, d time.Duration) func(context.Context) string {
	return func(context.Context) string {
		r := w.replicas[i]
		r.faults.Lock()
		defer r.faults.Unlock()
		inflight := w.sim.inflight[i].Load()
		before := w.backendCounts()
		r.pause(d)
		time.Sleep(3 * time.Second) // what it had in flight goes on after SIGCONT
		after := w.backendCounts()
		return fmt.Sprintf("%d deliveries in flight to it; backend answered %d 409s until 3s after SIGCONT", inflight, after.conflicts-before.conflicts)
	}
}

func (w *world) restartReplica(i int, sig syscall.Signal, down time.Duration) func(context.Context) string {
	return func(ctx context.Context) string {
		r := w.replicas[i]
		r.faults.Lock()
		defer r.faults.Unlock()
		inflight := w.sim.inflight[i].Load()
		t0 := time.Now()
		exit := r.kill(sig, 30*time.Second)
		time.Sleep(down)
		if err := r.start(ctx); err != nil {
			w.notef("%s: restart failed: %v", r.name, err)
			return "restart failed: " + err.Error()
		}
		return fmt.Sprintf("%d deliveries in flight to it; exited in %s, healthy again after %s",
			inflight, exit.Round(time.Millisecond), time.Since(t0).Round(time.Millisecond))
	}
}
