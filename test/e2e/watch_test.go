package e2e

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/creditgate/creditgate/internal/stripeapi/stripemock"
)

// waitMetrics polls /metrics until it holds every line of want (10s deadline).
func waitMetrics(t *testing.T, p *proxy, want ...string) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	var body string
	for time.Now().Before(deadline) {
		resp, err := http.Get(p.admin + "/metrics")
		must(t, err)
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		body = string(b)
		missing := false
		for _, w := range want {
			missing = missing || !strings.Contains(body, w)
		}
		if !missing {
			return body
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("metrics after 10s lack some of %q:\n%s", want, grepLines(body, "creditgate_stripe_"))
	return ""
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestWatchDisabledEndpoint: `creditgate serve` notices that Stripe disabled the
// route's endpoint and holds a backlog of undelivered events, and exports both.
func TestWatchDisabledEndpoint(t *testing.T) {
	requireRedis(t)
	ep, err := json.Marshal(map[string]any{
		"id": "we_1WatchE2E", "object": "webhook_endpoint", "api_version": nil, "application": nil,
		"created": 1700000000, "description": nil, "livemode": false, "metadata": map[string]any{},
		"enabled_events": []string{"checkout.session.completed"}, "status": "disabled",
		"url": "https://pay.example.com/stripe/webhook",
	})
	must(t, err)
	ev1, _, _ := sessionEvent(t, "pi_e2e_"+randHex(6), true)
	ev2, _, _ := sessionEvent(t, "pi_e2e_"+randHex(6), true)
	api := stripemock.NewRecorded(t, map[string]stripemock.Reply{
		"GET /v1/webhook_endpoints/we_1WatchE2E": {Status: 200, Body: ep},
		"GET /v1/events":                         listPage(t, "/v1/events", false, ev1, ev2),
	})
	p := startAPIProxyWith(t, newBackend(t), "watch:\n  interval: 10s\n  public_url: https://pay.example.com\n", apiRoute+`
      webhook_endpoint: we_1WatchE2E
`, api.URL, "sk_test_recorded")
	waitMetrics(t, p,
		`creditgate_stripe_endpoint_enabled{route="main"} 0`,
		`creditgate_stripe_endpoint_url_ok{route="main"} 1`,
		`creditgate_stripe_endpoint_missing_events{route="main"} 1`, // async_payment_succeeded
		`creditgate_stripe_undelivered_events{route="main"} 2`,
		`creditgate_stripe_watch_errors_total{route="main"} 0`,
	)
	if q := lastQuery(api, "/v1/events", "delivery_success"); q != "false" {
		t.Errorf("undelivered count listed with delivery_success=%q", q)
	}
}

// TestWatchWithStripeMock reads stripe-mock's webhook endpoints (real response
// shapes): its one endpoint does not point at the route, which the gauges say.
func TestWatchWithStripeMock(t *testing.T) {
	requireRedis(t)
	base := stripemock.Start(t)
	p := startAPIProxyWith(t, newBackend(t), "watch:\n  interval: 10s\n", apiRoute, base, stripemock.Key)
	waitMetrics(t, p,
		`creditgate_stripe_endpoint_url_ok{route="main"} 0`,
		`creditgate_stripe_endpoint_enabled{route="main"} 0`,
		`creditgate_stripe_watch_errors_total{route="main"} 0`,
	)
}
