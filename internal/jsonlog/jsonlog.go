// Package jsonlog is the JSON log handler of every creditgate command: slog's
// JSONHandler, with a faster path for flat records whose keys and strings need no
// escaping, like the canonical line of each webhook. That path writes the bytes
// JSONHandler would write (FuzzHandler holds them equal); any other record, and any
// handler derived with WithAttrs or WithGroup, goes through JSONHandler itself.
//
// JSONHandler formats every float through encoding/json's reflection and escapes
// each string byte by byte; the canonical line carries a float (its duration) and a
// dozen plain strings. Under load the line was 5 % of creditgate's CPU
// (docs/benchmarks.md).
//
// A Handler made by NewBuffered gathers lines and writes them together, at most
// its interval after the first one waiting, as soon as 32 KiB wait, and at once for a
// line at level ERROR or above (the lines before it first, in order) and on Flush.
// Under load one write(2) per webhook to a pipe was, again, about 5 % of creditgate's
// CPU.
package jsonlog

import (
	"context"
	"io"
	"log/slog"
	"math"
	"sync"
	"time"

	"github.com/creditgate/creditgate/internal/plainjson"
)

// Handler is a slog.Handler writing one JSON object per line to its writer.
type Handler struct {
	slow slog.Handler // slog.JSONHandler on the same writer, flushing after ERROR lines
	w    *lockedWriter
	fast bool // options the fast path reproduces: neither AddSource nor ReplaceAttr
}

// New returns a Handler writing to w with opts (nil: the defaults), as
// slog.NewJSONHandler(w, opts) would: each line is one Write.
func New(w io.Writer, opts *slog.HandlerOptions) *Handler { return NewBuffered(w, opts, 0) }

// NewBuffered is New, except that lines below ERROR wait up to every (and while fewer
// than 32 KiB wait) to be written together with the lines after them. every 0 is New.
// Call Flush before the process exits.
func NewBuffered(w io.Writer, opts *slog.HandlerOptions, every time.Duration) *Handler {
	lw := &lockedWriter{w: w, every: every}
	if opts == nil {
		opts = &slog.HandlerOptions{}
	}
	return &Handler{
		slow: flushing{slog.NewJSONHandler(lw, opts), lw},
		w:    lw,
		fast: !opts.AddSource && opts.ReplaceAttr == nil,
	}
}

// Enabled reports whether the handler writes records at level l.
func (h *Handler) Enabled(ctx context.Context, l slog.Level) bool { return h.slow.Enabled(ctx, l) }

// WithAttrs returns JSONHandler's handler with attrs: derived loggers take the
// general path.
func (h *Handler) WithAttrs(attrs []slog.Attr) slog.Handler { return h.slow.WithAttrs(attrs) }

// WithGroup returns JSONHandler's handler with the group.
func (h *Handler) WithGroup(name string) slog.Handler { return h.slow.WithGroup(name) }

// Flush writes every line still waiting (NewBuffered).
func (h *Handler) Flush() error { return h.w.Flush() }

// flushing is JSONHandler's handler (and those derived from it), flushing after an
// ERROR line: the one place the general path writes the lines waiting at once.
type flushing struct {
	slog.Handler
	w *lockedWriter
}

func (f flushing) Handle(ctx context.Context, r slog.Record) error {
	err := f.Handler.Handle(ctx, r)
	if r.Level >= slog.LevelError {
		_ = f.w.Flush()
	}
	return err
}

func (f flushing) WithAttrs(attrs []slog.Attr) slog.Handler {
	return flushing{f.Handler.WithAttrs(attrs), f.w}
}

func (f flushing) WithGroup(name string) slog.Handler {
	return flushing{f.Handler.WithGroup(name), f.w}
}

// Handle writes r as one line: by hand when every part of it is plain, else through
// JSONHandler (HandleAttrs with r's parts; neither path shows r.PC, since the fast
// one is only taken without AddSource).
func (h *Handler) Handle(ctx context.Context, r slog.Record) error {
	if !h.fast {
		return h.slow.Handle(ctx, r)
	}
	var buf [16]slog.Attr
	attrs := buf[:0]
	r.Attrs(func(a slog.Attr) bool {
		attrs = append(attrs, a)
		return true
	})
	return h.HandleAttrs(ctx, r.Time, r.Level, r.Message, attrs)
}

