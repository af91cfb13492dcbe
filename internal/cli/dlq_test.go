package cli_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// dlqEntry is the JSON of one entry (dlq show, dlq list --json).
type dlqEntry struct {
	ID         string    `json:"id"`
	Route      string    `json:"route"`
	Reason     string    `json:"reason"`
	ParkedAt   time.Time `json:"parked_at"`
	Replays    int       `json:"replays"`
	Payload    string    `json:"payload"`
	LastReplay struct {
		Operator string `json:"operator"`
		UserID   string `json:"user_id"`
		Result   string `json:"result"`
		Reason   string `json:"reason"`
	} `json:"last_replay"`
}

// An operator resolves entries the event alone cannot credit: replay exits non-zero
// while they are parked again (keeping the first parked time and the event as
// received), then supplies the user or the credits; every replay is audited; list
// filters and prints JSON; the backlog gauge counts what waits.
func TestDLQResolveWithUserAndCredits(t *testing.T) {
	for _, store := range []string{"memory", "redis"} {
		t.Run(store, func(t *testing.T) {
			in := startServe(t, store)
			getenv := env(map[string]string{"USER": "oncall-ana"})
			trigger := func(args ...string) {
				t.Helper()
				if code, stdout, stderr := run(t, getenv, append([]string{"trigger", "--config", in.cfg}, args...)...); code != 0 || !strings.Contains(stdout, "200 dead_lettered") {
					t.Fatalf("trigger %v = %d %q %q", args, code, stdout, stderr)
				}
			}
			trigger("--user", "", "--event", "evt_fix_user")
			trigger("--user", "", "--event", "evt_fix_user2")
			trigger("--credits", "", "--event", "evt_fix_credits")
			dlq := func(args ...string) (int, string, string) {
				t.Helper()
				return run(t, getenv, append(append([]string{"dlq"}, args...), "--config", in.cfg)...)
			}
			show := func(id string) dlqEntry {
				t.Helper()
				var e dlqEntry
				code, stdout, _ := dlq("show", id)
				if err := json.Unmarshal([]byte(stdout), &e); code != 0 || err != nil {
					t.Fatalf("dlq show %s = %d %v %q", id, code, err, stdout)
				}
				return e
			}

			// The backlog gauge, per route and reason, every reason present.
			_, metrics := get(t, "http://"+in.admin+"/metrics")
			for _, want := range []string{
				`creditgate_dead_letters{reason="no_user_id",route="main"} 2`,
				`creditgate_dead_letters{reason="no_credits",route="main"} 1`,
				`creditgate_dead_letters{reason="stripe_auth",route="main"} 0`,
			} {
				if !strings.Contains(metrics, want+"\n") {
					t.Errorf("/metrics lacks %s", want)
				}
			}

			// Filters and JSON.
			listJSON := func(args ...string) []dlqEntry {
				t.Helper()
				code, stdout, stderr := dlq(append([]string{"list", "--json"}, args...)...)
				var es []dlqEntry
				if err := json.Unmarshal([]byte(stdout), &es); code != 0 || err != nil {
					t.Fatalf("dlq list --json %v = %d %v %q %q", args, code, err, stdout, stderr)
				}
				return es
			}
			if es := listJSON("--reason", "no_user_id"); len(es) != 2 || es[0].Reason != "no_user_id" || es[0].Route != "main" || es[0].Payload != "" {
				t.Errorf("list --reason no_user_id = %+v, want the 2 entries without payloads", es)
			}
			if es := listJSON("--route", "other"); len(es) != 0 {
				t.Errorf("list --route other = %d entries, want 0", len(es))
			}
			if es := listJSON("--older-than", "1h"); len(es) != 0 {
				t.Errorf("list --older-than 1h = %d entries, want 0", len(es))
			}
			if es := listJSON("--newer-than", "1h", "--route", "main"); len(es) != 3 {
				t.Errorf("list --newer-than 1h = %d entries, want 3", len(es))
			}
			if code, stdout, _ := dlq("list", "--reason", "no_credits"); code != 0 || !strings.HasSuffix(stdout, "\n1 entries\n") {
				t.Errorf("list --reason no_credits = %d %q", code, stdout)
			}

			first := show("main:evt_fix_user")
			// A replay of the event alone parks it again: non-zero exit, first time kept.
			code, stdout, stderr := dlq("replay", "main:evt_fix_user")
			if code != 1 || !strings.Contains(stdout, "main:evt_fix_user: parked again: no_user_id") ||
				!strings.Contains(stderr, "1 of 1 entries were parked again") {
				t.Errorf("replay without a fix = %d %q %q, want exit 1, parked again", code, stdout, stderr)
			}
			// A user id that the route's format refuses is parked again as bad_user_id.
			if code, stdout, _ = dlq("replay", "main:evt_fix_user", "--user", "not-a-uuid"); code != 1 || !strings.Contains(stdout, "parked again: bad_user_id") {
				t.Errorf("replay --user not-a-uuid = %d %q, want parked again: bad_user_id", code, stdout)
			}
			again := show("main:evt_fix_user")
			if !again.ParkedAt.Equal(first.ParkedAt) || again.Replays != 2 || again.Payload != first.Payload || again.Reason != "bad_user_id" ||
				again.LastReplay.UserID != "not-a-uuid" || again.LastReplay.Operator != "oncall-ana" || again.LastReplay.Reason != "bad_user_id" {
				t.Errorf("entry after two replays = %+v\nwant parked_at %v, 2 replays, the original payload, last replay by oncall-ana with not-a-uuid", again, first.ParkedAt)
			}

			// The fix: the user id, validated like a live one.
			before := in.backend.Balance(cliUser)
			code, stdout, stderr = dlq("replay", "main:evt_fix_user", "--user", cliUser)
			if code != 0 || !strings.Contains(stdout, "main:evt_fix_user: forwarded") || !strings.Contains(stdout, "entry removed") {
				t.Fatalf("replay --user = %d %q %q", code, stdout, stderr)
			}
			var audit map[string]any
			for _, l := range lines(stderr) {
				if strings.Contains(l, `"msg":"dlq replay"`) {
					_ = json.Unmarshal([]byte(l), &audit)
				}
			}
			if audit["entry"] != "main:evt_fix_user" || audit["user_id"] != cliUser || audit["operator"] != "oncall-ana" || audit["result"] != "forwarded" {
				t.Errorf("audit line = %v", audit)
			}
			code, stdout, stderr = dlq("replay", "main:evt_fix_credits", "--credits", "7")
			if code != 0 || !strings.Contains(stdout, "main:evt_fix_credits: forwarded") {
				t.Fatalf("replay --credits = %d %q %q", code, stdout, stderr)
			}
			if got := in.backend.Balance(cliUser) - before; got != 100+7 {
				t.Errorf("balance grew by %d, want 107 (100 from the fixed user's event, 7 supplied)", got)
			}
			if code, stdout, _ = dlq("show", "main:evt_fix_user"); code != 1 {
				t.Errorf("the resolved entry is still there: %q", stdout)
			}
			// Replaying a resolved purchase's entry again is a no-op: the entry is gone.
			if es := listJSON(); len(es) != 1 || es[0].ID != "main:evt_fix_user2" {
				t.Errorf("left in the list: %+v, want only main:evt_fix_user2", es)
			}
		})
	}
}
