package cli_test

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"
)

func TestDemo(t *testing.T) {
	code, stdout, stderr := run(t, nil, "demo")
	if code != 0 {
		t.Fatalf("demo exit code = %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	if stderr != "" {
		t.Errorf("stderr = %q, want nothing without -v", stderr)
	}
	steps := []struct{ what, answer string }{
		{"purchase of 100 credits (checkout.session.completed, paid)", "200 forwarded"},
		{"Stripe delivers the same event again", "200 duplicate"},
		{"forged event, signed with the wrong secret", "400 invalid_signature"},
		{"SEPA purchase of 50 credits, payment not yet settled", "200 pending_payment"},
		{"the SEPA payment settles (async_payment_succeeded)", "200 forwarded"},
		{"a purchase whose session carries no user id", "200 dead_lettered"},
	}
	stepLine := regexp.MustCompile(`^(\d)\s+(.+?)\s{2,}(\d{3} [a-z_]+)$`)
	var got [][]string
	for _, l := range lines(stdout) {
		if m := stepLine.FindStringSubmatch(l); m != nil {
			got = append(got, m[1:])
		}
	}
	if len(got) != len(steps) {
		t.Fatalf("found %d step lines, want %d:\n%s", len(got), len(steps), stdout)
	}
	for i, s := range steps {
		if got[i][0] != string(rune('1'+i)) || got[i][1] != s.what || got[i][2] != s.answer {
			t.Errorf("step %d = %q, want %d %q -> %q", i+1, got[i], i+1, s.what, s.answer)
		}
	}
	for _, want := range []string{
		"\nbackend balance of user e747de39-1b54-4cd0-96eb-e68f155931e2: 150 credits (2 credit requests applied)\n",
		"\ndead-letter list: 1 entry",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, stdout)
		}
	}
	if !regexp.MustCompile(`^creditgate demo: proxy on http://127\.0\.0\.1:\d+/stripe/webhook, demo backend on 127\.0\.0\.1:\d+, in-memory store\n`).MatchString(stdout) {
		t.Errorf("first line of stdout = %q", lines(stdout)[0])
	}
}

// TestDemoVerbose: -v adds creditgate's canonical log lines, one per step, on stderr.
func TestDemoVerbose(t *testing.T) {
	code, stdout, stderr := run(t, nil, "demo", "-v")
	if code != 0 {
		t.Fatalf("demo -v exit code = %d\n%s\n%s", code, stdout, stderr)
	}
	var results []string
	for _, l := range lines(stderr) {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("stderr line is not JSON: %q", l)
		}
		if m["msg"] == "webhook" {
			results = append(results, m["result"].(string))
			if m["route"] != "demo" {
				t.Errorf("route = %v, want demo", m["route"])
			}
		}
	}
	want := "forwarded duplicate invalid_signature pending_payment forwarded dead_lettered"
	if strings.Join(results, " ") != want {
		t.Errorf("logged results = %q, want %q", strings.Join(results, " "), want)
	}
}
