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

// parkReasons reads the reasons the code parks with: the reason argument of every
// park call and what every function named Reason returns (extract's and stripeapi's
// errors' reasons, which the pipeline parks with), as string literals or string
// constants. It also returns every string literal of the code, for the other direction.
func parkReasons(t *testing.T) (parked, literals []string) {
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
			if s, ok := stringLit(n); ok {
				literals = append(literals, s)
			}
			return true
		})
	}
	value := func(e ast.Expr) {
		switch e := e.(type) {
		case *ast.Ident:
			if s, ok := consts[e.Name]; ok {
				parked = append(parked, s)
			}
		case *ast.SelectorExpr:
			if s, ok := consts[e.Sel.Name]; ok {
				parked = append(parked, s)
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
				if sel, ok := n.Fun.(*ast.SelectorExpr); ok && sel.Sel.Name == "park" && len(n.Args) == 5 {
					value(n.Args[3])
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
	return parked, literals
}

func stringLit(n ast.Node) (string, bool) {
	if lit, ok := n.(*ast.BasicLit); ok && lit.Kind == token.STRING {
		if s, err := strconv.Unquote(lit.Value); err == nil {
			return s, true
		}
	}
	return "", false
}

// Every reason the code parks with is in DeadLetterReasons, so its series exist at 0
// from the start (an alert on increase() misses the first event of a series that
// appears at 1), and the list names nothing the code does not contain.
func TestDeadLetterReasonsMatchTheCode(t *testing.T) {
	parked, literals := parkReasons(t)
	if len(parked) < 10 {
		t.Fatalf("found only %d park reasons in the code (%v): the scan is broken", len(parked), parked)
	}
	for _, r := range parked {
		if !slices.Contains(metrics.DeadLetterReasons, r) {
			t.Errorf("the code parks with reason %q, which metrics.DeadLetterReasons does not list", r)
		}
	}
	for _, r := range metrics.DeadLetterReasons {
		if !slices.Contains(literals, r) {
			t.Errorf("metrics.DeadLetterReasons lists %q, which appears nowhere in the code", r)
		}
	}
}
