package testlog

import (
	"path"
	"strings"
)

// Args returns the arguments that restrict the named framework's test command to the given
// test files (slash-separated repository paths, as a test patch names them), in order and
// without duplicates:
//   - pytest, unittest, sympy: the Python files themselves, conftest.py and __init__.py
//     left out (they hold no tests of their own);
//   - django: test labels as Django's tests/runtests.py takes them, SWE-bench's way: the
//     path without ".py" and without a leading "tests/", slashes turned into dots;
//   - gotest: the package directories ("./pkg/sub", "." for the root) of Go files, and of
//     the packages whose testdata directories the files are in.
//
// Files a framework cannot run (data files, documentation) are left out, and so are paths
// that could be taken for options (starting with "-") or that leave the repository. An
// empty result means none of the files can be run on its own. The arguments are not quoted
// for a shell.
func Args(parser string, files []string) []string {
	var out []string
	seen := map[string]bool{}
	add := func(a string) {
		if a != "" && !seen[a] {
			seen[a] = true
			out = append(out, a)
		}
	}
	for _, f := range files {
		f = strings.TrimPrefix(path.Clean(f), "./")
		if f == "." || f == ".." || strings.HasPrefix(f, "../") || strings.HasPrefix(f, "/") || strings.HasPrefix(f, "-") {
			continue
		}
		base := path.Base(f)
		switch parser {
		case Pytest, Unittest, Sympy:
			if strings.HasSuffix(f, ".py") && base != "conftest.py" && base != "__init__.py" {
				add(f)
			}
		case Django:
			if strings.HasSuffix(f, ".py") && base != "__init__.py" {
				label := strings.TrimPrefix(strings.TrimSuffix(f, ".py"), "tests/")
				add(strings.ReplaceAll(label, "/", "."))
			}
		case GoTest:
			dir := ""
			if i := strings.Index("/"+f, "/testdata/"); i >= 0 {
				dir = strings.TrimSuffix(f[:i], "/")
			} else if strings.HasSuffix(f, ".go") {
				dir = path.Dir(f)
			} else {
				continue
			}
			if dir == "" || dir == "." {
				add(".")
			} else {
				add("./" + dir)
			}
		}
	}
	return out
}
