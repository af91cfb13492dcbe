package test

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"sigs.k8s.io/yaml"
)

// Every scenario renders in strict mode, and every object decodes strictly with the
// Kubernetes (or Prometheus Operator) types; each scenario has exactly the kinds it
// should.
func TestScenariosRenderStrictly(t *testing.T) {
	want := map[string][]string{
		"default":         {"ConfigMap", "Deployment", "Ingress", "NetworkPolicy", "PodDisruptionBudget", "Secret", "Service", "ServiceAccount"},
		"existing-secret": {"ConfigMap", "Deployment", "PodDisruptionBudget", "Service", "ServiceAccount"},
		"in-chart-redis":  {"ConfigMap", "Deployment", "Deployment", "Ingress", "NetworkPolicy", "NetworkPolicy", "PersistentVolumeClaim", "PodDisruptionBudget", "Secret", "Service", "Service", "ServiceAccount"},
		"manifests":       {"ConfigMap", "Deployment", "Ingress", "NetworkPolicy", "PodDisruptionBudget", "Service", "ServiceAccount"},
		"memory-store":    {"ConfigMap", "Deployment", "Ingress", "NetworkPolicy", "PersistentVolumeClaim", "Secret", "Service", "ServiceAccount"},
		"production":      {"ConfigMap", "ConfigMap", "CronJob", "CronJob", "Deployment", "HorizontalPodAutoscaler", "Ingress", "NetworkPolicy", "NetworkPolicy", "PodDisruptionBudget", "PrometheusRule", "Secret", "Service", "ServiceAccount", "ServiceMonitor"},
		"sidecar":         {"ConfigMap", "PrometheusRule", "Secret"},
	}
	for _, f := range scenarios(t) {
		name := scenarioName(f)
		t.Run(name, func(t *testing.T) {
			rel := mustRender(t, []string{f})
			w, ok := want[name]
			if !ok {
				t.Fatalf("new scenario %s: add its kinds to this test", name)
			}
			if got := rel.kinds(); !slices.Equal(got, w) {
				t.Errorf("kinds\n got %v\nwant %v", got, w)
			}
			seen := map[string]bool{}
			for _, o := range rel.Objects {
				key := o.Kind + "/" + o.Name
				if seen[key] {
					t.Errorf("%s rendered twice", key)
				}
				seen[key] = true
				if strings.Contains(string(o.YAML), "whsec_") && o.Kind != "Secret" {
					t.Errorf("%s %s carries a Stripe secret outside a Secret", o.Kind, o.Name)
				}
			}
		})
	}
}

// Every pod the chart makes meets the restricted Pod Security Standard, and
// creditgate's container runs the agreed command with its probes on the admin port.
func TestPodsAreRestricted(t *testing.T) {
	for _, f := range scenarios(t) {
		t.Run(scenarioName(f), func(t *testing.T) {
			for _, o := range mustRender(t, []string{f}).Objects {
				if cj, ok := o.Obj.(*batchv1.CronJob); ok {
					checkReconcileJob(t, cj)
					continue
				}
				d, ok := o.Obj.(*appsv1.Deployment)
				if !ok {
					continue
				}
				checkRestricted(t, d.Name, d.Spec.Template.Spec)
				if d.Spec.Template.Spec.AutomountServiceAccountToken == nil || *d.Spec.Template.Spec.AutomountServiceAccountToken {
					t.Errorf("%s: automountServiceAccountToken must be false", d.Name)
				}
				for _, c := range d.Spec.Template.Spec.Containers {
					if c.Name == "creditgate" {
						checkCreditgateContainer(t, c)
					}
				}
			}
		})
	}
}

// checkReconcileJob: the reconcile and audit CronJobs' pods are restricted too, run
// their command once at a time, and are never selected as webhook pods.
func checkReconcileJob(t *testing.T, cj *batchv1.CronJob) {
	t.Helper()
	spec := cj.Spec.JobTemplate.Spec.Template.Spec
	checkRestricted(t, cj.Name, spec)
	if spec.AutomountServiceAccountToken == nil || *spec.AutomountServiceAccountToken {
		t.Errorf("%s: automountServiceAccountToken must be false", cj.Name)
	}
	if cj.Spec.ConcurrencyPolicy != batchv1.ForbidConcurrent {
		t.Errorf("%s: concurrencyPolicy %q, want Forbid", cj.Name, cj.Spec.ConcurrencyPolicy)
	}
	if len(spec.Containers) != 1 || len(spec.Containers[0].Args) == 0 || !slices.Contains([]string{"reconcile", "audit"}, spec.Containers[0].Args[0]) {
		t.Errorf("%s: containers %+v, want one running reconcile or audit", cj.Name, spec.Containers)
	}
	if name := cj.Spec.JobTemplate.Spec.Template.Labels["app.kubernetes.io/name"]; name != "creditgate-reconcile" {
		t.Errorf("%s: pods labelled app.kubernetes.io/name=%q: the webhook Service would select them", cj.Name, name)
	}
}

