package testlog

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"unicode"
)

// SWE-bench's harness reads a test log with a parser named in the task's log_parser column
// (its PARSER_REGISTRY). These are the names whose id rule can yield swemill's ids; each is
// ported below from the harness's documented behaviour (swebench/harness/log_parsers) so that
// a task's labels can be checked against what the harness will read.
const (
	SWEbenchPytest   = "parse_log_pytest"
	SWEbenchPytestV2 = "parse_log_pytest_v2"
	SWEbenchDjango   = "parse_log_django"
	SWEbenchSympy    = "parse_log_sympy"
	SWEbenchGoTest   = "parse_log_gotest"
	SWEbenchMaven    = "parse_log_maven"
	SWEbenchCargo    = "parse_log_cargo"
)

// SWE-bench's test statuses, as its parsers write them.
var swebenchStatuses = []string{"FAILED", "PASSED", "SKIPPED", "ERROR", "XFAIL"}

// SWEbenchCommand returns the test command an eval script runs for a recipe whose output
// parser is ours: the same command, with go test's -json stream replaced by -v text, which
// is what parse_log_gotest reads.
func SWEbenchCommand(ours, cmd string) string {
	if ours == GoTest {
		return strings.Replace(cmd, "go test -json", "go test -v", 1)
	}
	return cmd
}

// SWEbenchOutput returns log, the output of our test command, as the eval script's command
// (SWEbenchCommand) prints it: go test's -json events' Output joined (the -v text they
// carry), and any other log unchanged.
func SWEbenchOutput(ours string, log []byte) string {
	if ours != GoTest {
		return string(log)
	}
	var b strings.Builder
	sc := bufio.NewScanner(bytes.NewReader(log))
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		var e struct{ Output string }
		if json.Unmarshal(sc.Bytes(), &e) == nil {
			b.WriteString(e.Output)
		} else {
			b.Write(sc.Bytes())
			b.WriteByte('\n')
		}
	}
	return b.String()
}

var (
	skipSummary  = regexp.MustCompile(`^\[\d+\]$`)
	ansiColour   = regexp.MustCompile(`\[(\d+)m`)
	goTestResult = regexp.MustCompile(`^--- (PASS|FAIL|SKIP): (.+) \((.+)\)$`)
	sympyFailure = regexp.MustCompile(`(_*) (.*)\.py:(.*) (_*)`)
	mavenDTest   = regexp.MustCompile(`^.*-Dtest=(\S+).*$`)
	mavenBuild   = regexp.MustCompile(`^.*BUILD (SUCCESS|FAILURE)$`)
)

// SWEbenchStatuses applies the id rule of the named SWE-bench parser to log (the eval
// script's test output) and returns each test id it yields with its status. ok is false for
// a parser it does not know.
func SWEbenchStatuses(parser, log string) (map[string]string, bool) {
	out := map[string]string{}
	lines := strings.Split(log, "\n")
	startsWithStatus := func(line string) bool {
		for _, s := range swebenchStatuses {
			if strings.HasPrefix(line, s) {
				return true
			}
		}
		return false
	}
	switch parser {
	case SWEbenchPytest:
		for _, line := range lines {
			if !startsWithStatus(line) {
				continue
			}
			if strings.HasPrefix(line, "FAILED") {
				line = strings.ReplaceAll(line, " - ", " ")
			}
			f := pyFields(line)
			if len(f) <= 1 || f[0] == "SKIPPED" && skipSummary.MatchString(f[1]) {
				continue
			}
			out[f[1]] = f[0]
		}
	case SWEbenchPytestV2:
		for _, line := range lines {
			line = ansiColour.ReplaceAllString(line, "")
			line = strings.Map(func(r rune) rune {
				if r >= 1 && r < 32 {
					return -1
				}
				return r
			}, line)
			if startsWithStatus(line) {
				if strings.HasPrefix(line, "FAILED") {
					line, _, _ = strings.Cut(line, " - ")
				}
				f := pyFields(line)
				if len(f) >= 2 && !(f[0] == "SKIPPED" && skipSummary.MatchString(f[1])) {
					out[strings.Join(f[1:], " ")] = f[0]
				}
				continue
			}
			for _, st := range swebenchStatuses {
				if strings.HasSuffix(line, st) {
					if f := pyFields(line); len(f) >= 2 {
						out[strings.Join(f[:len(f)-1], " ")] = f[len(f)-1]
					}
					break
				}
			}
		}
	case SWEbenchGoTest:
		for _, line := range lines {
			m := goTestResult.FindStringSubmatch(strings.TrimSpace(line))
			if m == nil {
				continue
			}
			out[m[2]] = map[string]string{"PASS": "PASSED", "FAIL": "FAILED", "SKIP": "SKIPPED"}[m[1]]
		}
	case SWEbenchSympy:
		for _, m := range sympyFailure.FindAllStringSubmatch(log, -1) {
			out[m[2]+".py:"+m[3]] = "FAILED"
		}
		for _, line := range lines {
			line = strings.TrimSpace(line)
			if !strings.HasPrefix(line, "test_") {
				continue
			}
			f := pyFields(line)
			switch {
			case strings.HasSuffix(line, " E"):
				out[f[0]] = "ERROR"
			case strings.HasSuffix(line, " F"):
				out[f[0]] = "FAILED"
			}
			if strings.HasSuffix(line, " ok") {
				out[f[0]] = "PASSED"
			}
		}
	case SWEbenchDjango:
		djangoStatuses(lines, out)
	case SWEbenchMaven:
		mavenStatuses(lines, out)
	case SWEbenchCargo:
		cargoSWEbenchStatuses(lines, out)
	default:
		return nil, false
	}
	return out, true
}

