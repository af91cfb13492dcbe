package secret

import (
	"strings"
	"testing"
)

func TestProblem(t *testing.T) {
	const canary = "CANARY7f3a9c"
	tests := []struct {
		name, value, want string
	}{
		{"good whsec", "whsec_" + canary + "abcdef0123", ""},
		{"good hex key", "0123456789abcdef0123456789abcdef", ""},
		{"inner space is allowed", "pass phrase " + canary, ""},
		{"empty", "", "is empty"},
		{"trailing newline from echo", "whsec_" + canary + "\n", "leading or trailing whitespace"},
		{"trailing CRLF", "whsec_" + canary + "\r\n", "leading or trailing whitespace"},
		{"leading space", " whsec_" + canary, "leading or trailing whitespace"},
		{"tab inside", "whsec_" + canary + "\tx", "control or invisible"},
		{"NUL inside", "whsec_" + canary + "\x00x", "control or invisible"},
		{"BOM from an editor", "\uFEFFwhsec_" + canary, "byte-order mark"},
		{"zero-width space", "whsec_" + canary + "\u200bx", "control or invisible"},
		{"no-break space", "whsec_" + canary + "\u00a0x", "control or invisible"},
		{"invalid UTF-8", "whsec_" + canary + "\xff", "not valid UTF-8"},
		{"README placeholder", "whsec_...", "placeholder"},
		{"ellipsis character", "whsec_…", "placeholder"},
		{"changeme", "changeme", "placeholder"},
		{"CHANGE_ME", "CHANGE_ME_" + canary, "placeholder"},
		{"angle brackets", "<your webhook secret>", "placeholder"},
		{"unexpanded var", "${STRIPE_WEBHOOK_SECRET}", "placeholder"},
		{"x run", "whsec_xxxxxxxxxxxx", "placeholder"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := New(tt.value).Problem()
			if tt.want == "" && got != "" || !strings.Contains(got, tt.want) {
				t.Fatalf("Problem() = %q, want %q", got, tt.want)
			}
			if strings.Contains(got, canary) {
				t.Fatalf("Problem() = %q quotes the value", got)
			}
		})
	}
}

func TestURL(t *testing.T) {
	tests := []struct{ in, want string }{
		{"http://backend:8000/internal/credits", "http://backend:8000/internal/credits"},
		{"https://backend/credits?token=CANARY", "https://backend/credits?REDACTED"},
		{"https://user:CANARY@backend/credits", "https://REDACTED@backend/credits"},
		{"https://CANARY@backend/credits", "https://REDACTED@backend/credits"},
		{"https://backend/credits#CANARY", "https://backend/credits"},
		{"https://backend/credits?", "https://backend/credits?REDACTED"},
		{"CANARY-not-a-url", "(not shown: not an absolute URL)"},
		{"http://backend/%zz?CANARY", "(not shown: not an absolute URL)"},
	}
	for _, tt := range tests {
		if got := URL(tt.in); got != tt.want {
			t.Errorf("URL(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// FuzzURL: whatever the configured value, what is shown carries no user info, query
// or fragment of it.
func FuzzURL(f *testing.F) {
	f.Add("https://u:p@h/p?q=1#f")
	f.Add("http://h:1/%2F?")
	f.Fuzz(func(t *testing.T, raw string) {
		got := URL(raw)
		if strings.ContainsAny(got, "#") || (strings.Contains(got, "?") && !strings.HasSuffix(got, "?"+Redacted)) {
			t.Fatalf("URL(%q) = %q shows a query or fragment", raw, got)
		}
		if i := strings.Index(got, "@"); i >= 0 && !strings.Contains(got, "//"+Redacted+"@") {
			t.Fatalf("URL(%q) = %q shows user info", raw, got)
		}
	})
}

// FuzzProblem: a problem is one of a fixed set of messages, so it can never quote the
// value.
func FuzzProblem(f *testing.F) {
	messages := map[string]bool{}
	for _, v := range []string{"", "\xff", "\uFEFF", " x", "a\x00b", "changeme"} {
		messages[New(v).Problem()] = true
	}
	if len(messages) != 6 {
		f.Fatalf("want 6 distinct messages, got %d", len(messages))
	}
	f.Add("whsec_abc\n")
	f.Add("\uFEFFkey")
	f.Fuzz(func(t *testing.T, v string) {
		if got := New(v).Problem(); got != "" && !messages[got] {
			t.Fatalf("Problem(%q) = %q, not one of the fixed messages", v, got)
		}
	})
}