func checkRestricted(t *testing.T, name string, spec corev1.PodSpec) {
	t.Helper()
	psc := spec.SecurityContext
	if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot {
		t.Errorf("%s: pod runAsNonRoot must be true", name)
	}
	if psc == nil || psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("%s: pod seccompProfile must be RuntimeDefault", name)
	}
	for _, c := range spec.Containers {
		sc := c.SecurityContext
		switch {
		case sc == nil:
			t.Errorf("%s/%s: no securityContext", name, c.Name)
			continue
		case sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation:
			t.Errorf("%s/%s: allowPrivilegeEscalation must be false", name, c.Name)
		case sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem:
			t.Errorf("%s/%s: readOnlyRootFilesystem must be true", name, c.Name)
		case sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") || len(sc.Capabilities.Add) > 0:
			t.Errorf("%s/%s: capabilities must drop ALL and add none", name, c.Name)
		}
		if c.Resources.Limits.Memory().IsZero() {
			t.Errorf("%s/%s: no memory limit", name, c.Name)
		}
	}
}

func checkCreditgateContainer(t *testing.T, c corev1.Container) {
	t.Helper()
	if got := strings.Join(c.Args, " "); got != "serve --config /etc/creditgate/config.yaml" {
		t.Errorf("args %q", got)
	}
	ports := map[string]int32{}
	for _, p := range c.Ports {
		ports[p.Name] = p.ContainerPort
	}
	if ports["webhook"] != 8080 || ports["admin"] != 9090 {
		t.Errorf("ports %v, want webhook 8080 and admin 9090", ports)
	}
	for name, p := range map[string]*corev1.Probe{"liveness": c.LivenessProbe, "readiness": c.ReadinessProbe, "startup": c.StartupProbe} {
		if p == nil || p.HTTPGet == nil || p.HTTPGet.Port.String() != "admin" {
			t.Errorf("%s probe must be an HTTP GET on the admin port, got %+v", name, p)
			continue
		}
		want := "/healthz"
		if name == "readiness" {
			want = "/readyz"
		}
		if p.HTTPGet.Path != want {
			t.Errorf("%s probe path %s, want %s", name, p.HTTPGet.Path, want)
		}
	}
}

// The rolling update keeps old pods serving while new ones fail, and the PDB bounds
// voluntary disruptions.
func TestRolloutKeepsOldPodsServing(t *testing.T) {
	rel := mustRender(t, []string{chartDir + "/ci/default-values.yaml"})
	o, _ := rel.find("Deployment", "cg-creditgate")
	d := o.Obj.(*appsv1.Deployment)
	ru := d.Spec.Strategy.RollingUpdate
	if d.Spec.Strategy.Type != appsv1.RollingUpdateDeploymentStrategyType || ru == nil || ru.MaxUnavailable.IntValue() != 0 {
		t.Errorf("strategy %+v: want RollingUpdate with maxUnavailable 0", d.Spec.Strategy)
	}
	if _, ok := rel.find("PodDisruptionBudget", ""); !ok {
		t.Error("no PodDisruptionBudget with 2 replicas")
	}
	// The in-memory store may never run two pods at once.
	mem := mustRender(t, []string{chartDir + "/ci/memory-store-values.yaml"})
	o, _ = mem.find("Deployment", "")
	if s := o.Obj.(*appsv1.Deployment).Spec.Strategy.Type; s != appsv1.RecreateDeploymentStrategyType {
		t.Errorf("memory store strategy %s, want Recreate", s)
	}
	if _, ok := mem.find("PodDisruptionBudget", ""); ok {
		t.Error("a PDB on a single replica blocks node drains")
	}
}

// The Ingress serves exactly the routes' paths, on the webhook port: never the admin
// endpoints.
func TestIngressServesOnlyRoutePaths(t *testing.T) {
	rel := mustRender(t, []string{chartDir + "/ci/production-values.yaml"})
	o, ok := rel.find("Ingress", "")
	if !ok {
		t.Fatal("no Ingress")
	}
	ing := o.Obj.(*networkingv1.Ingress)
	var paths []string
	for _, r := range ing.Spec.Rules {
		for _, p := range r.HTTP.Paths {
			paths = append(paths, r.Host+p.Path)
			if p.Backend.Service.Port.Name != "webhook" {
				t.Errorf("%s goes to port %q, want webhook", p.Path, p.Backend.Service.Port.Name)
			}
			if *p.PathType != networkingv1.PathTypeExact {
				t.Errorf("%s: pathType %s, want Exact", p.Path, *p.PathType)
			}
		}
	}
	if want := []string{"pay.example.com/stripe/webhook", "pay.example.com/stripe/webhook-test"}; !slices.Equal(paths, want) {
		t.Errorf("paths %v, want %v", paths, want)
	}
	if *ing.Spec.IngressClassName != "nginx" || len(ing.Spec.TLS) != 1 {
		t.Errorf("className %v, tls %v", *ing.Spec.IngressClassName, ing.Spec.TLS)
	}
}

