package testkit

import (
	"fmt"
	"strings"
	"testing"
)

// fakeT records what Skip asks of a test.
type fakeT struct {
	testing.TB
	name, fatal, skip string
}

func (f *fakeT) Helper()              {}
func (f *fakeT) Name() string         { return f.name }
func (f *fakeT) Fatal(a ...any)       { f.fatal = fmt.Sprint(a...) }
func (f *fakeT) Skip(a ...any)        { f.skip = fmt.Sprint(a...) }
func (f *fakeT) Skipf(string, ...any) {}

func TestSkipIsLoudAndFailsInCI(t *testing.T) {
	t.Setenv("CI", "")
	for i := range 5 {
		Skip(&fakeT{name: fmt.Sprintf("TestRedis%d", i)}, "\n\n!!! REDIS TESTS NOT RUN: nothing answers\n")
	}
	f := &fakeT{name: "TestPython"}
	Skip(f, "SKIPPED: python3 not installed")
	if f.skip != "SKIPPED: python3 not installed" || f.fatal != "" {
		t.Errorf("outside CI: skip %q, fatal %q", f.skip, f.fatal)
	}
	got := SkipSummary()
	for _, want := range []string{
		": 5 test(s) not run (TestRedis0, TestRedis1, TestRedis2, +2 more): !!! REDIS TESTS NOT RUN: nothing answers\n",
		": 1 test(s) not run (TestPython): SKIPPED: python3 not installed\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("summary lacks %q:\n%s", want, got)
		}
	}
	if strings.Count(got, "SKIPPED: ") != 3 || !strings.HasPrefix(got, "SKIPPED: testkit: ") {
		t.Errorf("summary = %q, want one line per reason, each starting SKIPPED: testkit:", got)
	}

	t.Setenv("CI", "true")
	f = &fakeT{name: "TestInCI"}
	Skip(f, "no redis")
	if f.fatal != "no redis (CI=true: a skip is a failure)" || f.skip != "" {
		t.Errorf("in CI: fatal %q, skip %q", f.fatal, f.skip)
	}
}
