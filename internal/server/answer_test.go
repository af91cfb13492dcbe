package server

import (
	"encoding/json"
	"testing"
)

// FuzzAnswerJSON: the hand-written answer body is byte for byte what encoding/json
// writes, whatever the event id (it comes from the request, unverified when the
// signature failed).
func FuzzAnswerJSON(f *testing.F) {
	for _, s := range [][2]string{
		{"forwarded", "evt_1NqZk2LkdIwHu7ix0abc"}, {"invalid_signature", ""}, {"duplicate", "evt_<script>"},
		{"ignored", "evt_\"quoted\"\\"}, {"in_flight", "evt_\u2028\x00\x7f"}, {"overloaded", "evt_\xff"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, status, id string) {
		a := answer{Status: status, EventID: id}
		want, err := json.Marshal(a)
		if err != nil {
			t.Fatal(err)
		}
		if got := string(a.appendJSON(nil)); got != string(want)+"\n" {
			t.Fatalf("answer %q %q:\n got %s\nwant %s", status, id, got, want)
		}
	})
}
