// Package testlog reads the output of test frameworks into per-test statuses. There is one
// parser per framework, chosen by name (a recipe's log_parser): "pytest", "unittest",
// "django", "sympy", "gotest", "jest", "cargo" and "maven". Test ids take SWE-bench's forms:
// pytest node ids (path::Class::test[param]), "test_name (module.Class)" for unittest and
// Django, the bare function name for SymPy, TestName / TestName/sub for Go, libtest's names
// (module::test) for cargo and pkg.Class#method for Maven; Jest's are its full names (the
// describe blocks' titles and the test's, space-separated).
//
// Logs are untrusted text: the parsers never fail, never panic, and read only the parts of
// the output that the framework itself writes (pytest's short summary, Go's JSON events), so
// a test that prints lines that look like results cannot turn a failure into a pass. A result
// reported twice keeps its worst status. Result.Check cross-checks a parse with the exit code
// of the command that printed it.
package testlog

import (
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"

	"swemill/pipeline"
)

// Parser names (pipeline.Recipe.LogParser).
const (
	Pytest   = "pytest"
	Unittest = "unittest"
	Django   = "django"
	Sympy    = "sympy"
	GoTest   = "gotest"
	Jest     = "jest"
	Cargo    = "cargo"
	Maven    = "maven"
)

// Result is what a parser read from a test command's output.
type Result struct {
	// Tests maps test ids to their status. A test reported more than once (a pytest test
	// that passed and then errored at teardown, a Go test name in two packages) keeps its
	// worst status (see Worse).
	Tests map[string]pipeline.TestStatus
	// Parsed says the output holds something the framework writes about a test run: a test
	// result, a run summary, a collection or build failure. When it is false nothing can be
	// concluded from the output, least of all that tests passed.
	Parsed bool
	// SuiteErrors are failures that belong to no single test: a module that cannot be
	// collected or imported, a package that does not build, a test binary that crashed, a
	// class whose setUpClass failed. The tests they hide are missing from Tests.
	SuiteErrors []string
	// Incomplete, when set, says that the results cannot be the whole story, and why: the
	// stream was cut or ends in a cut line, or the framework stopped with tests started and
	// never reported (a test binary that died, a session that never finished). Tests then
	// holds what was read, but no label may be computed from it (Check fails).
	Incomplete string
	// Warnings are things worth knowing that change no result: test ids that were stored
	// escaped (see CanonicalID).
	Warnings []string
}

// Parser reads one framework's output. It never fails; see Result.Parsed.
type Parser func(log []byte) Result

var parsers = map[string]Parser{
	Pytest:   ParsePytest,
	Unittest: ParseUnittest,
	Django:   ParseDjango,
	Sympy:    ParseSympy,
	GoTest:   ParseGoTest,
	Jest:     ParseJest,
	Cargo:    ParseCargo,
	Maven:    ParseMaven,
}

// Names returns the parser names, sorted.
func Names() []string {
	return slices.Sorted(maps.Keys(parsers))
}

// Lookup returns the parser called name.
func Lookup(name string) (Parser, bool) {
	p, ok := parsers[name]
	return p, ok
}

// UnknownParserError says that no parser has the name.
type UnknownParserError struct{ Name string }

func (e *UnknownParserError) Error() string {
	return fmt.Sprintf("unknown log parser %q (known: %s)", e.Name, strings.Join(Names(), ", "))
}

// Parse reads log with the parser called name.
func Parse(name string, log []byte) (Result, error) {
	p, ok := Lookup(name)
	if !ok {
		return Result{}, &UnknownParserError{Name: name}
	}
	return p(log), nil
}

// statusRank orders statuses from best to worst.
var statusRank = map[pipeline.TestStatus]int{
	pipeline.TestPassed:  0,
	pipeline.TestXFail:   1,
	pipeline.TestSkipped: 2,
	pipeline.TestXPass:   3,
	pipeline.TestFailed:  4,
	pipeline.TestError:   5,
}

// Worse returns the worse of two statuses: ERROR, then FAILED, XPASS, SKIPPED, XFAIL and
// PASSED. The empty status (no result) loses to any other.
func Worse(a, b pipeline.TestStatus) pipeline.TestStatus {
	if a == "" {
		return b
	}
	if b == "" {
		return a
	}
	if statusRank[b] > statusRank[a] {
		return b
	}
	return a
}

// IsPass reports whether a status counts as a pass, as SWE-bench counts it: PASSED or
// XFAIL (an expected failure that failed as expected).
func IsPass(s pipeline.TestStatus) bool {
	return s == pipeline.TestPassed || s == pipeline.TestXFail
}

// IsFail reports whether a status is a failure: FAILED or ERROR. A missing test (the empty
// status) is not a failure here; callers that count it as one say so.
func IsFail(s pipeline.TestStatus) bool {
	return s == pipeline.TestFailed || s == pipeline.TestError
}

