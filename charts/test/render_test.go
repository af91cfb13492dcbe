package test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/cli/values"
	"helm.sh/helm/v3/pkg/engine"
	"helm.sh/helm/v3/pkg/getter"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	kjson "k8s.io/apimachinery/pkg/runtime/serializer/json"
	"k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/yaml"
)

// Paths from this module's folder.
const (
	chartDir   = "../creditgate"
	exampleDir = "../examples/backend-with-creditgate"
	repoRoot   = "../.."
	kubeMinor  = "35" // the kube-apiserver .ci/k8s builds (tools/kube)
)

// rendered is one object of a render: where it came from, its raw YAML and its kind.
type rendered struct {
	Source string
	YAML   []byte
	Kind   string
	Name   string
	Obj    runtime.Object // typed, for built-in kinds and the Prometheus Operator's
}

// release is a render of the chart.
type release struct {
	Objects []rendered
	Notes   string
}

func (r release) find(kind, name string) (rendered, bool) {
	for _, o := range r.Objects {
		if o.Kind == kind && (name == "" || o.Name == name) {
			return o, true
		}
	}
	return rendered{}, false
}

func (r release) kinds() []string {
	var k []string
	for _, o := range r.Objects {
		k = append(k, o.Kind)
	}
	sort.Strings(k)
	return k
}

// render renders dir the way `helm template --strict` would, with the values files and
// --set values given, validating against values.schema.json. Missing values are
// errors (Strict), and every object is decoded strictly (decode).
func render(t testing.TB, dir, releaseName, namespace string, files []string, set []string) (release, error) {
	t.Helper()
	ch, err := loader.Load(dir)
	if err != nil {
		t.Fatalf("load %s: %v", dir, err)
	}
	return renderChart(ch, releaseName, namespace, files, set)
}

func renderChart(ch *chart.Chart, releaseName, namespace string, files []string, set []string) (release, error) {
	vals, err := (&values.Options{ValueFiles: files, Values: set}).MergeValues(getter.Providers{})
	if err != nil {
		return release{}, err
	}
	if err := chartutil.ProcessDependenciesWithMerge(ch, vals); err != nil {
		return release{}, err
	}
	caps := chartutil.DefaultCapabilities.Copy()
	caps.KubeVersion = chartutil.KubeVersion{Version: "v1." + kubeMinor + ".0", Major: "1", Minor: kubeMinor}
	top, err := chartutil.ToRenderValues(ch, vals, chartutil.ReleaseOptions{
		Name: releaseName, Namespace: namespace, Revision: 1, IsInstall: true,
	}, caps)
	if err != nil {
		return release{}, err
	}
	out, err := engine.Engine{Strict: true}.Render(ch, top)
	if err != nil {
		return release{}, err
	}
	var rel release
	names := make([]string, 0, len(out))
	for n := range out {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if strings.HasSuffix(n, "NOTES.txt") {
			if strings.Count(n, "/templates/") == 1 && !strings.Contains(n, "/charts/") {
				rel.Notes = out[n]
			}
			continue
		}
		for _, doc := range splitDocs(out[n]) {
			o, err := decode(n, doc)
			if err != nil {
				return rel, err
			}
			rel.Objects = append(rel.Objects, o)
		}
	}
	return rel, nil
}

func splitDocs(s string) [][]byte {
	var docs [][]byte
	for _, d := range strings.Split("\n"+s, "\n---") {
		body := strings.TrimSpace(stripComments(d))
		if body == "" {
			continue
		}
		docs = append(docs, []byte(strings.TrimSpace(d)+"\n"))
	}
	return docs
}

func stripComments(s string) string {
	var b strings.Builder
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), "#") {
			continue
		}
		b.WriteString(l + "\n")
	}
	return b.String()
}

var strictDecoder = kjson.NewSerializerWithOptions(kjson.DefaultMetaFactory, scheme.Scheme, scheme.Scheme,
	kjson.SerializerOptions{Yaml: true, Strict: true})

// decode decodes one object strictly: client-go's scheme for built-in kinds (unknown or
// duplicate fields are errors), the Prometheus Operator's types for its kinds.
func decode(source string, doc []byte) (rendered, error) {
	var meta struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
		Metadata   struct {
			Name string `json:"name"`
		} `json:"metadata"`
	}
	if err := yaml.Unmarshal(doc, &meta); err != nil {
		return rendered{}, fmt.Errorf("%s: not YAML: %w", source, err)
	}
	o := rendered{Source: source, YAML: doc, Kind: meta.Kind, Name: meta.Metadata.Name}
	gv, err := schema.ParseGroupVersion(meta.APIVersion)
	if err != nil {
		return o, fmt.Errorf("%s: %w", source, err)
	}
	if gv.Group == monitoringv1.SchemeGroupVersion.Group {
		var target runtime.Object
		switch meta.Kind {
		case "ServiceMonitor":
			target = &monitoringv1.ServiceMonitor{}
		case "PrometheusRule":
			target = &monitoringv1.PrometheusRule{}
		default:
			return o, fmt.Errorf("%s: unexpected kind %s", source, meta.Kind)
		}
		js, err := yaml.YAMLToJSON(doc)
		if err != nil {
			return o, err
		}
		dec := json.NewDecoder(bytes.NewReader(js))
		dec.DisallowUnknownFields()
		if err := dec.Decode(target); err != nil {
			return o, fmt.Errorf("%s: %s %s: %w", source, meta.Kind, meta.Metadata.Name, err)
		}
		o.Obj = target
		return o, nil
	}
	obj, _, err := strictDecoder.Decode(doc, nil, nil)
	if err != nil {
		return o, fmt.Errorf("%s: %s %s: %w", source, meta.Kind, meta.Metadata.Name, err)
	}
	o.Obj = obj
	return o, nil
}

// scenarios are the chart's ci/*-values.yaml files.
func scenarios(t testing.TB) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(chartDir, "ci", "*-values.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no ci/*-values.yaml in %s (%v)", chartDir, err)
	}
	return files
}

func scenarioName(file string) string {
	return strings.TrimSuffix(filepath.Base(file), "-values.yaml")
}

func mustRender(t testing.TB, files []string, set ...string) release {
	t.Helper()
	rel, err := render(t, chartDir, "cg", "payments", files, set)
	if err != nil {
		t.Fatalf("render %v %v: %v", files, set, err)
	}
	return rel
}

func errorContains(err error, want string) bool {
	return err != nil && strings.Contains(err.Error(), want)
}

func readFile(t testing.TB, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
