package deadletter_test

import (
	"testing"
	"time"

	"github.com/creditgate/creditgate/internal/deadletter"
)

func TestFilterMatch(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	e := deadletter.Entry{Route: "main", Reason: "no_user_id", ParkedAt: now.Add(-2 * time.Hour)}
	tests := []struct {
		name string
		f    deadletter.Filter
		want bool
	}{
		{"zero selects all", deadletter.Filter{}, true},
		{"route", deadletter.Filter{Route: "main"}, true},
		{"other route", deadletter.Filter{Route: "shop"}, false},
		{"reason", deadletter.Filter{Reason: "no_user_id"}, true},
		{"other reason", deadletter.Filter{Reason: "bad_credits"}, false},
		{"older than 1h", deadletter.Filter{Older: time.Hour}, true},
		{"older than exactly its age", deadletter.Filter{Older: 2 * time.Hour}, true},
		{"older than 3h", deadletter.Filter{Older: 3 * time.Hour}, false},
		{"newer than 3h", deadletter.Filter{Newer: 3 * time.Hour}, true},
		{"newer than exactly its age", deadletter.Filter{Newer: 2 * time.Hour}, false},
		{"all together", deadletter.Filter{Route: "main", Reason: "no_user_id", Older: time.Hour, Newer: 3 * time.Hour}, true},
		{"all but one", deadletter.Filter{Route: "main", Reason: "no_user_id", Older: time.Hour, Newer: time.Hour}, false},
	}
	for _, tt := range tests {
		if got := tt.f.Match(e, now); got != tt.want {
			t.Errorf("%s: Match = %t, want %t", tt.name, got, tt.want)
		}
	}
}

func TestCount(t *testing.T) {
	got := deadletter.Count([]deadletter.Entry{
		{Route: "main", Reason: "no_user_id"}, {Route: "main", Reason: "no_user_id"},
		{Route: "main", Reason: "bad_credits"}, {Route: "shop", Reason: "no_user_id"},
	})
	if got["main"]["no_user_id"] != 2 || got["main"]["bad_credits"] != 1 || got["shop"]["no_user_id"] != 1 || len(got) != 2 {
		t.Errorf("Count = %v", got)
	}
}
