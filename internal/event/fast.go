package event

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// decodeFast fills w from raw in one pass without reflection, for the bodies Stripe
// actually sends. It is an accelerator, not a second definition: it returns false
// for anything it is not certain to decode exactly as encoding/json would (an escape
// in a key or in a value it keeps, invalid UTF-8 in either, a key that matches a
// field only case-insensitively or appears twice, a field of an unexpected JSON type,
// an expanded customer object, a number that is not a plain integer, very deep
// nesting, and of course any syntax error), and Decode then falls back to
// encoding/json, whose result and error messages stand. When it returns true, w is
// what json.Unmarshal(raw, w) gives, and that call would have succeeded
// (FuzzDecodeFast holds it to that).
//
// Values it does not keep are still fully validated, as encoding/json's scanner does,
// so no invalid document gets through the fast path.
func decodeFast(raw []byte, w *wireEvent) bool {
	s := scanner{b: raw}
	s.ws()
	if !s.object(s.event(w)) {
		return false
	}
	s.ws()
	return s.i == len(s.b)
}

// maxFastDepth bounds nesting on the fast path; deeper documents take encoding/json.
const maxFastDepth = 64

type scanner struct {
	b     []byte
	i     int
	depth int
}

// member decodes the value of one object member whose key is key (already read).
// It returns false to abandon the fast path.
type member func(s *scanner, key []byte) bool

func (s *scanner) ws() {
	b, i := s.b, s.i
	for i < len(b) && wsByte[b[i]] {
		i++
	}
	s.i = i
}

// wsByte marks JSON's four whitespace bytes.
var wsByte = [256]bool{' ': true, '\t': true, '\n': true, '\r': true}

func (s *scanner) peek() byte {
	if s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

// object reads {"key": value, ...}, calling m for each member.
func (s *scanner) object(m member) bool {
	if s.peek() != '{' {
		return false
	}
	s.i++
	if s.depth++; s.depth > maxFastDepth {
		return false
	}
	s.ws()
	if s.peek() == '}' {
		s.i++
		s.depth--
		return true
	}
	for {
		key, ok := s.key()
		if !ok {
			return false
		}
		s.ws()
		if s.peek() != ':' {
			return false
		}
		s.i++
		s.ws()
		if !m(s, key) {
			return false
		}
		s.ws()
		switch s.peek() {
		case ',':
			s.i++
			s.ws()
		case '}':
			s.i++
			s.depth--
			return true
		default:
			return false
		}
	}
}

// key reads a member name: printable ASCII without escapes only, so that exact and
// case-insensitive matching are the plain byte comparisons below.
func (s *scanner) key() ([]byte, bool) {
	if s.peek() != '"' {
		return nil, false
	}
	b, start := s.b, s.i+1
	j := start
	for j < len(b) && !keyStop[b[j]] {
		j++
	}
	if j == len(b) || b[j] != '"' {
		return nil, false
	}
	s.i = j + 1
	return b[start:j], true
}

// keyStop marks the bytes that end a member name: its closing quote, and what the
// fast path leaves to encoding/json (control characters, escapes, non-ASCII).
var keyStop = func() (t [256]bool) {
	for c := range t {
		t[c] = c == '"' || c < 0x20 || c == '\\' || c >= 0x80
	}
	return t
}()

// str reads a string value that has no escapes and is valid UTF-8 (then its Go value
// is its bytes), or a null (""). Anything else abandons the fast path.
func (s *scanner) str(dst *string) bool {
	switch s.peek() {
	case 'n':
		return s.literal("null")
	case '"':
		v, ok := s.plainString()
		*dst = v
		return ok
	}
	return false
}

func (s *scanner) plainString() (string, bool) {
	start := s.i + 1
	ascii := true
	for j := start; j < len(s.b); j++ {
		c := s.b[j]
		switch {
		case c == '"':
			v := s.b[start:j]
			if !ascii && !utf8.Valid(v) {
				return "", false
			}
			s.i = j + 1
			return string(v), true
		case c < 0x20 || c == '\\':
			return "", false
		case c >= 0x80:
			ascii = false
		}
	}
	return "", false
}

// int64 reads a JSON integer that fits an int64, or a null (0).
func (s *scanner) int64(dst *int64) bool {
	c := s.peek()
	if c == 'n' {
		return s.literal("null")
	}
	if c != '-' && (c < '0' || c > '9') {
		return false
	}
	start := s.i
	if !s.number() {
		return false
	}
	lit := s.b[start:s.i]
	for _, c := range lit {
		if c == '.' || c == 'e' || c == 'E' {
			return false
		}
	}
	n, err := strconv.ParseInt(string(lit), 10, 64)
	*dst = n
	return err == nil
}

func (s *scanner) bool(dst *bool) bool {
	switch s.peek() {
	case 't':
		*dst = true
		return s.literal("true")
	case 'f':
		*dst = false
		return s.literal("false")
	case 'n':
		return s.literal("null")
	}
	return false
}

func (s *scanner) literal(lit string) bool {
	if len(s.b)-s.i < len(lit) || string(s.b[s.i:s.i+len(lit)]) != lit {
		return false
	}
	s.i += len(lit)
	return true
}

// number validates a JSON number: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (s *scanner) number() bool {
	if s.peek() == '-' {
		s.i++
	}
	switch c := s.peek(); {
	case c == '0':
		s.i++
	case c >= '1' && c <= '9':
		s.digits()
	default:
		return false
	}
	if s.peek() == '.' {
		s.i++
		if !s.digits() {
			return false
		}
	}
	if c := s.peek(); c == 'e' || c == 'E' {
		s.i++
		if c := s.peek(); c == '+' || c == '-' {
			s.i++
		}
		if !s.digits() {
			return false
		}
	}
	return true
}

