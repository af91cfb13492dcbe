// Package cli is creditgate's command line: it parses arguments, loads the config,
// wires the parts together (wire.go) and runs one command. Everything is reachable
// through Run, so tests drive the real program without a subprocess.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
)

// Version is stamped at build time: -ldflags "-X github.com/creditgate/creditgate/internal/cli.Version=v1.2.3".
var Version = "dev"

// Env is what a command gets from the outside world.
type Env struct {
	Getenv func(string) string
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
}

// ExitError carries an exit code other than 1.
type ExitError struct{ Code int }

func (e ExitError) Error() string { return fmt.Sprintf("exit status %d", e.Code) }

// errUsage: the arguments were wrong; the usage has been printed.
var errUsage = ExitError{Code: 2}

type command struct {
	name, summary string
	run           func(ctx context.Context, env Env, args []string) error
}

func commands() []command {
	return []command{
		{"serve", "run the proxy", runServe},
		{"check-config", "validate a config file and list every problem", runCheckConfig},
		{"demo", "run the whole path locally with a built-in backend", runDemo},
		{"trigger", "sign a sample event and POST it (an offline `stripe trigger`)", runTrigger},
		{"dlq", "work the dead-letter list: list | show ID | replay ID|--all | drop ID", runDLQ},
		{"reconcile", "run the Stripe events of the last --since through the pipeline again", runReconcile},
		{"audit", "compare what Stripe says was paid and refunded with what was credited", runAudit},
		{"version", "print the version", func(_ context.Context, env Env, _ []string) error {
			_, err := fmt.Fprintln(env.Stdout, "creditgate", Version)
			return err
		}},
	}
}

// Run runs the command named by args[1:] and returns its error.
func Run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	env := Env{Getenv: getenv, Stdin: stdin, Stdout: stdout, Stderr: stderr}
	if len(args) < 2 || args[1] == "-h" || args[1] == "--help" || args[1] == "help" {
		usage(stderr)
		if len(args) < 2 {
			return errUsage
		}
		return nil
	}
	for _, c := range commands() {
		if c.name == args[1] {
			return c.run(ctx, env, args[2:])
		}
	}
	fmt.Fprintf(stderr, "creditgate: unknown command %q\n\n", args[1])
	usage(stderr)
	return errUsage
}

// Main is Run plus the exit code: 0 on success, ExitError's code, or 1.
func Main(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) int {
	err := Run(ctx, args, getenv, stdin, stdout, stderr)
	if err == nil {
		return 0
	}
	var ee ExitError
	if errors.As(err, &ee) {
		return ee.Code
	}
	fmt.Fprintln(stderr, "creditgate:", err)
	return 1
}

func usage(w io.Writer) {
	var b strings.Builder
	b.WriteString("usage: creditgate <command> [flags]\n\ncommands:\n")
	for _, c := range commands() {
		fmt.Fprintf(&b, "  %-13s %s\n", c.name, c.summary)
	}
	b.WriteString("\nRun 'creditgate <command> -h' for the flags of a command.\n")
	_, _ = io.WriteString(w, b.String())
}

// newFlags makes a flag set that reports errors instead of exiting.
func newFlags(name string, env Env) *flag.FlagSet {
	fs := flag.NewFlagSet("creditgate "+name, flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	return fs
}

// parse parses flags; -h is success, a bad flag is a usage error.
func parse(fs *flag.FlagSet, args []string) (help bool, err error) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return true, nil
		}
		return false, errUsage
	}
	return false, nil
}
