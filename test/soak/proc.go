package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
)

// proc is one supervised child process (redis-server or a creditgate replica). It can
// be killed and started again with the same arguments; its stdout and stderr go, in
// append mode, to one log file across restarts. An exit nobody asked for is a crash:
// it is counted, and the process is started again so the run can go on.
type proc struct {
	name    string
	path    string
	args    []string
	logPath string
	ready   func(ctx context.Context) error // polled after each start
	notef   func(format string, args ...any)

	// faults serializes the faults acting on this process, so a freeze and a restart
	// scheduled close together happen one after the other, never interleaved.
	faults sync.Mutex

	mu       sync.Mutex
	cmd      *exec.Cmd
	done     chan struct{} // closed when cmd has exited
	expected bool          // the current process is being stopped on purpose
	crashes  []string      // what each unexpected exit was
	closed   bool          // stop ran: never restart again
}

// start launches the process and waits (bounded) until ready succeeds.
func (p *proc) start(ctx context.Context) error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return errors.New(p.name + ": supervisor closed")
	}
	logf, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		p.mu.Unlock()
		return err
	}
	fmt.Fprintf(logf, "=== soak: starting %s at %s\n", p.name, time.Now().UTC().Format(time.RFC3339Nano))
	cmd := exec.Command(p.path, p.args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	// The child dies with the soak even if the soak is killed with SIGKILL.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	if err := cmd.Start(); err != nil {
		logf.Close()
		p.mu.Unlock()
		return fmt.Errorf("%s: start: %w", p.name, err)
	}
	logf.Close() // the child has its own descriptor
	done := make(chan struct{})
	p.cmd, p.done, p.expected = cmd, done, false
	p.mu.Unlock()

	go p.wait(ctx, cmd, done)

	rctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	for {
		err := p.ready(rctx)
		if err == nil {
			return nil
		}
		select {
		case <-done:
			return fmt.Errorf("%s exited during start\n%s", p.name, tail(p.logPath, 15))
		case <-rctx.Done():
			return fmt.Errorf("%s not ready after 15s: %v\n%s", p.name, err, tail(p.logPath, 15))
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// wait reaps cmd; an exit that was not asked for is recorded and restarted.
func (p *proc) wait(ctx context.Context, cmd *exec.Cmd, done chan struct{}) {
	err := cmd.Wait()
	close(done)
	p.mu.Lock()
	crashed := !p.expected && !p.closed && p.cmd == cmd
	if crashed {
		p.crashes = append(p.crashes, fmt.Sprintf("%s exited unexpectedly at %s: %v", p.name, time.Now().UTC().Format(time.RFC3339Nano), err))
	}
	p.mu.Unlock()
	if crashed {
		p.notef("CRASH: %s exited unexpectedly (%v); restarting it", p.name, err)
		time.Sleep(200 * time.Millisecond)
		if err := p.start(ctx); err != nil {
			p.notef("%s: restart after crash failed: %v", p.name, err)
		}
	}
}

// kill sends sig to the running process and waits up to grace for it to exit, then
// SIGKILLs it. It returns how long the process took to exit.
func (p *proc) kill(sig syscall.Signal, grace time.Duration) time.Duration {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.expected = true
	p.mu.Unlock()
	if cmd == nil {
		return 0
	}
	start := time.Now()
	_ = cmd.Process.Signal(sig)
	select {
	case <-done:
	case <-time.After(grace):
		_ = cmd.Process.Kill()
		<-done
	}
	return time.Since(start)
}

// pause stops the process (SIGSTOP) for d, then lets it go on (SIGCONT).
func (p *proc) pause(d time.Duration) {
	p.mu.Lock()
	cmd := p.cmd
	p.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGSTOP)
	time.Sleep(d)
	_ = cmd.Process.Signal(syscall.SIGCONT)
}

// stop ends the process for good (SIGTERM, then SIGKILL after grace).
func (p *proc) stop(grace time.Duration) {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	p.kill(syscall.SIGTERM, grace)
}

func (p *proc) crashList() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.crashes...)
}

// redisProc returns the supervisor of a private redis-server on addr whose data (AOF,
// fsynced on every write) lives in dir, so a restart keeps every acknowledged write.
func redisProc(bin, addr, dir string, notef func(string, ...any)) *proc {
	host, port, _ := net.SplitHostPort(addr)
	return &proc{
		name: "redis",
		path: bin,
		args: []string{
			"--bind", host, "--port", port, "--protected-mode", "yes",
			"--dir", dir, "--appendonly", "yes", "--appendfsync", "always", "--save", "",
			"--daemonize", "no", "--logfile", "", "--loglevel", "notice",
		},
		logPath: dir + "/redis.log",
		ready: func(ctx context.Context) error {
			c := redis.NewClient(&redis.Options{Addr: addr, DialTimeout: 200 * time.Millisecond, MaxRetries: -1})
			defer c.Close()
			return c.Ping(ctx).Err()
		},
		notef: notef,
	}
}

// replicaProc returns the supervisor of one creditgate replica; it is ready when
// /healthz answers 200 on adminURL.
func replicaProc(name, bin, cfgPath, logPath, adminURL string, notef func(string, ...any)) *proc {
	hc := &http.Client{Timeout: time.Second}
	return &proc{
		name:    name,
		path:    bin,
		args:    []string{"serve", "--config", cfgPath},
		logPath: logPath,
		ready: func(ctx context.Context) error {
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, adminURL+"/healthz", nil)
			resp, err := hc.Do(req)
			if err != nil {
				return err
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("healthz %d", resp.StatusCode)
			}
			return nil
		},
		notef: notef,
	}
}

// waitReady polls url until it answers 200, for at most d.
func waitReady(ctx context.Context, url string, d time.Duration) error {
	hc := &http.Client{Timeout: time.Second}
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := hc.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("status %d", resp.StatusCode)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s not 200 after %s: %v", url, d, err)
		case <-time.After(25 * time.Millisecond):
		}
	}
}

// tail returns the last n lines of a file.
func tail(path string, n int) string {
	b, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// goBuild builds ./cmd/creditgate of the module at root into out.
func goBuild(ctx context.Context, root, out string) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, "./cmd/creditgate")
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build ./cmd/creditgate: %v\n%s", err, b)
	}
	return nil
}

// moduleRoot is the folder of go.mod.
func moduleRoot(ctx context.Context) (string, error) {
	b, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(b))
	if mod == "" || mod == os.DevNull {
		return "", errors.New("not inside the creditgate module: run from the repository")
	}
	return mod[:strings.LastIndexByte(mod, '/')], nil
}