func (s *scanner) digits() bool {
	start := s.i
	for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
		s.i++
	}
	return s.i > start
}

// skip validates and skips any value, as encoding/json's scanner would accept it:
// strings may hold any byte from 0x20 up (invalid UTF-8 included) and valid escapes.
func (s *scanner) skip() bool {
	switch c := s.peek(); {
	case c == '"':
		return s.skipString()
	case c == '{':
		return s.object(func(s *scanner, _ []byte) bool { return s.skip() })
	case c == '[':
		return s.array()
	case c == 't':
		return s.literal("true")
	case c == 'f':
		return s.literal("false")
	case c == 'n':
		return s.literal("null")
	case c == '-' || (c >= '0' && c <= '9'):
		return s.number()
	}
	return false
}

func (s *scanner) skipString() bool {
	for j := s.i + 1; j < len(s.b); j++ {
		switch c := s.b[j]; {
		case c == '"':
			s.i = j + 1
			return true
		case c < 0x20:
			return false
		case c == '\\':
			j++
			if j >= len(s.b) {
				return false
			}
			switch s.b[j] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if j+4 >= len(s.b) {
					return false
				}
				for _, h := range s.b[j+1 : j+5] {
					if !isHex(h) {
						return false
					}
				}
				j += 4
			default:
				return false
			}
		}
	}
	return false
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func (s *scanner) array() bool {
	s.i++ // '['
	if s.depth++; s.depth > maxFastDepth {
		return false
	}
	s.ws()
	if s.peek() == ']' {
		s.i++
		s.depth--
		return true
	}
	for {
		if !s.skip() {
			return false
		}
		s.ws()
		switch s.peek() {
		case ',':
			s.i++
			s.ws()
		case ']':
			s.i++
			s.depth--
			return true
		default:
			return false
		}
	}
}

// fields matches keys against the names of one struct's decoded fields. A key that
// equals a name decodes into it, once (a second one abandons the fast path:
// encoding/json lets the last win, which is rare enough not to copy). A key that
// matches a name only case-insensitively abandons the fast path, since encoding/json
// would decode it into that field. Every other key is skipped.
type fields struct {
	set  *nameSet
	seen uint32
}

// nameSet is one struct's decoded JSON names (lower case, at most maxNameLen bytes),
// indexed by length: a key is compared only with the names as long as it.
type nameSet struct {
	names []string
	byLen [maxNameLen + 1][]uint8
}

const maxNameLen = 31

func newNameSet(names ...string) *nameSet {
	ns := &nameSet{names: names}
	for i, n := range names {
		if len(n) > maxNameLen || strings.ToLower(n) != n || i >= 32 {
			panic("event: field name " + n + " breaks nameSet's assumptions")
		}
		ns.byLen[len(n)] = append(ns.byLen[len(n)], uint8(i))
	}
	return ns
}

