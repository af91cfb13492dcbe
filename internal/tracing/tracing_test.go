package tracing

import (
	"context"
	"strings"
	"testing"
)

func TestParseTraceparent(t *testing.T) {
	const valid = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	tests := []struct {
		name, h string
		ok      bool
		sampled bool
	}{
		{"the spec's example", valid, true, true},
		{"not sampled", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00", true, false},
		{"other flags kept to the sampled bit", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-03", true, true},
		{"a future version with more fields", "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-ever", true, true},
		{"a future version, exact length", "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", true, true},
		{"version 00 with more", valid + "-00", false, false},
		{"future version glued on", "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x", false, false},
		{"version ff", "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", false, false},
		{"upper case", "00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-01", false, false},
		{"zero trace id", "00-00000000000000000000000000000000-00f067aa0ba902b7-01", false, false},
		{"zero span id", "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01", false, false},
		{"short", valid[:54], false, false},
		{"empty", "", false, false},
		{"wrong separators", strings.ReplaceAll(valid, "-", "_"), false, false},
		{"not hex", "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01", false, false},
		{"bad flags", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0x", false, false},
	}
	for _, tt := range tests {
		sc, ok := ParseTraceparent(tt.h)
		if ok != tt.ok || (ok && sc.Sampled != tt.sampled) {
			t.Errorf("%s: ParseTraceparent(%q) = %+v, %t; want ok %t sampled %t", tt.name, tt.h, sc, ok, tt.ok, tt.sampled)
		}
		if ok && tt.h == valid && sc.Traceparent() != valid {
			t.Errorf("round trip: %q -> %q", valid, sc.Traceparent())
		}
	}
}

// A webhook continues the Ingress's trace, its children continue the webhook's, and
// a webhook without a traceparent starts a trace of its own.
func TestStartContinuesOrStarts(t *testing.T) {
	in, _ := ParseTraceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00")
	var tr *Tracer // nil: nothing exported, ids still made
	ctx, root := tr.Start(WithRemote(context.Background(), in), "webhook", Server)
	if root.SC.TraceID != in.TraceID || root.Parent != in.SpanID || root.SC.SpanID == in.SpanID || root.SC.Sampled {
		t.Errorf("root %+v does not continue %+v", root.SC, in)
	}
	if cctx, child := tr.Start(ctx, "verify", Internal); child != nil || FromContext(cctx) != root {
		t.Errorf("without an exporter a child span was made: %+v", child)
	}
	ctx, root = New(discard{}).Start(WithRemote(context.Background(), in), "webhook", Server)
	_, child := tr.Start(ctx, "forward", Client)
	if child.SC.TraceID != in.TraceID || child.Parent != root.SC.SpanID || child.SC.SpanID == root.SC.SpanID {
		t.Errorf("child %+v (parent %s) is not the root's child", child.SC, child.Parent)
	}
	child.Set("k", "v")
	if child.Attrs["k"] != "v" {
		t.Error("a span with an exporter lost its attribute")
	}
	_, fresh := tr.Start(context.Background(), "webhook", Server)
	if !fresh.SC.Valid() || fresh.SC.TraceID == in.TraceID || fresh.Parent != (SpanID{}) || !fresh.SC.Sampled {
		t.Errorf("a fresh trace: %+v parent %s", fresh.SC, fresh.Parent)
	}
	if got, ok := ParseTraceparent(fresh.SC.Traceparent()); !ok || got != fresh.SC {
		t.Errorf("our own traceparent %q does not parse back", fresh.SC.Traceparent())
	}
	fresh.Set("k", "v") // no exporter: nothing kept
	fresh.Finish(nil)
	if fresh.Attrs != nil {
		t.Error("a span without exporter kept attributes")
	}
}

type discard struct{}

func (discard) ExportSpan(*Span) {}

func FuzzParseTraceparent(f *testing.F) {
	f.Add("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	f.Add("cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x")
	f.Add("")
	f.Fuzz(func(t *testing.T, h string) {
		sc, ok := ParseTraceparent(h)
		if !ok {
			if sc != (SpanContext{}) {
				t.Fatalf("refused %q but returned %+v", h, sc)
			}
			return
		}
		if !sc.Valid() {
			t.Fatalf("accepted %q with zero ids", h)
		}
		// What we send on is always a canonical version-00 header that parses back.
		back, ok := ParseTraceparent(sc.Traceparent())
		if !ok || back != sc || len(sc.Traceparent()) != 55 {
			t.Fatalf("%q -> %q does not round-trip", h, sc.Traceparent())
		}
	})
}
