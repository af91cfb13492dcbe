package forward

import (
	"bytes"
	"net/url"
	"regexp"
	"slices"
	"strings"
)

// Signature material a backend may echo in an error answer: a Creditgate-Signature
// value (t=...,v1=<hex>), any long run of hex digits (an HMAC) and the header's name.
var (
	signatureValue = regexp.MustCompile(`(?i)\bt=\d+(,\s*v\d+=[0-9a-z]*)+`)
	hexRun         = regexp.MustCompile(`(?i)[0-9a-f]{32,}`)
)

// scrub removes from a backend's answer what must never reach a log line or a
// dead-letter entry: the signature it may echo (whole header or bare HMAC), the
// request body itself (a backend that echoes its input) and hidden strings (the
// forward URL's query: a ?token= is a credential). What is left is cut to maxSnippet
// by sanitize.
func scrub(answer, sent []byte, hidden ...[]byte) []byte {
	if len(sent) > 16 {
		answer = bytes.ReplaceAll(answer, sent, []byte("[request body]"))
	}
	for _, h := range hidden {
		answer = bytes.ReplaceAll(answer, h, []byte("[url query]"))
	}
	answer = signatureValue.ReplaceAll(answer, []byte("[signature]"))
	return hexRun.ReplaceAll(answer, []byte("[hex]"))
}

// queryParts are the strings of u's query worth hiding, longest first: the raw query,
// then each value (raw and decoded) of four bytes or more.
func queryParts(u *url.URL) [][]byte {
	if u == nil || u.RawQuery == "" {
		return nil
	}
	parts := []string{u.RawQuery}
	for _, kv := range strings.Split(u.RawQuery, "&") {
		_, v, _ := strings.Cut(kv, "=")
		parts = append(parts, v)
		if d, err := url.QueryUnescape(v); err == nil {
			parts = append(parts, d)
		}
	}
	slices.SortFunc(parts, func(a, b string) int { return len(b) - len(a) })
	var out [][]byte
	for _, p := range slices.Compact(parts) {
		if len(p) >= 4 {
			out = append(out, []byte(p))
		}
	}
	return out
}
