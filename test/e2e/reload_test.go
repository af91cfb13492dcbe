package e2e

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v76/webhook"

	"github.com/creditgate/creditgate/internal/testkit"
)

var built struct {
	once sync.Once
	path string
	err  error
	out  []byte
}

// buildBinary builds cmd/creditgate, once per test run, and returns its path.
func buildBinary(t *testing.T) string {
	t.Helper()
	built.once.Do(func() {
		dir, err := os.MkdirTemp("", "creditgate-e2e-bin-")
		if err != nil {
			built.err = err
			return
		}
		built.path = filepath.Join(dir, "creditgate")
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "go", "build", "-o", built.path, "../../cmd/creditgate")
		// Built as the image builds it (cgo off), not as the race tests around it are.
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		built.out, built.err = cmd.CombinedOutput()
	})
	if built.err != nil {
		t.Fatalf("go build: %v\n%s", built.err, built.out)
	}
	return built.path
}

// binary is the real creditgate started as a child process.
type binary struct {
	cmd    *exec.Cmd
	logs   *testkit.SyncBuffer
	exited chan error
}

// startBinary runs `creditgate serve --config cfg` with extra flags until t ends
// (SIGTERM, then a bounded wait), printing its log if t failed.
func startBinary(t *testing.T, cfg string, flags ...string) *binary {
	t.Helper()
	b := &binary{logs: &testkit.SyncBuffer{}, exited: make(chan error, 1)}
	b.cmd = exec.Command(buildBinary(t), append([]string{"serve", "--config", cfg}, flags...)...)
	b.cmd.Stdout, b.cmd.Stderr = b.logs, b.logs
	b.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	must(t, b.cmd.Start())
	go func() { b.exited <- b.cmd.Wait() }()
	t.Cleanup(func() {
		_ = b.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-b.exited:
		case <-time.After(15 * time.Second):
			_ = b.cmd.Process.Kill()
			t.Error("creditgate did not stop within 15s of SIGTERM")
		}
		if t.Failed() {
			t.Logf("creditgate logs:\n%s", b.logs.String())
		}
	})
	return b
}

// signWith signs payload like Stripe does during a secret roll: one v1 per secret.
func signWith(payload []byte, secrets ...string) string {
	now := time.Now()
	h := fmt.Sprintf("t=%d", now.Unix())
	for _, s := range secrets {
		h += ",v1=" + hex.EncodeToString(webhook.ComputeSignature(now, payload, s))
	}
	return h
}

// TestRotateSigningSecretUnderLoad rolls a route's Stripe signing secret the way an
// operator does in Kubernetes, through the real binary, while purchases keep coming:
// the mounted secrets file goes from [old] to [old, new] (seen by the file watch),
// Stripe signs with both, the file goes to [new] (then SIGHUP), Stripe signs with the
// new one only. Every delivery must be answered 200 forwarded and credited once.
func TestRotateSigningSecretUnderLoad(t *testing.T) {
	dir := t.TempDir()
	b := newBackend(t)
	const oldSecret, newSecret = "whsec_rotate_old_0123456789", "whsec_rotate_new_0123456789"
	listen, admin := testkit.FreeAddr(t), testkit.FreeAddr(t)
	must(t, os.WriteFile(filepath.Join(dir, "stripe-secrets"), []byte(oldSecret+"\n"), 0o600))
	must(t, os.WriteFile(filepath.Join(dir, "forward-keys"), []byte(forwardKey+"\n"), 0o600))
	must(t, os.WriteFile(filepath.Join(dir, "config.yaml"), []byte(fmt.Sprintf(`listen: %q
admin_listen: %q
dead_letter:
  file: dlq.jsonl
routes:
  - name: main
    path: /stripe/webhook
    stripe:
      signing_secrets_file: stripe-secrets
    extract:
      user_id_format: uuid
    forward:
      url: %q
      signing_keys_file: forward-keys
`, listen, admin, b.srv.URL+"/internal/credits")), 0o600))

	proc := startBinary(t, filepath.Join(dir, "config.yaml"), "--watch-interval", "100ms")
	exited := proc.exited
	waitFor(t, exited, func() bool { return metric(admin, "creditgate_config_last_reload_successful") == "1" })

	// The load: four senders, each posting purchases one after the other, signed
	// with whatever Stripe signs with at that moment.
	var (
		mu     sync.Mutex
		sent   int
		failed []string
		// roll guards signing: a sender holds it from reading the secrets until its
		// answer is back, so a phase change waits for every request signed the old way
		// (Stripe's roll overlaps for hours; the test must not race its own senders).
		roll    sync.RWMutex
		signing = []string{oldSecret}
	)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	client := &http.Client{Timeout: 10 * time.Second}
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				evt, cs := newIDs()
				body := withIDs(t, "checkout_session_completed_paid_2023-10-16.json", evt, cs)
				roll.RLock()
				req, _ := http.NewRequest(http.MethodPost, "http://"+listen+"/stripe/webhook", bytes.NewReader(body))
				req.Header.Set("Stripe-Signature", signWith(body, signing...))
				resp, err := client.Do(req)
				got := ""
				if err != nil {
					got = err.Error()
				} else {
					raw, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					var a struct{ Status string }
					_ = json.Unmarshal(raw, &a)
					if resp.StatusCode != 200 || a.Status != "forwarded" {
						got = fmt.Sprintf("%d %s", resp.StatusCode, raw)
					}
				}
				roll.RUnlock()
				mu.Lock()
				sent++
				if got != "" {
					failed = append(failed, got)
				}
				mu.Unlock()
			}
		}()
	}
	phase := func(d time.Duration, secrets ...string) {
		time.Sleep(d)
		roll.Lock() // every request signed the old way has its answer
		signing = secrets
		roll.Unlock()
	}
	reloads := func(n string) func() bool {
		return func() bool { return metric(admin, `creditgate_config_reloads_total{result="success"}`) == n }
	}

	time.Sleep(300 * time.Millisecond) // old secret only
	replace(t, filepath.Join(dir, "stripe-secrets"), oldSecret+"\n"+newSecret+"\n")
	waitFor(t, exited, reloads("1"))
	phase(300*time.Millisecond, oldSecret, newSecret) // Stripe's roll: both sign
	replace(t, filepath.Join(dir, "stripe-secrets"), newSecret+"\n")
	must(t, proc.cmd.Process.Signal(syscall.SIGHUP))
	waitFor(t, exited, func() bool {
		n, err := strconv.Atoi(metric(admin, `creditgate_config_reloads_total{result="success"}`))
		return err == nil && n >= 2 // the SIGHUP, and maybe the file watch first
	})
	phase(300*time.Millisecond, newSecret) // the old secret expired
	time.Sleep(300 * time.Millisecond)
	close(stop)
	wg.Wait()

	mu.Lock()
	defer mu.Unlock()
	if len(failed) > 0 {
		t.Errorf("%d of %d deliveries failed during the rotation, first: %s", len(failed), sent, failed[0])
	}
	if got := len(b.credited()); got != sent {
		t.Errorf("backend credited %d purchases, %d were sent", got, sent)
	}
	if sent < 20 {
		t.Errorf("only %d deliveries in the run: no load to speak of", sent)
	}
	// The old secret is gone for good.
	evt, cs := newIDs()
	body := withIDs(t, "checkout_session_completed_paid_2023-10-16.json", evt, cs)
	req, _ := http.NewRequest(http.MethodPost, "http://"+listen+"/stripe/webhook", bytes.NewReader(body))
	req.Header.Set("Stripe-Signature", signWith(body, oldSecret))
	resp, err := client.Do(req)
	must(t, err)
	resp.Body.Close()
	if resp.StatusCode != 400 {
		t.Errorf("the retired secret got %d, want 400", resp.StatusCode)
	}
	if got := metric(admin, `creditgate_config_reloads_total{result="failure"}`); got != "0" {
		t.Errorf("reloads failure = %q, want 0", got)
	}
	t.Logf("%d deliveries, 0 failed, across two reloads", sent)
}

