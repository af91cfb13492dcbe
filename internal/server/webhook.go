package server

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/creditgate/creditgate/internal/event"
	"github.com/creditgate/creditgate/internal/jsonlog"
	"github.com/creditgate/creditgate/internal/metrics"
	"github.com/creditgate/creditgate/internal/outcome"
	"github.com/creditgate/creditgate/internal/pipeline"
	"github.com/creditgate/creditgate/internal/secret"
	"github.com/creditgate/creditgate/internal/signature"
	"github.com/creditgate/creditgate/internal/tracing"
)

// Route is one webhook route as the server sees it.
type Route struct {
	Path      string
	Secrets   []secret.Secret // Stripe signing secrets, all tried
	Tolerance time.Duration
	Pipeline  *pipeline.Route
}

// Deps are the webhook handler's dependencies, all passed in.
type Deps struct {
	Logger       *slog.Logger
	Metrics      *metrics.Metrics
	Pipeline     *pipeline.Pipeline
	Routes       []Route
	MaxBodyBytes int64
	// Inflight is the global in-flight body budget shared by every route (and kept
	// across reloads); nil is unlimited.
	Inflight *BodyBudget
	Now      func() time.Time
	// Tracer starts each webhook's span, continuing the traceparent of the request
	// (nil: spans are not exported; the trace id is still logged and forwarded).
	Tracer *tracing.Tracer

	unauthLog *logLimiter // set by NewWebhookHandler
}

// Keys of the canonical log line (one per webhook).
const (
	LogRoute     = "route"
	LogEventID   = "event_id"
	LogEventType = "event_type"
	LogResult    = "result"
	LogReason    = "reason"
	LogStatus    = "status"
	LogDuration  = "duration_seconds"
	LogSession   = "session_id"
	LogCredits   = "credits"
	LogReversed  = "credits_reversed"
	LogAttempts  = "forward_attempts"
	LogDetail    = "detail"
	LogAPI       = "api_version"
	LogTraceID   = "trace_id"
)

// handleWebhook verifies, decodes and processes one delivery (docs/design.md §1) and answers
// with the Outcome's status (outcome.Result.Status, the one mapping).
func handleWebhook(d Deps, rt *Route) http.Handler {
	now := d.Now
	if now == nil {
		now = time.Now
	}
	rm := d.routeMetrics(rt.Pipeline.Name)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		r = withSpan(d.Tracer, r)
		o, apiVersion := process(d, rt, now, w, r)
		d.finish(w, r, rm, o, apiVersion, start)
	})
}

// withSpan returns r with the webhook's span in its context: the child of the
// Ingress's traceparent, or the root of a new trace.
func withSpan(tr *tracing.Tracer, r *http.Request) *http.Request {
	ctx := r.Context()
	if sc, ok := tracing.ParseTraceparent(r.Header.Get(tracing.Header)); ok {
		ctx = tracing.WithRemote(ctx, sc)
	}
	ctx, _ = tr.Start(ctx, "webhook", tracing.Server)
	return r.WithContext(ctx)
}

// process reads, verifies, decodes and processes one delivery. The body lives in a
// pooled buffer, counted in the in-flight body budget, until process returns: nothing
// it returns refers to it (the event view and the outcome hold copies).
func process(d Deps, rt *Route, now func() time.Time, w http.ResponseWriter, r *http.Request) (pipeline.Outcome, string) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		return pipeline.Outcome{Result: outcome.MethodNotAllowed, Detail: "method " + clip(r.Method, maxLogged)}, ""
	}
	// Answered before a byte of the body is read, so a client that sent
	// "Expect: 100-continue" never gets "100 Continue" for a body that is refused.
	if r.ContentLength > d.MaxBodyBytes {
		return tooLarge("Content-Length larger than max_body_bytes"), ""
	}
	body, pooled, held, err := readBody(http.MaxBytesReader(w, r.Body, d.MaxBodyBytes), d.Inflight)
	defer d.Inflight.give(held)
	if pooled != nil {
		defer putBuffer(pooled)
	}
	if err != nil {
		var tooBig *http.MaxBytesError
		switch {
		case errors.As(err, &tooBig):
			return tooLarge("body larger than max_body_bytes"), ""
		case errors.Is(err, errOverloaded):
			// Not read to its end: net/http closes the connection after the answer.
			return pipeline.Outcome{Result: outcome.Overloaded, Reason: outcome.ReasonInflightBodyBytes, Detail: "max_inflight_body_bytes reached; Stripe retries"}, ""
		}
		return pipeline.Outcome{Result: outcome.MalformedEvent, Reason: outcome.ReasonRead, Detail: "reading body: " + err.Error()}, ""
	}
	MarkBusy(r.Context()) // the body is in: LimitListener no longer evicts this connection
	headers := r.Header.Values(signature.StripeHeader)
	if len(headers) > 1 {
		return pipeline.Outcome{Result: outcome.InvalidSignature, Reason: outcome.ReasonHeader, Detail: "more than one Stripe-Signature header"}, ""
	}
	var header string
	if len(headers) == 1 {
		header = headers[0]
	}
	_, verify := d.Tracer.Start(r.Context(), "verify", tracing.Internal)
	err = signature.Verify(body, header, rt.Secrets, rt.Tolerance, now())
	verify.Finish(err)
	if err != nil {
		return pipeline.Outcome{Result: outcome.InvalidSignature, Reason: signatureReason(err), Detail: err.Error()}, ""
	}
	ev, err := event.Decode(body)
	if err != nil && event.IsThin(body) {
		return processThin(d, rt, r, body)
	}
	if err != nil {
		// An event the route does not handle is ignored whatever its data.object
		// holds: only its envelope has to be sound. A 400 would have Stripe retry it
		// for days and, in the end, disable the endpoint.
		if env, envErr := event.DecodeEnvelope(body); envErr == nil && !rt.Pipeline.Handles(env.Type) {
			return d.Pipeline.Process(r.Context(), rt.Pipeline, pipeline.Delivery{Raw: body, Event: env, AnswerFirst: true}), env.APIVersion
		}
		return pipeline.Outcome{Result: outcome.MalformedEvent, Reason: outcome.ReasonDecode, Detail: err.Error()}, ""
	}
	return d.Pipeline.Process(r.Context(), rt.Pipeline, pipeline.Delivery{Raw: body, Event: ev, AnswerFirst: true}), ev.APIVersion
}

