package main

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// dynamicReasons are drop reasons the code builds rather than names: stages/validate/run.go
// joins the name of the patch that did not apply (test_patch, patch) and "_does_not_apply".
var dynamicReasons = map[string]string{
	"test_patch_does_not_apply": "stages/validate/run.go",
	"patch_does_not_apply":      "stages/validate/run.go",
}

// codeReasons collects, from the module's Go source (tests, test doubles and the benchmark
// tools left out), every drop reason the code can record: string constants named Drop* or
// Reason*, string literals given to Drop (and the stages' drop helpers) or to the build's
// buildFailure, the reasons validate's run problem() returns, and dynamicReasons.
func codeReasons(t *testing.T, root string) map[string]string {
	t.Helper()
	fset := token.NewFileSet()
	var files []*ast.File
	names := map[*ast.File]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			switch d.Name() {
			case "testdata", "bench", "pipelinetest", "node_modules":
				return filepath.SkipDir
			}
			if strings.HasPrefix(d.Name(), ".") && p != root {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, p, nil, 0)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		files = append(files, f)
		names[f] = filepath.ToSlash(rel)
		return nil
	})
	require.NoError(t, err)

	// Constants, by name (the last part of a selector), for resolving references.
	consts := map[string]ast.Expr{}
	for _, f := range files {
		for _, decl := range f.Decls {
			gd, ok := decl.(*ast.GenDecl)
			if !ok || gd.Tok != token.CONST {
				continue
			}
			for _, spec := range gd.Specs {
				vs := spec.(*ast.ValueSpec)
				for i, n := range vs.Names {
					if i < len(vs.Values) {
						consts[n.Name] = vs.Values[i]
					}
				}
			}
		}
	}
	var value func(e ast.Expr, depth int) (string, bool)
	value = func(e ast.Expr, depth int) (string, bool) {
		if depth > 5 {
			return "", false
		}
		switch e := e.(type) {
		case *ast.BasicLit:
			if e.Kind == token.STRING {
				s, err := strconv.Unquote(e.Value)
				return s, err == nil
			}
		case *ast.Ident:
			if v, ok := consts[e.Name]; ok {
				return value(v, depth+1)
			}
		case *ast.SelectorExpr:
			if v, ok := consts[e.Sel.Name]; ok {
				return value(v, depth+1)
			}
		}
		return "", false
	}
	reasonConst := regexp.MustCompile(`^(Drop|Reason)[A-Z]`)
	out := map[string]string{}
	add := func(f *ast.File, e ast.Expr) {
		if v, ok := value(e, 0); ok {
			if _, seen := out[v]; !seen {
				out[v] = names[f]
			}
		}
	}
	for _, f := range files {
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.ValueSpec:
				for i, name := range n.Names {
					if reasonConst.MatchString(name.Name) && i < len(n.Values) {
						add(f, n.Values[i])
					}
				}
			case *ast.CallExpr:
				name := ""
				switch fn := n.Fun.(type) {
				case *ast.Ident:
					name = fn.Name
				case *ast.SelectorExpr:
					name = fn.Sel.Name
				}
				switch {
				case (name == "Drop" || name == "drop") && len(n.Args) > 0:
					add(f, n.Args[0])
				case name == "buildFailure" && len(n.Args) > 1:
					add(f, n.Args[1])
				}
			case *ast.FuncDecl:
				if n.Name.Name == "problem" && n.Recv != nil && n.Body != nil {
					ast.Inspect(n.Body, func(m ast.Node) bool {
						if r, ok := m.(*ast.ReturnStmt); ok && len(r.Results) > 0 {
							add(f, r.Results[0])
						}
						return true
					})
				}
			}
			return true
		})
	}
	delete(out, "")
	for reason, file := range dynamicReasons {
		src, err := os.ReadFile(filepath.Join(root, file))
		require.NoError(t, err)
		require.Contains(t, string(src), `"_does_not_apply"`, "%s no longer builds %s: update dynamicReasons", file, reason)
		out[reason] = file
	}
	return out
}

// readmeReasons reads the first column of the README's "Drop reasons" table.
func readmeReasons(t *testing.T, readme string) []string {
	t.Helper()
	_, section, ok := strings.Cut(readme, "\n## Drop reasons\n")
	require.True(t, ok, "the README has no Drop reasons section")
	if i := strings.Index(section, "\n## "); i >= 0 {
		section = section[:i]
	}
	row := regexp.MustCompile("(?m)^\\| `([a-z_]+)` \\|")
	var out []string
	for _, m := range row.FindAllStringSubmatch(section, -1) {
		out = append(out, m[1])
	}
	return out
}

// TestDropReasonTable keeps the README's table of drop reasons and the code in step: every
// reason the code can record is in the table, once, and every reason in the table is one the
// code records; the reasons `run` offers to retry are among them.
func TestDropReasonTable(t *testing.T) {
	t.Parallel()
	root := filepath.Join("..", "..")
	code := codeReasons(t, root)
	for _, known := range []string{"unsafe_patch", "suite_killed", "no_fail_to_pass", "not_merged", "install_failed", "suite_oom", "fail_to_pass_flaky"} {
		require.Contains(t, code, known, "the source scan misses a reason it must find")
	}
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	require.NoError(t, err)
	table := readmeReasons(t, string(readme))
	require.NotEmpty(t, table)
	seen := map[string]bool{}
	for _, r := range table {
		assert.False(t, seen[r], "%s is in the table twice", r)
		seen[r] = true
		_, ok := code[r]
		assert.True(t, ok, "the README's table lists %s, which no code records", r)
	}
	var missing []string
	for r, file := range code {
		if !seen[r] {
			missing = append(missing, r+" ("+file+")")
		}
	}
	sort.Strings(missing)
	assert.Empty(t, missing, "reasons the code records that the README's Drop reasons table lacks")
	for _, c := range curableDrops {
		assert.True(t, slices.Contains(table, c.Reason), "hints.go offers to retry %s, which the table lacks", c.Reason)
	}
}