// HandleAttrs writes what Handle writes for slog.NewRecord(t, level, msg, 0) with
// attrs added, without building the Record: a Record keeps five attributes inline and
// allocates for the rest, and the canonical line has up to fifteen. As with Handle,
// the caller checks Enabled first.
func (h *Handler) HandleAttrs(ctx context.Context, t time.Time, level slog.Level, msg string, attrs []slog.Attr) error {
	if h.fast {
		bp := bufPool.Get().(*[]byte)
		defer bufPool.Put(bp)
		if b, ok := appendLine((*bp)[:0], t, level, msg, attrs); ok {
			*bp = b
			return h.w.line(b, level >= slog.LevelError)
		}
	}
	r := slog.NewRecord(t, level, msg, 0)
	r.AddAttrs(attrs...)
	return h.slow.Handle(ctx, r)
}

var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// lockedWriter serializes the writes of both paths: each line is one Write, or, with
// every > 0, part of one.
type lockedWriter struct {
	mu    sync.Mutex
	w     io.Writer
	every time.Duration // 0: every line is written at once
	buf   []byte        // lines waiting
	timer *time.Timer   // flushes every after the first line waiting
	armed bool          // timer runs
}

// maxWaiting is how many bytes of lines may wait before they are written.
const maxWaiting = 32 << 10

// Write takes one line from JSONHandler.
func (l *lockedWriter) Write(b []byte) (int, error) {
	if err := l.line(b, false); err != nil {
		return 0, err
	}
	return len(b), nil
}

// line writes b, or adds it to the lines waiting; now writes them all at once.
func (l *lockedWriter) line(b []byte, now bool) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.every <= 0 {
		_, err := l.w.Write(b)
		return err
	}
	if len(l.buf) > 0 && len(l.buf)+len(b) > maxWaiting {
		if err := l.flushLocked(); err != nil {
			return err
		}
	}
	l.buf = append(l.buf, b...)
	if now || len(l.buf) >= maxWaiting {
		return l.flushLocked()
	}
	if !l.armed {
		l.armed = true
		if l.timer == nil {
			l.timer = time.AfterFunc(l.every, l.tick)
		} else {
			l.timer.Reset(l.every)
		}
	}
	return nil
}

// tick is the timer's flush.
func (l *lockedWriter) tick() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.armed = false
	_ = l.flushLocked()
}

// Flush writes the lines waiting.
func (l *lockedWriter) Flush() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.flushLocked()
}

func (l *lockedWriter) flushLocked() error {
	if len(l.buf) == 0 {
		return nil
	}
	_, err := l.w.Write(l.buf)
	l.buf = l.buf[:0]
	return err
}

// appendLine appends a record of these parts as JSONHandler writes it, or reports
// false when some part of it needs what only JSONHandler does: escaping, groups,
// values it resolves or marshals, a year outside 0-9999, a float JSON has no number
// for.
func appendLine(b []byte, t time.Time, level slog.Level, msg string, attrs []slog.Attr) ([]byte, bool) {
	b, ok := appendHead(b, t, level, msg)
	for i := 0; ok && i < len(attrs); i++ {
		b, ok = appendAttr(append(b, ','), attrs[i])
	}
	return append(b, "}\n"...), ok
}

// appendHead appends the opening brace, the time (unless zero), the level and the
// message, as JSONHandler writes them.
func appendHead(b []byte, t time.Time, level slog.Level, msg string) ([]byte, bool) {
	lvl := level.String()
	if !plainjson.All(msg, lvl) {
		return b, false
	}
	b = append(b, '{')
	if !t.IsZero() {
		if y := t.Year(); y < 0 || y >= 10000 {
			return b, false
		}
		b = append(b, `"time":"`...)
		b = append(t.AppendFormat(b, time.RFC3339Nano), `",`...)
	}
	b = plainjson.String(b, slog.LevelKey, lvl)
	return plainjson.String(append(b, ','), slog.MessageKey, msg), true
}

// appendAttr appends `"key":value` for the kinds JSONHandler writes without
// encoding/json's reflection (and floats, written as encoding/json writes them).
func appendAttr(b []byte, a slog.Attr) ([]byte, bool) {
	if a.Key == "" || !plainjson.Is(a.Key) {
		return b, false
	}
	v := a.Value
	switch v.Kind() {
	case slog.KindString:
		if s := v.String(); plainjson.Is(s) {
			return plainjson.String(b, a.Key, s), true
		}
	case slog.KindInt64:
		return plainjson.Int(b, a.Key, v.Int64()), true
	case slog.KindUint64:
		return plainjson.Uint(b, a.Key, v.Uint64()), true
	case slog.KindBool:
		return plainjson.Bool(b, a.Key, v.Bool()), true
	case slog.KindDuration:
		return plainjson.Int(b, a.Key, int64(v.Duration())), true
	case slog.KindFloat64:
		if f := v.Float64(); !math.IsNaN(f) && !math.IsInf(f, 0) {
			return plainjson.Float(b, a.Key, f), true
		}
	}
	return b, false
}
