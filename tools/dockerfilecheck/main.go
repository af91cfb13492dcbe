// Command dockerfilecheck checks creditgate's Dockerfile without a Docker engine:
//
//  1. BuildKit's own build checks (the rules `docker build --check` runs), through
//     dockerfile2llb.DockerfileLint, with an offline image resolver: no registry is
//     asked, base images are given a plain linux config. Every warning fails.
//  2. The image policy of docs/design.md §9: multi-stage, final stage distroless static nonroot
//     (or scratch), no RUN in the final stage (there is no shell), a numeric non-root
//     USER, an exec-form ENTRYPOINT, OCI labels, CGO_ENABLED=0, -trimpath and the
//     version stamp in the build command.
//  3. With -build: the build stage's own COPY and RUN instructions, run outside Docker
//     in a scratch folder that stands for its WORKDIR (COPY honours .dockerignore),
//     then the binary the final stage copies is checked: a static ELF that prints the
//     stamped version. A stage FROM golang:<version> runs with that Go release
//     (GOTOOLCHAIN=go<version>, which the go command fetches), as it would in the
//     image, whatever Go this machine has.
//
// Usage: dockerfilecheck [-f Dockerfile] [-context .] [-build] [-build-arg K=V ...]
package main

import (
	"bytes"
	"context"
	"debug/elf"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/client/llb/sourceresolver"
	"github.com/moby/buildkit/frontend/dockerfile/dockerfile2llb"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/buildkit/frontend/dockerui"
	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"
	digest "github.com/opencontainers/go-digest"
)

type buildArgs map[string]string

func (b buildArgs) String() string { return fmt.Sprint(map[string]string(b)) }
func (b buildArgs) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	if !ok {
		return fmt.Errorf("want KEY=VALUE, got %q", s)
	}
	b[k] = v
	return nil
}

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "dockerfilecheck:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, out io.Writer) error {
	fset := flag.NewFlagSet("dockerfilecheck", flag.ContinueOnError)
	file := fset.String("f", "Dockerfile", "the Dockerfile")
	contextDir := fset.String("context", ".", "the build context")
	build := fset.Bool("build", false, "also run the build stage outside Docker and check the binary")
	bargs := buildArgs{}
	fset.Var(bargs, "build-arg", "KEY=VALUE for an ARG (repeatable)")
	if err := fset.Parse(args); err != nil {
		return err
	}
	dt, err := os.ReadFile(*file)
	if err != nil {
		return err
	}
	var problems []string
	warnings, err := lint(ctx, *file, dt, bargs)
	if err != nil {
		return err
	}
	problems = append(problems, warnings...)
	stages, metaArgs, err := parseStages(dt)
	if err != nil {
		return err
	}
	problems = append(problems, policy(stages)...)
	if len(problems) > 0 {
		return fmt.Errorf("%s: %d problem(s):\n  %s", *file, len(problems), strings.Join(problems, "\n  "))
	}
	fmt.Fprintf(out, "%s: BuildKit checks and image policy pass (%d stages)\n", *file, len(stages))
	if !*build {
		return nil
	}
	return buildOutside(ctx, stages, metaArgs, *contextDir, bargs, out)
}

// lint runs BuildKit's checks. The resolver answers every base image offline.
func lint(ctx context.Context, name string, dt []byte, bargs buildArgs) ([]string, error) {
	sm := llb.NewSourceMap(nil, filepath.Base(name), "Dockerfile", dt)
	sm.Definition = &llb.Definition{}
	res, err := dockerfile2llb.DockerfileLint(ctx, dt, dockerfile2llb.ConvertOpt{
		Config:       dockerui.Config{BuildArgs: bargs},
		SourceMap:    sm,
		MetaResolver: offlineResolver{},
	})
	if err != nil {
		return nil, err
	}
	var out []string
	for _, w := range res.Warnings {
		line := 0
		if w.Location != nil && len(w.Location.Ranges) > 0 {
			line = int(w.Location.Ranges[0].Start.Line)
		}
		out = append(out, fmt.Sprintf("line %d: %s: %s (%s)", line, w.RuleName, w.Detail, w.URL))
	}
	if res.Error != nil {
		out = append(out, "build error: "+res.Error.Message)
	}
	return out, nil
}

