package event

import (
	"bytes"
	"encoding/json"
	"reflect"
	"unicode/utf8"
)

// idRef is an expandable Stripe reference: a string id, an expanded object whose
// "id" is taken, or null (""). The common string case costs one string allocation.
type idRef string

// UnmarshalJSON implements json.Unmarshaler. It is only called by encoding/json on
// a syntactically valid value.
func (r *idRef) UnmarshalJSON(b []byte) error {
	switch b[0] {
	case 'n':
		*r = ""
		return nil
	case '"':
		s, err := unquote(b)
		*r = idRef(s)
		return err
	case '{':
		// Expanded objects are rare and can be large: decode only their id.
		var obj struct {
			ID *string `json:"id"`
		}
		if err := json.Unmarshal(b, &obj); err != nil {
			return err // *json.UnmarshalTypeError with Field "id"; the path is prefixed
		}
		if obj.ID == nil {
			return &json.UnmarshalTypeError{Value: "object without an id", Type: idRefType}
		}
		*r = idRef(*obj.ID)
		return nil
	default:
		return &json.UnmarshalTypeError{Value: kindOf(b[0]), Type: idRefType}
	}
}

var idRefType = reflect.TypeFor[idRef]()

// metaValue is one metadata value; ok is false for anything but a string.
type metaValue struct {
	s  string
	ok bool
}

// UnmarshalJSON implements json.Unmarshaler: strings are kept, every other JSON
// value is accepted and dropped.
func (v *metaValue) UnmarshalJSON(b []byte) error {
	if b[0] != '"' {
		*v = metaValue{}
		return nil
	}
	s, err := unquote(b)
	*v = metaValue{s: s, ok: err == nil}
	return err
}

// unquote decodes a JSON string literal that encoding/json has already validated.
// Strings without escapes and with valid UTF-8, nearly all of them, take the fast
// path; the rest go through encoding/json, which also replaces invalid UTF-8 with
// U+FFFD, so both paths give the same result.
func unquote(b []byte) (string, error) {
	if n := len(b); n >= 2 && b[0] == '"' && b[n-1] == '"' {
		in := b[1 : n-1]
		if bytes.IndexByte(in, '\\') < 0 && utf8.Valid(in) {
			return string(in), nil
		}
	}
	var s string
	err := json.Unmarshal(b, &s)
	return s, err
}

// kindOf names the JSON kind of a value by its first byte.
func kindOf(c byte) string {
	switch c {
	case '{':
		return "object"
	case '[':
		return "array"
	case '"':
		return "string"
	case 't', 'f':
		return "bool"
	case 'n':
		return "null"
	default:
		return "number"
	}
}
