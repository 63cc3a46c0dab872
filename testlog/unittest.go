package testlog

import (
	"regexp"
	"strconv"
	"strings"

	"swemill/pipeline"
)

var (
	// unittestLineRe matches a verbose test line: "test_x (pkg.mod.Class.test_x) ... ok",
	// "test_x (pkg.mod.Class) ... ok" before Python 3.11, a subtest line indented under its
	// test with its parameters after it, or the name alone when a docstring line follows.
	unittestLineRe = regexp.MustCompile(`^(\s*)([A-Za-z_][A-Za-z0-9_]*) \(([A-Za-z_][A-Za-z0-9_.]*)\)((?: \(.*?\))?)(?: \.\.\.(?: (.*))?)?$`)
	// unittestDocLineRe matches the docstring line that ends a test line broken in two.
	unittestDocLineRe = regexp.MustCompile(`^.* \.\.\. (ok|FAIL|ERROR|expected failure|unexpected success|skipped.*)$`)
	// unittestHeaderRe matches the head of a failure's details: "FAIL: test_x (pkg.Class.test_x)".
	unittestHeaderRe = regexp.MustCompile(`^(FAIL|ERROR|UNEXPECTED SUCCESS): ([A-Za-z_][A-Za-z0-9_]*) \(([A-Za-z_][A-Za-z0-9_.]*)\)(?: \(.*\))?$`)
	// unittestRanRe matches the closing "Ran 12 tests in 0.007s".
	unittestRanRe = regexp.MustCompile(`^Ran ([0-9]+) tests? in [0-9.]+s$`)
)

// unittestStatus maps the verdict words of unittest's verbose output. An unexpected success
// fails the run (unittest exits 1), so it is a failure here.
func unittestStatus(word string) (pipeline.TestStatus, bool) {
	switch {
	case word == "ok":
		return pipeline.TestPassed, true
	case word == "FAIL":
		return pipeline.TestFailed, true
	case word == "ERROR":
		return pipeline.TestError, true
	case word == "expected failure":
		return pipeline.TestXFail, true
	case word == "unexpected success":
		return pipeline.TestFailed, true
	case strings.HasPrefix(word, "skipped"):
		return pipeline.TestSkipped, true
	}
	return "", false
}

// classFixtures are the unittest names that stand for a class or module fixture, not a test.
var classFixtures = map[string]bool{
	"setUpClass": true, "tearDownClass": true, "setUpModule": true, "tearDownModule": true,
}

// ParseUnittest reads the verbose output (-v, verbosity 2) of Python's unittest runner,
// with standard error merged into standard output. Ids are "test_name (module.Class)", as
// SWE-bench writes them; Python 3.11's "test_name (module.Class.test_name)" is brought to
// that form. A test whose docstring is printed goes over two lines, a test whose output
// interrupts its line gets its verdict on a line of its own, and a failing subtest fails its
// test; the failure details ("FAIL: test_x (...)") confirm failures. A module that failed to
// import and a failing class or module fixture are suite errors. Output without the closing
// "Ran N tests" line, or reporting fewer than N tests, is incomplete.
func ParseUnittest(log []byte) Result {
	return parseUnittest(log)
}

// ParseDjango reads the output of Django's test runner (tests/runtests.py or manage.py test)
// at verbosity 2, which is unittest's verbose output among Django's own lines (database
// creation, migrations, system checks); see ParseUnittest.
func ParseDjango(log []byte) Result {
	return parseUnittest(log)
}

func parseUnittest(log []byte) Result {
	var b builder
	pending := ""     // a test whose verdict has not been printed yet
	afterSep := false // the previous line was a "=====" separator
	ran := -1         // the count of "Ran N tests"
	for _, line := range lines(log) {
		if m := unittestRanRe.FindStringSubmatch(line); m != nil {
			b.r.Parsed = true
			pending = ""
			ran, _ = strconv.Atoi(m[1])
			continue
		}
		if strings.HasPrefix(line, "=====") {
			afterSep = true
			continue
		}
		if afterSep {
			afterSep = false
			if m := unittestHeaderRe.FindStringSubmatch(line); m != nil {
				pending = ""
				id, suite := unittestID(m[2], m[3])
				switch {
				case suite != "":
					b.suiteError(suite)
				case m[1] == "ERROR":
					b.set(id, pipeline.TestError)
				default:
					b.set(id, pipeline.TestFailed)
				}
				continue
			}
		}
		if m := unittestLineRe.FindStringSubmatch(line); m != nil {
			indent, name, dotted, params, rest := m[1], m[2], m[3], m[4], m[5]
			hasDots := strings.Contains(line, " ...")
			id, suite := unittestID(name, dotted)
			verdict, known := unittestStatus(strings.TrimSpace(rest))
			if indent != "" && params != "" {
				// A subtest: its failure fails the test; its pass says nothing more.
				if known && (verdict == pipeline.TestFailed || verdict == pipeline.TestError) {
					b.set(id, verdict)
				}
				continue
			}
			switch {
			case suite != "":
				if !known || verdict != pipeline.TestPassed {
					b.suiteError(suite)
				}
				pending = ""
			case known:
				b.set(id, verdict)
				pending = ""
			case hasDots || rest == "":
				// No verdict yet: output, a subtest line or a docstring line comes first.
				pending = id
			}
			continue
		}
		if pending == "" {
			continue
		}
		if m := unittestDocLineRe.FindStringSubmatch(line); m != nil {
			if s, ok := unittestStatus(m[1]); ok {
				b.set(pending, s)
				pending = ""
			}
			continue
		}
		if s, ok := unittestStatus(strings.TrimSpace(line)); ok && strings.TrimSpace(line) == line {
			b.set(pending, s)
			pending = ""
		}
	}
	imports := 0 // test modules that failed to import: each counts as a test run
	for _, e := range b.r.SuiteErrors {
		if strings.HasPrefix(e, importFailurePrefix) {
			imports++
		}
	}
	switch {
	case ran < 0 && len(b.r.Tests) > 0:
		b.incomplete("unittest printed test results and never its closing \"Ran N tests\" line: the run was killed or crashed")
	case ran >= 0 && len(b.r.Tests)+imports < ran:
		b.incomplete("unittest ran %d tests and the output reports %d of them", ran, len(b.r.Tests)+imports)
	}
	return b.result()
}

// importFailurePrefix starts the suite error of a test module that failed to import.
const importFailurePrefix = "failed to import test module "

// isImportFailure says whether a dotted name is unittest's stand-in for a test module that
// failed to import.
func isImportFailure(dotted string) bool {
	return strings.HasPrefix(dotted, "unittest.loader._FailedTest") || strings.HasPrefix(dotted, "unittest.loader.ModuleImportFailure")
}

// unittestID returns a test's id, or, for a module that failed to import or a class
// fixture, the suite error it stands for.
func unittestID(name, dotted string) (id, suite string) {
	switch {
	case isImportFailure(dotted):
		return "", importFailurePrefix + name
	case classFixtures[name]:
		return "", name + " of " + dotted + " failed"
	}
	dotted = strings.TrimSuffix(dotted, "."+name)
	return name + " (" + dotted + ")", ""
}