// offlineResolver gives every image a minimal linux/amd64 config and a digest of its
// name, so the checks run with no registry.
type offlineResolver struct{}

func (offlineResolver) ResolveImageConfig(_ context.Context, ref string, _ sourceresolver.Opt) (string, digest.Digest, []byte, error) {
	cfg := []byte(`{"architecture":"amd64","os":"linux","config":{"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]},"rootfs":{"type":"layers","diff_ids":[]}}`)
	return ref, digest.FromString(ref), cfg, nil
}

func parseStages(dt []byte) ([]instructions.Stage, []instructions.ArgCommand, error) {
	ast, err := parser.Parse(bytes.NewReader(dt))
	if err != nil {
		return nil, nil, err
	}
	return instructions.Parse(ast.AST, nil)
}

// goImage matches an official Go image whose tag names a full release: golang:1.26.10,
// golang:1.26.10-bookworm.
var goImage = regexp.MustCompile(`^(?:docker\.io/(?:library/)?)?golang:(1\.[0-9]+\.[0-9]+)(?:-[a-z0-9.]+)?(?:@sha256:[a-f0-9]{64})?$`)

// stageToolchain is the Go release a stage FROM golang:<version> has, "" for any other
// base (or a tag without a patch release). The base's ${ARG}s take the build args,
// else the defaults of the ARGs before the first FROM.
func stageToolchain(base string, metaArgs []instructions.ArgCommand, bargs buildArgs) string {
	vals := map[string]string{}
	for _, c := range metaArgs {
		for _, a := range c.Args {
			if a.Value != nil {
				vals[a.Key] = *a.Value
			}
		}
	}
	for k, v := range bargs {
		vals[k] = v
	}
	m := goImage.FindStringSubmatch(os.Expand(base, func(k string) string { return vals[k] }))
	if m == nil {
		return ""
	}
	return "go" + m[1]
}

var (
	numericUser = regexp.MustCompile(`^[1-9][0-9]*(:[0-9]+)?$`)
	finalBase   = regexp.MustCompile(`^(gcr\.io/distroless/static(-debian[0-9]+)?:nonroot(@sha256:[a-f0-9]{64})?|scratch)$`)
)

// policy checks docs/design.md §9's image rules that BuildKit does not know.
func policy(stages []instructions.Stage) []string {
	var p []string
	if len(stages) < 2 {
		return []string{"want a multi-stage build (a build stage and a tiny final stage)"}
	}
	final := stages[len(stages)-1]
	if !finalBase.MatchString(final.BaseName) {
		p = append(p, fmt.Sprintf("final stage FROM %q: want gcr.io/distroless/static*:nonroot or scratch", final.BaseName))
	}
	var user, entrypoint bool
	labels := map[string]bool{}
	for _, c := range final.Commands {
		switch c := c.(type) {
		case *instructions.RunCommand:
			p = append(p, "final stage has RUN: the final image has no shell; do it in the build stage")
		case *instructions.UserCommand:
			user = true
			if !numericUser.MatchString(c.User) {
				p = append(p, fmt.Sprintf("USER %q: want a numeric non-root uid[:gid], so runAsNonRoot can verify it", c.User))
			}
		case *instructions.EntrypointCommand:
			entrypoint = true
			if c.PrependShell {
				p = append(p, "ENTRYPOINT must be exec form (JSON array): there is no shell")
			}
		case *instructions.CmdCommand:
			if c.PrependShell {
				p = append(p, "CMD must be exec form (JSON array): there is no shell")
			}
		case *instructions.LabelCommand:
			for _, kv := range c.Labels {
				labels[kv.Key] = true
			}
		}
	}
	if !user {
		p = append(p, "final stage sets no USER")
	}
	if !entrypoint {
		p = append(p, "final stage has no ENTRYPOINT")
	}
	for _, l := range []string{"org.opencontainers.image.title", "org.opencontainers.image.source", "org.opencontainers.image.version", "org.opencontainers.image.description"} {
		if !labels[l] {
			p = append(p, "final stage lacks LABEL "+l)
		}
	}
	var cmds strings.Builder
	for _, s := range stages[:len(stages)-1] {
		for _, c := range s.Commands {
			switch c := c.(type) {
			case *instructions.RunCommand:
				cmds.WriteString(strings.Join(c.CmdLine, " ") + "\n")
			case *instructions.EnvCommand:
				for _, kv := range c.Env {
					cmds.WriteString(kv.Key + "=" + kv.Value + "\n")
				}
			}
		}
	}
	all := cmds.String()
	for _, want := range []string{"CGO_ENABLED=0", "-trimpath", "-X github.com/creditgate/creditgate/internal/cli.Version=", "go build"} {
		if !strings.Contains(all, want) {
			p = append(p, fmt.Sprintf("the build stage does not use %q", want))
		}
	}
	return p
}

