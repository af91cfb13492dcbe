package outcome_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"net/http"
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

// An event type is written once, in words.go: the code elsewhere names the constant.
// (A comment may quote one; a test may too.)
func TestEventTypesHaveOneHome(t *testing.T) {
	files, err := filepath.Glob("../*/*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	scanned := 0
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") || strings.HasPrefix(filepath.ToSlash(name), "../outcome/") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		scanned++
		ast.Inspect(f, func(n ast.Node) bool {
			if lit, ok := n.(*ast.BasicLit); ok && lit.Kind == token.STRING {
				if s, err := strconv.Unquote(lit.Value); err == nil && outcome.SupportedEvents[s] {
					t.Errorf("%s: event type %q written out; use outcome's constant", fset.Position(lit.Pos()), s)
				}
			}
			return true
		})
	}
	if scanned < 50 {
		t.Fatalf("scanned %d files: the glob is broken", scanned)
	}
}
