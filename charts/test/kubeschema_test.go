package test

import (
	"encoding/json"
	"fmt"
	"maps"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// Every rendered object is checked against the OpenAPI schemas that older Kubernetes
// releases publish, so that the chart cannot use a field a supported cluster does not
// know: strict decoding (render_test.go) knows this module's client-go (1.37), the
// server-side dry-run (.ci/k8s) the kube-apiserver of tools/kube (1.35), and the chart
// promises kubeVersion >= 1.25.
//
// The schemas are the ones sigs.k8s.io/kubectl-validate ships for each release (its
// pkg/openapiclient/builtins/<minor>/, Kubernetes' own api/openapi-spec/v3), fetched
// with `go mod download`: only its data is used, none of its code, which would compile
// a second set of Kubernetes libraries (about 4 minutes on a fresh 2-core machine). The
// Prometheus Operator's kinds are checked against the CRDs in testdata/crds, which
// leave their spec open: strict decoding into the operator's types checks that.

// schemaModule holds the schemas of Kubernetes 1.23 to 1.30.
const schemaModule = "sigs.k8s.io/kubectl-validate@v0.0.4"

// schemaMinors are the releases checked: the chart's oldest (Chart.yaml's kubeVersion)
// and the newest the module has.
var schemaMinors = []string{"1.25", "1.30"}

// newerThan are the fields a scenario may use although a release checked does not
// know them: options values.yaml documents as needing a newer Kubernetes, which a
// scenario turns on. Keyed by release, then by the end of the field's path.
var newerThan = map[string]map[string]string{
	"1.25": {"lifecycle.preStop.sleep": "values.yaml: lifecycle's sleep action needs Kubernetes 1.30 (ci/production-values.yaml uses it)"},
}

// allowed reports whether problem, found for release minor, is a documented newer option.
func allowed(minor, problem string) bool {
	for field := range newerThan[minor] {
		if strings.HasSuffix(problem, field+": unknown field") {
			return true
		}
	}
	return false
}

// oaSchema is the part of an OpenAPI v3 schema (or a CRD's structural schema) that
// says which fields exist and what type each has.
type oaSchema struct {
	Ref                  string               `json:"$ref"`
	Type                 string               `json:"type"`
	Properties           map[string]*oaSchema `json:"properties"`
	AdditionalProperties json.RawMessage      `json:"additionalProperties"` // a schema, or a bool
	Items                *oaSchema            `json:"items"`
	AllOf                []*oaSchema          `json:"allOf"`
	OneOf                []*oaSchema          `json:"oneOf"`
	AnyOf                []*oaSchema          `json:"anyOf"`
	Required             []string             `json:"required"`
	IntOrString          bool                 `json:"x-kubernetes-int-or-string"`
	PreserveUnknown      bool                 `json:"x-kubernetes-preserve-unknown-fields"`
	GVK                  []oaGVK              `json:"x-kubernetes-group-version-kind"`
}

type oaGVK struct{ Group, Version, Kind string }

func (g oaGVK) apiVersion() string {
	if g.Group == "" {
		return g.Version
	}
	return g.Group + "/" + g.Version
}

// oaKinds are the top-level schemas of one release by "apiVersion kind", and every
// named schema for $ref (the names are package paths, the same in every document).
type oaKinds struct {
	byKind map[string]*oaSchema
	named  map[string]*oaSchema
}

// schemaDir is the folder of the schema module, downloaded if need be.
func schemaDir(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "mod", "download", "-json", schemaModule).Output()
	if err != nil {
		t.Fatalf("go mod download %s: %v", schemaModule, err)
	}
	var m struct{ Dir string }
	if err := json.Unmarshal(out, &m); err != nil || m.Dir == "" {
		t.Fatalf("go mod download %s: no folder in %s (%v)", schemaModule, out, err)
	}
	return m.Dir
}

// loadKinds reads every group-version document of Kubernetes minor.
func loadKinds(t *testing.T, dir, minor string) oaKinds {
	t.Helper()
	k := oaKinds{byKind: map[string]*oaSchema{}, named: map[string]*oaSchema{}}
	root := filepath.Join(dir, "pkg/openapiclient/builtins", minor)
	files, _ := filepath.Glob(filepath.Join(root, "api", "*.json"))
	more, _ := filepath.Glob(filepath.Join(root, "apis", "*", "*.json"))
	for _, f := range append(files, more...) {
		var doc struct {
			Components struct {
				Schemas map[string]*oaSchema `json:"schemas"`
			} `json:"components"`
		}
		if err := json.Unmarshal(readFile(t, f), &doc); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for name, s := range doc.Components.Schemas {
			k.named[name] = s
			for _, g := range s.GVK {
				k.byKind[g.apiVersion()+" "+g.Kind] = s
			}
		}
	}
	if len(k.byKind) < 50 {
		t.Fatalf("Kubernetes %s: only %d kinds in %s", minor, len(k.byKind), root)
	}
	return k
}