// The NetworkPolicy lets in only the ingress controller (webhook port) and monitoring
// (admin port), and lets out only DNS, the backend, Redis and, when asked, Stripe.
func TestNetworkPolicy(t *testing.T) {
	rel := mustRender(t, []string{chartDir + "/ci/production-values.yaml"})
	o, _ := rel.find("NetworkPolicy", "cg-creditgate")
	np := o.Obj.(*networkingv1.NetworkPolicy)
	if len(np.Spec.Ingress) != 2 {
		t.Fatalf("%d ingress rules, want 2", len(np.Spec.Ingress))
	}
	for i, want := range []struct{ ns, port string }{{"ingress-nginx", "webhook"}, {"monitoring", "admin"}} {
		r := np.Spec.Ingress[i]
		if got := r.From[0].NamespaceSelector.MatchLabels["kubernetes.io/metadata.name"]; got != want.ns {
			t.Errorf("ingress rule %d from namespace %q, want %q", i, got, want.ns)
		}
		if len(r.Ports) != 1 || r.Ports[0].Port.String() != want.port {
			t.Errorf("ingress rule %d ports %v, want only %s", i, r.Ports, want.port)
		}
	}
	var egressPorts []string
	for _, r := range np.Spec.Egress {
		if len(r.Ports) == 0 {
			t.Errorf("egress rule %+v allows every port", r)
		}
		for _, p := range r.Ports {
			egressPorts = append(egressPorts, fmt.Sprintf("%s/%s", p.Port, *p.Protocol))
		}
	}
	if want := []string{"53/UDP", "53/TCP", "443/TCP", "8000/TCP", "6380/TCP", "443/TCP"}; !slices.Equal(egressPorts, want) {
		t.Errorf("egress ports %v, want %v", egressPorts, want)
	}
}

// Alerts and dashboard name only metrics creditgate really exports
// (internal/metrics/metrics.go), so a rename there fails here.
func TestAlertsAndDashboardUseExportedMetrics(t *testing.T) {
	exported := map[string]bool{"up": true}
	for _, m := range regexp.MustCompile(`Name:\s+"(creditgate_[a-z_]+)"`).FindAllStringSubmatch(string(readFile(t, repoRoot+"/internal/metrics/metrics.go")), -1) {
		exported[m[1]] = true
		for _, suffix := range []string{"_bucket", "_sum", "_count"} {
			exported[m[1]+suffix] = true
		}
	}
	if len(exported) < 10 {
		t.Fatalf("found only %d metrics in internal/metrics/metrics.go", len(exported))
	}
	// The Stripe watch's gauges (internal/watch/metrics.go).
	for _, m := range regexp.MustCompile(`Metric[A-Za-z]+\s+= "(creditgate_[a-z_]+)"`).FindAllStringSubmatch(string(readFile(t, repoRoot+"/internal/watch/metrics.go")), -1) {
		exported[m[1]] = true
	}
	used := regexp.MustCompile(`\b(creditgate_[a-z_]+|up)\{`)
	rel := mustRender(t, []string{chartDir + "/ci/production-values.yaml"})
	o, _ := rel.find("PrometheusRule", "")
	rules := o.Obj.(*monitoringv1.PrometheusRule)
	alerts := map[string]bool{}
	for _, g := range rules.Spec.Groups {
		for _, r := range g.Rules {
			alerts[r.Alert] = true
			ms := used.FindAllStringSubmatch(r.Expr.String(), -1)
			if len(ms) == 0 {
				t.Errorf("alert %s uses no creditgate metric: %s", r.Alert, r.Expr.String())
			}
			for _, m := range ms {
				if !exported[m[1]] {
					t.Errorf("alert %s uses %s, which creditgate does not export", r.Alert, m[1])
				}
			}
			if r.Labels["severity"] == "" || r.Annotations["description"] == "" {
				t.Errorf("alert %s needs a severity and a description", r.Alert)
			}
		}
	}
	for _, a := range []string{"CreditgateDeadLettered", "CreditgateDeadLetterBacklog", "CreditgateConfigReloadFailed",
		"CreditgateSignatureFailures", "CreditgateBackendUnavailable", "CreditgateStoreUnavailable", "CreditgateBackendDeploymentFault",
		"CreditgateStripeEndpointDisabled", "CreditgateStripeEndpointURLWrong", "CreditgateStripeUndeliveredEvents", "CreditgateStripeWatchFailing"} {
		if !alerts[a] {
			t.Errorf("alert %s missing", a)
		}
	}
	o, _ = rel.find("ConfigMap", "cg-creditgate-dashboard")
	var cm corev1.ConfigMap
	if err := yaml.Unmarshal(o.YAML, &cm); err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Title   string
			Targets []struct{ Expr string }
		}
	}
	if err := yaml.Unmarshal([]byte(cm.Data["creditgate.json"]), &dash); err != nil || len(dash.Panels) == 0 {
		t.Fatalf("dashboard JSON: %v (%d panels)", err, len(dash.Panels))
	}
	for _, p := range dash.Panels {
		for _, tg := range p.Targets {
			for _, m := range used.FindAllStringSubmatch(tg.Expr, -1) {
				if !exported[m[1]] {
					t.Errorf("panel %q uses %s, which creditgate does not export", p.Title, m[1])
				}
			}
		}
	}
}
