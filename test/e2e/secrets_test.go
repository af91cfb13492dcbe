package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stripe/stripe-go/v76/webhook"

	"github.com/creditgate/creditgate/internal/cli"
	"github.com/creditgate/creditgate/internal/testkit"
)

// TestSecretsNeverPrinted runs creditgate with recognisable secret values (the Stripe
// signing secret, the forwarding key, a Redis ACL password in the URL) through every
// kind of outcome, then scans everything it printed or served: logs (debug level),
// answers, /metrics, /readyz, check-config output for a valid and an invalid file,
// and the dlq commands.
func TestSecretsNeverPrinted(t *testing.T) {
	requireRedis(t)
	const (
		stripeLeak  = "whsec_LEAKCHECKstripe0000000000"
		forwardLeak = "LEAKCHECKforwardkey000000000000"
		redisLeak   = "LEAKCHECKredispass0000000000"
	)
	ctx := context.Background()
	admin := redis.NewClient(&redis.Options{Addr: redisAddr})
	defer admin.Close()
	user := "cgtest-" + randHex(4)
	prefix := "cgtest:secrets:" + randHex(4) + ":"
	if err := admin.Do(ctx, "ACL", "SETUSER", user, "on", ">"+redisLeak, "~"+prefix+"*", "+@all").Err(); err != nil {
		t.Fatalf("create ACL user: %v", err)
	}
	defer admin.Do(ctx, "ACL", "DELUSER", user)
	defer cleanRedis(prefix)

	b := newBackend(t)
	dir := t.TempDir()
	listen, adminAddr := testkit.FreeAddr(t), testkit.FreeAddr(t)
	must(t, os.WriteFile(filepath.Join(dir, "forward-key"), []byte(forwardLeak+"\n"), 0o600))
	good := fmt.Sprintf(`listen: %q
admin_listen: %q
log_level: debug
redis:
  url: "redis://%s:%s@%s/0"
  key_prefix: %q
routes:
  - name: main
    stripe: {signing_secrets: ["${STRIPE_WEBHOOK_SECRET}"]}
    extract: {user_id_format: uuid}
    forward: {url: %q, signing_keys_file: forward-key, timeout: 1s, budget: 2s}
`, listen, adminAddr, user, redisLeak, redisAddr, prefix, b.srv.URL)
	// The invalid file misplaces every secret into fields whose values get quoted.
	bad := fmt.Sprintf(`listen: "${STRIPE_WEBHOOK_SECRET}"
admin_listen: "redis://%s:%s@host"
log_level: "${STRIPE_WEBHOOK_SECRET}"
redis:
  url: "http://%s:%s@%s"
routes:
  - name: "${STRIPE_WEBHOOK_SECRET}"
    path: %q
    stripe: {signing_secrets: [%q]}
    forward: {url: "http://u:%s@backend", signing_keys: ["short"]}
`, user, redisLeak, user, redisLeak, redisAddr, forwardLeak, forwardLeak, redisLeak)
	must(t, os.WriteFile(filepath.Join(dir, "good.yaml"), []byte(good), 0o600))
	must(t, os.WriteFile(filepath.Join(dir, "bad.yaml"), []byte(bad), 0o600))
	getenv := func(k string) string {
		if k == "STRIPE_WEBHOOK_SECRET" {
			return stripeLeak
		}
		return ""
	}
	var printed bytes.Buffer
	runCmd := func(args ...string) {
		var out, errOut bytes.Buffer
		_ = cli.Run(ctx, append([]string{"creditgate"}, args...), getenv, strings.NewReader(""), &out, &errOut)
		printed.WriteString(out.String() + errOut.String())
	}
	runCmd("check-config", "--config", filepath.Join(dir, "good.yaml"))
	runCmd("check-config", "--config", filepath.Join(dir, "bad.yaml"))
	if !strings.Contains(printed.String(), "listen: must be host:port") {
		t.Fatalf("the invalid config was not reported:\n%s", printed.String())
	}

	logs := &testkit.SyncBuffer{}
	sctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- cli.Run(sctx, []string{"creditgate", "serve", "--config", filepath.Join(dir, "good.yaml")}, getenv, strings.NewReader(""), logs, logs)
	}()
	p := &proxy{t: t, url: "http://" + listen, admin: "http://" + adminAddr, logs: logs, done: done, cancel: cancel, prefix: prefix}
	p.waitHealthy()
	send := func(payload []byte, secret string) {
		sp := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: payload, Secret: secret, Timestamp: time.Now()})
		a := p.post("/stripe/webhook", payload, map[string]string{"Stripe-Signature": sp.Header})
		printed.WriteString(a.Raw)
	}
	evt, cs := newIDs()
	send(withIDs(t, paidFixture, evt, cs), stripeLeak)                    // forwarded
	send(withIDs(t, paidFixture, evt, cs), stripeLeak)                    // duplicate
	send(withIDs(t, paidFixture, "evt_e2e_x"+randHex(4), cs), "whsec_no") // invalid signature
	evt2, cs2 := newIDs()
	// The backend holds forwardKey, not forwardLeak, so it answers 401 (a deployment
	// fault, retried) unless told otherwise: from here it answers 422, then 500.
	var answer atomic.Int32
	answer.Store(http.StatusUnprocessableEntity)
	b.srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(int(answer.Load())) })
	send(withIDs(t, paidFixture, evt2, cs2), stripeLeak) // backend rejects: dead-lettered
	answer.Store(http.StatusInternalServerError)
	evt3, cs3 := newIDs()
	send(withIDs(t, paidFixture, evt3, cs3), stripeLeak) // backend unavailable
	for _, path := range []string{"/metrics", "/readyz", "/healthz"} {
		resp, err := http.Get(p.admin + path)
		must(t, err)
		var body bytes.Buffer
		_, _ = body.ReadFrom(resp.Body)
		resp.Body.Close()
		printed.Write(body.Bytes())
	}
	runCmd("dlq", "list", "--config", filepath.Join(dir, "good.yaml"))
	runCmd("dlq", "show", "main:"+evt2, "--config", filepath.Join(dir, "good.yaml"))
	cancel()
	<-done
	printed.WriteString(logs.String())

	all := printed.String()
	if !strings.Contains(all, `"result":"dead_lettered"`) || !strings.Contains(all, "backend_rejected") {
		t.Fatalf("the scenario did not run as planned:\n%s", all)
	}
	for name, leak := range map[string]string{"Stripe signing secret": stripeLeak, "forwarding key": forwardLeak, "Redis password": redisLeak} {
		if i := strings.Index(all, leak); i >= 0 {
			lo := max(0, i-200)
			t.Errorf("the %s was printed: …%s…", name, all[lo:min(len(all), i+len(leak)+50)])
		}
	}
}