// addCRDs adds the kinds of the CRDs in file (every served version).
func (k oaKinds) addCRDs(t *testing.T, file string) {
	t.Helper()
	for _, doc := range splitDocs(string(readFile(t, file))) {
		var crd struct {
			Spec struct {
				Group    string
				Names    struct{ Kind string }
				Versions []struct {
					Name   string
					Schema struct {
						OpenAPIV3Schema *oaSchema `json:"openAPIV3Schema"`
					}
				}
			}
		}
		if err := yaml.Unmarshal(doc, &crd); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		for _, v := range crd.Spec.Versions {
			// A CRD's schema leaves out what every object has; the API server adds it.
			top := v.Schema.OpenAPIV3Schema
			if top.Properties == nil {
				top.Properties = map[string]*oaSchema{}
			}
			top.Properties["apiVersion"] = &oaSchema{Type: "string"}
			top.Properties["kind"] = &oaSchema{Type: "string"}
			top.Properties["metadata"] = &oaSchema{Ref: "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"}
			k.byKind[crd.Spec.Group+"/"+v.Name+" "+crd.Spec.Names.Kind] = top
		}
	}
}

// check returns every place where doc (one object's YAML) does not fit its kind's schema.
func (k oaKinds) check(doc []byte) []string {
	var v map[string]any
	if err := yaml.Unmarshal(doc, &v); err != nil {
		return []string{err.Error()}
	}
	key := fmt.Sprint(v["apiVersion"], " ", v["kind"])
	s := k.byKind[key]
	if s == nil {
		return []string{"no such kind: " + key}
	}
	var problems []string
	k.walk(&problems, "", v, s)
	return problems
}

// resolve follows $ref and a single allOf (how the documents wrap a reference).
func (k oaKinds) resolve(s *oaSchema) *oaSchema {
	for s != nil {
		switch {
		case s.Ref != "":
			s = k.named[strings.TrimPrefix(s.Ref, "#/components/schemas/")]
		case len(s.AllOf) == 1 && s.Type == "" && s.Properties == nil:
			s = s.AllOf[0]
		default:
			return s
		}
	}
	return nil
}

// walk checks v against s at path, appending to problems.
func (k oaKinds) walk(problems *[]string, path string, v any, s *oaSchema) {
	s = k.resolve(s)
	bad := func(format string, args ...any) {
		*problems = append(*problems, fmt.Sprintf("%s: ", strings.TrimPrefix(path, "."))+fmt.Sprintf(format, args...))
	}
	switch {
	case s == nil:
		bad("no schema (an unresolved $ref)")
		return
	case s.IntOrString:
		if !isType(v, "integer") && !isType(v, "string") {
			bad("%T where an integer or a string goes", v)
		}
		return
	case len(s.OneOf)+len(s.AnyOf) > 0 && s.Type == "":
		for _, alt := range append(slices.Clone(s.OneOf), s.AnyOf...) {
			var sub []string
			if k.walk(&sub, path, v, alt); len(sub) == 0 {
				return
			}
		}
		bad("%v fits none of its schema's alternatives", v)
		return
	}
	if s.Type != "" && !isType(v, s.Type) {
		bad("%T where the schema says %s", v, s.Type)
		return
	}
	switch v := v.(type) {
	case map[string]any:
		k.walkObject(problems, path, v, s)
	case []any:
		for i, item := range v {
			if s.Items != nil {
				k.walk(problems, fmt.Sprintf("%s[%d]", path, i), item, s.Items)
			}
		}
	}
}

// walkObject checks the fields of an object: each must be a property or fit
// additionalProperties, unless the schema keeps unknown fields; required ones must be
// there.
func (k oaKinds) walkObject(problems *[]string, path string, v map[string]any, s *oaSchema) {
	var extra *oaSchema
	open := s.PreserveUnknown || (s.Properties == nil && len(s.AdditionalProperties) == 0)
	if len(s.AdditionalProperties) > 0 {
		if err := json.Unmarshal(s.AdditionalProperties, &extra); err != nil {
			open = string(s.AdditionalProperties) == "true" // a bool, not a schema
		}
	}
	for _, name := range slices.Sorted(maps.Keys(v)) {
		switch p := s.Properties[name]; {
		case p != nil:
			k.walk(problems, path+"."+name, v[name], p)
		case extra != nil:
			k.walk(problems, path+"."+name, v[name], extra)
		case !open:
			*problems = append(*problems, fmt.Sprintf("%s: unknown field", strings.TrimPrefix(path+"."+name, ".")))
		}
	}
	for _, name := range s.Required {
		if _, ok := v[name]; !ok {
			*problems = append(*problems, fmt.Sprintf("%s: required field missing", strings.TrimPrefix(path+"."+name, ".")))
		}
	}
}

