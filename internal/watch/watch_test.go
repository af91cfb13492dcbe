package watch

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/creditgate/creditgate/internal/secret"
	"github.com/creditgate/creditgate/internal/stripeapi"
	"github.com/creditgate/creditgate/internal/stripeapi/stripemock"
)

// endpointJSON is a webhook endpoint as the API (2023-10-16) renders it.
func endpointJSON(id, url, status string, events ...string) []byte {
	b, _ := json.Marshal(map[string]any{
		"id": id, "object": "webhook_endpoint", "api_version": nil, "application": nil,
		"created": 1700000000, "description": "creditgate", "enabled_events": events,
		"livemode": false, "metadata": map[string]any{}, "status": status, "url": url,
	})
	return b
}

func list(url string, hasMore bool, items ...[]byte) stripemock.Reply {
	raws := make([]json.RawMessage, len(items))
	for i, it := range items {
		raws[i] = it
	}
	b, _ := json.Marshal(map[string]any{"object": "list", "url": url, "has_more": hasMore, "data": raws})
	return stripemock.Reply{Status: 200, Body: b}
}

// undelivered is an event of the Events API (its data does not matter here).
func undelivered(id string) []byte {
	return []byte(fmt.Sprintf(`{"id":%q,"object":"event","api_version":"2023-10-16","created":1700000000,"livemode":false,"pending_webhooks":1,"type":"checkout.session.completed","data":{"object":{"id":"cs_%s","object":"checkout.session"}}}`, id, id))
}

var events = []string{"checkout.session.completed", "checkout.session.async_payment_succeeded"}

func TestCheck(t *testing.T) {
	const path = "/stripe/webhook"
	good := endpointJSON("we_1Good", "https://pay.example.com/stripe/webhook", "enabled", events...)
	tests := []struct {
		name    string
		target  func(*Target)
		replies map[string]stripemock.Reply
		want    Status
		gauges  string // expected exposition of the four state gauges
	}{
		{"enabled, right URL, every event, nothing undelivered", nil, map[string]stripemock.Reply{
			"GET /v1/webhook_endpoints": list("/v1/webhook_endpoints", false, endpointJSON("we_1Other", "https://pay.example.com/other", "disabled", "*"), good),
			"GET /v1/events":            list("/v1/events", false),
		}, Status{Enabled: true, URLOK: true, Undelivered: 0}, "1 1 0 0"},
		{"disabled by Stripe, with a backlog over two pages", nil, map[string]stripemock.Reply{
			"GET /v1/webhook_endpoints":           list("/v1/webhook_endpoints", false, endpointJSON("we_1Good", "https://pay.example.com/stripe/webhook", "disabled", events...)),
			"GET /v1/events":                      list("/v1/events", true, undelivered("evt_1"), undelivered("evt_2")),
			"GET /v1/events?starting_after=evt_2": list("/v1/events", false, undelivered("evt_3")),
		}, Status{Enabled: false, URLOK: true, Undelivered: 3}, "0 1 0 3"},
		{"endpoint by id moved to another URL, one event not sent", func(tg *Target) { tg.EndpointID = "we_1Moved" }, map[string]stripemock.Reply{
			"GET /v1/webhook_endpoints/we_1Moved": {Status: 200, Body: endpointJSON("we_1Moved", "https://pay.example.com/stripe/webhook-v2", "enabled", "checkout.session.completed")},
			"GET /v1/events":                      list("/v1/events", false),
		}, Status{Enabled: true, URLOK: false, MissingEvents: []string{"checkout.session.async_payment_succeeded"}, Undelivered: 0}, "1 0 1 0"},
		{"other origin than watch.public_url", func(tg *Target) { tg.PublicURL = "https://pay.example.com" }, map[string]stripemock.Reply{
			"GET /v1/webhook_endpoints": list("/v1/webhook_endpoints", false, endpointJSON("we_1Old", "https://old.example.com/stripe/webhook", "enabled", "*")),
			"GET /v1/events":            list("/v1/events", false),
		}, Status{Enabled: false, URLOK: false, MissingEvents: events, Undelivered: 0}, "0 0 2 0"},
		{"endpoint id deleted", func(tg *Target) { tg.EndpointID = "we_1Gone" }, map[string]stripemock.Reply{
			"GET /v1/webhook_endpoints/we_1Gone": stripemock.Error(t, 404, "../stripeapi/testdata/error_not_found.json"),
			"GET /v1/events":                     list("/v1/events", false),
		}, Status{MissingEvents: events, Undelivered: 0}, "0 0 2 0"},
		{"Connect route counts each account's undelivered events", func(tg *Target) { tg.Accounts = []string{"acct_1A", "acct_1B"} }, map[string]stripemock.Reply{
			"GET /v1/webhook_endpoints": list("/v1/webhook_endpoints", false, good),
			"GET /v1/events @acct_1A":   list("/v1/events", false, undelivered("evt_a")),
			"GET /v1/events @acct_1B":   list("/v1/events", false, undelivered("evt_b1"), undelivered("evt_b2")),
		}, Status{Enabled: true, URLOK: true, Undelivered: 3}, "1 1 0 3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := stripemock.NewRecorded(t, tt.replies)
			tg := Target{Route: "main", Path: path, Events: events, Accounts: []string{""},
				API: stripeapi.New(stripeapi.Options{Key: secret.New("sk_test_watch"), BaseURL: api.URL, Retries: -1})}
			if tt.target != nil {
				tt.target(&tg)
			}
			reg := prometheus.NewPedanticRegistry()
			now := time.Unix(1_800_000_000, 0)
			w, err := New(reg, Options{Now: func() time.Time { return now }, Window: 24 * time.Hour}, []Target{tg})
			if err != nil {
				t.Fatal(err)
			}
			st, err := w.Check(context.Background(), tg)
			if err != nil {
				t.Fatal(err)
			}
			st.Endpoint = stripeapi.Endpoint{}
			if fmt.Sprint(st) != fmt.Sprint(tt.want) {
				t.Errorf("status %+v, want %+v", st, tt.want)
			}
			got := fmt.Sprintf("%g %g %g %g", value(t, w.m.enabled.WithLabelValues("main")), value(t, w.m.urlOK.WithLabelValues("main")), value(t, w.m.missing.WithLabelValues("main")), value(t, w.m.undelivered.WithLabelValues("main")))
			if got != tt.gauges {
				t.Errorf("enabled url_ok missing undelivered = %s, want %s", got, tt.gauges)
			}
			if v := value(t, w.m.last.WithLabelValues("main")); v != float64(now.Unix()) {
				t.Errorf("last success = %g", v)
			}
			for _, r := range api.Requests() {
				if r.URL.Path != "/v1/events" {
					continue
				}
				q := r.URL.Query()
				if q.Get("delivery_success") != "false" || q.Get("created[gte]") != fmt.Sprint(now.Add(-24*time.Hour).Unix()) || q.Get("types[1]") != events[1] {
					t.Errorf("events query %s", r.URL.RawQuery)
				}
			}
		})
	}
}