// djangoStatuses is parse_log_django's line rule (its special cases for a few Django test
// runs that print across lines are left out: they name tests of Django's own suite only).
func djangoStatuses(lines []string, out map[string]string) {
	prev := ""
	for _, line := range lines {
		line = strings.TrimSpace(line)
		if before, _, ok := strings.Cut(line, " ... "); ok {
			prev = before
		}
		for _, suffix := range []string{" ... ok", " ... OK", " ...  OK"} {
			if strings.HasSuffix(line, suffix) {
				out[line[:strings.LastIndex(line, suffix)]] = "PASSED"
				break
			}
		}
		if before, _, ok := strings.Cut(line, " ... skipped"); ok {
			out[before] = "SKIPPED"
		}
		if strings.HasSuffix(line, " ... FAIL") {
			out[strings.SplitN(line, " ... FAIL", 2)[0]] = "FAILED"
		}
		if f := pyFields(line); strings.HasPrefix(line, "FAIL:") && len(f) > 1 {
			out[f[1]] = "FAILED"
		}
		if strings.HasSuffix(line, " ... ERROR") {
			out[strings.SplitN(line, " ... ERROR", 2)[0]] = "ERROR"
		}
		if f := pyFields(line); strings.HasPrefix(line, "ERROR:") && len(f) > 1 {
			out[f[1]] = "ERROR"
		}
		if strings.HasPrefix(line, "ok") && prev != "" {
			out[prev] = "PASSED"
		}
	}
}

// mavenStatuses is parse_log_maven's rule: each traced command's -Dtest= value is a test
// id, given the status of the next BUILD SUCCESS (PASSED) or BUILD FAILURE (FAILED) line, in
// order; results that came before any command go to the commands left over at the end.
func mavenStatuses(lines []string, out map[string]string) {
	var pending, unmatched []string
	status := map[string]string{"SUCCESS": "PASSED", "FAILURE": "FAILED"}
	for _, line := range lines {
		line = strings.TrimSpace(line)
		if m := mavenDTest.FindStringSubmatch(line); m != nil {
			pending = append(pending, m[1])
		}
		if m := mavenBuild.FindStringSubmatch(line); m != nil {
			if len(pending) > 0 {
				out[pending[0]] = status[m[1]]
				pending = pending[1:]
			} else {
				unmatched = append(unmatched, m[1])
			}
		}
	}
	for len(pending) > 0 && len(unmatched) > 0 {
		out[pending[0]] = status[unmatched[0]]
		pending, unmatched = pending[1:], unmatched[1:]
	}
}

// pyFields splits s as Python's str.split() does: on runs of whitespace.
func pyFields(s string) []string { return strings.FieldsFunc(s, isPySpace) }

// isPySpace is Python's str.isspace for one character.
func isPySpace(r rune) bool { return unicode.IsSpace(r) || r >= '\x1c' && r <= '\x1f' }

