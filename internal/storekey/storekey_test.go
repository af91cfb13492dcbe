package storekey_test

import (
	"testing"

	"github.com/creditgate/creditgate/internal/storekey"
)

// The shapes are stored data: each is pinned to what the README documents.
func TestShapes(t *testing.T) {
	tests := []struct{ got, want string }{
		{storekey.Event("main", "evt_1"), "event:main:evt_1"},
		{storekey.Purchase("main", "cs_1"), "purchase:main:cs_1"},
		{storekey.Reversal("main", "pi_1"), "reversal:main:pi_1"},
		{storekey.RecordPrefix + storekey.Record("main", "pi_1"), "record:main:pi_1"},
		{storekey.RecordPrefix + storekey.Awaiting("main", "pi_1"), "record:awaiting:main:pi_1"},
		{storekey.CustomerMap("main", "cus_1"), "customermap:main:cus_1"},
		{storekey.Payment("main", "pi_1"), "payment:main:pi_1"},
		{storekey.Probe("tok"), "probe:tok"},
		{storekey.DeadLetter("main", "evt_1"), "main:evt_1"},
		{storekey.DeadLetters, "deadletter"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("key %q, want %q", tt.got, tt.want)
		}
	}
	if !storekey.IsEvent(storekey.Event("r", "e")) || storekey.IsEvent(storekey.Purchase("r", "e")) {
		t.Error("IsEvent does not tell event keys from purchase keys")
	}
}