// match returns the index of key's field, -1 for a key to skip, or -2 to abandon.
func (f *fields) match(key []byte) int {
	if len(key) <= maxNameLen {
		for _, i := range f.set.byLen[len(key)] {
			if string(key) == f.set.names[i] {
				if f.seen&(1<<i) != 0 {
					return -2
				}
				f.seen |= 1 << i
				return int(i)
			}
		}
	}
	// The names are lower case and key() lets only ASCII through, so a key without
	// an upper-case letter that matched no name exactly matches none
	// case-insensitively either: the common case, skipped without comparing again.
	if !hasUpper(key) {
		return -1
	}
	for _, name := range f.set.names {
		if len(key) == len(name) && strings.EqualFold(string(key), name) {
			return -2
		}
	}
	return -1
}

// hasUpper reports whether key has an ASCII upper-case letter.
func hasUpper(key []byte) bool {
	for _, c := range key {
		if 'A' <= c && c <= 'Z' {
			return true
		}
	}
	return false
}

// The JSON names of wireEvent, wireData and wireObject, in the order of the switch
// statements below.
var (
	eventNames  = newNameSet("id", "object", "type", "api_version", "created", "livemode", "account", "data")
	dataNames   = newNameSet("object")
	objectNames = newNameSet("id", "object", "client_reference_id", "customer", "payment_intent",
		"payment_status", "status", "mode", "amount_total", "currency", "metadata",
		"amount", "amount_refunded", "refunded", "amount_captured", "created")
)

func (s *scanner) event(w *wireEvent) member {
	f := fields{set: eventNames}
	return func(s *scanner, key []byte) bool {
		switch f.match(key) {
		case -2:
			return false
		case -1:
			return s.skip()
		case 0:
			return s.str(&w.ID)
		case 1:
			switch s.peek() {
			case 'n':
				w.Object = nil
				return s.literal("null")
			case '"':
				v, ok := s.plainString()
				w.Object = &v
				return ok
			}
			return false
		case 2:
			return s.str(&w.Type)
		case 3:
			return s.str(&w.APIVersion)
		case 4:
			return s.int64(&w.Created)
		case 5:
			return s.bool(&w.Livemode)
		case 6:
			return s.str(&w.Account)
		default: // 7, data
			if s.peek() == 'n' {
				w.Data = nil
				return s.literal("null")
			}
			w.Data = &wireData{}
			return s.object(s.data(w.Data))
		}
	}
}

func (s *scanner) data(d *wireData) member {
	f := fields{set: dataNames}
	return func(s *scanner, key []byte) bool {
		switch f.match(key) {
		case -2:
			return false
		case -1:
			return s.skip()
		default: // 0, object
			if s.peek() == 'n' {
				d.Object = nil
				return s.literal("null")
			}
			d.Object = &wireObject{}
			return s.object(s.dataObject(d.Object))
		}
	}
}

func (s *scanner) dataObject(o *wireObject) member {
	f := fields{set: objectNames}
	return func(s *scanner, key []byte) bool {
		switch f.match(key) {
		case -2:
			return false
		case -1:
			return s.skip()
		case 0:
			return s.str(&o.ID)
		case 1:
			return s.str(&o.Object)
		case 2:
			return s.str(&o.ClientReferenceID)
		case 3:
			return s.str((*string)(&o.Customer)) // an expanded object abandons
		case 4:
			return s.str((*string)(&o.PaymentIntent))
		case 5:
			return s.str(&o.PaymentStatus)
		case 6:
			return s.str(&o.Status)
		case 7:
			return s.str(&o.Mode)
		case 8:
			return s.int64(&o.AmountTotal)
		case 9:
			return s.str(&o.Currency)
		case 10:
			return s.metadata(&o.Metadata)
		case 11:
			return s.int64(&o.Amount)
		case 12:
			return s.int64(&o.AmountRefunded)
		case 13:
			return s.bool(&o.Refunded)
		case 14:
			return s.int64(&o.AmountCaptured)
		default: // 15, created
			return s.int64(&o.Created)
		}
	}
}

// metadata reads the metadata map: string values are kept, every other value is
// validated and dropped (metaValue's rule). Keys with escapes or non-ASCII bytes
// abandon the fast path (see key).
func (s *scanner) metadata(dst *map[string]metaValue) bool {
	if s.peek() == 'n' {
		*dst = nil
		return s.literal("null")
	}
	if s.peek() != '{' {
		return false
	}
	m := make(map[string]metaValue, 4)
	*dst = m
	return s.object(func(s *scanner, key []byte) bool {
		k := string(key) // printable ASCII without escapes: its own Go value
		if s.peek() != '"' {
			m[k] = metaValue{}
			return s.skip()
		}
		v, ok := s.plainString()
		m[k] = metaValue{s: v, ok: true}
		return ok
	})
}
