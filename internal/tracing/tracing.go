// Package tracing is creditgate's distributed tracing, W3C Trace Context
// (https://www.w3.org/TR/trace-context/) without a dependency: a webhook continues the
// trace of the Ingress's traceparent header, or starts one; its spans (the webhook,
// verify, claim, Stripe API calls, forward) carry the trace; the forward passes it on
// to the backend in traceparent; the canonical log line names the trace id. Spans are
// exported (otlp.go, OTLP/HTTP JSON) only when an exporter is configured; without one,
// a Span costs two ids and nothing is recorded.
package tracing

import (
	"context"
	"encoding/hex"
	"math/rand/v2"
	"sync"
	"time"
)

// Header is the W3C trace context request header.
const Header = "traceparent"

// TraceID and SpanID are the W3C ids; all zeros is invalid.
type (
	TraceID [16]byte
	SpanID  [8]byte
)

func (t TraceID) String() string { return hex.EncodeToString(t[:]) }
func (s SpanID) String() string  { return hex.EncodeToString(s[:]) }

// SpanContext is what travels between processes.
type SpanContext struct {
	TraceID TraceID
	SpanID  SpanID
	Sampled bool
}

// Valid reports whether both ids are set.
func (sc SpanContext) Valid() bool { return sc.TraceID != TraceID{} && sc.SpanID != SpanID{} }

// Traceparent formats sc as a version-00 traceparent header value.
func (sc SpanContext) Traceparent() string {
	var b [55]byte // "00-" 32 hex "-" 16 hex "-" 2 hex: one allocation, the string
	copy(b[:], "00-")
	hex.Encode(b[3:35], sc.TraceID[:])
	b[35] = '-'
	hex.Encode(b[36:52], sc.SpanID[:])
	copy(b[52:], "-00")
	if sc.Sampled {
		b[54] = '1'
	}
	return string(b[:])
}

// ParseTraceparent reads a traceparent header value; ok is false for anything the
// W3C spec says to ignore (then the trace starts afresh). A higher version is read
// by its version-00 prefix, as the spec asks.
func ParseTraceparent(h string) (sc SpanContext, ok bool) {
	if len(h) < 55 || (len(h) > 55 && h[55] != '-') || h[2] != '-' || h[35] != '-' || h[52] != '-' {
		return SpanContext{}, false
	}
	version, flags := h[0:2], h[53:55]
	if !lowerHex(version) || version == "ff" || (version == "00" && len(h) != 55) || !lowerHex(flags) {
		return SpanContext{}, false
	}
	if !lowerHex(h[3:35]) || !lowerHex(h[36:52]) {
		return SpanContext{}, false
	}
	_, _ = hex.Decode(sc.TraceID[:], []byte(h[3:35]))
	_, _ = hex.Decode(sc.SpanID[:], []byte(h[36:52]))
	f, _ := hex.DecodeString(flags)
	sc.Sampled = f[0]&1 == 1
	if !sc.Valid() {
		return SpanContext{}, false
	}
	return sc, true
}

func lowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// Kind is the OTLP span kind.
type Kind int

// Span kinds, numbered as in OTLP.
const (
	Internal Kind = 1
	Server   Kind = 2
	Client   Kind = 3
)

// Exporter receives ended, sampled spans. ExportSpan must not block.
type Exporter interface {
	ExportSpan(s *Span)
}

// Tracer starts spans. The zero value, or nil, starts spans that are never exported.
type Tracer struct {
	exp Exporter
}

// New returns a Tracer that hands ended spans to exp (nil: none are exported).
func New(exp Exporter) *Tracer { return &Tracer{exp: exp} }

// SetExporter replaces the exporter. Call it before the Tracer starts spans.
func (t *Tracer) SetExporter(exp Exporter) { t.exp = exp }

// Span is one timed operation. Its methods are safe on a nil Span.
type Span struct {
	exp    Exporter
	SC     SpanContext
	Parent SpanID
	Name   string
	Kind   Kind
	Start  time.Time
	End    time.Time

	mu    sync.Mutex
	Attrs map[string]string
	Err   string // the error the span ended with; "" for success
}

type ctxKey struct{}

// FromContext returns the span in ctx, or nil.
func FromContext(ctx context.Context) *Span {
	s, _ := ctx.Value(ctxKey{}).(*Span)
	return s
}

// remoteKey carries a SpanContext received from another process.
type remoteKey struct{}

// WithRemote returns ctx carrying sc (from a traceparent header) as the parent of the
// next span started in it.
func WithRemote(ctx context.Context, sc SpanContext) context.Context {
	return context.WithValue(ctx, remoteKey{}, sc)
}

// Start begins a span named name, the child of the span (or remote parent) in ctx,
// or the root of a new trace; the returned context carries it. Without an exporter
// only a root span is made (its ids are what the log and the backend see); a child
// would never be seen, so Start returns ctx and a nil Span, whose methods do nothing.
func (t *Tracer) Start(ctx context.Context, name string, kind Kind) (context.Context, *Span) {
	if p := FromContext(ctx); p != nil && p.exp == nil {
		return ctx, nil
	}
	s := &Span{Name: name, Kind: kind, Start: time.Now()}
	if t != nil {
		s.exp = t.exp
	}
	switch p := FromContext(ctx); {
	case p != nil:
		s.SC.TraceID, s.Parent, s.SC.Sampled, s.exp = p.SC.TraceID, p.SC.SpanID, p.SC.Sampled, p.exp
	default:
		if r, ok := ctx.Value(remoteKey{}).(SpanContext); ok && r.Valid() {
			s.SC.TraceID, s.Parent, s.SC.Sampled = r.TraceID, r.SpanID, r.Sampled
		} else {
			fill(s.SC.TraceID[:])
			s.SC.Sampled = true // a trace we start is recorded when there is an exporter
		}
	}
	fill(s.SC.SpanID[:])
	return context.WithValue(ctx, ctxKey{}, s), s
}

// fill writes random non-zero bytes (math/rand/v2's ChaCha8: ids need to be unique,
// not secret).
func fill(b []byte) {
	for {
		for i := 0; i < len(b); i += 8 {
			v := rand.Uint64()
			for j := i; j < i+8 && j < len(b); j++ {
				b[j] = byte(v)
				v >>= 8
			}
		}
		for _, c := range b {
			if c != 0 {
				return
			}
		}
	}
}

// Set records an attribute (only kept when the span is exported).
func (s *Span) Set(key, value string) {
	if s == nil || s.exp == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.Attrs == nil {
		s.Attrs = map[string]string{}
	}
	s.Attrs[key] = value
}

// Finish ends the span with err (nil: success) and exports it when sampled.
func (s *Span) Finish(err error) {
	if s == nil || s.exp == nil || !s.SC.Sampled {
		return
	}
	s.mu.Lock()
	s.End = time.Now()
	if err != nil {
		s.Err = err.Error()
	}
	s.mu.Unlock()
	s.exp.ExportSpan(s)
}
