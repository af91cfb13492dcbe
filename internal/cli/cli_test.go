package cli_test

import (
	"strings"
	"testing"
)

func TestUsage(t *testing.T) {
	commands := []string{"serve", "check-config", "demo", "trigger", "dlq", "version"}
	tests := []struct {
		name      string
		args      []string
		code      int
		errPrefix string // stderr starts with this
	}{
		{"no command", nil, 2, "usage: creditgate <command> [flags]\n"},
		{"unknown command", []string{"frobnicate"}, 2, "creditgate: unknown command \"frobnicate\"\n\nusage: creditgate <command> [flags]\n"},
		{"help", []string{"help"}, 0, "usage: creditgate <command> [flags]\n"},
		{"-h", []string{"-h"}, 0, "usage: creditgate <command> [flags]\n"},
		{"--help", []string{"--help"}, 0, "usage: creditgate <command> [flags]\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := run(t, nil, tt.args...)
			if code != tt.code {
				t.Errorf("exit code = %d, want %d", code, tt.code)
			}
			if stdout != "" {
				t.Errorf("stdout = %q, want nothing (usage goes to stderr)", stdout)
			}
			if !strings.HasPrefix(stderr, tt.errPrefix) {
				t.Errorf("stderr = %q, want it to start with %q", stderr, tt.errPrefix)
			}
			for _, c := range commands {
				if !strings.Contains(stderr, "\n  "+c+" ") {
					t.Errorf("usage does not list %q:\n%s", c, stderr)
				}
			}
		})
	}
}

func TestVersion(t *testing.T) {
	code, stdout, stderr := run(t, nil, "version")
	if code != 0 || stdout != "creditgate dev\n" || stderr != "" {
		t.Errorf("version = %d %q %q, want 0 \"creditgate dev\\n\" \"\"", code, stdout, stderr)
	}
}

// TestCommandFlags: -h of a command is success and lists its flags; an unknown flag
// is a usage error (2) for every command.
func TestCommandFlags(t *testing.T) {
	for _, c := range []struct{ cmd, flag string }{
		{"serve", "-config"}, {"check-config", "-config"}, {"demo", "-v"}, {"trigger", "-payment-status"},
	} {
		t.Run(c.cmd, func(t *testing.T) {
			code, stdout, stderr := run(t, nil, c.cmd, "-h")
			if code != 0 || stdout != "" || !strings.Contains(stderr, "Usage of creditgate "+c.cmd) || !strings.Contains(stderr, c.flag) {
				t.Errorf("%s -h = %d, stdout %q, stderr:\n%s", c.cmd, code, stdout, stderr)
			}
			code, _, stderr = run(t, nil, c.cmd, "--no-such-flag")
			if code != 2 || !strings.Contains(stderr, "flag provided but not defined: -no-such-flag") {
				t.Errorf("%s --no-such-flag = %d, stderr:\n%s", c.cmd, code, stderr)
			}
		})
	}
}
