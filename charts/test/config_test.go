package test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// creditgate builds the real binary once (`go build ./cmd/creditgate` in the main
// module), so the chart's config is judged by the code that will read it.
func creditgate(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "creditgate-chart-test-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "creditgate")
		cmd := exec.Command("go", "build", "-o", binPath, "./cmd/creditgate")
		cmd.Dir = repoRoot
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = err
			t.Logf("%s", out)
		}
	})
	if buildErr != nil {
		t.Fatalf("go build ./cmd/creditgate: %v", buildErr)
	}
	return binPath
}

// checkConfig writes the rendered config.yaml and the files it names, the way the pod
// sees them (the chart-made Secret's own keys, or dummies for an existingSecret), under
// a scratch root, and runs `creditgate check-config` on it.
func checkConfig(t *testing.T, rel release) (string, error) {
	t.Helper()
	root := t.TempDir()
	at := func(p string) string { return filepath.Join(root, filepath.FromSlash(p)) }
	cmObj, ok := rel.find("ConfigMap", "cg-creditgate")
	if !ok {
		t.Fatal("no ConfigMap cg-creditgate")
	}
	cfg := cmObj.Obj.(*corev1.ConfigMap).Data["config.yaml"]
	if cfg == "" {
		t.Fatal("ConfigMap has no config.yaml")
	}
	// The pod mounts: the Secret and the Redis CA where the Deployment (or the sidecar)
	// puts them. Their paths come from the config itself.
	files := map[string][]byte{}
	if s, ok := rel.find("Secret", "cg-creditgate"); ok {
		for k, v := range s.Obj.(*corev1.Secret).Data {
			files["/run/secrets/creditgate/"+k] = v
		}
	}
	for _, line := range strings.Split(cfg, "\n") {
		key, val, ok := strings.Cut(strings.TrimSpace(line), ":")
		val = strings.Trim(strings.TrimSpace(val), `'"`)
		if !ok || !strings.HasSuffix(key, "_file") {
			continue
		}
		if _, have := files[val]; have {
			continue
		}
		if _, chartMade := rel.find("Secret", "cg-creditgate"); chartMade && strings.HasPrefix(val, "/run/secrets/creditgate/") {
			t.Errorf("config names %s, but the chart-made Secret has no such key", val)
			continue
		}
		files[val] = dummySecret(filepath.Base(val))
	}
	for p, v := range files {
		if err := os.MkdirAll(filepath.Dir(at(p)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(at(p), v, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// Absolute paths of the pod, re-rooted into the scratch folder.
	for _, prefix := range []string{"/run/secrets/", "/var/lib/creditgate"} {
		cfg = strings.ReplaceAll(cfg, " "+prefix, " "+root+prefix)
	}
	if err := os.MkdirAll(at("/var/lib/creditgate"), 0o755); err != nil {
		t.Fatal(err)
	}
	path := at("/etc/creditgate/config.yaml")
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(creditgate(t), "check-config", "--config", path)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")} // no ${VAR} may be needed
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// dummyCA is a self-signed CA certificate in PEM: check-config builds the Redis client
// as serve does, and that reads the CA file of redis.tls.
var dummyCA = func() []byte {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "check-config test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		panic(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}()

func dummySecret(name string) []byte {
	switch {
	case strings.HasPrefix(name, "stripe-signing-secrets."):
		return []byte("whsec_dummy_for_check_config_0123\n")
	case strings.HasPrefix(name, "forward-signing-keys."):
		return []byte("dummy-forward-key-0123456789abcdef\n")
	case name == "redis-url":
		return []byte("rediss://redis.example.com:6380/0\n")
	case name == "redis-password":
		return []byte("dummy-password\n")
	case name == "ca.crt":
		return dummyCA
	}
	return []byte("dummy\n")
}

// The config every scenario renders is accepted by `creditgate check-config`: the
// chart and the binary cannot drift apart.
func TestRenderedConfigPassesCheckConfig(t *testing.T) {
	for _, f := range scenarios(t) {
		t.Run(scenarioName(f), func(t *testing.T) {
			rel := mustRender(t, []string{f})
			out, err := checkConfig(t, rel)
			if err != nil {
				t.Fatalf("check-config rejected the rendered config: %v\n%s", err, out)
			}
			if !strings.Contains(out, "is valid") {
				t.Errorf("check-config said: %s", out)
			}
			t.Logf("%s", strings.TrimSpace(out))
		})
	}
}

// The same check fails for values the schema lets through but creditgate refuses,
// so the test above can fail.
func TestCheckConfigRejectsBadChartValues(t *testing.T) {
	cases := []struct {
		name string
		set  []string
		want string
	}{
		{"lease shorter than the forward budget", []string{"config.dedup.lease=10s"}, "dedup.lease"},
		{"dedup ttl under Stripe's retry window", []string{"config.dedup.ttl=24h"}, "dedup.ttl"},
		{"bad user id regexp", []string{`routes[0].name=main`, `routes[0].path=/stripe/webhook`, `routes[0].forward.url=http://backend:8000/c`, `routes[0].extract.user_id_format=regexp:[`}, "user_id_format"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rel := mustRender(t, []string{chartDir + "/ci/default-values.yaml"}, c.set...)
			out, err := checkConfig(t, rel)
			if err == nil {
				t.Fatalf("check-config accepted it:\n%s", out)
			}
			if !strings.Contains(out, c.want) {
				t.Errorf("check-config output does not name %s:\n%s", c.want, out)
			}
		})
	}
}

func podAnnotations(t *testing.T, rel release) map[string]string {
	t.Helper()
	o, ok := rel.find("Deployment", "cg-creditgate")
	if !ok {
		t.Fatal("no Deployment")
	}
	return o.Obj.(*appsv1.Deployment).Spec.Template.Annotations
}

// Pods roll when, and only when, what they read changes and creditgate cannot reload
// live. With config.hotReload (the default) creditgate reloads routes, secrets and keys
// from the mounted files, so only the settings read once at start are hashed
// (checksum/restart); without it, the whole config (checksum/config) and the
// chart-made Secret (checksum/secret) are.
func TestChecksumAnnotationsRollPods(t *testing.T) {
	base := []string{chartDir + "/ci/default-values.yaml"}
	cases := []struct {
		name                 string
		set                  []string
		restart              bool // with hotReload: checksum/restart changes
		configRolls, secrets bool // without: checksum/config, checksum/secret change
	}{
		{"route's backend URL", []string{"routes[0].name=main", "routes[0].path=/stripe/webhook", "routes[0].forward.url=http://other:8000/credits"}, false, true, false},
		{"log level", []string{"config.logLevel=debug"}, false, true, false},
		{"Stripe signing secret rotated", []string{"secrets.routes.main.stripeSigningSecrets={whsec_ci_default_0123456789,whsec_new_0123456789}"}, false, false, true},
		{"Redis URL", []string{"secrets.redisUrl=redis://other:6379/0"}, true, false, true},
		{"dedup ttl", []string{"config.dedup.ttl=96h"}, true, true, false},
		{"shutdown grace", []string{"config.shutdownTimeout=10s"}, true, true, false},
		{"log flush interval", []string{"config.logFlushInterval=1s"}, true, true, false},
		{"replica count only", []string{"replicaCount=5"}, false, false, false},
		{"resources only", []string{"resources.limits.memory=256Mi"}, false, false, false},
	}
	before := podAnnotations(t, mustRender(t, base))
	if before["checksum/restart"] == "" || before["checksum/config"] != "" || before["checksum/secret"] != "" {
		t.Fatalf("annotations %v: want checksum/restart alone (config.hotReload is the default)", before)
	}
	off := []string{"config.hotReload=false"}
	beforeOff := podAnnotations(t, mustRender(t, base, off...))
	if beforeOff["checksum/config"] == "" || beforeOff["checksum/secret"] == "" || beforeOff["checksum/restart"] != "" {
		t.Fatalf("annotations %v: want checksum/config and checksum/secret without hot reload", beforeOff)
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			after := podAnnotations(t, mustRender(t, base, c.set...))
			if got := after["checksum/restart"] != before["checksum/restart"]; got != c.restart {
				t.Errorf("hot reload: checksum/restart changed=%t, want %t", got, c.restart)
			}
			afterOff := podAnnotations(t, mustRender(t, base, append(off, c.set...)...))
			if got := afterOff["checksum/config"] != beforeOff["checksum/config"]; got != c.configRolls {
				t.Errorf("no hot reload: checksum/config changed=%t, want %t", got, c.configRolls)
			}
			if got := afterOff["checksum/secret"] != beforeOff["checksum/secret"]; got != c.secrets {
				t.Errorf("no hot reload: checksum/secret changed=%t, want %t", got, c.secrets)
			}
		})
	}
	// An existingSecret is not the chart's to hash: no checksum/secret (the runbook says
	// `kubectl rollout restart` after changing its Redis keys).
	ext := podAnnotations(t, mustRender(t, []string{chartDir + "/ci/existing-secret-values.yaml"}, off...))
	if _, ok := ext["checksum/secret"]; ok {
		t.Errorf("checksum/secret with an existingSecret: %v", ext)
	}
}

// A route that only the reconcile CronJob needs the API for (its sources read
// metadata) gets stripe.api_key_file, and the binary accepts that config.
func TestReconciledRouteConfigPassesCheckConfig(t *testing.T) {
	extra := filepath.Join(t.TempDir(), "reconcile.yaml")
	if err := os.WriteFile(extra, []byte("reconcile: {enabled: true}\nsecrets: {routes: {main: {stripeApiKey: rk_test_0123456789}}}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	rel := mustRender(t, []string{chartDir + "/ci/default-values.yaml", extra})
	out, err := checkConfig(t, rel)
	if err != nil || !strings.Contains(out, "is valid") {
		t.Fatalf("check-config: %v\n%s", err, out)
	}
	if cm, _ := rel.find("ConfigMap", "cg-creditgate"); !strings.Contains(string(cm.YAML), "api_key_file: /run/secrets/creditgate/stripe-api-key.main") {
		t.Errorf("the reconciled route has no api_key_file:\n%s", cm.YAML)
	}
	if _, ok := rel.find("CronJob", "cg-creditgate-reconcile-main"); !ok {
		t.Errorf("no CronJob cg-creditgate-reconcile-main; kinds %v", rel.kinds())
	}
}
