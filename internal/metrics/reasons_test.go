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
	"github.com/creditgate/creditgate/internal/outcome"
)

// sources parses the non-test Go files of every package under internal/ except this
// one.
func sources(t *testing.T) []*ast.File {
	t.Helper()
	files, err := filepath.Glob("../*/*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	var out []*ast.File
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") || strings.HasPrefix(filepath.ToSlash(name), "../metrics/") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, f)
	}
	return out
}

// parkReasons reads the reasons the code parks with, as string literals or string
// constants: the reason argument of every park call, what every function named Reason returns
// (extract's and stripeapi's errors' reasons, which the pipeline parks with), and the
// reason of every billing Decision{Park, ...}. names are the constants among them.
func parkReasons(t *testing.T) (parked, names []string) {
	t.Helper()
	files := sources(t)
	consts := map[string]string{}
	for _, f := range files {
		ast.Inspect(f, func(n ast.Node) bool {
			if v, ok := n.(*ast.ValueSpec); ok {
				for i, name := range v.Names {
					if i < len(v.Values) {
						if s, ok := stringLit(v.Values[i]); ok {
							consts[name.Name] = s
						}
					}
				}
			}
			return true
		})
	}
	value := func(e ast.Expr) {
		switch e := e.(type) {
		case *ast.Ident:
			if s, ok := consts[e.Name]; ok {
				parked, names = append(parked, s), append(names, e.Name)
			}
		case *ast.SelectorExpr:
			if s, ok := consts[e.Sel.Name]; ok && strings.HasPrefix(e.Sel.Name, "Reason") {
				parked, names = append(parked, s), append(names, e.Sel.Name)
			}
		default:
			if s, ok := stringLit(e); ok && s != "" {
				parked = append(parked, s)
			}
		}
	}
	for _, f := range files {
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.CallExpr:
				if sel, ok := n.Fun.(*ast.SelectorExpr); ok && sel.Sel.Name == "park" && len(n.Args) >= 2 {
					value(n.Args[len(n.Args)-2]) // park(..., reason, detail)
				}
			case *ast.CompositeLit:
				if len(n.Elts) == 3 {
					if id, ok := n.Elts[0].(*ast.Ident); ok && id.Name == "Park" {
						value(n.Elts[1])
					}
				}
			case *ast.FuncDecl:
				if n.Name.Name == "Reason" && n.Body != nil {
					ast.Inspect(n.Body, func(m ast.Node) bool {
						if r, ok := m.(*ast.ReturnStmt); ok && len(r.Results) == 1 {
							value(r.Results[0])
						}
						return true
					})
				}
			}
			return true
		})
	}
	return parked, names
}

func stringLit(n ast.Node) (string, bool) {
	if lit, ok := n.(*ast.BasicLit); ok && lit.Kind == token.STRING {
		if s, err := strconv.Unquote(lit.Value); err == nil {
			return s, true
		}
	}
	return "", false
}

// Every reason the code parks with is in DeadLetterReasons (outcome.Parked), so its
// series exist at 0 from the start (an alert on increase() misses the first event of
// a series that appears at 1), and the list names no reason the code never parks with.
func TestDeadLetterReasonsMatchTheCode(t *testing.T) {
	parked, _ := parkReasons(t)
	if len(parked) < 10 {
		t.Fatalf("found only %d park reasons in the code (%v): the scan is broken", len(parked), parked)
	}
	if !slices.Equal(metrics.DeadLetterReasons, outcome.Strings(outcome.Parked)) {
		t.Errorf("metrics.DeadLetterReasons = %v, want outcome.Parked", metrics.DeadLetterReasons)
	}
	for _, r := range parked {
		if !slices.Contains(metrics.DeadLetterReasons, r) {
			t.Errorf("the code parks with reason %q, which outcome.Parked does not list", r)
		}
	}
	for _, r := range metrics.DeadLetterReasons {
		if !slices.Contains(parked, r) {
			t.Errorf("outcome.Parked lists %q, which the code never parks with", r)
		}
	}
}
