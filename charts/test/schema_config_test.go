package test

import (
	"encoding/json"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/creditgate/creditgate/internal/config"
	"github.com/creditgate/creditgate/internal/outcome"
)

// schemaRoute reads the route definition of values.schema.json.
func schemaRoute(t *testing.T) map[string]any {
	t.Helper()
	var schema map[string]any
	if err := json.Unmarshal(readFile(t, chartDir+"/values.schema.json"), &schema); err != nil {
		t.Fatal(err)
	}
	return schema["definitions"].(map[string]any)["route"].(map[string]any)["properties"].(map[string]any)
}

// yamlKeys are the YAML keys of a config struct, less those that name secrets (the
// chart mounts them as files from its Secret; a user never writes them in values).
func yamlKeys(v any) []string {
	var keys []string
	rt := reflect.TypeOf(v)
	for i := range rt.NumField() {
		k, _, _ := strings.Cut(rt.Field(i).Tag.Get("yaml"), ",")
		if k == "" || k == "-" || strings.Contains(k, "secret") || strings.Contains(k, "key") && k != "connect_trust_accounts" {
			continue
		}
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// TestSchemaKnowsEveryRouteSetting: a route setting or event type creditgate accepts
// is one the chart's schema accepts too, so the chart never hides a feature behind
// additionalProperties: false.
func TestSchemaKnowsEveryRouteSetting(t *testing.T) {
	route := schemaRoute(t)
	events := route["events"].(map[string]any)["items"].(map[string]any)["enum"].([]any)
	var got []string
	for _, e := range events {
		got = append(got, e.(string))
	}
	slices.Sort(got)
	if want := slices.Sorted(maps.Keys(outcome.SupportedEvents)); !slices.Equal(got, want) {
		t.Errorf("schema route events = %v, creditgate supports %v", got, want)
	}
	for _, c := range []struct {
		where string
		props map[string]any
		keys  []string
	}{
		{"route", route, yamlKeys(config.Route{})},
		{"route.stripe", route["stripe"].(map[string]any)["properties"].(map[string]any), yamlKeys(config.Stripe{})},
		{"route.forward", route["forward"].(map[string]any)["properties"].(map[string]any), yamlKeys(config.Forward{})},
	} {
		for _, k := range c.keys {
			if _, ok := c.props[k]; !ok {
				t.Errorf("values.schema.json %s lacks %q, which creditgate's config accepts", c.where, k)
			}
		}
	}
}
