package metrics_test

// prometheus/testutil is not used: it imports github.com/kylelemons/godebug, which
// go.mod does not list, so using it would need a go.mod change. The golden comparison
// and the lint below do what testutil.GatherAndCompare and GatherAndLint do, with the
// same libraries underneath (expfmt, promlint).

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"

	"github.com/creditgate/creditgate/internal/metrics"
	"github.com/creditgate/creditgate/internal/outcome"
)

var update = flag.Bool("update", false, "rewrite testdata/metrics.golden from the current metrics")

const golden = "testdata/metrics.golden"

// results are the status words, as the server initialises them.
func results() []string {
	rs := make([]string, 0, len(outcome.AllResults))
	for _, r := range outcome.AllResults {
		rs = append(rs, string(r))
	}
	return rs
}

// sample is a fresh registry with one route initialised and a few deliveries counted,
// with fixed values so the exposition is stable.
func sample(t *testing.T) (*prometheus.Registry, *metrics.Metrics) {
	t.Helper()
	reg := prometheus.NewRegistry()
	m := metrics.New(reg, "v1.2.3-test")
	m.InitRoute("main", results())

	m.Webhooks.WithLabelValues("main", "forwarded").Add(2)
	m.Webhooks.WithLabelValues("main", "duplicate").Inc()
	m.Webhooks.WithLabelValues("main", "dead_lettered").Inc()
	m.WebhookDuration.WithLabelValues("main", "forwarded").Observe(0.003)
	m.WebhookDuration.WithLabelValues("main", "forwarded").Observe(0.2)
	m.WebhookDuration.WithLabelValues("main", "duplicate").Observe(0.0004)
	m.Forwards.WithLabelValues("main", "credited").Add(2)
	m.ForwardDuration.WithLabelValues("main").Observe(0.15)
	m.ForwardDuration.WithLabelValues("main").Observe(12)
	m.DeadLettered.WithLabelValues("main", "no_user_id").Inc()
	m.CreditsGranted.WithLabelValues("main").Add(200)
	m.CreditsReversed.WithLabelValues("main").Add(50)
	m.StoreErrors.WithLabelValues("store").Inc()
	m.ConfigReloadOK.Set(1)
	m.ConfigReloadAt.Set(1764270382)
	m.ConfigReloads.WithLabelValues("success").Inc()
	m.SetDeadLetters([]string{"main"}, map[string]map[string]int{"main": {"no_user_id": 1}})
	return reg, m
}

func gather(t *testing.T, g prometheus.Gatherer) []*dto.MetricFamily {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	return mfs
}

// ours keeps the creditgate_ families (not go_ and process_, which vary by runtime).
func ours(mfs []*dto.MetricFamily) []*dto.MetricFamily {
	var out []*dto.MetricFamily
	for _, mf := range mfs {
		if strings.HasPrefix(mf.GetName(), "creditgate_") {
			out = append(out, mf)
		}
	}
	return out
}

