package test

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/chart/loader"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

// go test ./... -run Manifests -update rewrites manifests/ from the chart.
var update = flag.Bool("update", false, "rewrite manifests/ from the chart")

const manifestsDir = repoRoot + "/manifests"

const generatedHeader = "# GENERATED from charts/creditgate (ci/manifests-values.yaml, release and namespace\n" +
	"# \"creditgate\"). Do not edit: change the chart, then\n" +
	"#   cd charts/test && go test ./... -run Manifests -update\n"

// manifestsRender is what manifests/creditgate.yaml holds: the chart's objects for
// ci/manifests-values.yaml, in render order.
func manifestsRender(t *testing.T, set ...string) []byte {
	t.Helper()
	rel, err := render(t, chartDir, "creditgate", "creditgate", []string{chartDir + "/ci/manifests-values.yaml"}, set)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	b.WriteString(generatedHeader)
	for _, o := range rel.Objects {
		b.WriteString("---\n")
		b.Write(o.YAML)
	}
	return b.Bytes()
}

// sidecarExample renders charts/examples/backend-with-creditgate with the creditgate
// chart as its dependency, as `helm dependency build` would.
func sidecarExample(t *testing.T, releaseName, namespace string, set ...string) release {
	t.Helper()
	parent, err := loader.Load(exampleDir)
	if err != nil {
		t.Fatal(err)
	}
	// Always the chart of this tree, never a packaged copy left in charts/ by
	// `helm dependency build`.
	sub, err := loader.Load(chartDir)
	if err != nil {
		t.Fatal(err)
	}
	parent.SetDependencies(sub)
	rel, err := renderChart(parent, releaseName, namespace, nil, set)
	if err != nil {
		t.Fatalf("render the sidecar example: %v", err)
	}
	return rel
}

func containerNamed(t *testing.T, d *appsv1.Deployment, name string) corev1.Container {
	t.Helper()
	for _, c := range d.Spec.Template.Spec.Containers {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("deployment %s has no container %s", d.Name, name)
	return corev1.Container{}
}

// sidecarPatch is manifests/sidecar/creditgate-sidecar-patch.yaml: the container,
// volumes and checksums the sidecar templates add to a backend Deployment.
func sidecarPatch(t *testing.T) ([]byte, []byte) {
	t.Helper()
	rel := sidecarExample(t, "creditgate", "creditgate", "creditgate.secrets.existingSecret=creditgate")
	o, ok := rel.find("Deployment", "creditgate-backend")
	if !ok {
		t.Fatal("the example renders no backend Deployment")
	}
	d := o.Obj.(*appsv1.Deployment)
	c := containerNamed(t, d, "creditgate")
	patch := map[string]any{
		"apiVersion": "apps/v1",
		"kind":       "Deployment",
		"metadata":   map[string]any{"name": "backend"},
		"spec": map[string]any{"template": map[string]any{
			"metadata": map[string]any{"annotations": d.Spec.Template.Annotations},
			"spec": map[string]any{
				"containers": []corev1.Container{c},
				"volumes":    d.Spec.Template.Spec.Volumes,
			},
		}},
	}
	p, err := yaml.Marshal(patch)
	if err != nil {
		t.Fatal(err)
	}
	cm, ok := rel.find("ConfigMap", "creditgate")
	if !ok {
		t.Fatal("the example renders no creditgate ConfigMap")
	}
	header := strings.Replace(generatedHeader, "ci/manifests-values.yaml", "sidecar mode, charts/examples/backend-with-creditgate", 1)
	return append([]byte(header), p...), append([]byte(header+"---\n"), cm.YAML...)
}

func compareOrUpdate(t *testing.T, path string, want []byte) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, want, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run: cd charts/test && go test ./... -run Manifests -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from what the chart renders; run: cd charts/test && go test ./... -run Manifests -update", path)
	}
}

// manifests/ is exactly what the chart renders, so users without Helm get the same
// objects.
func TestManifestsMatchChart(t *testing.T) {
	compareOrUpdate(t, manifestsDir+"/creditgate.yaml", manifestsRender(t))
	patch, cm := sidecarPatch(t)
	compareOrUpdate(t, manifestsDir+"/sidecar/creditgate-sidecar-patch.yaml", patch)
	compareOrUpdate(t, manifestsDir+"/sidecar/creditgate-config.yaml", cm)
}

// The comparison above can fail: a changed chart value yields different manifests.
func TestManifestsComparisonDetectsDrift(t *testing.T) {
	if bytes.Equal(manifestsRender(t, "config.logLevel=debug"), manifestsRender(t)) {
		t.Fatal("a different log level rendered the same manifests")
	}
}

// In sidecar mode, the container a backend chart includes is the very container of the
// ingress mode's Deployment (same values), and it forwards to localhost.
func TestSidecarContainerMatchesIngressMode(t *testing.T) {
	side := sidecarExample(t, "shop", "shop")
	o, ok := side.find("Deployment", "shop-backend")
	if !ok {
		t.Fatal("no backend Deployment")
	}
	d := o.Obj.(*appsv1.Deployment)
	sc := containerNamed(t, d, "creditgate")
	if len(d.Spec.Template.Spec.Containers) != 2 {
		t.Errorf("backend pod has %d containers, want backend + creditgate", len(d.Spec.Template.Spec.Containers))
	}
	if d.Spec.Template.Annotations["checksum/restart"] == "" {
		t.Error("sidecar pods carry no checksum/restart: they would not roll when a setting that needs a restart changes")
	}
	checkRestricted(t, d.Name, d.Spec.Template.Spec)
	checkCreditgateContainer(t, sc)
	// Only the config and the Secret: the backend's chart owns Deployment, Service, Ingress.
	for _, k := range []string{"Service", "Ingress", "Deployment"} {
		for _, obj := range side.Objects {
			if obj.Kind == k && strings.Contains(obj.Source, "charts/creditgate/") {
				t.Errorf("sidecar mode rendered a %s from the creditgate chart", k)
			}
		}
	}
	cm, _ := side.find("ConfigMap", "shop-creditgate")
	if !strings.Contains(cm.Obj.(*corev1.ConfigMap).Data["config.yaml"], "url: http://127.0.0.1:8000/internal/credits") {
		t.Error("the sidecar does not forward to localhost")
	}
	// The same values in ingress mode, same release name: the same container.
	ing := sidecarValuesAsIngress(t)
	io, _ := ing.find("Deployment", "shop-creditgate")
	ic := containerNamed(t, io.Obj.(*appsv1.Deployment), "creditgate")
	if !reflect.DeepEqual(sc, ic) {
		a, _ := yaml.Marshal(sc)
		b, _ := yaml.Marshal(ic)
		t.Errorf("sidecar container differs from the ingress mode's:\n--- sidecar\n%s\n--- ingress\n%s", a, b)
	}
}

func sidecarValuesAsIngress(t *testing.T) release {
	t.Helper()
	raw := readFile(t, exampleDir+"/values.yaml")
	var v struct {
		Creditgate map[string]any `json:"creditgate"`
	}
	if err := yaml.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	v.Creditgate["mode"] = "ingress"
	b, err := yaml.Marshal(v.Creditgate)
	if err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(t.TempDir(), "values.yaml")
	if err := os.WriteFile(f, b, 0o644); err != nil {
		t.Fatal(err)
	}
	rel, err := render(t, chartDir, "shop", "shop", []string{f}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return rel
}
