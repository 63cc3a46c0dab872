package testlog

import (
	"regexp"
	"strings"

	"swemill/pipeline"
)

var (
	// sympyFileRe matches the line that starts a test file: "sympy/core/tests/test_x.py[12] ",
	// or "[?]   Failed to import" when the file cannot be imported.
	sympyFileRe = regexp.MustCompile(`^(\S+\.py)\[([0-9]+|\?)\]\s*(.*?)\s*(\[(OK|FAIL)\])?$`)
	// sympyTestNameRe is a test function's name.
	sympyTestNameRe = regexp.MustCompile(`^test_[A-Za-z0-9_]*$`)
	// sympyFailureRe heads a failure's details: "____ sympy/x/tests/test_y.py:test_z ____".
	sympyFailureRe = regexp.MustCompile(`^_+ (\S+\.py):(test_[A-Za-z0-9_]*) _+$`)
)

// sympyCodes are the verdicts SymPy's runner prints after a test's name in verbose mode.
var sympyCodes = map[string]pipeline.TestStatus{
	"ok": pipeline.TestPassed,
	"F":  pipeline.TestFailed,
	"E":  pipeline.TestError,
	"f":  pipeline.TestXFail,
	"X":  pipeline.TestXPass,
	"s":  pipeline.TestSkipped, // skipped
	"w":  pipeline.TestSkipped, // slow, skipped
	"T":  pipeline.TestFailed,  // timed out
	"K":  pipeline.TestFailed,  // interrupted
}

// ParseSympy reads the verbose output of SymPy's test runner (bin/test --verbose): a line
// per test, its name, perhaps a message, then a verdict code ("ok", "F", "E", "f", "X", "s",
// "w", "T"), with "[OK]" or "[FAIL]" after the last test of a file. Ids are the test
// functions' names, as SWE-bench writes them. A test file that cannot be imported is a
// suite error; the headers of the failure details confirm failures. Results without the
// closing "tests finished" line are incomplete.
func ParseSympy(log []byte) Result {
	var b builder
	pending := "" // a test whose verdict was pushed to a later line by its output
	finished := false
	for _, line := range lines(log) {
		if strings.Contains(line, "tests finished:") {
			b.r.Parsed, finished = true, true
			pending = ""
			continue
		}
		if m := sympyFileRe.FindStringSubmatch(line); m != nil {
			pending = ""
			if m[2] == "?" || strings.Contains(m[3], "Failed to import") {
				b.suiteError("failed to import " + m[1])
			} else {
				b.r.Parsed = true
			}
			continue
		}
		if m := sympyFailureRe.FindStringSubmatch(line); m != nil {
			b.set(m[2], pipeline.TestFailed)
			continue
		}
		f := strings.Fields(line)
		if n := len(f); n > 0 && (f[n-1] == "[OK]" || f[n-1] == "[FAIL]") {
			f = f[:n-1]
		}
		if len(f) == 0 {
			continue
		}
		if sympyTestNameRe.MatchString(f[0]) {
			if s, ok := sympyCodes[f[len(f)-1]]; ok && len(f) > 1 {
				b.set(f[0], s)
				pending = ""
			} else {
				pending = f[0]
			}
			continue
		}
		if pending != "" && len(f) == 1 {
			if s, ok := sympyCodes[f[0]]; ok {
				b.set(pending, s)
				pending = ""
			}
		}
	}
	if !finished && len(b.r.Tests) > 0 {
		b.incomplete("SymPy's runner printed test results and never its closing \"tests finished\" line: the run was killed or crashed")
	}
	return b.result()
}
