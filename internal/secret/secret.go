// Package secret holds the Secret type: a string that never prints itself.
//
// Every signing secret, forwarding key, API key and Redis password in creditgate is a
// Secret, so that a log line, an error message, a %v in a panic or a JSON dump of the
// config shows "REDACTED" instead of the value. Only Reveal returns the value, and it is
// called only where the bytes are needed (HMAC keys, Redis AUTH, the Stripe client).
package secret

import (
	"log/slog"
)

// Redacted is what every printing path of a Secret shows.
const Redacted = "REDACTED"

// Secret is a string that redacts itself in fmt, slog, JSON and YAML output.
// The zero value is the empty secret; IsZero reports it.
type Secret struct {
	v string
}

// New wraps a value.
func New(v string) Secret { return Secret{v: v} }

// Reveal returns the value. Call it only where the bytes are used.
func (s Secret) Reveal() string { return s.v }

// IsZero reports whether the secret is empty.
func (s Secret) IsZero() bool { return s.v == "" }

// String implements fmt.Stringer; it never returns the value.
func (s Secret) String() string {
	if s.v == "" {
		return ""
	}
	return Redacted
}

// GoString implements fmt.GoStringer so %#v redacts too.
func (s Secret) GoString() string { return `secret.Secret("` + s.String() + `")` }

// LogValue implements slog.LogValuer.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// MarshalJSON redacts.
func (s Secret) MarshalJSON() ([]byte, error) { return []byte(`"` + s.String() + `"`), nil }

// MarshalText redacts (used by YAML encoders and %v of maps).
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText reads the value (YAML and JSON decoding of the config).
func (s *Secret) UnmarshalText(b []byte) error {
	s.v = string(b)
	return nil
}

// Reveal returns the values of a list of secrets.
func RevealAll(ss []Secret) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = s.v
	}
	return out
}