// isType reports whether v, decoded from YAML, is of the OpenAPI type t.
func isType(v any, t string) bool {
	switch v := v.(type) {
	case map[string]any:
		return t == "object"
	case []any:
		return t == "array"
	case string:
		return t == "string"
	case bool:
		return t == "boolean"
	case float64:
		return t == "number" || (t == "integer" && v == float64(int64(v)))
	case nil:
		return true // null: the field is unset
	}
	return false
}

// schemaObjects are what .ci/k8s renders: every scenario, and the sidecar example.
func schemaObjects(t *testing.T) []rendered {
	t.Helper()
	var objs []rendered
	for _, f := range scenarios(t) {
		objs = append(objs, mustRender(t, []string{f}).Objects...)
	}
	return append(objs, sidecarExample(t, "shop", "shop").Objects...)
}

func TestObjectsFitOldKubernetesSchemas(t *testing.T) {
	dir := schemaDir(t)
	objs := schemaObjects(t)
	for _, minor := range schemaMinors {
		t.Run(minor, func(t *testing.T) {
			k := loadKinds(t, dir, minor)
			k.addCRDs(t, "testdata/crds/monitoring.coreos.com.yaml")
			for _, o := range objs {
				for _, p := range k.check(o.YAML) {
					if allowed(minor, p) {
						continue
					}
					t.Errorf("Kubernetes %s: %s %s %s: %s", minor, o.Source, o.Kind, o.Name, p)
				}
			}
		})
	}
}

// TestOldSchemasCatchMistakes makes sure the check can fail: an unknown field, a wrong
// type, a missing required field, a field newer than the release, and a kind the
// release does not have are each reported.
func TestOldSchemasCatchMistakes(t *testing.T) {
	k := loadKinds(t, schemaDir(t), "1.25")
	k.addCRDs(t, "testdata/crds/monitoring.coreos.com.yaml")
	base := `apiVersion: apps/v1
kind: Deployment
metadata: {name: x, labels: {a: b}}
spec:
  replicas: 2
  selector: {matchLabels: {a: b}}
  template:
    metadata: {labels: {a: b}}
    spec:
      containers:
        - name: c
          image: i
          ports: [{containerPort: 8080, protocol: TCP}]
          resources: {limits: {cpu: 1, memory: 64Mi}}
          livenessProbe: {httpGet: {path: /, port: http}}
`
	if p := k.check([]byte(base)); len(p) != 0 {
		t.Fatalf("a valid Deployment: %v", p)
	}
	for _, tc := range []struct{ name, from, to, want string }{
		{"unknown field", "replicas: 2", "replicas: 2\n  replica: 2", "spec.replica: unknown field"},
		{"wrong type", "replicas: 2", "replicas: two", "spec.replicas: string where the schema says integer"},
		{"fraction for an integer", "replicas: 2", "replicas: 2.5", "spec.replicas: float64 where the schema says integer"},
		{"required missing", "containerPort: 8080, ", "", "ports[0].containerPort: required field missing"},
		{"newer than 1.25", "image: i", "image: i\n          resizePolicy: [{resourceName: cpu, restartPolicy: NotRequired}]", "resizePolicy: unknown field"},
		{"int-or-string", "port: http", "port: [1]", "httpGet.port: [1] fits none of its schema's alternatives"},
		{"unknown kind", "apiVersion: apps/v1", "apiVersion: apps/v2", "no such kind: apps/v2 Deployment"},
	} {
		doc := strings.Replace(base, tc.from, tc.to, 1)
		if p := k.check([]byte(doc)); !slices.ContainsFunc(p, func(s string) bool { return strings.Contains(s, tc.want) }) {
			t.Errorf("%s: problems %q, want one with %q", tc.name, p, tc.want)
		}
	}
	sm := "apiVersion: monitoring.coreos.com/v1\nkind: ServiceMonitor\nmetadata: {name: x, labelz: {}}\nspecs: {}\n"
	p := k.check([]byte(sm))
	for _, want := range []string{"metadata.labelz: unknown field", "specs: unknown field"} {
		if !slices.Contains(p, want) {
			t.Errorf("a CRD kind with misspelt fields: problems %q, want %q", p, want)
		}
	}
}
