package forward

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestEchoedSignatureIsScrubbed: a backend whose error answer echoes the request —
// its Creditgate-Signature header, the bare HMAC, the body — gets none of it into the
// error (which becomes the log line and the dead-letter entry).
func TestEchoedSignatureIsScrubbed(t *testing.T) {
	for _, status := range []int{http.StatusUnprocessableEntity, http.StatusUnauthorized} {
		t.Run(fmt.Sprint(status), func(t *testing.T) {
			b := newBackend(t, func(_ int, w http.ResponseWriter, r *http.Request) {
				body, _ := io.ReadAll(r.Body)
				sig := r.Header.Get(HeaderSignature)
				_, v1, _ := strings.Cut(sig, "v1=")
				w.WriteHeader(status)
				fmt.Fprintf(w, `{"error":"bad signature","got":%q,"mac":"%s","body":%s}`, "Creditgate-Signature: "+sig, strings.ToUpper(v1[:64]), body)
			})
			_, err := newClient(t, fastOptions(b.URL)).Send(context.Background(), sampleRequest())
			if err == nil {
				t.Fatal("want an error")
			}
			msg := err.Error()
			sig := b.requests()[0].header.Get(HeaderSignature)
			_, v1, _ := strings.Cut(sig, "v1=")
			for _, leak := range []string{sig, "v1=", v1[:16], strings.ToUpper(v1[:16]), sampleRequest().UserID} {
				if strings.Contains(msg, leak) {
					t.Errorf("error contains %q: %s", leak, msg)
				}
			}
			if !strings.Contains(msg, "bad signature") || !strings.Contains(msg, "[signature]") {
				t.Errorf("error lost the backend's own words or the scrub marker: %s", msg)
			}
		})
	}
}

func TestScrub(t *testing.T) {
	tests := []struct{ in, want string }{
		{"t=1700000000,v1=abcdef0123", "[signature]"},
		{"t=1700000000, v1=ab,v1=cd,v0=ef rest", "[signature] rest"},
		{"mac " + strings.Repeat("a1", 16), "mac [hex]"},
		{"short hex deadbeef stays", "short hex deadbeef stays"},
		{"user 42 unknown", "user 42 unknown"},
	}
	for _, tt := range tests {
		if got := string(scrub([]byte(tt.in), nil)); got != tt.want {
			t.Errorf("scrub(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	if got := string(scrub([]byte(`echo {"id":"cs_1","credits":5}!`), []byte(`{"id":"cs_1","credits":5}`))); got != "echo [request body]!" {
		t.Errorf("echoed body: %q", got)
	}
	u, _ := url.Parse("https://b/credits?token=s3cr%2Ft&x=1")
	answer := "got token=s3cr%2Ft&x=1, token s3cr%2Ft, decoded s3cr/t, x=1"
	if got := string(scrub([]byte(answer), nil, queryParts(u)...)); got != "got [url query], token [url query], decoded [url query], x=1" {
		t.Errorf("echoed query: %q", got)
	}
}

// FuzzScrub: whatever the backend answers, the snippet carries no v1= value and no
// run of 32 hex digits.
func FuzzScrub(f *testing.F) {
	f.Add([]byte("t=1,v1=" + strings.Repeat("ab", 32)))
	f.Add([]byte("Creditgate-Signature: t=17, v1=00"))
	f.Fuzz(func(t *testing.T, answer []byte) {
		got := sanitize(scrub(answer, nil))
		if hexRun.MatchString(got) || signatureValue.MatchString(got) {
			t.Fatalf("sanitize(scrub(%q)) = %q keeps signature material", answer, got)
		}
	})
}
