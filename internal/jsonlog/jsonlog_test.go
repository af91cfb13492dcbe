package jsonlog

import (
	"bytes"
	"context"
	"log/slog"
	"math"
	"strings"
	"sync"
	"testing"
	"time"
)

// same writes r through Handler and through slog.JSONHandler and fails unless the
// bytes are equal.
func same(t *testing.T, r slog.Record) {
	t.Helper()
	var got, want bytes.Buffer
	opts := &slog.HandlerOptions{Level: slog.LevelDebug}
	if err := New(&got, opts).Handle(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	if err := slog.NewJSONHandler(&want, opts).Handle(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	if got.String() != want.String() {
		t.Fatalf("Handler wrote\n%s\nJSONHandler wrote\n%s", got.String(), want.String())
	}
	var attrs []slog.Attr
	r.Attrs(func(a slog.Attr) bool { attrs = append(attrs, a); return true })
	got.Reset()
	if err := New(&got, opts).HandleAttrs(context.Background(), r.Time, r.Level, r.Message, attrs); err != nil {
		t.Fatal(err)
	}
	if got.String() != want.String() {
		t.Fatalf("HandleAttrs wrote\n%s\nJSONHandler wrote\n%s", got.String(), want.String())
	}
}

// FuzzHandler: whatever the message, keys, strings, numbers and time, Handler writes
// what slog.JSONHandler writes, on the fast path or through JSONHandler itself.
func FuzzHandler(f *testing.F) {
	f.Add("webhook", "route", "default", int64(200), 0.001234, int64(1_764_000_000_123_456_789), 0)
	f.Add("a<b", "k\n", "v\u2028\xff", int64(-1), 1e-7, int64(0), 4)
	f.Add("m", "k", "", int64(math.MaxInt64), 1e21, int64(-62_135_596_800_000_000_0), -8)
	f.Add("m", "", "v", int64(0), math.Inf(1), int64(253_402_300_800_000_000_0), 2)
	f.Fuzz(func(t *testing.T, msg, key, s string, n int64, fl float64, unixNano int64, level int) {
		r := slog.NewRecord(time.Unix(0, unixNano).UTC(), slog.Level(level), msg, 0)
		r.AddAttrs(slog.String(key, s), slog.Int64("n", n), slog.Float64("f", fl),
			slog.Bool("b", n%2 == 0), slog.Duration("d", time.Duration(n)), slog.Uint64("u", uint64(n)))
		same(t, r)
		if len(s) > 0 {
			r.AddAttrs(slog.Any("any", []byte(s)), slog.Group("g", slog.String(key, s)))
			same(t, r)
		}
	})
}

// fastPath reports whether Handle writes r by hand.
func fastPath(r slog.Record) bool {
	var attrs []slog.Attr
	r.Attrs(func(a slog.Attr) bool { attrs = append(attrs, a); return true })
	_, ok := appendLine(nil, r.Time, r.Level, r.Message, attrs)
	return ok
}

func TestHandlerPaths(t *testing.T) {
	now := time.Date(2026, 12, 1, 11, 0, 0, 123_000_000, time.UTC)
	canonical := slog.NewRecord(now, slog.LevelInfo, "webhook", 0)
	canonical.AddAttrs(slog.String("route", "default"), slog.String("event_id", "evt_1"),
		slog.Int("status", 200), slog.Float64("duration_seconds", 0.0042), slog.Int64("credits", 100))
	if !fastPath(canonical) {
		t.Fatal("the canonical line did not take the fast path")
	}
	same(t, canonical)

	noTime := slog.NewRecord(time.Time{}, slog.LevelWarn+1, "m", 0)
	same(t, noTime)

	escaped := slog.NewRecord(now, slog.LevelError, "webhook", 0)
	escaped.AddAttrs(slog.String("detail", "line\nbreak \"quoted\" <tag> é"))
	if fastPath(escaped) {
		t.Fatal("a string that needs escaping took the fast path")
	}
	same(t, escaped)
}

func TestHandlerDerivedAndOptions(t *testing.T) {
	var got, want bytes.Buffer
	r := slog.NewRecord(time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC), slog.LevelInfo, "m", 0)
	r.AddAttrs(slog.String("k", "v"))
	opts := &slog.HandlerOptions{ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
		a.Key = strings.ToUpper(a.Key)
		return a
	}}
	_ = New(&got, opts).WithAttrs([]slog.Attr{slog.String("route", "x")}).WithGroup("g").Handle(context.Background(), r)
	_ = slog.NewJSONHandler(&want, opts).WithAttrs([]slog.Attr{slog.String("route", "x")}).WithGroup("g").Handle(context.Background(), r)
	if got.String() != want.String() || !strings.Contains(got.String(), `"ROUTE":"x"`) {
		t.Fatalf("derived handler wrote %q, JSONHandler %q", got.String(), want.String())
	}
	h := New(&got, &slog.HandlerOptions{Level: slog.LevelWarn})
	if h.Enabled(context.Background(), slog.LevelInfo) || !h.Enabled(context.Background(), slog.LevelError) {
		t.Fatal("Enabled does not follow the level option")
	}
}

// TestHandlerConcurrentLines: lines from both paths, written at once, stay whole.
func TestHandlerConcurrentLines(t *testing.T) {
	var buf bytes.Buffer
	l := slog.New(New(&buf, nil))
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 200 {
				if i%2 == 0 {
					l.Info("webhook", "route", "default", "i", i)
				} else {
					l.Info("other", "detail", "needs \"escaping\"")
				}
			}
		}()
	}
	wg.Wait()
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	if len(lines) != 1600 {
		t.Fatalf("%d lines, want 1600", len(lines))
	}
	for _, line := range lines {
		if !strings.HasPrefix(line, `{"time":"`) || !strings.HasSuffix(line, "}") {
			t.Fatalf("torn line %q", line)
		}
	}
}

func BenchmarkCanonicalLine(b *testing.B) {
	r := slog.NewRecord(time.Now(), slog.LevelInfo, "webhook", 0)
	r.AddAttrs(slog.String("route", "default"), slog.String("event_id", "evt_1Q2w3E4r5T6y7U8i9O0p"),
		slog.String("event_type", "checkout.session.completed"), slog.String("result", "forwarded"),
		slog.Int("status", 200), slog.Float64("duration_seconds", 0.004213),
		slog.String("session_id", "cs_test_a1b2c3d4e5f6g7h8i9j0"), slog.Int64("credits", 100),
		slog.Int("forward_attempts", 1), slog.String("api_version", "2026-11-17.clover"),
		slog.String("trace_id", "4bf92f3577b34da6a3ce929d0e0e4736"))
	for name, h := range map[string]slog.Handler{
		"jsonlog":     New(discard{}, nil),
		"JSONHandler": slog.NewJSONHandler(discard{}, nil),
	} {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_ = h.Handle(context.Background(), r)
			}
		})
	}
}

type discard struct{}

func (discard) Write(b []byte) (int, error) { return len(b), nil }
