package cli

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/creditgate/creditgate/internal/dedup"
	"github.com/creditgate/creditgate/internal/pipeline"
	"github.com/creditgate/creditgate/internal/stripeapi"
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

// tracedAPI gives each Stripe API call its span.
type tracedAPI struct {
	api pipeline.API
	tr  *tracing.Tracer
}

func (a tracedAPI) SessionLines(ctx context.Context, account, sessionID string) ([]stripeapi.Line, error) {
	ctx, span := a.tr.Start(ctx, "stripe.checkout.sessions.line_items", tracing.Client)
	l, err := a.api.SessionLines(ctx, account, sessionID)
	span.Finish(err)
	return l, err
}

func (a tracedAPI) Invoice(ctx context.Context, account, invoiceID string) (stripeapi.Invoice, error) {
	ctx, span := a.tr.Start(ctx, "stripe.invoices.retrieve", tracing.Client)
	inv, err := a.api.Invoice(ctx, account, invoiceID)
	span.Finish(err)
	return inv, err
}

func (a tracedAPI) CustomerMetadata(ctx context.Context, account, customerID string) (map[string]string, error) {
	ctx, span := a.tr.Start(ctx, "stripe.customers.retrieve", tracing.Client)
	md, err := a.api.CustomerMetadata(ctx, account, customerID)
	span.Finish(err)
	return md, err
}

// traceTransport puts the traceparent of the span in a request's context on the
// request: the backend continues the trace of the forward.
type traceTransport struct{ next http.RoundTripper }

func (t traceTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if s := tracing.FromContext(r.Context()); s != nil {
		r = r.Clone(r.Context())
		r.Header.Set(tracing.Header, s.SC.Traceparent())
	}
	return t.next.RoundTrip(r)
}
