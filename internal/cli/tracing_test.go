package cli_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v76/webhook"

	"github.com/creditgate/creditgate/internal/demo"
	"github.com/creditgate/creditgate/internal/secret"
)

// otlpSpan is what the test reads of an OTLP/HTTP JSON export.
type otlpSpan struct {
	TraceID      string `json:"traceId"`
	SpanID       string `json:"spanId"`
	ParentSpanID string `json:"parentSpanId"`
	Name         string `json:"name"`
	Kind         int    `json:"kind"`
	Start        string `json:"startTimeUnixNano"`
	End          string `json:"endTimeUnixNano"`
	Status       struct {
		Code int `json:"code"`
	} `json:"status"`
}

// collector is an OTLP/HTTP receiver that keeps the spans it gets.
type collector struct {
	mu      sync.Mutex
	spans   []otlpSpan
	service []string
	headers http.Header
}

func (c *collector) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/v1/traces" || r.Header.Get("Content-Type") != "application/json" {
		http.Error(w, "wrong path or type", http.StatusBadRequest)
		return
	}
	var req struct {
		ResourceSpans []struct {
			Resource struct {
				Attributes []struct {
					Key   string
					Value struct{ StringValue string }
				}
			}
			ScopeSpans []struct{ Spans []otlpSpan }
		}
	}
	body, _ := io.ReadAll(r.Body)
	if err := json.Unmarshal(body, &req); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.headers = r.Header.Clone()
	for _, rs := range req.ResourceSpans {
		for _, a := range rs.Resource.Attributes {
			if a.Key == "service.name" {
				c.service = append(c.service, a.Value.StringValue)
			}
		}
		for _, ss := range rs.ScopeSpans {
			c.spans = append(c.spans, ss.Spans...)
		}
	}
}

func (c *collector) byName() map[string]otlpSpan {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[string]otlpSpan{}
	for _, s := range c.spans {
		out[s.Name] = s
	}
	return out
}

// A webhook continues the Ingress's trace: the backend gets a traceparent of that
// trace (its parent the forward span), the canonical log line names the trace id, and
// with OTEL_EXPORTER_OTLP_ENDPOINT set the spans webhook, verify, claim and forward
// reach the collector, each the child of the right one.
func TestTraceContinuedForwardedLoggedExported(t *testing.T) {
	col := &collector{}
	colSrv := httptest.NewServer(col)
	defer colSrv.Close()
	var got struct {
		sync.Mutex
		traceparent string
	}
	b := demo.NewBackend(secret.New(cliForwardKey))
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got.Lock()
		got.traceparent = r.Header.Get("traceparent")
		got.Unlock()
		b.ServeHTTP(w, r)
	}))
	defer backend.Close()
	c := &routeConfig{path: "/hook", secret: cliStripeSecret, url: backend.URL}
	in := newInstance(t, c, env(map[string]string{
		"OTEL_EXPORTER_OTLP_ENDPOINT": colSrv.URL, "OTEL_EXPORTER_OTLP_HEADERS": "x-tenant=payments", "OTEL_SERVICE_NAME": "cg-test"}))
	in.run(t)

	const ingressTrace, ingressSpan = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	body := demo.Session{UserID: cliUser, Credits: "5"}.Event()
	sp := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: body, Secret: cliStripeSecret, Timestamp: time.Now()})
	req, _ := http.NewRequest(http.MethodPost, "http://"+c.listen+"/hook", bytes.NewReader(body))
	req.Header.Set("Stripe-Signature", sp.Header)
	req.Header.Set("traceparent", "00-"+ingressTrace+"-"+ingressSpan+"-01")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("webhook answered %d", resp.StatusCode)
	}
	got.Lock()
	tp := got.traceparent
	got.Unlock()
	if !strings.HasPrefix(tp, "00-"+ingressTrace+"-") || !strings.HasSuffix(tp, "-01") || len(tp) != 55 {
		t.Fatalf("backend got traceparent %q, want one of trace %s", tp, ingressTrace)
	}
	var line map[string]any
	for _, l := range in.webhookLines(t) {
		line = l
	}
	if line["trace_id"] != ingressTrace {
		t.Errorf("canonical line trace_id = %v, want %s", line["trace_id"], ingressTrace)
	}

	deadline := time.Now().Add(10 * time.Second)
	for len(col.byName()) < 4 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	spans := col.byName()
	wh, verify, claim, fwd := spans["webhook"], spans["verify"], spans["claim"], spans["forward"]
	for name, s := range map[string]otlpSpan{"webhook": wh, "verify": verify, "claim": claim, "forward": fwd} {
		if s.TraceID != ingressTrace || len(s.SpanID) != 16 || s.Start == "" || s.End < s.Start || s.Status.Code != 1 {
			t.Errorf("span %s = %+v, want trace %s, ok, timed", name, s, ingressTrace)
		}
	}
	if wh.ParentSpanID != ingressSpan || wh.Kind != 2 {
		t.Errorf("webhook span's parent %q kind %d, want %s and server (2)", wh.ParentSpanID, wh.Kind, ingressSpan)
	}
	for name, s := range map[string]otlpSpan{"verify": verify, "claim": claim, "forward": fwd} {
		if s.ParentSpanID != wh.SpanID {
			t.Errorf("%s span's parent %q, want the webhook span %s", name, s.ParentSpanID, wh.SpanID)
		}
	}
	if fwd.Kind != 3 || tp != "00-"+ingressTrace+"-"+fwd.SpanID+"-01" {
		t.Errorf("forward span %+v: the backend's traceparent %q must name it as parent", fwd, tp)
	}
	col.mu.Lock()
	defer col.mu.Unlock()
	if len(col.service) == 0 || col.service[0] != "cg-test" || col.headers.Get("x-tenant") != "payments" {
		t.Errorf("service %v, header x-tenant %q", col.service, col.headers.Get("x-tenant"))
	}
}
