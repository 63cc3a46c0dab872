// Package swebench writes what SWE-bench's evaluation harness needs of a task beyond its
// instance columns: the eval script it runs in the task's image, the parser it reads the
// output with (testlog.SWEbenchParser) and the evaluation type.
//
// The harness (swebench/harness at its current release) builds a test spec from a row's
// instance_id, image, repo, version, FAIL_TO_PASS, PASS_TO_PASS, log_parser, eval_type and
// eval_script. It applies the model's patch in the image's /testbed as root, then runs the
// eval script with /bin/bash: the script's lines, less "#!/bin/bash" and "set -uxo pipefail",
// after those two lines, with the test command's exit code saved just before the line that
// prints the end marker. It reads the output between the lines ">>>>> Start Test Output" and
// ">>>>> End Test Output" with the parser its log_parser names.
package swebench

import (
	"encoding/base64"
	"fmt"
	"maps"
	"slices"
	"strings"

	"swemill/difftext"
	"swemill/testlog"
)

// The markers around the test output, and the evaluation type of every task: its
// FAIL_TO_PASS tests must pass and its PASS_TO_PASS tests keep passing.
const (
	StartMarker     = ">>>>> Start Test Output"
	EndMarker       = ">>>>> End Test Output"
	EvalPassAndFail = "pass_and_fail"
)

// Task is what an eval script is made of.
type Task struct {
	// WorkDir is where the repository is in the image ("/testbed").
	WorkDir    string
	BaseCommit string
	TestPatch  string
	// Parser is our parser of the test command's output (the recipe's log_parser); TestCmd
	// the recipe's test command; TestFiles the test files validation restricted it to.
	Parser    string
	TestCmd   string
	TestFiles []string
	// Env is the recipe's environment, exported before the tests run.
	Env map[string]string
}

// EvalScript returns the bash script SWE-bench's harness runs in the task's image after
// applying a model patch: it sends its standard error to its standard output, resets the files the test patch touches to base_commit (removing
// those base_commit lacks), applies the test patch (git apply --verbose --reject, as the
// harness applies test patches), prints the start marker, runs the test command as
// validation ran it (its go test -json replaced by -v, which parse_log_gotest reads), prints
// the end marker and resets the test files again. The test patch travels base64-encoded, so
// no line of it can be taken for one of the script lines the harness drops.
func EvalScript(t Task) (string, error) {
	if t.WorkDir == "" || t.BaseCommit == "" || strings.TrimSpace(t.TestCmd) == "" {
		return "", fmt.Errorf("eval script: the work directory, base commit and test command are required")
	}
	d, err := difftext.Parse(t.TestPatch)
	if err != nil {
		return "", fmt.Errorf("eval script: reading the test patch: %w", err)
	}
	if len(d.Files) == 0 {
		return "", fmt.Errorf("eval script: the test patch changes no file")
	}
	var paths []string
	for _, f := range d.Files {
		for _, p := range f.Paths() {
			if !slices.Contains(paths, p) {
				paths = append(paths, p)
			}
		}
	}
	q := testlog.ShellQuote
	var b strings.Builder
	line := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	line("#!/bin/bash")
	line("set -uxo pipefail")
	// One stream: the harness's set -x traces go to standard error, the tests' output to
	// standard output, and two streams reach the reader in no fixed order, so an end-marker
	// trace could come before the test output it closes.
	line("exec 2>&1")
	line("cd %s", q(t.WorkDir))
	for _, k := range slices.Sorted(maps.Keys(t.Env)) {
		line("export %s=%s", k, q(t.Env[k]))
	}
	line("git config --global --add safe.directory %s", q(t.WorkDir))
	line(`swemill_reset() { for f in "$@"; do if git cat-file -e %s:"$f" 2>/dev/null; then git checkout %s -- "$f"; else rm -f -- "$f"; fi; done; }`, q(t.BaseCommit), q(t.BaseCommit))
	reset := "swemill_reset"
	for _, p := range paths {
		reset += " " + q(p)
	}
	line("%s", reset)
	line("base64 -d > /tmp/swemill_test_patch.diff <<'SWEMILL_TEST_PATCH'")
	enc := base64.StdEncoding.EncodeToString([]byte(t.TestPatch))
	for len(enc) > 76 {
		line("%s", enc[:76])
		enc = enc[76:]
	}
	if enc != "" {
		line("%s", enc)
	}
	line("SWEMILL_TEST_PATCH")
	line("git apply --verbose --reject /tmp/swemill_test_patch.diff")
	line("echo %s", q(StartMarker))
	line("%s", testlog.SWEbenchCommand(t.Parser, testlog.Command(t.Parser, t.TestCmd, t.TestFiles)))
	line("echo %s", q(EndMarker))
	line("%s", reset)
	return b.String(), nil
}

// HarnessScript returns script as SWE-bench's harness runs it: its lines less "#!/bin/bash"
// and "set -uxo pipefail", after those two lines, with the test command's exit code saved
// before the end marker's line and printed after it.
func HarnessScript(script string) string {
	out := []string{"#!/bin/bash", "set -uxo pipefail"}
	for _, l := range strings.Split(strings.TrimSpace(script), "\n") {
		switch {
		case l == "#!/bin/bash" || l == "set -uxo pipefail":
		case strings.Contains(l, EndMarker):
			out = append(out, "SWEBENCH_TEST_EXIT_CODE=$?", l, `echo ">>>>> Test Exit Code: $SWEBENCH_TEST_EXIT_CODE"`)
		default:
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n") + "\n"
}

// TestOutput returns the part of an eval script's output between the markers, as the
// harness reads it; ok is false when either marker is missing.
func TestOutput(log string) (string, bool) {
	_, after, ok := strings.Cut(log, StartMarker)
	if !ok {
		return "", false
	}
	out, _, ok := strings.Cut(after, EndMarker)
	return out, ok
}

// Passed and Failed are the harness's reading of one test in a parser's statuses: a
// FAIL_TO_PASS test is resolved when Passed (PASSED or XFAIL); a PASS_TO_PASS test is kept
// when Passed or SKIPPED; a test is failed when it is missing, FAILED, ERROR or SKIPPED.
func Passed(statuses map[string]string, id string) bool {
	s, ok := statuses[id]
	return ok && (s == "PASSED" || s == "XFAIL")
}

// Maintained reports whether a PASS_TO_PASS test counts as kept (Passed, or SKIPPED).
func Maintained(statuses map[string]string, id string) bool {
	return Passed(statuses, id) || statuses[id] == "SKIPPED"
}

// Failed reports whether the harness counts the test as failed.
func Failed(statuses map[string]string, id string) bool {
	s, ok := statuses[id]
	return !ok || s == "FAILED" || s == "ERROR" || s == "SKIPPED"
}
