package server

import (
	"strings"
	"testing"
	"time"
)

// TestLogLimiter: at most perSecond lines a wall-clock second; the first line of the
// next second reports how many were left out, and only once.
func TestLogLimiter(t *testing.T) {
	l := &logLimiter{perSecond: 3}
	t0 := time.Unix(1_700_000_000, 0)
	var allowed int
	for i := range 10 {
		if ok, dropped := l.allow(t0.Add(time.Duration(i) * time.Millisecond)); ok {
			allowed++
			if dropped != 0 {
				t.Errorf("line %d reports %d dropped within the first second", i, dropped)
			}
		}
	}
	if allowed != 3 {
		t.Fatalf("allowed %d lines in one second, want 3", allowed)
	}
	if ok, dropped := l.allow(t0.Add(time.Second)); !ok || dropped != 7 {
		t.Fatalf("next second: ok %t, dropped %d; want true, 7", ok, dropped)
	}
	if ok, dropped := l.allow(t0.Add(time.Second + 1)); !ok || dropped != 0 {
		t.Fatalf("second line of the next second: ok %t, dropped %d; want true, 0", ok, dropped)
	}
}

func TestClip(t *testing.T) {
	for _, tt := range []struct {
		in   string
		n    int
		want string
	}{
		{"short", 64, "short"},
		{strings.Repeat("a", 65), 64, strings.Repeat("a", 64) + "…"},
		{"ééé", 3, "é…"}, // never cuts a character in half
		// A Checkout Session id as Stripe makes them today (66 characters) is logged
		// whole at the bound every id gets.
		{"cs_test_a11YYufWQzNY63zpQ6QSNRQhkUpVph4WRmzW0zWJO2znZKdVujZ0N0S22u", maxLogged,
			"cs_test_a11YYufWQzNY63zpQ6QSNRQhkUpVph4WRmzW0zWJO2znZKdVujZ0N0S22u"},
		{strings.Repeat("a", 256), maxLogged, strings.Repeat("a", 255) + "…"},
	} {
		if got := clip(tt.in, tt.n); got != tt.want {
			t.Errorf("clip(%q, %d) = %q, want %q", tt.in, tt.n, got, tt.want)
		}
	}
}