// exposition renders families in the Prometheus text format, as /metrics serves it.
func exposition(t *testing.T, mfs []*dto.MetricFamily) string {
	t.Helper()
	var buf bytes.Buffer
	enc := expfmt.NewEncoder(&buf, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, mf := range mfs {
		if err := enc.Encode(mf); err != nil {
			t.Fatal(err)
		}
	}
	return buf.String()
}

// TestGolden keeps metric names, help, types, labels, buckets and the series a route
// starts with stable: dashboards and alerts are built on them. Every creditgate_
// family is compared, so a new metric needs the golden file updated too
// (go test ./internal/metrics -run TestGolden -update).
func TestGolden(t *testing.T) {
	reg, _ := sample(t)
	mfs := ours(gather(t, reg))
	got := exposition(t, mfs)
	if *update {
		if err := os.WriteFile(filepath.FromSlash(golden), []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if len(mfs) != 14 {
		t.Errorf("gathered %d creditgate_ families, want 14", len(mfs))
	}
	want, err := os.ReadFile(filepath.FromSlash(golden))
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Errorf("metrics differ from %s (-want +got):\n%s", golden, lineDiff(string(want), got))
	}
}

// lineDiff lists the lines only one side has, enough to see a renamed or new series.
func lineDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	var b strings.Builder
	for _, l := range w {
		if !slices.Contains(g, l) {
			fmt.Fprintf(&b, "-%s\n", l)
		}
	}
	for _, l := range g {
		if !slices.Contains(w, l) {
			fmt.Fprintf(&b, "+%s\n", l)
		}
	}
	return b.String()
}

// TestLint runs promlint (what testutil.GatherAndLint runs) over everything the
// registry exports, the Go and process collectors included.
func TestLint(t *testing.T) {
	reg, _ := sample(t)
	problems, err := promlint.NewWithMetricFamilies(gather(t, reg)).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
}

// TestNaming checks docs/design.md §8 on every family: the creditgate_ prefix, _total
// counters, _seconds histograms, a help text, and labels from a bounded set.
func TestNaming(t *testing.T) {
	reg, _ := sample(t)
	bounded := []string{"route", "result", "reason", "outcome", "part", "version"}
	n := 0
	for _, mf := range gather(t, reg) {
		name := mf.GetName()
		if strings.HasPrefix(name, "go_") || strings.HasPrefix(name, "process_") {
			continue
		}
		n++
		if !strings.HasPrefix(name, "creditgate_") {
			t.Errorf("%s: missing the creditgate_ prefix", name)
		}
		switch mf.GetType() {
		case dto.MetricType_COUNTER:
			if !strings.HasSuffix(name, "_total") {
				t.Errorf("counter %s does not end in _total", name)
			}
		case dto.MetricType_HISTOGRAM:
			if !strings.HasSuffix(name, "_seconds") {
				t.Errorf("histogram %s does not end in _seconds", name)
			}
		case dto.MetricType_GAUGE:
			if strings.HasSuffix(name, "_total") {
				t.Errorf("gauge %s ends in _total", name)
			}
		default:
			t.Errorf("%s has type %v; creditgate exports counters, gauges and histograms", name, mf.GetType())
		}
		if mf.GetHelp() == "" {
			t.Errorf("%s has no help", name)
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if !slices.Contains(bounded, l.GetName()) {
					t.Errorf("%s has label %q, not one of the bounded %v", name, l.GetName(), bounded)
				}
			}
		}
	}
	if n != 14 {
		t.Errorf("checked %d creditgate families, want 14", n)
	}
}

// series returns the label sets of family name, as "k=v,k=v" strings.
func series(t *testing.T, g prometheus.Gatherer, name string) map[string]float64 {
	t.Helper()
	out := map[string]float64{}
	for _, mf := range gather(t, g) {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			var ls []string
			for _, l := range m.GetLabel() {
				ls = append(ls, l.GetName()+"="+l.GetValue())
			}
			v := m.GetCounter().GetValue() + m.GetGauge().GetValue()
			out[strings.Join(ls, ",")] = v
		}
	}
	return out
}

