package tracing

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"sort"
	"strconv"
	"sync"
	"time"
)

// OTLP batching limits: at most queueSize spans wait (more are dropped and counted,
// so a dead collector never grows memory or slows a webhook); a batch goes out every
// flushEvery or at batchSize spans, each POST bounded by postTimeout.
const (
	queueSize   = 4096
	batchSize   = 512
	flushEvery  = time.Second
	postTimeout = 5 * time.Second
)

// OTLP exports spans to an OpenTelemetry collector with OTLP/HTTP in its JSON
// encoding (POST <endpoint>/v1/traces), in batches, from one goroutine. Build it with
// NewOTLP and stop it with Shutdown.
type OTLP struct {
	url     string
	headers map[string]string
	service string
	version string
	client  *http.Client
	log     *slog.Logger

	queue chan *Span
	done  chan struct{}

	mu      sync.Mutex
	closed  bool
	dropped int
	failing bool
}

var _ Exporter = (*OTLP)(nil)

// NewOTLP starts an exporter posting to url (the traces endpoint, e.g.
// http://otel-collector:4318/v1/traces) with headers on every request.
func NewOTLP(url string, headers map[string]string, service, version string, log *slog.Logger) *OTLP {
	e := &OTLP{
		url: url, headers: headers, service: service, version: version,
		client: &http.Client{Timeout: postTimeout}, log: log,
		queue: make(chan *Span, queueSize), done: make(chan struct{}),
	}
	go e.run()
	return e
}

// ExportSpan queues s; when the queue is full, or the exporter shut down, s is
// dropped.
func (e *OTLP) ExportSpan(s *Span) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		e.dropped++
		return
	}
	select {
	case e.queue <- s:
	default:
		e.dropped++
	}
}

// Shutdown sends what is queued (bounded by ctx) and stops the exporter.
func (e *OTLP) Shutdown(ctx context.Context) {
	e.mu.Lock()
	if !e.closed {
		e.closed = true
		close(e.queue)
	}
	e.mu.Unlock()
	select {
	case <-e.done:
	case <-ctx.Done():
	}
}

func (e *OTLP) run() {
	defer close(e.done)
	t := time.NewTicker(flushEvery)
	defer t.Stop()
	var batch []*Span
	for {
		select {
		case s, ok := <-e.queue:
			if !ok {
				e.post(batch)
				return
			}
			if batch = append(batch, s); len(batch) >= batchSize {
				e.post(batch)
				batch = nil
			}
		case <-t.C:
			e.post(batch)
			batch = nil
		}
	}
}

// post sends one batch; a failure is logged once per change (and the spans dropped).
func (e *OTLP) post(batch []*Span) {
	if len(batch) == 0 {
		return
	}
	body, err := json.Marshal(e.request(batch))
	if err == nil {
		var req *http.Request
		if req, err = http.NewRequest(http.MethodPost, e.url, bytes.NewReader(body)); err == nil {
			req.Header.Set("Content-Type", "application/json")
			for k, v := range e.headers {
				req.Header.Set(k, v)
			}
			var resp *http.Response
			if resp, err = e.client.Do(req); err == nil {
				resp.Body.Close()
				if resp.StatusCode/100 != 2 {
					err = fmt.Errorf("collector answered %d", resp.StatusCode)
				}
			}
		}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	switch {
	case err != nil && !e.failing:
		e.log.Warn("trace export failing; spans are dropped until the collector answers", "url", e.url, "error", err)
	case err == nil && e.failing:
		e.log.Info("trace export works again", "url", e.url, "dropped_spans", e.dropped)
		e.dropped = 0
	}
	e.failing = err != nil
}

// The OTLP JSON request (opentelemetry-proto, trace/v1 ExportTraceServiceRequest).
type (
	otlpRequest struct {
		ResourceSpans []otlpResourceSpans `json:"resourceSpans"`
	}
	otlpResourceSpans struct {
		Resource   otlpResource     `json:"resource"`
		ScopeSpans []otlpScopeSpans `json:"scopeSpans"`
	}
	otlpResource struct {
		Attributes []otlpKV `json:"attributes"`
	}
	otlpScopeSpans struct {
		Scope otlpScope  `json:"scope"`
		Spans []otlpSpan `json:"spans"`
	}
	otlpScope struct {
		Name    string `json:"name"`
		Version string `json:"version"`
	}
	otlpSpan struct {
		TraceID      string     `json:"traceId"`
		SpanID       string     `json:"spanId"`
		ParentSpanID string     `json:"parentSpanId,omitempty"`
		Name         string     `json:"name"`
		Kind         Kind       `json:"kind"`
		Start        string     `json:"startTimeUnixNano"`
		End          string     `json:"endTimeUnixNano"`
		Attributes   []otlpKV   `json:"attributes,omitempty"`
		Status       otlpStatus `json:"status"`
	}
	otlpKV struct {
		Key   string    `json:"key"`
		Value otlpValue `json:"value"`
	}
	otlpValue struct {
		StringValue string `json:"stringValue"`
	}
	otlpStatus struct {
		Code    int    `json:"code"` // 1 ok, 2 error
		Message string `json:"message,omitempty"`
	}
)

func (e *OTLP) request(batch []*Span) otlpRequest {
	spans := make([]otlpSpan, 0, len(batch))
	for _, s := range batch {
		s.mu.Lock()
		o := otlpSpan{
			TraceID: s.SC.TraceID.String(), SpanID: s.SC.SpanID.String(), Name: s.Name, Kind: s.Kind,
			Start: strconv.FormatInt(s.Start.UnixNano(), 10), End: strconv.FormatInt(s.End.UnixNano(), 10),
			Attributes: kvs(s.Attrs), Status: otlpStatus{Code: 1},
		}
		if s.Parent != (SpanID{}) {
			o.ParentSpanID = s.Parent.String()
		}
		if s.Err != "" {
			o.Status = otlpStatus{Code: 2, Message: s.Err}
		}
		s.mu.Unlock()
		spans = append(spans, o)
	}
	return otlpRequest{ResourceSpans: []otlpResourceSpans{{
		Resource:   otlpResource{Attributes: kvs(map[string]string{"service.name": e.service, "service.version": e.version})},
		ScopeSpans: []otlpScopeSpans{{Scope: otlpScope{Name: "creditgate", Version: e.version}, Spans: spans}},
	}}}
}

func kvs(m map[string]string) []otlpKV {
	out := make([]otlpKV, 0, len(m))
	for k, v := range m {
		out = append(out, otlpKV{Key: k, Value: otlpValue{StringValue: v}})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}
