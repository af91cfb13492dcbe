package deadletter

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestDecodeRecord(t *testing.T) {
	tests := []struct {
		name string
		line string
		want change // zero when an error is expected
	}{
		{"park", `{"op":"park","entry":{"id":"main:evt_1","route":"main","payload":"{}"}}`,
			change{Entry: Entry{ID: "main:evt_1", Route: "main", Payload: "{}"}}},
		{"park with base64 payload", `{"op":"park","entry":{"id":"a","payload_base64":"/w=="}}`,
			change{Entry: Entry{ID: "a", Payload: "\xff"}}},
		{"drop", `{"op":"drop","id":"main:evt_1"}`, change{Drop: true, Entry: Entry{ID: "main:evt_1"}}},
		{"unknown fields are tolerated", `{"op":"drop","id":"a","v":2}`, change{Drop: true, Entry: Entry{ID: "a"}}},
		{"empty", ``, change{}},
		{"not json", `park main:evt_1`, change{}},
		{"torn", `{"op":"park","entry":{"id":"main:e`, change{}},
		{"trailing garbage", `{"op":"drop","id":"a"} x`, change{}},
		{"two records on one line", `{"op":"drop","id":"a"}{"op":"drop","id":"b"}`, change{}},
		{"unknown op", `{"op":"purge"}`, change{}},
		{"park without entry", `{"op":"park","id":"a"}`, change{}},
		{"park with null entry", `{"op":"park","entry":null}`, change{}},
		{"park without id", `{"op":"park","entry":{"route":"main"}}`, change{}},
		{"park with both payloads", `{"op":"park","entry":{"id":"a","payload":"x","payload_base64":"eA=="}}`, change{}},
		{"drop without id", `{"op":"drop"}`, change{}},
		{"drop with entry", `{"op":"drop","id":"a","entry":{"id":"a"}}`, change{}},
		{"wrong types", `{"op":"park","entry":{"id":"a","replays":"two"}}`, change{}},
		{"bad time", `{"op":"park","entry":{"id":"a","parked_at":"yesterday"}}`, change{}},
		{"array", `[]`, change{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := decodeRecord([]byte(tt.line))
			if tt.want == (change{}) {
				if err == nil {
					t.Fatalf("decodeRecord(%q) = %+v, want an error", tt.line, got)
				}
				return
			}
			if err != nil {
				t.Fatalf("decodeRecord(%q): %v", tt.line, err)
			}
			if got != tt.want {
				t.Errorf("decodeRecord(%q) = %+v, want %+v", tt.line, got, tt.want)
			}
		})
	}
}

func TestFrame(t *testing.T) {
	if got := string(frame(false, []byte("R"))); got != "R\n" {
		t.Errorf("frame at a line start = %q, want %q", got, "R\n")
	}
	if got := string(frame(true, []byte("R"))); got != "\nR\n" {
		t.Errorf("frame in mid-line = %q, want %q", got, "\nR\n")
	}
}

// FuzzDecodeRecord: whatever a line holds, decoding does not panic, and a line it
// accepts encodes back to one line that decodes to the same change.
func FuzzDecodeRecord(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, line []byte) {
		c, err := decodeRecord(line)
		if err != nil {
			return
		}
		if c.Entry.ID == "" {
			t.Fatalf("accepted a change without id: %q", line)
		}
		enc, err := encodeRecord(c)
		if err != nil {
			t.Fatalf("cannot re-encode %+v decoded from %q: %v", c, line, err)
		}
		if bytes.ContainsAny(enc, "\n\r") {
			t.Fatalf("encoded record spans lines: %q", enc)
		}
		back, err := decodeRecord(enc)
		if err != nil {
			t.Fatalf("re-encoded record %q does not decode: %v", enc, err)
		}
		if !sameChange(c, back) {
			t.Fatalf("round trip changed the record:\n%+v\n%+v", c, back)
		}
	})
}

// FuzzReplay: whatever a file holds, replaying it does not panic, and a record appended
// the way File appends (frame) is always read back — damage before it never eats it.
func FuzzReplay(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		before, d := replay(data)
		if d.Lines > 0 && d.Err == nil || d.Lines == 0 && (d.Err != nil || d.TornTail) {
			t.Fatalf("inconsistent damage %+v", d)
		}
		e := Entry{ID: "fuzz:evt_appended", Payload: string(data), ParkedAt: time.Unix(1, 0).UTC()}
		line, err := encodeRecord(change{Entry: e})
		if err != nil {
			t.Fatal(err)
		}
		midLine := len(data) > 0 && data[len(data)-1] != '\n'
		after, d2 := replay(append(bytes.Clone(data), frame(midLine, line)...))
		got, ok := after[e.ID]
		if !ok || !sameChange(change{Entry: got}, change{Entry: e}) {
			t.Fatalf("appended record lost after %q: %+v", data, got)
		}
		if d2.TornTail {
			t.Fatalf("torn tail reported after a complete append: %+v", d2)
		}
		if len(after) > len(before)+1 {
			t.Fatalf("append added %d entries", len(after)-len(before))
		}
	})
}

func sameChange(a, b change) bool {
	if !a.Entry.ParkedAt.Equal(b.Entry.ParkedAt) {
		return false
	}
	if !a.Entry.LastReplay.At.Equal(b.Entry.LastReplay.At) {
		return false
	}
	a.Entry.ParkedAt, b.Entry.ParkedAt = time.Time{}, time.Time{}
	a.Entry.LastReplay.At, b.Entry.LastReplay.At = time.Time{}, time.Time{}
	return a == b
}

// addSeeds seeds a fuzz target with the lines of the fixtures in testdata/ (the corpus
// in testdata/fuzz/ holds more).
func addSeeds(f *testing.F) {
	f.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "*.jsonl"))
	if err != nil || len(files) == 0 {
		f.Fatalf("no fixtures: %v", err)
	}
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
		for _, line := range strings.Split(string(b), "\n") {
			f.Add([]byte(line))
		}
	}
}

func TestReplayAppliesInOrder(t *testing.T) {
	data := strings.Join([]string{
		`{"op":"park","entry":{"id":"a","detail":"first"}}`,
		`{"op":"park","entry":{"id":"b"}}`,
		`{"op":"drop","id":"b"}`,
		`{"op":"drop","id":"never-parked"}`,
		`{"op":"park","entry":{"id":"a","detail":"second"}}`,
		``,
	}, "\n")
	m, d := replay([]byte(data))
	if len(m) != 1 || m["a"].Detail != "second" {
		t.Errorf("replay = %+v, want only a, with its second detail", m)
	}
	if d != (Damage{}) {
		t.Errorf("Damage = %+v, want none", d)
	}
}

func TestReplayBoundsDamageErrors(t *testing.T) {
	_, d := replay([]byte(strings.Repeat("junk\n", 100)))
	if d.Lines != 100 || d.TornTail {
		t.Errorf("Damage = %+v, want 100 lines, no torn tail", d)
	}
	var joined interface{ Unwrap() []error }
	if !errors.As(d.Err, &joined) || len(joined.Unwrap()) != maxDamageErrs {
		t.Errorf("Damage.Err holds %v, want %d errors", d.Err, maxDamageErrs)
	}
}
