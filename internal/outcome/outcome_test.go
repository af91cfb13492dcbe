package outcome_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/creditgate/creditgate/internal/outcome"
)

// Every Result has its HTTP status; a 2xx only for the five that tell Stripe not to
// send the event again.
func TestStatus(t *testing.T) {
	want := map[outcome.Result]int{
		outcome.Forwarded: 200, outcome.Duplicate: 200, outcome.Ignored: 200,
		outcome.PendingPayment: 200, outcome.DeadLettered: 200,
		outcome.InFlight:           http.StatusConflict,
		outcome.BackendUnavailable: 503, outcome.StoreUnavailable: 503, outcome.Overloaded: 503, outcome.Cancelled: 503,
		outcome.InvalidSignature: 400, outcome.LivemodeMismatch: 400, outcome.MalformedEvent: 400,
		outcome.TooLarge: 413, outcome.NotFound: 404, outcome.MethodNotAllowed: 405,
	}
	if len(want) != len(outcome.AllResults) {
		t.Fatalf("AllResults has %d results, the table %d", len(outcome.AllResults), len(want))
	}
	for _, r := range outcome.AllResults {
		code, ok := want[r]
		if !ok {
			t.Errorf("%s: no status in the table", r)
		}
		if got := r.Status(); got != code {
			t.Errorf("%s.Status() = %d, want %d", r, got, code)
		}
		if r.Word() != string(r) {
			t.Errorf("%s.Word() = %q", r, r.Word())
		}
	}
	if got := outcome.Result("nonsense").Status(); got != http.StatusInternalServerError {
		t.Errorf("an unknown Result answers %d, want 500", got)
	}
}

// Every Reason constant has its own value, and Parked lists each parked one once, in
// the order of the declarations.
func TestReasonsAreDistinct(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "reason.go", nil, parser.ParseComments)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]string{}
	var parked []outcome.Reason
	for _, d := range f.Decls {
		g, ok := d.(*ast.GenDecl)
		if !ok || g.Tok != token.CONST {
			continue
		}
		isParked := g.Doc != nil && slices.ContainsFunc(g.Doc.List, func(c *ast.Comment) bool {
			return c.Text == "// Reasons of dead_lettered: the event is parked for a human."
		})
		for _, s := range g.Specs {
			v := s.(*ast.ValueSpec)
			val, _ := strconv.Unquote(v.Values[0].(*ast.BasicLit).Value)
			if other, dup := seen[val]; dup {
				t.Errorf("%s and %s are both %q", other, v.Names[0].Name, val)
			}
			seen[val] = v.Names[0].Name
			if isParked {
				parked = append(parked, outcome.Reason(val))
			}
		}
	}
	if len(seen) < 50 {
		t.Fatalf("found %d reasons: the scan is broken", len(seen))
	}
	if !slices.Equal(parked, outcome.Parked) {
		t.Errorf("Parked = %v,\nthe dead_lettered block declares %v", outcome.Parked, parked)
	}
}

// code parses the non-test Go files of the packages under internal/ but this one.
func code(t *testing.T) (*token.FileSet, []*ast.File) {
	t.Helper()
	names, err := filepath.Glob("../*/*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	var files []*ast.File
	for _, name := range names {
		if strings.HasSuffix(name, "_test.go") || strings.HasPrefix(filepath.ToSlash(name), "../outcome/") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	if len(files) < 50 {
		t.Fatalf("parsed %d files: the glob is broken", len(files))
	}
	return fset, files
}

// An event type is written once, in words.go: the code elsewhere names the constant.
// (A comment may quote one; a test may too.)
func TestEventTypesHaveOneHome(t *testing.T) {
	fset, files := code(t)
	for _, f := range files {
		ast.Inspect(f, func(n ast.Node) bool {
			if lit, ok := n.(*ast.BasicLit); ok && lit.Kind == token.STRING {
				if s, err := strconv.Unquote(lit.Value); err == nil && outcome.SupportedEvents[s] {
					t.Errorf("%s: event type %q written out; use outcome's constant", fset.Position(lit.Pos()), s)
				}
			}
			return true
		})
	}
}

// A reason is given by its constant: no Reason field is set to, or compared with, a
// string written out.
func TestReasonsAreNamed(t *testing.T) {
	fset, files := code(t)
	isReason := func(e ast.Expr) bool {
		switch e := e.(type) {
		case *ast.Ident:
			return e.Name == "Reason"
		case *ast.SelectorExpr:
			return e.Sel.Name == "Reason"
		}
		return false
	}
	written := func(e ast.Expr) bool {
		lit, ok := e.(*ast.BasicLit)
		return ok && lit.Kind == token.STRING && lit.Value != `""`
	}
	found := 0
	for _, f := range files {
		ast.Inspect(f, func(n ast.Node) bool {
			var pairs [][2]ast.Expr
			switch n := n.(type) {
			case *ast.KeyValueExpr:
				pairs = append(pairs, [2]ast.Expr{n.Key, n.Value})
			case *ast.AssignStmt:
				for i := range n.Lhs {
					if len(n.Rhs) == len(n.Lhs) {
						pairs = append(pairs, [2]ast.Expr{n.Lhs[i], n.Rhs[i]})
					}
				}
			case *ast.BinaryExpr:
				pairs = append(pairs, [2]ast.Expr{n.X, n.Y}, [2]ast.Expr{n.Y, n.X})
			}
			for _, p := range pairs {
				if isReason(p[0]) {
					found++
					if written(p[1]) {
						t.Errorf("%s: a reason written out; use outcome's constant", fset.Position(p[1].Pos()))
					}
				}
			}
			return true
		})
	}
	if found < 20 {
		t.Fatalf("found %d reasons set or compared: the scan is broken", found)
	}
}

// The README's table of dead-letter reasons lists exactly Parked.
func TestReadmeListsParkedReasons(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(b), "### Dead-letter reasons\n")
	if !ok {
		t.Fatal("README has no section ### Dead-letter reasons")
	}
	section, _, _ = strings.Cut(section, "\n### ")
	var listed []outcome.Reason
	for _, line := range strings.Split(section, "\n") {
		if !strings.HasPrefix(line, "| `") {
			continue
		}
		first, _, _ := strings.Cut(strings.TrimPrefix(line, "| "), " |")
		for _, r := range strings.Split(first, ", ") {
			listed = append(listed, outcome.Reason(strings.Trim(r, "`")))
		}
	}
	if !slices.Equal(listed, outcome.Parked) {
		t.Errorf("README lists %v,\nParked is %v (same order)", listed, outcome.Parked)
	}
}
