package e2e

import (
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestDeploymentFaultsRetry: a backend answer that is a fault of the deployment (key
// rotated on one side, endpoint not deployed, a redirect) parks nothing: Stripe gets
// 503 so it redelivers, the dedicated counter moves, the backend is asked once (no
// retries that cannot help), and once the deployment is fixed the redelivery credits
// exactly once. Answers that say the request itself is wrong still park.
func TestDeploymentFaultsRetry(t *testing.T) {
	requireRedis(t)
	for _, tt := range []struct {
		status     int
		wantCode   int
		wantStatus string
	}{
		{http.StatusUnauthorized, 503, "backend_unavailable"},
		{http.StatusForbidden, 503, "backend_unavailable"},
		{http.StatusNotFound, 503, "backend_unavailable"},
		{http.StatusFound, 503, "backend_unavailable"},
		{http.StatusBadRequest, 200, "dead_lettered"},
		{http.StatusGone, 200, "dead_lettered"},
	} {
		t.Run(fmt.Sprint(tt.status), func(t *testing.T) {
			b := newBackend(t)
			broken := true
			b.set(func(b *backend) {
				b.answer = func(int) int {
					if broken {
						return tt.status
					}
					return http.StatusOK
				}
			})
			p := startProxy(t, b, options{budget: "2s"})
			evt, cs := newIDs()
			payload := withIDs(t, paidFixture, evt, cs)
			got := p.deliver(payload)
			if got.Code != tt.wantCode || got.Status != tt.wantStatus {
				t.Fatalf("answer = %d %s, want %d %s", got.Code, got.Status, tt.wantCode, tt.wantStatus)
			}
			metrics := p.metrics(t)
			parked := `creditgate_dead_lettered_total{reason="backend_rejected",route="main"} 1`
			fault := `creditgate_backend_deployment_faults_total{route="main"} 1`
			if tt.wantCode == 200 {
				if !strings.Contains(metrics, parked) || strings.Contains(metrics, fault) {
					t.Errorf("metrics: want %q and no deployment fault", parked)
				}
				return
			}
			if !strings.Contains(metrics, fault) || strings.Contains(metrics, parked) {
				t.Errorf("metrics: want %q and nothing parked", fault)
			}
			if lines := p.logLines(); len(lines) != 1 || lines[0]["reason"] != "deployment" {
				t.Errorf("log lines = %v, want one with reason deployment", lines)
			}
			if n, _ := b.stats(); n != 1 {
				t.Errorf("backend asked %d times, want 1 (no retries inside the budget)", n)
			}
			if out, err := p.runCLI("dlq", "list", "--config", p.cfgPath); err != nil || !strings.Contains(out, "0 entries") {
				t.Errorf("dlq list = %v\n%s\nwant 0 entries", err, out)
			}
			b.set(func(*backend) { broken = false })
			if got := p.deliver(payload); got.Code != 200 || got.Status != "forwarded" {
				t.Fatalf("redelivery after the fix = %d %s, want 200 forwarded", got.Code, got.Status)
			}
			if n := len(b.credited()); n != 1 {
				t.Errorf("backend holds %d credits, want 1", n)
			}
		})
	}
}

// TestGrantedCountsNewGrantsOnly: a backend 409 (credited before) is a forward, but
// not a grant: creditgate_credits_granted_total stays where it was.
func TestGrantedCountsNewGrantsOnly(t *testing.T) {
	requireRedis(t)
	b := newBackend(t)
	b.set(func(b *backend) { b.answer = func(int) int { return http.StatusConflict } })
	p := startProxy(t, b, options{})
	evt, cs := newIDs()
	if got := p.deliver(withIDs(t, paidFixture, evt, cs)); got.Code != 200 || got.Status != "forwarded" {
		t.Fatalf("answer = %d %s, want 200 forwarded", got.Code, got.Status)
	}
	metrics := p.metrics(t)
	for _, want := range []string{
		`creditgate_credits_granted_total{route="main"} 0`,
		`creditgate_forwards_total{outcome="already_credited",route="main"} 1`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

// TestOperatorOutputCarriesNoSecrets feeds canaries through every path an operator
// reads — a backend error that echoes the signature and a token of its own, a
// forward.url with ?token=, the secrets — and scans everything creditgate printed:
// the serve log, the dead-letter entry (list and show) and check-config.
func TestOperatorOutputCarriesNoSecrets(t *testing.T) {
	requireRedis(t)
	const urlToken = "CANARYURLTOKEN0042"
	b := newBackend(t)
	var echoed []string
	b.srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sig := r.Header.Get("Creditgate-Signature")
		echoed = append(echoed, sig)
		w.WriteHeader(http.StatusUnprocessableEntity)
		fmt.Fprintf(w, `{"error":"user unknown","debug":{"Creditgate-Signature":%q,"query":%q}}`, sig, r.URL.RawQuery)
	})
	p := startProxy(t, b, options{forwardURL: b.srv.URL + "/internal/credits?token=" + urlToken})
	evt, cs := newIDs()
	if got := p.deliver(withIDs(t, paidFixture, evt, cs)); got.Code != 200 || got.Status != "dead_lettered" {
		t.Fatalf("answer = %d %s, want 200 dead_lettered", got.Code, got.Status)
	}
	list, err := p.runCLI("dlq", "list", "--config", p.cfgPath)
	must(t, err)
	show, err := p.runCLI("dlq", "show", "main:"+evt, "--config", p.cfgPath)
	must(t, err)
	// The entry keeps the Stripe payload (a replay needs it); its detail must be clean.
	var entry struct{ Detail string }
	must(t, jsonUnmarshal([]byte(show[strings.Index(show, "{"):]), &entry))
	check, err := p.runCLI("check-config", "--config", p.cfgPath)
	must(t, err)
	if len(echoed) == 0 || !strings.Contains(entry.Detail, "user unknown") {
		t.Fatalf("backend saw %d requests; entry detail %q", len(echoed), entry.Detail)
	}
	hmac := regexp.MustCompile(`v1=([0-9a-f]{64})`).FindStringSubmatch(echoed[0])
	canaries := []string{urlToken, echoed[0], hmac[1], hmac[1][:16], stripeSecret, forwardKey}
	for where, text := range map[string]string{
		"serve log": p.logs.String(), "dlq list": list, "dead-letter detail": entry.Detail, "check-config": check,
	} {
		for _, c := range canaries {
			if strings.Contains(text, c) {
				t.Errorf("%s contains %q:\n%s", where, c, text)
			}
		}
	}
	if !strings.Contains(check, "?REDACTED") {
		t.Errorf("check-config does not show the query as REDACTED:\n%s", check)
	}
}

// waitLimit bounds every wait in these tests: a broken build fails, it never hangs.
const waitLimit = 20 * time.Second

// receive returns the next value from ch, or fails the test after waitLimit.
func receive[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(waitLimit):
		t.Fatalf("no %s within %s", what, waitLimit)
		panic("unreachable")
	}
}

// waitUntil polls cond every 5 ms, failing the test after waitLimit.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited %s for %s", waitLimit, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
