package deadletter_test

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/creditgate/creditgate/internal/deadletter"
	"github.com/creditgate/creditgate/internal/deadletter/deadlettersuite"
)

func TestFile(t *testing.T) {
	deadlettersuite.Run(t, func(t *testing.T) func() deadletter.List {
		path := filepath.Join(t.TempDir(), "dead-letters.jsonl")
		return func() deadletter.List { return openFile(t, path) }
	})
}

func TestFileIsCreatedPrivate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "new.jsonl")
	openFile(t, path)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatalf("OpenFile did not create the file: %v", err)
	}
	if runtime.GOOS != "windows" && fi.Mode().Perm() != 0o600 {
		t.Errorf("mode = %v, want 0600", fi.Mode().Perm())
	}
}

func TestFileInMissingDirectoryFails(t *testing.T) {
	_, err := deadletter.OpenFile(filepath.Join(t.TempDir(), "no-such-dir", "dl.jsonl"))
	if !errors.Is(err, deadletter.ErrUnavailable) {
		t.Errorf("OpenFile in a missing directory = %v, want ErrUnavailable", err)
	}
}

// TestFileOnDisk pins the file format, which operators read and the dlq command shares.
func TestFileOnDisk(t *testing.T) {
	path := filepath.Join(t.TempDir(), "dl.jsonl")
	l := openFile(t, path)
	park(t, l, deadlettersuite.Sample(1))
	if err := l.Delete(t.Context(), "main:evt_001"); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(readFile(t, path), "\n")
	if len(lines) != 3 || lines[2] != "" {
		t.Fatalf("file = %q, want two newline-terminated lines", lines)
	}
	if !strings.HasPrefix(lines[0], `{"op":"park","entry":{"id":"main:evt_001","route":"main","event_id":"evt_001",`) {
		t.Errorf("park line = %s", lines[0])
	}
	if lines[1] != `{"op":"drop","id":"main:evt_001"}` {
		t.Errorf("drop line = %s", lines[1])
	}
}

// TestFileDamage opens the broken fixtures in testdata/: a torn last line (a crash in
// the middle of an append), the zero bytes a crash can leave at the end of a file, and
// corrupt lines in the middle. Neither may stop the file
// from opening or lose a record, and both are reported.
func TestFileDamage(t *testing.T) {
	tests := []struct {
		fixture string
		want    []string // ids present after open
		lines   int
		torn    bool
		errHint string
	}{
		{"good.jsonl", []string{"main:evt_001", "main:evt_003"}, 0, false, ""},
		{"torn-last-line.jsonl", []string{"main:evt_001", "main:evt_002"}, 1, true, "torn last line 3"},
		{"corrupt-middle-line.jsonl", []string{"main:evt_001", "main:evt_003"}, 2, false, "line 2"},
		{"zero-filled-tail.jsonl", []string{"main:evt_001"}, 1, true, "torn last line 2"},
	}
	for _, tt := range tests {
		t.Run(tt.fixture, func(t *testing.T) {
			path := copyFixture(t, tt.fixture)
			l := openFile(t, path)
			expectIDs(t, l, tt.want)
			d := l.Damage()
			if d.Lines != tt.lines || d.TornTail != tt.torn || (d.Err == nil) != (tt.lines == 0) {
				t.Errorf("Damage = %+v, want %d lines, torn %v", d, tt.lines, tt.torn)
			}
			if tt.errHint != "" && (d.Err == nil || !strings.Contains(d.Err.Error(), tt.errHint)) {
				t.Errorf("Damage.Err = %v, want it to mention %q", d.Err, tt.errHint)
			}

			// A park after the damage lands on a line of its own and survives a reopen.
			next := deadlettersuite.Sample(99)
			park(t, l, next)
			r := openFile(t, path)
			expectIDs(t, r, append(tt.want, next.ID))
			if d := r.Damage(); d.TornTail || d.Lines != tt.lines {
				t.Errorf("after an append, Damage = %+v; want %d lines and no torn tail", d, tt.lines)
			}
		})
	}
}

func TestFileClosed(t *testing.T) {
	l := openFile(t, filepath.Join(t.TempDir(), "dl.jsonl"))
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := l.Park(t.Context(), deadlettersuite.Sample(1)); !errors.Is(err, deadletter.ErrUnavailable) {
		t.Errorf("Park after Close = %v, want ErrUnavailable", err)
	}
	if _, err := l.List(t.Context()); !errors.Is(err, deadletter.ErrUnavailable) {
		t.Errorf("List after Close = %v, want ErrUnavailable", err)
	}
	if err := l.Close(); err != nil {
		t.Errorf("second Close = %v, want nil", err)
	}
}

// TestFileFollowsThePath: an operator removing or replacing the file while the server
// runs must not send later parks into a file nobody can see.
func TestFileFollowsThePath(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "dl.jsonl")
	l := openFile(t, path)
	park(t, l, deadlettersuite.Sample(1))

	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	park(t, l, deadlettersuite.Sample(2))
	expectIDs(t, openFile(t, path), []string{"main:evt_002"})

	other := filepath.Join(dir, "other.jsonl")
	o := openFile(t, other)
	park(t, o, deadlettersuite.Sample(3))
	if err := os.Rename(other, path); err != nil {
		t.Fatal(err)
	}
	expectIDs(t, l, []string{"main:evt_003"})
	park(t, l, deadlettersuite.Sample(4))
	expectIDs(t, openFile(t, path), []string{"main:evt_003", "main:evt_004"})
}

func openFile(t *testing.T, path string) *deadletter.File {
	t.Helper()
	l, err := deadletter.OpenFile(path)
	if err != nil {
		t.Fatalf("OpenFile: %v", err)
	}
	t.Cleanup(func() { _ = l.Close() })
	return l
}

func park(t *testing.T, l deadletter.List, e deadletter.Entry) {
	t.Helper()
	if err := l.Park(t.Context(), e); err != nil {
		t.Fatalf("Park(%s): %v", e.ID, err)
	}
}

func expectIDs(t *testing.T, l deadletter.List, want []string) {
	t.Helper()
	es, err := l.List(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range es {
		got = append(got, e.ID)
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("ids = %v, want %v", got, want)
	}
}

func copyFixture(t *testing.T, name string) string {
	t.Helper()
	src, err := os.Open(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	path := filepath.Join(t.TempDir(), name)
	dst, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