// builder accumulates a Result.
type builder struct {
	r Result
}

// maxWarnings bounds Result.Warnings.
const maxWarnings = 20

func (b *builder) set(raw string, s pipeline.TestStatus) {
	if raw == "" {
		return
	}
	id, escaped := CanonicalID(raw)
	if _, seen := b.r.Tests[id]; escaped && !seen {
		b.warn("test id %q was stored as %s: it holds bytes that are not UTF-8 or control characters", raw, id)
	}
	if b.r.Tests == nil {
		b.r.Tests = map[string]pipeline.TestStatus{}
	}
	b.r.Tests[id] = Worse(b.r.Tests[id], s)
	b.r.Parsed = true
}

func (b *builder) suiteError(msg string) {
	msg = strings.TrimSpace(msg)
	if len(msg) > 300 {
		msg = msg[:300] + "..."
	}
	if !slices.Contains(b.r.SuiteErrors, msg) {
		b.r.SuiteErrors = append(b.r.SuiteErrors, msg)
	}
	b.r.Parsed = true
}

// warn records a warning, at most maxWarnings of them (the last says how many more).
func (b *builder) warn(format string, args ...any) {
	switch {
	case len(b.r.Warnings) < maxWarnings:
		b.r.Warnings = append(b.r.Warnings, fmt.Sprintf(format, args...))
	case len(b.r.Warnings) == maxWarnings:
		b.r.Warnings = append(b.r.Warnings, "more warnings were left out")
	}
}

// incomplete records the first evidence that the results are incomplete.
func (b *builder) incomplete(format string, args ...any) {
	if b.r.Incomplete == "" {
		b.r.Incomplete = fmt.Sprintf(format, args...)
	}
}

func (b *builder) result() Result {
	if b.r.Tests == nil {
		b.r.Tests = map[string]pipeline.TestStatus{}
	}
	return b.r
}

// Counts returns how many tests passed (IsPass), failed (IsFail) and neither.
func (r Result) Counts() (passed, failed, other int) {
	for _, s := range r.Tests {
		switch {
		case IsPass(s):
			passed++
		case IsFail(s):
			failed++
		default:
			other++
		}
	}
	return passed, failed, other
}

// ErrUnparsed says that a log holds no result of the framework at all.
var ErrUnparsed = errors.New("the output holds no test result the parser recognises")

// ExitMismatchError says that a log and the exit code of the command that printed it tell
// different stories: failures under exit code 0, or only passes under a non-zero one (a
// crash after the tests, a failure the parser did not see).
type ExitMismatchError struct {
	ExitCode               int
	Passed, Failed, Errors int
}

func (e *ExitMismatchError) Error() string {
	if e.ExitCode == 0 {
		return fmt.Sprintf("exit code 0 but the output reports %d failed tests and %d suite errors", e.Failed, e.Errors)
	}
	return fmt.Sprintf("exit code %d but the output reports %d passing tests and no failure", e.ExitCode, e.Passed)
}

// IncompleteError says that a run's results are not complete (Result.Incomplete).
type IncompleteError struct{ Evidence string }

func (e *IncompleteError) Error() string { return "incomplete results: " + e.Evidence }

// Check cross-checks r with the exit code of the command whose output it read. It returns
// an *IncompleteError when the results are incomplete (whatever the exit code: a run that
// reported less than it ran is never a pass), ErrUnparsed when the output held nothing
// recognisable, and an *ExitMismatchError when the
// exit code is not zero while the output claims passes and shows no failure (nor a suite
// error), or when it is zero while the output shows failures. A non-zero exit with no test
// results at all (nothing ran, every test is missing) is consistent.
func (r Result) Check(exitCode int) error {
	if r.Incomplete != "" {
		return &IncompleteError{Evidence: r.Incomplete}
	}
	if !r.Parsed {
		return ErrUnparsed
	}
	passed, failed, _ := r.Counts()
	errs := len(r.SuiteErrors)
	switch {
	case exitCode != 0 && passed > 0 && failed == 0 && errs == 0:
		return &ExitMismatchError{ExitCode: exitCode, Passed: passed}
	case exitCode == 0 && (failed > 0 || errs > 0):
		return &ExitMismatchError{ExitCode: 0, Passed: passed, Failed: failed, Errors: errs}
	}
	return nil
}

var ansiRe = regexp.MustCompile(`\x1b\[[0-9;?]*[A-Za-z]`)

// lines splits a log into lines without their line endings and with terminal colour codes
// removed.
func lines(log []byte) []string {
	s := string(log)
	if strings.Contains(s, "\x1b[") {
		s = ansiRe.ReplaceAllString(s, "")
	}
	out := strings.Split(s, "\n")
	for i, l := range out {
		out[i] = strings.TrimRight(l, "\r")
	}
	return out
}
