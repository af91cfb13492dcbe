package dedup_test

import (
	"encoding/hex"
	"testing"

	"github.com/creditgate/creditgate/internal/dedup"
)

func TestStateString(t *testing.T) {
	for st, want := range map[dedup.State]string{
		dedup.Claimed:  "claimed",
		dedup.Done:     "done",
		dedup.InFlight: "in_flight",
		0:              "State(0)",
		9:              "State(9)",
	} {
		if got := st.String(); got != want {
			t.Errorf("State(%d).String() = %q, want %q", int(st), got, want)
		}
	}
}

func TestNewToken(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		tok := dedup.NewToken()
		if b, err := hex.DecodeString(tok); err != nil || len(b) != 16 {
			t.Fatalf("NewToken() = %q; want 32 hex digits", tok)
		}
		if seen[tok] {
			t.Fatalf("NewToken() repeated %q", tok)
		}
		seen[tok] = true
	}
}
