package cli

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/creditgate/creditgate/internal/dedup"
	"github.com/creditgate/creditgate/internal/tracing"
)

// otlpExporter returns the span exporter the standard OpenTelemetry variables ask
// for, or nil (the default: spans are not exported; traceparent still travels).
//
//	OTEL_EXPORTER_OTLP_TRACES_ENDPOINT  full URL, e.g. http://collector:4318/v1/traces
//	OTEL_EXPORTER_OTLP_ENDPOINT         base URL; /v1/traces is appended
//	OTEL_EXPORTER_OTLP_HEADERS          k=v,k2=v2 sent with every export
//	OTEL_SERVICE_NAME                   default creditgate
func otlpExporter(getenv func(string) string, log *slog.Logger) *tracing.OTLP {
	url := getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
	if url == "" {
		if base := getenv("OTEL_EXPORTER_OTLP_ENDPOINT"); base != "" {
			url = strings.TrimSuffix(base, "/") + "/v1/traces"
		}
	}
	if url == "" {
		return nil
	}
	headers := map[string]string{}
	for _, kv := range strings.Split(getenv("OTEL_EXPORTER_OTLP_HEADERS"), ",") {
		if k, v, ok := strings.Cut(kv, "="); ok && strings.TrimSpace(k) != "" {
			headers[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	service := getenv("OTEL_SERVICE_NAME")
	if service == "" {
		service = "creditgate"
	}
	return tracing.NewOTLP(url, headers, service, Version, log)
}

// tracedStore gives the dedup claims their span.
type tracedStore struct {
	dedup.Store
	tr *tracing.Tracer
}

func (s tracedStore) Claim(ctx context.Context, key, token string, lease time.Duration) (dedup.State, error) {
	ctx, span := s.tr.Start(ctx, "claim", tracing.Internal)
	st, err := s.Store.Claim(ctx, key, token, lease)
	span.Set("creditgate.claim.key", key[:strings.IndexByte(key+":", ':')]) // event or purchase, never an id
	span.Finish(err)
	return st, err
}

func (s tracedStore) ClaimEach(ctx context.Context, lease time.Duration, claims []dedup.Claim) {
	ctx, span := s.tr.Start(ctx, "claim", tracing.Internal)
	s.Store.ClaimEach(ctx, lease, claims)
	for _, c := range claims {
		if c.Err != nil {
			span.Finish(c.Err)
			return
		}
	}
	span.Finish(nil)
}

// stripeSpans gives each Stripe API request its span, whatever call made it (the
// pipeline's reads, thin events' object reads, the watch): it wraps the transport of
// the route's Stripe API client, so a new API call needs no tracing code of its own.
// The span carries the method and path; object ids in a trace are fine (traces are
// not metrics).
type stripeSpans struct {
	next http.RoundTripper
	tr   *tracing.Tracer
}

func (t stripeSpans) RoundTrip(r *http.Request) (*http.Response, error) {
	ctx, span := t.tr.Start(r.Context(), "stripe.api", tracing.Client)
	span.Set("http.request.method", r.Method)
	span.Set("url.path", r.URL.Path)
	resp, err := t.next.RoundTrip(r.WithContext(ctx))
	if err == nil {
		span.Set("http.response.status_code", strconv.Itoa(resp.StatusCode))
		if resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests {
			span.Finish(errors.New(resp.Status))
			return resp, nil
		}
	}
	span.Finish(err)
	return resp, err
}

// traceparentKey is tracing.Header in net/http's canonical form.
var traceparentKey = http.CanonicalHeaderKey(tracing.Header)

// injectTraceparent puts the traceparent of the span in ctx on a forward's headers
// (forward.Options.Inject): the backend continues the trace of the forward. The
// forward builds each attempt's request itself, so no clone of it is needed.
func injectTraceparent(ctx context.Context, h http.Header) {
	if s := tracing.FromContext(ctx); s != nil {
		h[traceparentKey] = []string{s.SC.Traceparent()}
	}
}
