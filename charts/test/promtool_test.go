package test

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"sigs.k8s.io/yaml"
)

// promtool returns promtool's path. Without it the test skips loudly, and fails in CI
// (.ci/k8s installs Debian's prometheus package, which ships it).
func promtool(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("promtool is required in CI (apt-get install prometheus)")
		}
		t.Skip("SKIPPED: promtool not installed (apt-get install prometheus); the alert rules' PromQL is not unit-tested")
	}
	return p
}

// The alert rules the chart renders are valid for Prometheus (`promtool check rules`,
// annotation templates included) and fire when, and only when, they should
// (`promtool test rules` with testdata/alerts.promtool.yaml).
func TestAlertRulesWithPromtool(t *testing.T) {
	bin := promtool(t)
	rel := mustRender(t, []string{chartDir + "/ci/production-values.yaml"})
	o, ok := rel.find("PrometheusRule", "")
	if !ok {
		t.Fatal("production scenario renders no PrometheusRule")
	}
	spec := o.Obj.(*monitoringv1.PrometheusRule).Spec
	dir := t.TempDir()
	write := func(name string, v any) string {
		t.Helper()
		b, err := yaml.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	full := write("full-rules.yaml", spec)
	if out, err := exec.Command(bin, "check", "rules", full).CombinedOutput(); err != nil {
		t.Fatalf("promtool check rules: %v\n%s", err, out)
	}
	tested := map[string]bool{}
	for i := range spec.Groups {
		for j := range spec.Groups[i].Rules {
			spec.Groups[i].Rules[j].Annotations = nil
			tested[spec.Groups[i].Rules[j].Alert] = true
		}
	}
	write("rules.yaml", spec)
	tests := readFile(t, "testdata/alerts.promtool.yaml")
	for a := range tested {
		if !containsAlert(tests, a) {
			t.Errorf("alert %s has no promtool test in testdata/alerts.promtool.yaml", a)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "alerts.promtool.yaml"), tests, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "test", "rules", "alerts.promtool.yaml")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("promtool test rules: %v\n%s", err, out)
	}
}

func containsAlert(tests []byte, alert string) bool {
	var doc struct {
		Tests []struct {
			AlertRuleTest []struct {
				Alertname string `json:"alertname"`
			} `json:"alert_rule_test"`
		} `json:"tests"`
	}
	if yaml.Unmarshal(tests, &doc) != nil {
		return false
	}
	for _, tc := range doc.Tests {
		for _, a := range tc.AlertRuleTest {
			if a.Alertname == alert {
				return true
			}
		}
	}
	return false
}
