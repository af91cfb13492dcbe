package cli_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v76/webhook"

	"github.com/creditgate/creditgate/internal/demo"
	"github.com/creditgate/creditgate/internal/secret"
	"github.com/creditgate/creditgate/internal/testkit"
)

// routeConfig is a one-route, in-memory config for the reload tests.
type routeConfig struct {
	listen, admin, dir  string
	path, secret, url   string
	extra               string // more top-level YAML
	secretsFile, broken bool   // secret from a file; add two mistakes
}

func (c routeConfig) yaml() string {
	secrets := fmt.Sprintf("signing_secrets: [%q]", c.secret)
	if c.secretsFile {
		secrets = "signing_secrets_file: stripe-secrets"
	}
	y := fmt.Sprintf(`listen: %q
admin_listen: %q
log_level: info
shutdown_timeout: 5s
dead_letter:
  file: dead-letters.jsonl
%s
routes:
  - name: main
    path: %s
    stripe:
      %s
    extract:
      user_id_format: uuid
    forward:
      url: %q
      signing_keys: [%q]
      attempts: 1
`, c.listen, c.admin, c.extra, c.path, secrets, c.url, cliForwardKey)
	if c.broken {
		y = strings.Replace(y, "log_level: info", "log_level: loud", 1)
		y = strings.Replace(y, "attempts: 1", "attempts: -4", 1)
	}
	return y
}

// newInstance writes c (in c.dir, a new temporary folder when empty, on free
// loopback ports) and returns the instance that will serve it with getenv (nil: an
// empty environment); run starts it.
func newInstance(t *testing.T, c *routeConfig, getenv func(string) string) *instance {
	t.Helper()
	if c.dir == "" {
		c.dir = t.TempDir()
	}
	c.listen, c.admin = testkit.FreeAddr(t), testkit.FreeAddr(t)
	in := &instance{listen: c.listen, admin: c.admin, logs: &testkit.SyncBuffer{}, done: make(chan error, 1), getenv: getenv}
	in.cfg = writeFile(t, c.dir, "config.yaml", c.yaml())
	return in
}

// startReloadable runs serve on c, watching files every 20 ms.
func startReloadable(t *testing.T, c *routeConfig) *instance {
	t.Helper()
	in := newInstance(t, c, nil)
	in.run(t, "--watch-interval", "20ms")
	return in
}

// send posts a paid purchase signed with key to path and returns the status word.
func send(t *testing.T, listen, path, key string) (int, string) {
	t.Helper()
	return sendFor(t, listen, path, key, cliUser)
}

// sendFor is send for a purchase by user.
func sendFor(t *testing.T, listen, path, key, user string) (int, string) {
	t.Helper()
	body := demo.Session{UserID: user, Credits: "5"}.Event()
	sp := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: body, Secret: key, Timestamp: time.Now()})
	req, _ := http.NewRequest(http.MethodPost, "http://"+listen+path, bytes.NewReader(body))
	req.Header.Set("Stripe-Signature", sp.Header)
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	var a struct{ Status string }
	_ = json.NewDecoder(resp.Body).Decode(&a)
	return resp.StatusCode, a.Status
}

