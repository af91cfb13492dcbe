package secret

import (
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Problem says what would make s fail silently once in use, or "" when nothing does.
// It names the problem, never the value, so the answer can go into check-config output.
//
// The checks are for bytes nobody sees: a trailing newline from `echo` into an env var
// or a file, a UTF-8 byte-order mark from a Windows editor, a control character pasted
// with the value, invalid UTF-8, and the placeholders of documentation (whsec_...,
// changeme, <secret>, an unexpanded ${VAR}). Any of them yields a signature that never
// matches: every webhook is answered 400 (and Stripe disables the endpoint after days),
// or the backend refuses every forward.
func (s Secret) Problem() string { return problem(s.v) }

func problem(v string) string {
	switch {
	case v == "":
		return "is empty (an unset ${VAR} or an empty file?)"
	case !utf8.ValidString(v):
		return "is not valid UTF-8 (a binary file, or the wrong encoding?)"
	case strings.ContainsRune(v, '\uFEFF'):
		return "contains a byte-order mark (U+FEFF; a file saved by an editor that adds one?)"
	case strings.TrimSpace(v) != v:
		return "has leading or trailing whitespace (a newline from echo or an editor?); remove it, it is part of the key"
	case strings.IndexFunc(v, isInvisible) >= 0:
		return "contains a control or invisible character"
	}
	if placeholder(v) {
		return "is a placeholder (whsec_..., changeme, <...>, ${VAR}), not a real value"
	}
	return ""
}

// isInvisible is a character that does not show on a terminal: controls, format
// characters (zero-width spaces, direction marks) and spaces other than ' '.
func isInvisible(r rune) bool {
	return unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || (unicode.IsSpace(r) && r != ' ')
}

// placeholder reports whether v is a documentation placeholder.
func placeholder(v string) bool {
	l := strings.ToLower(v)
	if strings.HasPrefix(l, "<") && strings.HasSuffix(l, ">") {
		return true
	}
	for _, w := range []string{"...", "…", "${", "changeme", "change-me", "change_me", "replaceme", "replace-me", "replace_me", "xxxxxx", "your-secret", "your_secret", "yoursecret"} {
		if strings.Contains(l, w) {
			return true
		}
	}
	return false
}

// URL is how a configured URL is shown to an operator (check-config, logs, errors):
// scheme, host and path only. User info becomes REDACTED, a query becomes ?REDACTED
// (a `?token=` is a credential) and a fragment is dropped. A value that does not parse
// as an absolute URL is not shown at all, since it may be a secret in the wrong field.
func URL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return "(not shown: not an absolute URL)"
	}
	shown := url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path, RawPath: u.RawPath}
	if u.User != nil {
		shown.User = url.User(Redacted)
	}
	if u.RawQuery != "" || u.ForceQuery {
		shown.RawQuery = Redacted
	}
	return shown.String()
}
