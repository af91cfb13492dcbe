package jsonlog

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"math"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
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

// writes records each Write it gets, safe for the timer's goroutine.
type writes struct {
	mu    sync.Mutex
	calls []string
}

func (w *writes) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.calls = append(w.calls, string(b))
	return len(b), nil
}

func (w *writes) got() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.calls...)
}

// msgs is the msg of every line in calls, in order.
func msgs(t *testing.T, calls []string) []string {
	t.Helper()
	var out []string
	for _, c := range calls {
		for _, line := range strings.Split(strings.TrimSuffix(c, "\n"), "\n") {
			var m struct{ Msg string }
			if err := json.Unmarshal([]byte(line), &m); err != nil {
				t.Fatalf("not a JSON line: %q", line)
			}
			out = append(out, m.Msg)
		}
	}
	return out
}

// TestBuffered: lines wait for the interval (a synctest bubble, so "not yet" is a
// fact, not a sleep), an ERROR line takes the lines before it out at once and in
// order, from a derived logger too, 32 KiB wait at most, Flush writes the rest, and
// New writes each line at once.
func TestBuffered(t *testing.T) {
	t.Run("interval", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			w := &writes{}
			l := slog.New(NewBuffered(w, nil, 100*time.Millisecond))
			l.Info("a")
			time.Sleep(50 * time.Millisecond)
			l.Warn("b")
			time.Sleep(49 * time.Millisecond)
			synctest.Wait()
			if got := w.got(); len(got) != 0 {
				t.Fatalf("written before the interval: %q", got)
			}
			time.Sleep(2 * time.Millisecond)
			synctest.Wait()
			if got := w.got(); len(got) != 1 || strings.Join(msgs(t, got), ",") != "a,b" {
				t.Fatalf("after the interval: %d writes %q, want one write of a, b", len(got), got)
			}
			l.Info("c") // the timer runs again for the next line
			time.Sleep(101 * time.Millisecond)
			synctest.Wait()
			if got := msgs(t, w.got()); strings.Join(got, ",") != "a,b,c" {
				t.Fatalf("second interval: %q", got)
			}
		})
	})
	t.Run("error at once", func(t *testing.T) {
		w := &writes{}
		h := NewBuffered(w, nil, time.Hour)
		l := slog.New(h)
		l.Info("a")
		l.Info("b", "detail", "needs \"escaping\"") // JSONHandler's path
		l.Error("c")
		if got := w.got(); len(got) != 1 || strings.Join(msgs(t, got), ",") != "a,b,c" {
			t.Fatalf("an ERROR line: %d writes %q, want one write of a, b, c", len(got), got)
		}
		l.With("k", "v").Info("d")
		l.WithGroup("g").With("k", "v").Error("e")
		if got := msgs(t, w.got()); strings.Join(got, ",") != "a,b,c,d,e" {
			t.Fatalf("an ERROR line of a derived logger: %q", got)
		}
		l.Info("f", "bytes", []byte("x")) // JSONHandler's path, below ERROR
		l.Log(context.Background(), slog.LevelError+2, "g", "bytes", []byte("y"))
		if got := msgs(t, w.got()); strings.Join(got, ",") != "a,b,c,d,e,f,g" {
			t.Fatalf("an ERROR+2 line through JSONHandler: %q", got)
		}
	})
	t.Run("32 KiB", func(t *testing.T) {
		w := &writes{}
		h := NewBuffered(w, nil, time.Hour)
		l := slog.New(h)
		pad := strings.Repeat("x", 1000)
		n := 0
		for len(w.got()) == 0 {
			l.Info("line", "pad", pad)
			if n++; n > 40 {
				t.Fatal("over 40 KB waited")
			}
		}
		got := w.got()
		if len(got[0]) > maxWaiting || len(got[0]) < maxWaiting-1100 {
			t.Fatalf("first write %d bytes, want just under %d", len(got[0]), maxWaiting)
		}
		if err := h.Flush(); err != nil {
			t.Fatal(err)
		}
		if m := msgs(t, w.got()); len(m) != n {
			t.Fatalf("%d lines written after Flush, want %d", len(m), n)
		}
		if err := h.Flush(); err != nil || len(w.got()) != 2 {
			t.Fatalf("a second Flush wrote again: %d writes, %v", len(w.got()), err)
		}
	})
	t.Run("New writes at once", func(t *testing.T) {
		w := &writes{}
		l := slog.New(New(w, nil))
		l.Info("a")
		l.Info("b", "bytes", []byte("x"))
		if got := w.got(); len(got) != 2 {
			t.Fatalf("%d writes, want 2", len(got))
		}
	})
}

// TestBufferedConcurrentLines: from many goroutines, with the timer flushing meanwhile,
// every line comes out whole and once.
func TestBufferedConcurrentLines(t *testing.T) {
	w := &writes{}
	h := NewBuffered(w, nil, time.Millisecond)
	l := slog.New(h)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for j := range 300 {
				if i%2 == 0 {
					l.Info("webhook", "route", "default", "i", i, "j", j)
				} else {
					l.Info("other", "detail", "needs \"escaping\"", "j", j)
				}
			}
		})
	}
	wg.Wait()
	if err := h.Flush(); err != nil {
		t.Fatal(err)
	}
	got := w.got()
	if m := msgs(t, got); len(m) != 2400 {
		t.Fatalf("%d lines, want 2400", len(m))
	}
	if len(got) >= 2400 {
		t.Fatalf("%d writes for 2400 lines: nothing was gathered", len(got))
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
