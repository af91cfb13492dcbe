package forward

import (
	"testing"
	"time"
	"unicode"
	"unicode/utf8"
)

// The backend's answer is untrusted input that ends up in error messages and logs.
func FuzzSanitize(f *testing.F) {
	for _, s := range []string{"", "ok", "\x00\xff\r\n", "é\u202e\u200b"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		s := sanitize(b)
		if len(s) > maxSnippet || !utf8.ValidString(s) {
			t.Fatalf("sanitize = %q", s)
		}
		for _, r := range s {
			if !unicode.IsPrint(r) && r != ' ' {
				t.Fatalf("sanitize kept %U in %q", r, s)
			}
		}
	})
}

func FuzzParseRetryAfter(f *testing.F) {
	for _, s := range []string{"", "0", "120", "Fri, 27 Nov 2026 19:00:07 GMT", "-5"} {
		f.Add(s)
	}
	now := time.Date(2026, 11, 27, 19, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, s string) {
		d, ok := parseRetryAfter(s, now)
		if d < 0 || d > maxRetryAfter || (!ok && d != 0) {
			t.Fatalf("parseRetryAfter(%q) = %s, %v", s, d, ok)
		}
	})
}
