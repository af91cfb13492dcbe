// Package plainjson writes the JSON of creditgate's small, fixed-shape messages (the
// answer to Stripe, the forwarded request, the purchase record, the log line) by hand
// when every string in them is plain: what encoding/json would write between quotes
// unchanged. Callers check their strings with All and fall back to encoding/json (or
// slog's JSON handler) otherwise, so the bytes are always theirs; each caller has a
// fuzz target holding them equal.
package plainjson

import (
	"math"
	"strconv"
)

// Is reports whether encoding/json writes s between quotes unchanged: printable ASCII
// without '"', '\\' and the HTML characters it escapes ('<', '>', '&'). Stripe's ids,
// status words and ISO codes always are.
func Is(s string) bool {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c < 0x20 || c >= 0x7f, c == '"', c == '\\', c == '<', c == '>', c == '&':
			return false
		}
	}
	return true
}

// All reports whether every one of ss is plain (Is).
func All(ss ...string) bool {
	for _, s := range ss {
		if !Is(s) {
			return false
		}
	}
	return true
}

// name appends `"key":` to b; key must be plain (Is).
func name(b []byte, key string) []byte {
	return append(append(append(b, '"'), key...), `":`...)
}

// String appends `"key":"value"` to b; value must be plain (Is).
func String(b []byte, key, value string) []byte {
	b = append(name(b, key), '"')
	return append(append(b, value...), '"')
}

// Int appends `"key":n` to b.
func Int(b []byte, key string, n int64) []byte {
	return strconv.AppendInt(name(b, key), n, 10)
}

// Uint appends `"key":n` to b.
func Uint(b []byte, key string, n uint64) []byte {
	return strconv.AppendUint(name(b, key), n, 10)
}

// Bool appends `"key":true` or `"key":false` to b.
func Bool(b []byte, key string, v bool) []byte {
	return strconv.AppendBool(name(b, key), v)
}

// Float appends `"key":f` as encoding/json writes a float64: the shortest
// representation, in exponent form below 1e-6 and from 1e21, with "e-07" as "e-7".
// f must be finite (encoding/json refuses NaN and infinities).
func Float(b []byte, key string, f float64) []byte {
	b = name(b, key)
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if n := len(b); format == 'e' && n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
		b[n-2] = b[n-1] // e-09 → e-9
		b = b[:n-1]
	}
	return b
}

// Omitempty appends `,"key":"value"`, or nothing when value is empty (a field tagged
// omitempty); value must be plain (Is).
func Omitempty(b []byte, key, value string) []byte {
	if value == "" {
		return b
	}
	return String(append(b, ','), key, value)
}