// InitRoute makes every result, forward outcome and dead-letter reason of a route
// visible at 0, and New the store error parts: an alert on increase() would miss the
// first event of a series that appears at 1.
func TestInitRoute(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := metrics.New(reg, "dev")
	m.InitRoute("main", results())
	m.InitRoute("shop", results())

	webhooks := series(t, reg, "creditgate_webhooks_total")
	if len(webhooks) != 2*len(outcome.AllResults) {
		t.Errorf("webhooks series = %d, want %d", len(webhooks), 2*len(outcome.AllResults))
	}
	for _, route := range []string{"main", "shop"} {
		for _, r := range outcome.AllResults {
			k := "result=" + string(r) + ",route=" + route
			if v, ok := webhooks[k]; !ok || v != 0 {
				t.Errorf("webhooks{%s} = %v, %v; want 0", k, v, ok)
			}
		}
	}
	forwards := series(t, reg, "creditgate_forwards_total")
	want := map[string]float64{}
	for _, route := range []string{"main", "shop"} {
		for _, o := range []string{"credited", "already_credited", "rejected", "unavailable"} {
			want["outcome="+o+",route="+route] = 0
		}
	}
	if fmt.Sprint(forwards) != fmt.Sprint(want) {
		t.Errorf("forwards series = %v, want %v", forwards, want)
	}
	dead := series(t, reg, "creditgate_dead_lettered_total")
	if len(dead) != 2*len(metrics.DeadLetterReasons) {
		t.Errorf("dead_lettered series = %d, want %d", len(dead), 2*len(metrics.DeadLetterReasons))
	}
	for _, route := range []string{"main", "shop"} {
		for _, r := range []string{"no_user_id", "bad_user_id", "no_credits", "bad_credits", "backend_rejected", "unknown_payment_status", "no_session_id"} {
			k := "reason=" + r + ",route=" + route
			if v, ok := dead[k]; !ok || v != 0 {
				t.Errorf("dead_lettered{%s} = %v, %v; want 0", k, v, ok)
			}
		}
	}
	queue := series(t, reg, "creditgate_dead_letters")
	if len(queue) != 2*len(metrics.DeadLetterReasons) {
		t.Errorf("dead_letters series = %d, want %d", len(queue), 2*len(metrics.DeadLetterReasons))
	}
	for _, route := range []string{"main", "shop"} {
		for _, r := range []string{"no_user_id", "stripe_auth", "unknown_purchase", "backend_rejected"} {
			k := "reason=" + r + ",route=" + route
			if v, ok := queue[k]; !ok || v != 0 {
				t.Errorf("dead_letters{%s} = %v, %v; want 0", k, v, ok)
			}
			if v, ok := dead["reason="+r+",route="+route]; !ok || v != 0 {
				t.Errorf("dead_lettered_total{%s} = %v, %v; want 0", k, v, ok)
			}
		}
	}
	if got := series(t, reg, "creditgate_config_reloads_total"); fmt.Sprint(got) != "map[result=failure:0 result=success:0]" {
		t.Errorf("config_reloads = %v, want success and failure at 0", got)
	}
	if got := series(t, reg, "creditgate_store_errors_total"); fmt.Sprint(got) != "map[part=dead_letter:0 part=store:0]" {
		t.Errorf("store_errors = %v, want part=store and part=dead_letter at 0", got)
	}
	if got := series(t, reg, "creditgate_credits_granted_total"); len(got) != 2 {
		t.Errorf("credits_granted series = %v, want main and shop", got)
	}
	if got := series(t, reg, "creditgate_build_info"); fmt.Sprint(got) != "map[version=dev:1]" {
		t.Errorf("build_info = %v, want version=dev at 1", got)
	}
}

// New registers on the registry it is given, never the global one, so two instances
// (tests, a reload) do not collide.
func TestNewUsesGivenRegistry(t *testing.T) {
	metrics.New(prometheus.NewRegistry(), "a")
	metrics.New(prometheus.NewRegistry(), "b")
	for _, mf := range gather(t, prometheus.DefaultGatherer) {
		if strings.HasPrefix(mf.GetName(), "creditgate_") {
			t.Errorf("%s is registered on the default registry", mf.GetName())
		}
	}
}

// SetDeadLetters replaces the backlog: an entry that left the list leaves the gauge
// (back to 0 for a configured route, gone for a route no longer configured), and an
// entry of an unlisted route or reason is exported as it is.
func TestSetDeadLetters(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := metrics.New(reg, "dev")
	m.SetDeadLetters([]string{"main"}, map[string]map[string]int{
		"main": {"no_user_id": 2, "bad_credits": 1},
		"old":  {"undecodable": 1},
	})
	got := series(t, reg, "creditgate_dead_letters")
	for k, want := range map[string]float64{
		"reason=no_user_id,route=main": 2, "reason=bad_credits,route=main": 1,
		"reason=stripe_auth,route=main": 0, "reason=undecodable,route=old": 1,
	} {
		if v, ok := got[k]; !ok || v != want {
			t.Errorf("dead_letters{%s} = %v, %v; want %v", k, v, ok, want)
		}
	}
	if len(got) != len(metrics.DeadLetterReasons)+1 {
		t.Errorf("dead_letters has %d series, want %d", len(got), len(metrics.DeadLetterReasons)+1)
	}
	m.SetDeadLetters([]string{"main"}, map[string]map[string]int{})
	got = series(t, reg, "creditgate_dead_letters")
	if v := got["reason=no_user_id,route=main"]; v != 0 {
		t.Errorf("after the list emptied, dead_letters{no_user_id} = %v, want 0", v)
	}
	if _, ok := got["reason=undecodable,route=old"]; ok {
		t.Error("a route with no entries left and no config still has a series")
	}
}
