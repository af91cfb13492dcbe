package signature

import (
	"math"
	"strings"
	"time"
)

// Header is a parsed signature header. It is a plain value (no pointers), so parsing
// allocates nothing. The zero value has no timestamp and no signature.
type Header struct {
	// Timestamp is t, in Unix seconds. It is never negative after a successful parse.
	Timestamp int64

	v1 [MaxSignatures][32]byte
	n  int
}

// Time returns Timestamp as a time.Time.
func (h *Header) Time() time.Time { return time.Unix(h.Timestamp, 0) }

// V1 returns the decoded v1 signatures, in header order (at most MaxSignatures).
func (h *Header) V1() [][32]byte { return h.v1[:h.n] }

// ParseHeader parses a signature header in Stripe's format,
// "t=<unix seconds>,v1=<64 hex>[,v1=...][,v0=...]".
//
// Items are separated by ',' and split into key and value at the first '='. Spaces and
// tabs around an item are ignored, and so is a header that is only whitespace
// (ErrNotSigned). Keys are case-sensitive. Unknown keys and schemes other than v1 (v0,
// a future v2) are ignored, as are v1 values that are not exactly 64 hex digits (either
// case), as stripe-go ignores values it cannot decode. Only the first MaxSignatures
// well-formed v1 values are kept.
//
// It returns ErrNotSigned for an empty header; ErrInvalidHeader when the header is
// longer than MaxHeaderBytes, an item has no '=', t is missing, appears twice or is not
// 1–19 decimal digits (so no sign and no negative t), or there is no item that looks
// like a signature (v followed by digits); and ErrNoValidSignature when there are
// signature items but no well-formed v1 among them (a header with v0 only, say).
//
// Differences from stripe-go v76, all on inputs Stripe never sends: stripe-go does not
// trim whitespace, rejects any item with a second '=' (here only t would fail), lets a
// later t override an earlier one (here: invalid), accepts "+5" and "-5" as t, has no
// length bound, and reports "t=1" alone as ErrNoValidSignature (here ErrInvalidHeader).
// A header that stripe-go accepts and creditgate rejects would need one of those.
//
// ParseHeader never panics; FuzzParseHeader holds it to that.
func ParseHeader(header string) (Header, error) {
	var h Header
	header = strings.Trim(header, " \t")
	if header == "" {
		return h, ErrNotSigned
	}
	if len(header) > MaxHeaderBytes {
		return h, errTooLong
	}
	haveT, haveSig := false, false
	for rest := header; ; {
		item, more, found := strings.Cut(rest, ",")
		key, value, ok := strings.Cut(strings.Trim(item, " \t"), "=")
		if !ok {
			return Header{}, errNoEquals
		}
		switch {
		case key == "t":
			if haveT {
				return Header{}, errDuplicateT
			}
			t, ok := parseUnix(value)
			if !ok {
				return Header{}, errBadT
			}
			h.Timestamp, haveT = t, true
		case key == "v1":
			haveSig = true
			if h.n < MaxSignatures && decodeHex32(value, &h.v1[h.n]) {
				h.n++
			}
		case isScheme(key):
			haveSig = true
		}
		if !found {
			break
		}
		rest = more
	}
	switch {
	case !haveT:
		return Header{}, errNoT
	case !haveSig:
		return Header{}, errNoSignature
	case h.n == 0:
		return Header{}, errNoV1
	}
	return h, nil
}

// parseUnix parses 1 to 19 decimal digits that fit an int64.
func parseUnix(s string) (int64, bool) {
	if len(s) == 0 || len(s) > 19 {
		return 0, false
	}
	var n uint64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + uint64(c-'0') // 19 digits fit a uint64 without overflow
	}
	if n > math.MaxInt64 {
		return 0, false
	}
	return int64(n), true
}

// isScheme reports whether key names a signature scheme: 'v' and one or more digits.
func isScheme(key string) bool {
	if len(key) < 2 || key[0] != 'v' {
		return false
	}
	for i := 1; i < len(key); i++ {
		if key[i] < '0' || key[i] > '9' {
			return false
		}
	}
	return true
}

// decodeHex32 decodes exactly 64 hex digits into dst. On false, dst may be partly
// written; the caller does not count it.
func decodeHex32(s string, dst *[32]byte) bool {
	if len(s) != 64 {
		return false
	}
	for i := range dst {
		hi, ok1 := unhex(s[2*i])
		lo, ok2 := unhex(s[2*i+1])
		if !ok1 || !ok2 {
			return false
		}
		dst[i] = hi<<4 | lo
	}
	return true
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}
