package cli

import (
	"encoding/json"
	"os"
	"testing"
)

// withFix reads a stored event (any bytes a signed delivery carried): it never panics,
// and what it returns is JSON whose data.object.metadata holds the operator's values.
func FuzzWithFix(f *testing.F) {
	for _, p := range []string{
		"../event/testdata/checkout_session_completed_paid_2023-10-16.json",
		"../event/testdata/charge_refunded.json",
	} {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b, "e747de39-1b54-4cd0-96eb-e68f155931e2", int64(100))
		}
	}
	f.Add([]byte(`{"data":{"object":{"metadata":null}}}`), "u", int64(0))
	f.Add([]byte(`{"data":{"object":[]}}`), "", int64(5))
	f.Add([]byte(`[]`), "u", int64(1))
	f.Fuzz(func(t *testing.T, payload []byte, user string, credits int64) {
		fix := replayFix{user: user, credits: credits}
		out, err := withFix(payload, fix)
		if err != nil {
			return
		}
		var ev struct {
			Data struct {
				Object struct {
					Metadata map[string]any `json:"metadata"`
				} `json:"object"`
			} `json:"data"`
		}
		if err := json.Unmarshal(out, &ev); err != nil {
			t.Fatalf("withFix returned invalid JSON: %v\n%s", err, out)
		}
		// JSON carries the user id as JSON can (invalid UTF-8 becomes U+FFFD).
		var want string
		b, _ := json.Marshal(user)
		_ = json.Unmarshal(b, &want)
		if md := ev.Data.Object.Metadata; user != "" && md["user_id"] != want {
			t.Fatalf("metadata.user_id = %v, want %q", md["user_id"], want)
		}
	})
}
