package e2e

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/creditgate/creditgate/internal/stripeapi/stripemock"
)

// documentedMetrics are the creditgate_ metric names the repository shows users: the
// golden file, the README's metric list, the docs, the Grafana dashboard and the
// alert rules.
func documentedMetrics(t *testing.T) map[string][]string {
	t.Helper()
	found := map[string][]string{} // name → where
	add := func(name, where string) {
		for _, s := range []string{"_bucket", "_sum", "_count"} {
			name = strings.TrimSuffix(name, s)
		}
		if !slices.Contains(found[name], where) {
			found[name] = append(found[name], where)
		}
	}
	full := regexp.MustCompile(`creditgate_[a-z][a-z_]*[a-z]`)
	files, err := filepath.Glob("../../docs/*.md")
	must(t, err)
	files = append(files, "../../internal/metrics/testdata/metrics.golden", "../../README.md",
		"../../charts/creditgate/files/dashboard.json", "../../charts/creditgate/templates/prometheusrule.yaml")
	for _, f := range files {
		raw, err := os.ReadFile(f)
		must(t, err)
		for _, m := range full.FindAllString(string(raw), -1) {
			// The Python parameter of the README's backend snippet, the Pushgateway job
			// the audit pushes to, and the build tag of the standard-library JSON
			// decoder (docs/benchmarks.md): names, not metrics.
			if m == "creditgate_signature" || m == "creditgate_audit" || m == "creditgate_stdjson" {
				continue
			}
			add(m, filepath.Base(f))
		}
	}
	// The README lists them without the prefix.
	readme, err := os.ReadFile("../../README.md")
	must(t, err)
	const head = "**Metrics** (all `creditgate_`):"
	start := strings.Index(string(readme), head)
	if start < 0 {
		t.Fatal("README has no " + head + " list")
	}
	list := string(readme)[start+len(head):]
	list = list[:strings.Index(list, "plus Go")]
	for _, m := range regexp.MustCompile("`([a-z_]+)(\\{[^`]*\\})?`").FindAllStringSubmatch(list, -1) {
		add("creditgate_"+m[1], "README.md list")
	}
	return found
}

// produced returns the creditgate_ families /metrics shows with a value other than 0
// (a histogram with observations).
func produced(t *testing.T, p *proxy, into map[string]bool) {
	t.Helper()
	resp, err := http.Get(p.admin + "/metrics")
	must(t, err)
	defer resp.Body.Close()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := parser.TextToMetricFamilies(resp.Body)
	must(t, err)
	for name, mf := range mfs {
		for _, m := range mf.GetMetric() {
			if value(mf.GetType(), m) != 0 {
				into[name] = true
			}
		}
	}
}

func value(typ dto.MetricType, m *dto.Metric) float64 {
	switch typ {
	case dto.MetricType_HISTOGRAM:
		return float64(m.GetHistogram().GetSampleCount())
	case dto.MetricType_COUNTER:
		return m.GetCounter().GetValue()
	}
	return m.GetGauge().GetValue()
}