// waitLog waits (bounded) until the log holds n lines containing s.
func waitLog(t *testing.T, in *instance, s string, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if strings.Count(in.logs.String(), s) >= n {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("no %d log line(s) with %s after 10s:\n%s", n, s, in.logs.String())
}

func metricLine(t *testing.T, in *instance, name string) string {
	t.Helper()
	_, body := get(t, "http://"+in.admin+"/metrics")
	for _, l := range lines(body) {
		if strings.HasPrefix(l, name+" ") {
			return l
		}
	}
	return ""
}

// A changed config file swaps path, secret and backend at once; a webhook in flight
// during the swap finishes on the config it started with.
func TestReloadSwapsRoutesInFlightFinishOnOld(t *testing.T) {
	release := make(chan struct{})
	var once sync.Once
	defer once.Do(func() { close(release) })
	arrived := make(chan struct{}, 1)
	oldBackend, newBackend := demo.NewBackend(secret.New(cliForwardKey)), demo.NewBackend(secret.New(cliForwardKey))
	oldSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		<-release
		oldBackend.ServeHTTP(w, r)
	}))
	defer oldSrv.Close()
	newSrv := httptest.NewServer(newBackend)
	defer newSrv.Close()

	c := &routeConfig{path: "/old", secret: "whsec_old_0123456789", url: oldSrv.URL}
	in := startReloadable(t, c)

	inflight := make(chan string, 1)
	go func() {
		code, status := send(t, c.listen, "/old", "whsec_old_0123456789")
		inflight <- fmt.Sprint(code, " ", status)
	}()
	select {
	case <-arrived:
	case <-time.After(10 * time.Second):
		t.Fatal("the first webhook never reached the backend")
	}

	c.path, c.secret, c.url = "/new", "whsec_new_0123456789", newSrv.URL
	writeFile(t, c.dir, "config.yaml", c.yaml())
	waitLog(t, in, `"msg":"config reloaded"`, 1)

	if code, status := send(t, c.listen, "/new", "whsec_new_0123456789"); code != 200 || status != "forwarded" {
		t.Errorf("new route after the reload = %d %s, want 200 forwarded", code, status)
	}
	if code, status := send(t, c.listen, "/new", "whsec_old_0123456789"); code != 400 || status != "invalid_signature" {
		t.Errorf("old secret on the new route = %d %s, want 400 invalid_signature", code, status)
	}
	if code, status := send(t, c.listen, "/old", "whsec_old_0123456789"); code != 404 || status != "not_found" {
		t.Errorf("old path after the reload = %d %s, want 404 not_found", code, status)
	}
	once.Do(func() { close(release) })
	select {
	case got := <-inflight:
		if got != "200 forwarded" {
			t.Errorf("the webhook in flight during the reload = %s, want 200 forwarded", got)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the webhook in flight never finished")
	}
	if oldBackend.Applied() != 1 || newBackend.Applied() != 1 {
		t.Errorf("old backend applied %d, new %d; want 1 and 1", oldBackend.Applied(), newBackend.Applied())
	}
	if got := metricLine(t, in, `creditgate_config_reloads_total{result="success"}`); !strings.HasSuffix(got, " 1") {
		t.Errorf("reloads success = %q, want 1", got)
	}
	if got := metricLine(t, in, "creditgate_config_last_reload_successful"); !strings.HasSuffix(got, " 1") {
		t.Errorf("last_reload_successful = %q, want 1", got)
	}
}

// A bad config is refused with every problem in one log line, counted, and the
// running config keeps serving; fixing the file reloads.
func TestReloadRefusesBadConfig(t *testing.T) {
	backend := httptest.NewServer(demo.NewBackend(secret.New(cliForwardKey)))
	defer backend.Close()
	c := &routeConfig{path: "/hook", secret: "whsec_keep_0123456789", url: backend.URL}
	in := startReloadable(t, c)
	before := metricLine(t, in, "creditgate_config_last_reload_success_timestamp_seconds")

	c.broken = true
	writeFile(t, c.dir, "config.yaml", c.yaml())
	waitLog(t, in, `"msg":"config reload refused; the running config keeps serving"`, 1)
	var refused map[string]any
	for _, l := range lines(in.logs.String()) {
		if strings.Contains(l, "config reload refused") {
			_ = json.Unmarshal([]byte(l), &refused)
		}
	}
	problems, _ := refused["problems"].([]any)
	if refused["level"] != "ERROR" || refused["trigger"] != "file_changed" || len(problems) != 2 ||
		!strings.Contains(fmt.Sprint(problems), "log_level") || !strings.Contains(fmt.Sprint(problems), "attempts") {
		t.Errorf("refusal line = %v, want level ERROR, trigger file_changed and both problems", refused)
	}
	if code, status := send(t, c.listen, "/hook", "whsec_keep_0123456789"); code != 200 || status != "forwarded" {
		t.Errorf("after a refused reload = %d %s, want 200 forwarded on the old config", code, status)
	}
	if got := metricLine(t, in, "creditgate_config_last_reload_successful"); !strings.HasSuffix(got, " 0") {
		t.Errorf("last_reload_successful = %q, want 0", got)
	}
	if got := metricLine(t, in, `creditgate_config_reloads_total{result="failure"}`); !strings.HasSuffix(got, " 1") {
		t.Errorf("reloads failure = %q, want 1", got)
	}
	if got := metricLine(t, in, "creditgate_config_last_reload_success_timestamp_seconds"); got != before {
		t.Errorf("success timestamp moved on a failure: %q -> %q", before, got)
	}
	if strings.Count(in.logs.String(), "config reload refused") != 1 {
		t.Error("an unchanged broken file was refused more than once")
	}

	c.broken = false
	writeFile(t, c.dir, "config.yaml", c.yaml())
	waitLog(t, in, `"msg":"config reloaded"`, 1)
	if got := metricLine(t, in, "creditgate_config_last_reload_successful"); !strings.HasSuffix(got, " 1") {
		t.Errorf("last_reload_successful after the fix = %q, want 1", got)
	}
}

