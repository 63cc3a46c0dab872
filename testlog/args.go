package testlog

import (
	"path"
	"regexp"
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
//     the packages whose testdata directories the files are in;
//   - jest: `--runTestsByPath` and the test files among them (the files Jest's default
//     testMatch takes: under __tests__/, or named *.test.* or *.spec.*, JavaScript or
//     TypeScript), so that paths are not read as patterns; an option by design;
//   - maven: `-pl MODULES -am` for files in modules other than the root one, and
//     `-Dtest=pkg.Class,... -Dsurefire.failIfNoSpecifiedTests=false` for the test classes among
//     them (files under src/test/java/ named as Surefire runs them); options by design.
//   - cargo: cargo's target options (cargoTargetArgs): "--test NAME" for tests/NAME.rs,
//     "--lib" or "--bins" for files under src/, "--tests" for other files under tests/.
//
// Files a framework cannot run (data files, documentation) are left out, and so are paths
// that could be taken for options (starting with "-") or that leave the repository. An
// empty result means none of the files can be run on its own. The arguments are not quoted
// for a shell.
func Args(parser string, files []string) []string {
	var out []string
	if parser == Jest {
		return jestArgs(files)
	}
	if parser == Maven {
		var clean []string
		for _, f := range files {
			f = strings.TrimPrefix(path.Clean(f), "./")
			if f != ".." && !strings.HasPrefix(f, "../") && !strings.HasPrefix(f, "/") && !strings.HasPrefix(f, "-") {
				clean = append(clean, f)
			}
		}
		modules, classes, root := mavenFileArgs(clean)
		return mavenArgs(modules, root, strings.Join(classes, ","))
	}
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
		case Cargo:
			// An option and its value are one entry ("--test a"), which no file argument is.
			if a := cargoTargetArgs(f); len(a) > 0 && !seen[strings.Join(a, " ")] {
				seen[strings.Join(a, " ")] = true
				out = append(out, a...)
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

// MaxSelectBytes bounds the arguments SelectArgs returns (a shell command line passes them
// as one string, which Linux caps at 128 KiB); a longer selection falls back to the files.
const MaxSelectBytes = 64 << 10

// SelectArgs returns the arguments that restrict the named framework's test command to the
// given tests (stored ids, as this package's parsers write them) and nothing much else, so
// that a test can be run alone:
//   - pytest: the node ids themselves (path::Class::test[param]);
//   - gotest: `-run ^(Name|...)$` with each test's top-level name (a subtest runs with its
//     parent, and its siblings with it), then the packages Args gives for files ("./..."
//     when it gives none);
//   - maven: `-Dtest=pkg.Class#m1+m2,...` (a parameterised method's runs all run), with the
//     modules Args gives for files.
//   - cargo: the target options Args gives for files, then libtest's "-- --exact" and the
//     test names (without the " - should panic" an id has for such a test); ids of doc
//     tests fall back to the files (cargo runs doc tests only without other targets).
//
// byID says the arguments select by id. When they cannot, for a framework without
// selection by id here (unittest, django, sympy), an id that was escaped when stored
// (CanonicalID) and so names no test as written, or a selection past MaxSelectBytes, the
// result is Args(parser, files) and byID is false.
func SelectArgs(parser string, ids, files []string) (args []string, byID bool) {
	fallback := func() ([]string, bool) { return Args(parser, files), false }
	if len(ids) == 0 {
		return fallback()
	}
	size := 0
	for _, id := range ids {
		if _, escaped := CanonicalID(id); escaped || strings.Contains(id, `\`) || strings.HasPrefix(id, "-") || id == "" {
			return fallback()
		}
		size += len(id) + 3
	}
	if size > MaxSelectBytes {
		return fallback()
	}
	switch parser {
	case Pytest:
		seen := map[string]bool{}
		for _, id := range ids {
			if !strings.Contains(id, "::") {
				return fallback() // a file-level entry (a collection error), not a test
			}
			if !seen[id] {
				seen[id] = true
				args = append(args, id)
			}
		}
		return args, true
	case GoTest:
		var names []string
		seen := map[string]bool{}
		for _, id := range ids {
			top, _, _ := strings.Cut(id, "/")
			if !seen[top] {
				seen[top] = true
				names = append(names, regexp.QuoteMeta(top))
			}
		}
		args = []string{"-run", "^(" + strings.Join(names, "|") + ")$"}
		pkgs := Args(parser, files)
		if len(pkgs) == 0 {
			pkgs = []string{"./..."}
		}
		return append(args, pkgs...), true
	case Maven:
		if args, ok := mavenSelectArgs(ids, files); ok {
			return args, true
		}
	case Jest:
		names := make([]string, 0, len(ids))
		seen := map[string]bool{}
		for _, id := range ids {
			if !seen[id] {
				seen[id] = true
				names = append(names, regexp.QuoteMeta(id))
			}
		}
		return append([]string{"-t", "^(?:" + strings.Join(names, "|") + ")$"}, jestArgs(files)...), true
	case Cargo:
		var names []string
		seen := map[string]bool{}
		for _, id := range ids {
			if strings.Contains(id, " (line ") {
				return fallback() // a doc test: cargo runs them only alone (--doc)
			}
			name := cargoFilterName(id)
			if !seen[name] {
				seen[name] = true
				names = append(names, name)
			}
		}
		args = append(Args(parser, files), "--", "--exact")
		return append(args, names...), true
	}
	return fallback()
}

// Command returns the test command base restricted to the tests of files (Args), as
// validation runs it and an eval script runs it again: for go test with no file to restrict
// to, every package ("./...", the whole suite, as SWE-bench runs it, not only the package in
// the work directory).
func Command(parser, base string, files []string) string {
	args := Args(parser, files)
	if len(args) == 0 && parser == GoTest {
		args = []string{"./..."}
	}
	return CommandWith(base, args)
}

// CommandWith returns base followed by args, each quoted for a POSIX shell.
func CommandWith(base string, args []string) string {
	var b strings.Builder
	b.WriteString(strings.TrimSpace(base))
	for _, a := range args {
		b.WriteByte(' ')
		b.WriteString(ShellQuote(a))
	}
	return b.String()
}

// ShellQuote quotes s for a POSIX shell.
func ShellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-./=:,+@%") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
