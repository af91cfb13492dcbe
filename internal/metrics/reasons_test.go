package metrics_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/creditgate/creditgate/internal/metrics"
)

// parkReasons reads the reasons the code parks with: the string literals passed as
// the reason of the pipeline's park calls, and those returned by the Reason functions
// of extract and stripeapi (their errors' reasons, which the pipeline parks with).
func parkReasons(t *testing.T) []string {
	t.Helper()
	var out []string
	fset := token.NewFileSet()
	for _, dir := range []string{"../pipeline", "../extract", "../stripeapi"} {
		files, err := filepath.Glob(filepath.Join(dir, "*.go"))
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range files {
			if strings.HasSuffix(name, "_test.go") {
				continue
			}
			f, err := parser.ParseFile(fset, name, nil, 0)
			if err != nil {
				t.Fatal(err)
			}
			ast.Inspect(f, func(n ast.Node) bool {
				switch n := n.(type) {
				case *ast.CallExpr:
					if sel, ok := n.Fun.(*ast.SelectorExpr); ok && sel.Sel.Name == "park" && len(n.Args) == 5 {
						out = appendLit(out, n.Args[3])
					}
				case *ast.FuncDecl:
					if n.Name.Name == "Reason" && n.Body != nil {
						ast.Inspect(n.Body, func(m ast.Node) bool {
							if r, ok := m.(*ast.ReturnStmt); ok && len(r.Results) == 1 {
								out = appendLit(out, r.Results[0])
							}
							return true
						})
					}
				}
				return true
			})
		}
	}
	return out
}

func appendLit(out []string, e ast.Expr) []string {
	if lit, ok := e.(*ast.BasicLit); ok && lit.Kind == token.STRING {
		if s, err := strconv.Unquote(lit.Value); err == nil && s != "" {
			return append(out, s)
		}
	}
	return out
}

// Every reason the code parks with is in DeadLetterReasons, so its series exist at 0
// from the start (an alert on increase() misses the first event of a series that
// appears at 1), and the list names nothing the code never parks with.
func TestDeadLetterReasonsMatchTheCode(t *testing.T) {
	found := parkReasons(t)
	if len(found) < 10 {
		t.Fatalf("found only %d park reasons in the code (%v): the scan is broken", len(found), found)
	}
	for _, r := range found {
		if !slices.Contains(metrics.DeadLetterReasons, r) {
			t.Errorf("the code parks with reason %q, which metrics.DeadLetterReasons does not list", r)
		}
	}
	for _, r := range metrics.DeadLetterReasons {
		if !slices.Contains(found, r) {
			t.Errorf("metrics.DeadLetterReasons lists %q, which no code parks with", r)
		}
	}
}