// TestCheckFailure: an API error keeps the last values, counts an error and leaves
// the last-success time alone, so the staleness alert fires.
func TestCheckFailure(t *testing.T) {
	api := stripemock.NewRecorded(t, map[string]stripemock.Reply{
		"GET /v1/webhook_endpoints": stripemock.Error(t, 403, "../stripeapi/testdata/error_permission.json"),
	})
	tg := Target{Route: "main", Path: "/stripe/webhook", Events: events, Accounts: []string{""},
		API: stripeapi.New(stripeapi.Options{Key: secret.New("rk_test_watch"), BaseURL: api.URL, Retries: -1})}
	reg := prometheus.NewPedanticRegistry()
	w, err := New(reg, Options{}, []Target{tg})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Check(context.Background(), tg); err == nil || stripeapi.Reason(err) != "stripe_permission" {
		t.Fatalf("err = %v, want a stripe_permission error", err)
	}
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range fams {
		names = append(names, f.GetName())
	}
	if got := strings.Join(names, " "); got != MetricErrors {
		t.Errorf("after a failed first check the registry exposes %q, want only %s", got, MetricErrors)
	}
	if v := value(t, w.m.errors.WithLabelValues("main")); v != 1 {
		t.Errorf("%s = %g, want 1", MetricErrors, v)
	}
}

// value reads a counter or gauge.
func value(t *testing.T, m prometheus.Metric) float64 {
	t.Helper()
	var d dto.Metric
	if err := m.Write(&d); err != nil {
		t.Fatal(err)
	}
	if c := d.GetCounter(); c != nil {
		return c.GetValue()
	}
	return d.GetGauge().GetValue()
}

// TestRunStopsWithContext: Run checks at once and returns when its context ends.
func TestRunStopsWithContext(t *testing.T) {
	api := stripemock.NewRecorded(t, map[string]stripemock.Reply{
		"GET /v1/webhook_endpoints": list("/v1/webhook_endpoints", false),
		"GET /v1/events":            list("/v1/events", false),
	})
	tg := Target{Route: "main", Path: "/stripe/webhook", Events: events, Accounts: []string{""},
		API: stripeapi.New(stripeapi.Options{Key: secret.New("sk_test_watch"), BaseURL: api.URL})}
	w, err := New(prometheus.NewRegistry(), Options{Interval: time.Hour}, []Target{tg})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { w.Run(ctx); close(done) }()
	deadline := time.Now().Add(5 * time.Second)
	for value(t, w.m.last.WithLabelValues("main")) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no check within 5s of Run")
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return within 5s of cancel")
	}
}