// buildOutside runs the stage the final stage copies from, then checks the binary.
func buildOutside(ctx context.Context, stages []instructions.Stage, metaArgs []instructions.ArgCommand, contextDir string, bargs buildArgs, out io.Writer) error {
	final := stages[len(stages)-1]
	var from *instructions.CopyCommand
	for _, c := range final.Commands {
		if cp, ok := c.(*instructions.CopyCommand); ok && cp.From != "" {
			from = cp
		}
	}
	if from == nil || len(from.SourcePaths) != 1 {
		return errors.New("final stage has no COPY --from=<stage> of one binary")
	}
	var stage *instructions.Stage
	for i := range stages {
		if stages[i].Name == from.From {
			stage = &stages[i]
		}
	}
	if stage == nil {
		return fmt.Errorf("COPY --from=%s names no stage", from.From)
	}
	ignore, err := readIgnore(contextDir)
	if err != nil {
		return err
	}
	root, err := os.MkdirTemp("", "dockerfilecheck-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(root)
	// root stands for the stage's WORKDIR; absolute paths under it are mapped into root.
	workdir := "/"
	toolchain := stageToolchain(stage.BaseName, metaArgs, bargs)
	env := map[string]string{}
	for k, v := range bargs {
		env[k] = v
	}
	inside := func(p string) string {
		if !path.IsAbs(p) {
			p = path.Join(workdir, p)
		}
		rel := strings.TrimPrefix(p, workdir)
		return filepath.Join(root, filepath.FromSlash(rel))
	}
	for _, c := range stage.Commands {
		switch c := c.(type) {
		case *instructions.WorkdirCommand:
			workdir = c.Path
		case *instructions.ArgCommand:
			for _, a := range c.Args {
				if _, set := env[a.Key]; !set && a.Value != nil {
					env[a.Key] = *a.Value
				}
			}
		case *instructions.EnvCommand:
			for _, kv := range c.Env {
				env[kv.Key] = kv.Value
			}
		case *instructions.CopyCommand:
			if c.From != "" {
				return fmt.Errorf("%s: COPY --from inside the build stage is not emulated", c.String())
			}
			for _, src := range c.SourcePaths {
				if err := copyFromContext(contextDir, src, inside(c.DestPath), strings.HasSuffix(c.DestPath, "/"), ignore); err != nil {
					return fmt.Errorf("%s: %w", c.String(), err)
				}
			}
		case *instructions.RunCommand:
			if !c.PrependShell {
				return fmt.Errorf("%s: exec-form RUN is not emulated", c.String())
			}
			script := strings.Join(c.CmdLine, " ")
			fmt.Fprintf(out, "RUN (outside Docker, in %s for %s): %s\n", root, workdir, script)
			cmd := exec.CommandContext(ctx, "sh", "-ec", script)
			cmd.Dir = root
			cmd.Env = os.Environ()
			for k, v := range env {
				cmd.Env = append(cmd.Env, k+"="+v)
			}
			if toolchain != "" && (env["GOTOOLCHAIN"] == "" || env["GOTOOLCHAIN"] == "local") {
				// The image's own go is that release; "local" means it, not this machine's.
				cmd.Env = append(cmd.Env, "GOTOOLCHAIN="+toolchain)
			}
			cmd.Stdout, cmd.Stderr = out, out
			if err := cmd.Run(); err != nil {
				return fmt.Errorf("RUN %s: %w", script, err)
			}
		}
	}
	bin := inside(from.SourcePaths[0])
	if err := staticELF(bin); err != nil {
		return err
	}
	want := "creditgate " + env["VERSION"]
	got, err := exec.CommandContext(ctx, bin, "version").Output()
	if err != nil {
		return fmt.Errorf("%s version: %w", bin, err)
	}
	if strings.TrimSpace(string(got)) != want {
		return fmt.Errorf("%s version printed %q, want %q", bin, strings.TrimSpace(string(got)), want)
	}
	fmt.Fprintf(out, "built outside Docker (%s): %s is a static ELF, `version` prints %q\n", orLocal(toolchain), from.SourcePaths[0], want)
	return nil
}

func orLocal(toolchain string) string {
	if toolchain == "" {
		return "this machine's go"
	}
	return toolchain
}

func readIgnore(dir string) (*patternmatcher.PatternMatcher, error) {
	f, err := os.Open(filepath.Join(dir, ".dockerignore"))
	if errors.Is(err, fs.ErrNotExist) {
		return patternmatcher.New(nil)
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	patterns, err := ignorefile.ReadAll(f)
	if err != nil {
		return nil, err
	}
	return patternmatcher.New(patterns)
}

// copyFromContext copies src (relative to the context) like COPY does: a directory's
// contents into dst, a file into dst (or into it when dst is a directory), skipping
// what .dockerignore excludes.
func copyFromContext(contextDir, src, dst string, dstIsDir bool, ignore *patternmatcher.PatternMatcher) error {
	src = path.Clean(strings.TrimPrefix(src, "/"))
	base := filepath.Join(contextDir, filepath.FromSlash(src))
	info, err := os.Stat(base)
	if err != nil {
		return err
	}
	copied := 0
	err = filepath.WalkDir(base, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(contextDir, p)
		if excluded, err := ignore.MatchesOrParentMatches(filepath.ToSlash(rel)); err != nil {
			return err
		} else if excluded {
			if d.IsDir() && !ignore.Exclusions() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			return nil
		}
		target := dst
		if info.IsDir() {
			r, _ := filepath.Rel(base, p)
			target = filepath.Join(dst, r)
		} else if dstIsDir {
			target = filepath.Join(dst, filepath.Base(p))
		}
		if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		copied++
		return os.WriteFile(target, data, 0o644)
	})
	if err == nil && copied == 0 {
		return fmt.Errorf("%s: nothing copied (all of it excluded by .dockerignore?)", src)
	}
	return err
}

// staticELF fails unless p is an ELF executable with no interpreter and no shared
// libraries: it runs on distroless static or scratch.
func staticELF(p string) error {
	f, err := elf.Open(p)
	if err != nil {
		return fmt.Errorf("%s: %w", p, err)
	}
	defer f.Close()
	for _, prog := range f.Progs {
		if prog.Type == elf.PT_INTERP {
			return fmt.Errorf("%s is dynamically linked (has an ELF interpreter): CGO_ENABLED=0 is missing", p)
		}
	}
	if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
		return fmt.Errorf("%s needs shared libraries %v", p, libs)
	}
	return nil
}
