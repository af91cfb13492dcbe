package test

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"

	"github.com/creditgate/creditgate/internal/config"
	"github.com/creditgate/creditgate/internal/outcome"
)

// valuesRoute is a route as the chart's values hold it: extraction sources and event
// types as the user wrote them, before creditgate applies its defaults.
type valuesRoute struct {
	Events  []string          `json:"events,omitempty"`
	Extract map[string]any    `json:"extract,omitempty"`
	Name    string            `json:"name"`
	Stripe  map[string]string `json:"stripe,omitempty"`
}

// apiRouteCases are routes covering the program's whole vocabulary: no sources and no
// events (defaults), every source in user_id and in credits, every supported event
// type, and every source next to every event type. The vocabulary is read from
// internal/config, so a source or event type added there is tested here at once.
func apiRouteCases() []valuesRoute {
	sources := []string{
		outcome.SourceMetadataUserID, outcome.SourceClientReferenceID, outcome.SourceCustomerMap,
		outcome.SourceSubscriptionUserID, outcome.SourceCustomerUserID,
		outcome.SourceMetadataCredits, outcome.SourcePriceTable, outcome.SourcePriceMetadata,
	}
	for s := range config.APISources {
		if !slices.Contains(sources, s) {
			sources = append(sources, s)
		}
	}
	slices.Sort(sources)
	events := slices.Sorted(maps.Keys(outcome.SupportedEvents))

	cases := []valuesRoute{{}}
	for _, s := range sources {
		cases = append(cases,
			valuesRoute{Extract: map[string]any{"user_id": []string{s}}},
			valuesRoute{Extract: map[string]any{"credits": []string{s}}})
	}
	for _, e := range events {
		cases = append(cases, valuesRoute{Events: []string{e}})
		for _, s := range sources {
			cases = append(cases, valuesRoute{
				Events:  append(slices.Clone(config.DefaultEvents), e),
				Extract: map[string]any{"user_id": []string{outcome.SourceMetadataUserID, s}, "credits": []string{outcome.SourceMetadataCredits}},
			})
		}
	}
	for i := range cases {
		cases[i].Name = "r" + strconv.Itoa(i)
	}
	return cases
}

// programUsesAPI is creditgate's own answer for a route of the values: the route as
// `serve` loads it (defaults applied), asked config.Route.UsesAPI.
func programUsesAPI(vr valuesRoute) bool {
	r := config.Route{Name: vr.Name, Events: vr.Events}
	if v, ok := vr.Extract["user_id"].([]string); ok {
		r.Extract.UserID = v
	}
	if v, ok := vr.Extract["credits"].([]string); ok {
		r.Extract.Credits = v
	}
	cfg := config.Config{Routes: []config.Route{r}}
	cfg.ApplyDefaults()
	return cfg.Routes[0].UsesAPI()
}

// loadChart loads the chart from its folder.
func loadChart(t *testing.T) *chart.Chart {
	t.Helper()
	ch, err := loader.Load(chartDir)
	if err != nil {
		t.Fatalf("load %s: %v", chartDir, err)
	}
	return ch
}

// renderWithHelpers renders probe, a template, next to the chart's helper files (only
// them: the helpers are what is under test, and no manifest has to render without
// values) and returns its output.
func renderWithHelpers(t *testing.T, ch *chart.Chart, probe string) string {
	t.Helper()
	var files []*chart.File
	for _, f := range ch.Templates {
		if strings.HasPrefix(f.Name, "templates/_") {
			files = append(files, f)
		}
	}
	ch.Templates = append(files, &chart.File{Name: "templates/probe.txt", Data: []byte(probe)})
	top, err := chartutil.ToRenderValues(ch, map[string]any{}, chartutil.ReleaseOptions{Name: "cg", Namespace: "payments"}, chartutil.DefaultCapabilities)
	if err != nil {
		t.Fatal(err)
	}
	out, err := engine.Engine{Strict: true}.Render(ch, top)
	if err != nil {
		t.Fatalf("render the probe: %v", err)
	}
	return out[ch.Name()+"/templates/probe.txt"]
}

// chartUsesAPI renders ch's creditgate.routeUsesAPI for every route at once and
// returns its answers in order.
func chartUsesAPI(t *testing.T, ch *chart.Chart, routes []valuesRoute) []bool {
	t.Helper()
	js, err := json.Marshal(routes)
	if err != nil {
		t.Fatal(err)
	}
	got := renderWithHelpers(t, ch, "{{- range fromJsonArray `"+string(js)+"` }}[{{ include \"creditgate.routeUsesAPI\" . }}]{{ end }}")
	answers := strings.Split(strings.TrimSuffix(strings.TrimPrefix(got, "["), "]"), "][")
	if len(answers) != len(routes) {
		t.Fatalf("probe rendered %d answers for %d routes: %q", len(answers), len(routes), got)
	}
	uses := make([]bool, len(answers))
	for i, a := range answers {
		switch a {
		case "true":
			uses[i] = true
		case "":
		default:
			t.Fatalf("creditgate.routeUsesAPI of route %d = %q, want \"true\" or \"\"", i, a)
		}
	}
	return uses
}

// disagreements compares ch's answers with creditgate's for every case; it also
// returns how many cases use the API by creditgate's answer.
func disagreements(t *testing.T, ch *chart.Chart) (diffs []string, uses, cases int) {
	t.Helper()
	routes := apiRouteCases()
	chartSays := chartUsesAPI(t, ch, routes)
	for i, r := range routes {
		want := programUsesAPI(r)
		if chartSays[i] != want {
			diffs = append(diffs, fmt.Sprintf("route with events %v, extract %v: chart says it uses the Stripe API = %t, creditgate (config.Route.UsesAPI) says %t",
				r.Events, r.Extract, chartSays[i], want))
		}
		if want {
			uses++
		}
	}
	return diffs, uses, len(routes)
}

// TestChartAgreesOnStripeAPIRoutes: the chart decides from the values which routes
// read the Stripe API (they need secrets.routes.<route>.stripeApiKey and get an
// api_key_file in the rendered config); creditgate decides it with
// config.Route.UsesAPI. The two must agree on every route, or a release either fails
// check-config at start or is refused by the chart for a key it does not need.
func TestChartAgreesOnStripeAPIRoutes(t *testing.T) {
	diffs, uses, cases := disagreements(t, loadChart(t))
	for _, d := range diffs {
		t.Error(d)
	}
	// Both answers occur, so agreement is not the trivial all-false or all-true.
	if uses == 0 || uses == cases {
		t.Fatalf("%d of %d cases use the API; want some that do and some that do not", uses, cases)
	}
}

// TestChartAPIComparisonDetectsDrift: a chart whose helper forgets one API source is
// caught by the comparison (it reads the real helper, edited here in memory).
func TestChartAPIComparisonDetectsDrift(t *testing.T) {
	ch := loadChart(t)
	var edited bool
	for _, f := range ch.Templates {
		if before := string(f.Data); strings.Contains(before, `define "creditgate.routeUsesAPI"`) {
			f.Data = []byte(strings.Replace(before, `"price_metadata"`, `"price_metadata_renamed"`, 1))
			edited = string(f.Data) != before
		}
	}
	if !edited {
		t.Fatal("found no creditgate.routeUsesAPI listing price_metadata to edit")
	}
	diffs, _, _ := disagreements(t, ch)
	if len(diffs) == 0 {
		t.Fatal("the comparison found no difference with a chart that forgot price_metadata")
	}
	for _, d := range diffs {
		if !strings.Contains(d, outcome.SourcePriceMetadata) {
			t.Errorf("unexpected difference: %s", d)
		}
	}
}