// SWEbenchParser returns the SWE-bench parser whose rule yields exactly ids, a row's labelled
// tests as read by our parser ours, from the eval script's output; when none does it returns
// "" and why. risky, when not nil, tells the ids whose line parse_log_pytest_v2 may misread:
// an XFAIL after the fix (its line's reason joins the id) or an ERROR before it (a teardown
// error comes after a PASSED line for the same test, which v2 keeps). The rule is decided on
// the ids' form, as the parsers read them:
//   - pytest prints "STATUS NODEID" lines in the summary -rA asks for; parse_log_pytest reads
//     the id up to the first whitespace, so it yields ids without whitespace; otherwise
//     parse_log_pytest_v2 reads the rest of the line, runs of whitespace made one space and
//     control characters and "[Nm" colour codes removed, so it yields ids with single spaces
//     and none of those, when no id is risky;
//   - go test -v prints "--- PASS: NAME (TIME)" and go's test names hold no whitespace:
//     parse_log_gotest yields them;
//   - sympy's verbose report puts "[OK]" after the last test of a file, on its line, where
//     parse_log_sympy then sees no " ok" ending: it misses tests, so it is never named;
//   - parse_log_maven takes a test's id from the -Dtest= of a traced mvn command and its
//     status from the BUILD line after it, so it needs one mvn run per test; swemill's eval
//     command runs the touched test classes in one run, from which it yields one id
//     (-Dtest's whole value), never our pkg.Class#method ids: it is never named;
//   - cargo test prints "test NAME ... ok" and parse_log_cargo reads NAME as one run of
//     non-whitespace: it yields the ids without whitespace (see cargoSWEbenchParser);
//   - Jest's verbose report prints a test's own title under its describe blocks, which
//     parse_log_jest keeps, where our ids are full names (describe titles and title): it is
//     never named;
//   - unittest and Django on Python 3.11 print "NAME (MODULE.CLASS.NAME)", which
//     parse_log_django keeps, where our ids are "NAME (MODULE.CLASS)".
func SWEbenchParser(ours string, ids []string, risky func(id string) bool) (parser, why string) {
	switch ours {
	case Pytest:
		v1 := true
		for _, id := range ids {
			if id == "" || skipSummary.MatchString(id) {
				return "", fmt.Sprintf("no SWE-bench parser yields the test id %q", id)
			}
			if strings.ContainsFunc(id, isPySpace) {
				v1 = false
			}
		}
		if v1 {
			return SWEbenchPytest, ""
		}
		for _, id := range ids {
			switch {
			case ansiColour.MatchString(id) || strings.ContainsFunc(id, func(r rune) bool { return r >= 1 && r < 32 }) ||
				strings.Join(pyFields(id), " ") != id:
				return "", fmt.Sprintf("parse_log_pytest cuts the test id %q at its first space and parse_log_pytest_v2 changes its whitespace", id)
			case risky != nil && risky(id):
				return "", fmt.Sprintf("parse_log_pytest cuts the test id %q at its first space and parse_log_pytest_v2 may misread its XFAIL or ERROR line", id)
			}
		}
		return SWEbenchPytestV2, ""
	case GoTest:
		for _, id := range ids {
			if id == "" || strings.ContainsFunc(id, isPySpace) {
				return "", fmt.Sprintf("parse_log_gotest does not yield the test id %q", id)
			}
		}
		return SWEbenchGoTest, ""
	case Jest:
		return "", "parse_log_jest reads a test's own title from Jest's verbose lines, without its describe blocks or file, where swemill's ids are Jest's full names"
	case Cargo:
		return cargoSWEbenchParser(ids)
	case Sympy:
		return "", "parse_log_sympy misses a passing test that sympy prints last in its file (its line ends with [OK])"
	case Maven:
		return "", "parse_log_maven reads one test per traced mvn command (its -Dtest= value) and its BUILD SUCCESS or FAILURE; swemill's eval command runs the touched test classes in one mvn run, from which it yields no pkg.Class#method id"
	case Unittest, Django:
		return "", "parse_log_django reads NAME (MODULE.CLASS.NAME) from Python 3.11's unittest output, where swemill's ids are NAME (MODULE.CLASS)"
	}
	return "", fmt.Sprintf("no SWE-bench parser reads %s output", ours)
}