// TestEveryDocumentedMetricIsFed runs a purchase, its duplicate, a refund, a dead
// letter, a config reload, a backend deployment fault, a backend outage, a Redis
// outage, the Stripe watch (a healthy check, then a failing one) and an audit run
// (what it pushes to a Pushgateway) through the real program, and fails for any metric the repository documents, charts or alerts on
// that none of them moved: a panel that is always empty, an alert that never fires.
func TestEveryDocumentedMetricIsFed(t *testing.T) {
	r := newOwnRedis(t)
	r.start()
	b := newBackend(t)
	p := startProxy(t, b, options{redisURL: "redis://" + r.addr + "/0", extraRoute: scenarioEvents, budget: "1s"})
	seen := map[string]bool{}

	purchaseRefundDeadLetter(t, p, b)
	// The backlog gauge is counted at most every few seconds.
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(p.metrics(t), `creditgate_dead_letters{reason="no_user_id",route="main"} 1`) {
		if time.Now().After(deadline) {
			t.Fatal("creditgate_dead_letters did not count the parked entry within 10s")
		}
		time.Sleep(100 * time.Millisecond)
	}
	produced(t, p, seen)

	if err := syscall.Kill(syscall.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	deadline = time.Now().Add(10 * time.Second)
	for !strings.Contains(p.metrics(t), `creditgate_config_reloads_total{result="success"} 1`) {
		if time.Now().After(deadline) {
			t.Fatal("SIGHUP did not reload within 10s")
		}
		time.Sleep(20 * time.Millisecond)
	}

	b.set(func(b *backend) { b.answer = func(int) int { return http.StatusNotFound } })
	evt, cs := newIDs()
	if a := p.deliver(withIDs(t, paidFixture, evt, cs)); a.Code != 503 || a.Status != "backend_unavailable" {
		t.Errorf("backend 404 (a deployment fault): %d %s, want 503 backend_unavailable", a.Code, a.Status)
	}
	b.set(func(b *backend) { b.answer = func(int) int { return http.StatusServiceUnavailable } })
	evt, cs = newIDs()
	if a := p.deliver(withIDs(t, paidFixture, evt, cs)); a.Code != 503 || a.Status != "backend_unavailable" {
		t.Errorf("backend outage: %d %s, want 503 backend_unavailable", a.Code, a.Status)
	}
	r.stop()
	evt, cs = newIDs()
	if a := p.deliver(withIDs(t, paidFixture, evt, cs)); a.Code != 503 || a.Status != "store_unavailable" {
		t.Errorf("Redis outage: %d %s, want 503 store_unavailable", a.Code, a.Status)
	}
	produced(t, p, seen)
	watchAndAudit(t, seen)

	documented := documentedMetrics(t)
	if len(documented) < 10 {
		t.Fatalf("found only %d documented metrics (%v): the scan is broken", len(documented), documented)
	}
	for name, where := range documented {
		if !seen[name] {
			t.Errorf("%s is documented in %s but the scenario never produced it", name, strings.Join(where, ", "))
		}
	}
}

// watchAndAudit adds to seen what the Stripe watch exports on /metrics and what
// `creditgate audit --push-url` pushes, against recorded Stripe answers: an enabled
// endpoint that lacks one event type and holds one undelivered event, then a check
// that fails; an audit that finds a paid session never credited.
func watchAndAudit(t *testing.T, seen map[string]bool) {
	t.Helper()
	ep, err := json.Marshal(map[string]any{
		"id": "we_1Coverage", "object": "webhook_endpoint", "api_version": nil, "application": nil,
		"created": 1700000000, "description": nil, "livemode": false, "metadata": map[string]any{},
		"enabled_events": []string{"checkout.session.completed"}, "status": "enabled",
		"url": "https://pay.example.com/stripe/webhook",
	})
	must(t, err)
	missed, _, _ := sessionEvent(t, "pi_e2e_"+randHex(6), true)
	api := stripemock.NewRecorded(t, map[string]stripemock.Reply{
		"GET /v1/webhook_endpoints/we_1Coverage": {Status: 200, Body: ep},
		"GET /v1/events":                         listPage(t, "/v1/events", false, missed),
		"GET /v1/checkout/sessions":              listPage(t, "/v1/checkout/sessions", false, sessionObject(t, missed).Body),
		"GET /v1/invoices":                       listPage(t, "/v1/invoices", false),
		"GET /v1/refunds":                        listPage(t, "/v1/refunds", false),
		"GET /v1/disputes":                       listPage(t, "/v1/disputes", false),
	})
	p := startAPIProxyWith(t, newBackend(t), "watch:\n  interval: 10s\n  public_url: https://pay.example.com\n", apiRoute+`
      webhook_endpoint: we_1Coverage
`, api.URL, "sk_test_recorded")
	waitMetrics(t, p,
		`creditgate_stripe_endpoint_enabled{route="main"} 1`,
		`creditgate_stripe_endpoint_url_ok{route="main"} 1`,
		`creditgate_stripe_endpoint_missing_events{route="main"} 1`,
		`creditgate_stripe_undelivered_events{route="main"} 1`,
	)
	produced(t, p, seen)
	api.Set(map[string]stripemock.Reply{"GET /v1/webhook_endpoints/we_1Coverage": {Status: 500, Body: []byte(`{"error":{"type":"api_error","message":"boom"}}`)}})
	deadline := time.Now().Add(25 * time.Second) // the next check comes one interval (10s) later
	for !strings.Contains(p.metrics(t), `creditgate_stripe_watch_errors_total{route="main"} 1`) {
		if time.Now().After(deadline) {
			t.Fatal("the failing watch check was not counted within 25s")
		}
		time.Sleep(100 * time.Millisecond)
	}
	produced(t, p, seen)

	var mu sync.Mutex
	var pushed []byte
	var format expfmt.Format
	gw := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		pushed, format = append(pushed, body...), expfmt.ResponseFormat(r.Header)
		mu.Unlock()
	}))
	defer gw.Close()
	if _, err := p.runCLI("audit", "--config", p.cfgPath, "--route", "main", "--since", "24h", "--push-url", gw.URL); err == nil {
		t.Error("audit of a paid session never credited exited 0")
	}
	mu.Lock()
	defer mu.Unlock()
	dec := expfmt.NewDecoder(bytes.NewReader(pushed), format)
	mfs := map[string]*dto.MetricFamily{}
	for {
		mf := &dto.MetricFamily{}
		if err := dec.Decode(mf); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("audit pushed no Prometheus metrics (%v): %q", err, pushed)
		}
		mfs[mf.GetName()] = mf
	}
	for name, mf := range mfs {
		for _, m := range mf.GetMetric() {
			if value(mf.GetType(), m) != 0 {
				seen[name] = true
			}
		}
	}
}
