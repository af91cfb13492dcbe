package event

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
)

// describe turns an encoding/json error into an ErrMalformed that names the place
// and the problem without quoting the payload.
func describe(raw []byte, err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case len(bytes.TrimSpace(raw)) == 0:
		return malformed("empty body")
	case errors.As(err, &syn):
		return malformed("invalid JSON at byte %d of %d: %s", syn.Offset, len(raw),
			strings.TrimPrefix(syn.Error(), "json: "))
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			field = "top level"
		}
		return malformed("%s: got JSON %s, want %s", field, valueKind(typ.Value), want(typ.Type))
	default:
		return malformed("%s", strings.TrimPrefix(err.Error(), "json: "))
	}
}

// valueKind shortens UnmarshalTypeError.Value, which may carry a whole number
// literal ("number 1e999"), to its kind.
func valueKind(v string) string {
	if strings.HasPrefix(v, "number ") {
		return "number that is not a 64-bit integer"
	}
	return v
}

// want names the JSON type Decode expects for a Go type.
func want(t reflect.Type) string {
	if t == nil {
		return "another type"
	}
	if t == idRefType {
		return "a string id, an object with an id, or null"
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "string"
	case reflect.Int64:
		return "integer"
	case reflect.Bool:
		return "boolean"
	case reflect.Struct, reflect.Map:
		return "object"
	default:
		return t.Kind().String()
	}
}

// checkToken enforces the bounds on identifiers: at most MaxTokenLen bytes of
// printable ASCII without spaces (0x21-0x7e). Empty is allowed unless required.
func checkToken(field, v string, required bool) error {
	switch {
	case v == "" && required:
		return malformed("%s is missing, null or empty", field)
	case len(v) > MaxTokenLen:
		return malformed("%s is %d bytes long, want at most %d", field, len(v), MaxTokenLen)
	}
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < 0x21 || c > 0x7e {
			return malformed("%s has byte 0x%02x at offset %d, want printable ASCII without spaces", field, c, i)
		}
	}
	return nil
}

// excerpt quotes at most the first 32 bytes of s, for values that are short in
// every legitimate event.
func excerpt(s string) string {
	const max = 32
	if len(s) <= max {
		return fmt.Sprintf("%q", s)
	}
	return fmt.Sprintf("%q... (%d bytes)", s[:max], len(s))
}