func tooLarge(detail string) pipeline.Outcome {
	return pipeline.Outcome{Result: outcome.TooLarge, Reason: outcome.ReasonBody, Detail: detail}
}

func signatureReason(err error) outcome.Reason {
	switch {
	case errors.Is(err, signature.ErrNotSigned):
		return outcome.ReasonNotSigned
	case errors.Is(err, signature.ErrInvalidHeader):
		return outcome.ReasonInvalidHeader
	case errors.Is(err, signature.ErrTooOld):
		return outcome.ReasonTooOld
	case errors.Is(err, signature.ErrTooNew):
		return outcome.ReasonTooNew
	}
	return outcome.ReasonNoValidSignature
}

// finish answers Stripe, counts the outcome and writes the canonical log line.
func (d Deps) finish(w http.ResponseWriter, r *http.Request, rm *routeMetrics, o pipeline.Outcome, apiVersion string, start time.Time) {
	code := o.Result.Status()
	writeJSON(w, code, answer{Status: o.Result.Word(), EventID: o.EventID})
	elapsed := time.Since(start)
	res := string(o.Result)
	route := rm.route
	rm.answered(o.Result, elapsed)
	countOutcome(rm, o)
	var suppressed int
	if unauthenticated(o) {
		ok, dropped := d.unauthLog.allow(time.Now())
		if !ok {
			return
		}
		suppressed = dropped
	}
	var buf [16]slog.Attr // room for every attribute below: no growth
	attrs := append(buf[:0],
		slog.String(LogRoute, route),
		slog.String(LogEventID, clip(o.EventID, maxLogged)),
		slog.String(LogEventType, clip(o.EventType, maxLogged)),
		slog.String(LogResult, res),
		slog.Int(LogStatus, code),
		slog.Float64(LogDuration, elapsed.Seconds()),
	)
	if o.Reason != "" {
		attrs = append(attrs, slog.String(LogReason, string(o.Reason)))
	}
	if o.SessionID != "" {
		attrs = append(attrs, slog.String(LogSession, clip(o.SessionID, maxLogged)))
	}
	if o.Credits != 0 {
		attrs = append(attrs, slog.Int64(LogCredits, o.Credits))
	}
	if o.Reversed != 0 {
		attrs = append(attrs, slog.Int64(LogReversed, o.Reversed))
	}
	if o.Attempts != 0 {
		attrs = append(attrs, slog.Int(LogAttempts, o.Attempts))
	}
	if apiVersion != "" {
		attrs = append(attrs, slog.String(LogAPI, clip(apiVersion, maxLogged)))
	}
	if o.Detail != "" {
		attrs = append(attrs, slog.String(LogDetail, clip(o.Detail, maxDetail)))
	}
	if suppressed > 0 {
		attrs = append(attrs, slog.Int(LogSuppressed, suppressed))
	}
	if span := tracing.FromContext(r.Context()); span != nil {
		attrs = append(attrs, slog.String(LogTraceID, span.SC.TraceID.String()))
		span.Set("creditgate.route", route)
		span.Set("creditgate.result", res)
		span.Set("http.response.status_code", strconv.Itoa(code))
		var failed error
		if code >= 500 {
			failed = errors.New(res)
		}
		span.Finish(failed)
	}
	logLine(context.WithoutCancel(r.Context()), d.Logger, level(o.Result), attrs)
}

// logLine writes the canonical line through the logger's handler: Logger.LogAttrs
// would first walk the stack for a source position, which the line never shows (1 %
// of creditgate's CPU under load, docs/benchmarks.md). A handler that takes the
// attributes as they are (jsonlog.Handler) gets them without a Record, which allocates for
// more than five.
func logLine(ctx context.Context, l *slog.Logger, lvl slog.Level, attrs []slog.Attr) {
	h := l.Handler()
	if !h.Enabled(ctx, lvl) {
		return
	}
	if jh, ok := h.(*jsonlog.Handler); ok { // a concrete call: attrs stays on the caller's stack
		_ = jh.HandleAttrs(ctx, time.Now(), lvl, "webhook", attrs)
		return
	}
	rec := slog.NewRecord(time.Now(), lvl, "webhook", 0)
	rec.AddAttrs(attrs...)
	_ = h.Handle(ctx, rec)
}

// level follows the outcome: what needs a human is an error, what Stripe will retry
// is a warning, the rest is info.
func level(r outcome.Result) slog.Level {
	switch r {
	case outcome.DeadLettered, outcome.StoreUnavailable:
		return slog.LevelError
	case outcome.BackendUnavailable, outcome.InvalidSignature, outcome.LivemodeMismatch,
		outcome.MalformedEvent, outcome.TooLarge, outcome.InFlight,
		outcome.NotFound, outcome.MethodNotAllowed, outcome.Overloaded,
		outcome.Cancelled: // the caller left; nothing is broken
		return slog.LevelWarn
	}
	return slog.LevelInfo
}