// replace swaps the file at path for one holding content in one step, as Kubernetes
// updates a mounted Secret.
func replace(t *testing.T, path, content string) {
	t.Helper()
	must(t, os.WriteFile(path+".tmp", []byte(content), 0o600))
	must(t, os.Rename(path+".tmp", path))
}

// metric returns the value of the series named exactly line (name{labels}) on
// admin's /metrics, or "".
func metric(admin, line string) string {
	resp, err := (&http.Client{Timeout: time.Second}).Get("http://" + admin + "/metrics")
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	for _, l := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(l, line+" "); ok {
			return v
		}
	}
	return ""
}

// waitFor polls cond (bounded) and fails if the process exits first.
func waitFor(t *testing.T, exited <-chan error, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			t.Fatalf("creditgate exited: %v", err)
		default:
		}
		if cond() {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("condition not met within 15s")
}

// TestRedisOutageLogsOncePerChange: while Redis is down, the real binary logs one
// line when its dials start failing and one when Redis is back, however many
// webhooks (each retrying its dials) arrive meanwhile; go-redis' own per-dial lines
// are held back and counted.
func TestRedisOutageLogsOncePerChange(t *testing.T) {
	r := newOwnRedis(t)
	r.start()
	b := newBackend(t)
	dir := t.TempDir()
	listen, admin := testkit.FreeAddr(t), testkit.FreeAddr(t)
	must(t, os.WriteFile(filepath.Join(dir, "config.yaml"), []byte(fmt.Sprintf(`listen: %q
admin_listen: %q
redis:
  url: "redis://%s/0"
  dial_timeout: 200ms
routes:
  - name: main
    stripe:
      signing_secrets: [%q]
    forward:
      url: %q
      signing_keys: [%q]
`, listen, admin, r.addr, stripeSecret, b.srv.URL+"/internal/credits", forwardKey)), 0o600))
	proc := startBinary(t, filepath.Join(dir, "config.yaml"))
	waitFor(t, proc.exited, func() bool { return metric(admin, "creditgate_config_last_reload_successful") == "1" })
	p := &proxy{t: t, url: "http://" + listen}
	deliver := func(want string) {
		t.Helper()
		evt, cs := newIDs()
		if a := p.deliver(withIDs(t, paidFixture, evt, cs)); a.Status != want {
			t.Fatalf("delivery: %d %s, want %s", a.Code, a.Status, want)
		}
	}
	deliver("forwarded")
	r.stop()
	for range 5 {
		deliver("store_unavailable")
	}
	r.start()
	waitFor(t, proc.exited, func() bool {
		evt, cs := newIDs()
		return p.deliver(withIDs(t, paidFixture, evt, cs)).Status == "forwarded"
	})
	logs := proc.logs.String()
	if n := strings.Count(logs, `"msg":"redis unreachable`); n != 1 {
		t.Errorf("%d \"redis unreachable\" lines for one outage, want 1", n)
	}
	if n := strings.Count(logs, `"msg":"redis reachable again"`); n != 1 {
		t.Errorf("%d \"redis reachable again\" lines, want 1", n)
	}
	if n := strings.Count(logs, `"msg":"redis client"`); n != 0 {
		t.Errorf("%d per-dial \"redis client\" lines, want 0 (held back)", n)
	}
	if !strings.Contains(logs, `"held_back_lines":`) || strings.Contains(logs, `"held_back_lines":0`) {
		t.Errorf("the recovery line does not count the go-redis lines held back:\n%s", logs)
	}
}