// A secret rotated in the file a route names (how Kubernetes updates a mounted
// Secret) reloads; SIGHUP reloads; settings that need a restart are reported and
// keep their running values.
func TestReloadSecretFileSIGHUPAndRestartSettings(t *testing.T) {
	backend := httptest.NewServer(demo.NewBackend(secret.New(cliForwardKey)))
	defer backend.Close()
	dir := t.TempDir()
	c := &routeConfig{dir: dir, path: "/hook", url: backend.URL, secretsFile: true}
	writeFile(t, dir, "stripe-secrets", "whsec_first_0123456789\n") // before serve starts
	in := startReloadable(t, c)

	writeFile(t, dir, "stripe-secrets", "whsec_first_0123456789\nwhsec_second_0123456789\n")
	waitLog(t, in, `"msg":"config reloaded"`, 1)
	for _, k := range []string{"whsec_first_0123456789", "whsec_second_0123456789"} {
		if code, status := send(t, c.listen, "/hook", k); code != 200 || status != "forwarded" {
			t.Errorf("secret %s during the rotation = %d %s, want 200 forwarded", k[:12], code, status)
		}
	}

	// SIGHUP, with a listener change that cannot apply live.
	oldListen := c.listen
	c.listen = testkit.FreeAddr(t)
	c.extra = "max_body_bytes: 4096"
	writeFile(t, dir, "config.yaml", c.yaml())
	waitLog(t, in, `"msg":"config reloaded"`, 2)
	if err := syscall.Kill(syscall.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitLog(t, in, `"trigger":"sighup"`, 1)
	waitLog(t, in, `"setting":"listen"`, 2)
	if code, status := send(t, oldListen, "/hook", "whsec_first_0123456789"); code != 200 || status != "forwarded" {
		t.Errorf("the running listener after a listen change = %d %s, want 200 forwarded", code, status)
	}
	if strings.Contains(in.logs.String(), `"setting":"redis"`) || strings.Contains(in.logs.String(), `"setting":"max_body_bytes"`) {
		t.Errorf("a setting that did not change, or changes live, was reported as needing a restart:\n%s", in.logs.String())
	}
}

// Kubernetes updates a mounted ConfigMap or Secret by writing a new timestamped folder
// and swapping the ..data symlink to it; the files the config names are symlinks
// through ..data. The watch sees that swap.
func TestReloadSeesKubernetesSymlinkSwap(t *testing.T) {
	backend := httptest.NewServer(demo.NewBackend(secret.New(cliForwardKey)))
	defer backend.Close()
	dir := t.TempDir()
	c := &routeConfig{dir: dir, path: "/hook", url: backend.URL, secretsFile: true}
	c.listen, c.admin = testkit.FreeAddr(t), testkit.FreeAddr(t)
	version := func(name, secrets string) {
		t.Helper()
		v := filepath.Join(dir, name)
		if err := os.Mkdir(v, 0o755); err != nil {
			t.Fatal(err)
		}
		writeFile(t, v, "config.yaml", c.yaml())
		writeFile(t, v, "stripe-secrets", secrets)
		tmp := filepath.Join(dir, "..data_tmp")
		if err := os.Symlink(name, tmp); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, filepath.Join(dir, "..data")); err != nil { // the atomic swap
			t.Fatal(err)
		}
	}
	version("..2026_12_01_07_00_00.1", "whsec_mounted_old_0123456789\n")
	for _, f := range []string{"config.yaml", "stripe-secrets"} {
		if err := os.Symlink(filepath.Join("..data", f), filepath.Join(dir, f)); err != nil {
			t.Fatal(err)
		}
	}
	in := &instance{listen: c.listen, admin: c.admin, logs: &testkit.SyncBuffer{}, done: make(chan error, 1), cfg: filepath.Join(dir, "config.yaml")}
	in.run(t, "--watch-interval", "20ms")
	if code, status := send(t, c.listen, "/hook", "whsec_mounted_old_0123456789"); code != 200 || status != "forwarded" {
		t.Fatalf("before the swap: %d %s", code, status)
	}

	version("..2026_12_01_07_05_00.2", "whsec_mounted_new_0123456789\n")
	waitLog(t, in, `"msg":"config reloaded"`, 1)
	if code, status := send(t, c.listen, "/hook", "whsec_mounted_new_0123456789"); code != 200 || status != "forwarded" {
		t.Errorf("new secret after the swap: %d %s, want 200 forwarded", code, status)
	}
	if code, status := send(t, c.listen, "/hook", "whsec_mounted_old_0123456789"); code != 400 || status != "invalid_signature" {
		t.Errorf("old secret after the swap: %d %s, want 400 invalid_signature", code, status)
	}
}
