package testlog

import (
	"encoding/json"
	"fmt"
	"path"
	"regexp"
	"strings"

	"swemill/pipeline"
)

// Jest's tests are named by their full name: the titles of the describe blocks around the
// test and its own title, joined by single spaces, as Jest's JSON report gives it (fullName)
// and as its --testNamePattern matches it. A full name that occurs in two test files keeps
// its worst status (as a Go test name in two packages does).
//
// Jest's JSON report (--json --outputFile=FILE), the stream StreamJest, is what labels come
// from: the test command writes it into $SWEMILL_RESULTS (JestResultsFlags). When it is
// missing (Jest killed before its end), the verbose text of the output is read instead.

// StreamJest is the JSON report Jest writes with --json --outputFile.
const StreamJest = "jest.json"

// JestResultsFlags are the flags that make a Jest command write its JSON report where
// validate reads it ($SWEMILL_RESULTS/jest.json; /tmp/jest.json where the variable is
// unset, as in an eval script run by another harness) and print every test's result.
const JestResultsFlags = `--ci --verbose --json --outputFile="${SWEMILL_RESULTS:-/tmp}/` + StreamJest + `"`

// jestReport is the part of Jest's JSON report the parser reads.
type jestReport struct {
	NumTotalTests             *int  `json:"numTotalTests"`
	NumRuntimeErrorTestSuites int   `json:"numRuntimeErrorTestSuites"`
	WasInterrupted            bool  `json:"wasInterrupted"`
	Success                   *bool `json:"success"`
	TestResults               []struct {
		Name             string `json:"name"`
		Status           string `json:"status"`
		Message          string `json:"message"`
		AssertionResults []struct {
			AncestorTitles []string `json:"ancestorTitles"`
			Title          string   `json:"title"`
			FullName       string   `json:"fullName"`
			Status         string   `json:"status"`
		} `json:"assertionResults"`
	} `json:"testResults"`
}

// jestStatuses maps the statuses of Jest's assertion results to ours.
var jestStatuses = map[string]pipeline.TestStatus{
	"passed":   pipeline.TestPassed,
	"failed":   pipeline.TestFailed,
	"pending":  pipeline.TestSkipped,
	"skipped":  pipeline.TestSkipped,
	"todo":     pipeline.TestSkipped,
	"disabled": pipeline.TestSkipped,
	"focused":  pipeline.TestPassed,
}

// ParseJestReport reads Jest's JSON report. A test file that failed to run (a syntax error,
// a module that cannot be found, a hook that threw) is a suite error; a report that does not
// decode (cut off) or that says the run was interrupted is incomplete.
func ParseJestReport(data []byte) Result {
	var b builder
	var rep jestReport
	if err := json.Unmarshal(data, &rep); err != nil {
		if strings.TrimSpace(string(data)) != "" {
			b.incomplete("Jest's JSON report does not decode (cut off?): %v", err)
		}
		return b.result()
	}
	if rep.NumTotalTests == nil && rep.TestResults == nil {
		return b.result() // not Jest's report
	}
	b.r.Parsed = true
	if rep.WasInterrupted {
		b.incomplete("Jest's report says the run was interrupted")
	}
	n := 0
	for _, file := range rep.TestResults {
		for _, a := range file.AssertionResults {
			st, ok := jestStatuses[a.Status]
			if !ok {
				st = pipeline.TestError
			}
			b.set(jestName(a.AncestorTitles, a.Title, a.FullName), st)
			n++
		}
		if file.Status == "failed" && len(file.AssertionResults) == 0 {
			msg := firstLine(file.Message)
			if msg == "" {
				msg = "the test file failed to run"
			}
			b.suiteError(jestFile(file.Name) + ": " + msg)
		}
	}
	if rep.NumTotalTests != nil && *rep.NumTotalTests != n {
		b.incomplete("Jest's report counts %d tests but lists %d", *rep.NumTotalTests, n)
	}
	if rep.NumRuntimeErrorTestSuites > 0 && len(b.r.SuiteErrors) == 0 {
		b.suiteError(fmt.Sprintf("%d test files failed to run", rep.NumRuntimeErrorTestSuites))
	}
	return b.result()
}

// jestName is a test's id: its full name, or its titles joined when the report gives none.
func jestName(ancestors []string, title, full string) string {
	if full = strings.TrimSpace(full); full != "" {
		return full
	}
	return strings.TrimSpace(strings.Join(append(append([]string(nil), ancestors...), title), " "))
}

// jestFile shortens the absolute path of a test file in the report to its path in the
// work directory when it has the usual form (/testbed/...).
func jestFile(p string) string {
	if rest, ok := strings.CutPrefix(p, "/testbed/"); ok {
		return rest
	}
	return path.Base(p)
}

func firstLine(s string) string {
	s = ansiRe.ReplaceAllString(s, "")
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "●") {
			return l
		}
	}
	return ""
}

var (
	// jestFileLine is the line Jest prints for each test file: PASS or FAIL and its path.
	jestFileLine = regexp.MustCompile(`^(PASS|FAIL) (\S.*?)(?: \(\d+(?:\.\d+)? ?m?s\))?$`)
	// jestTestLine is a test's line in the verbose report: its mark and title, and its time.
	jestTestLine = regexp.MustCompile(`^( *)(✓|✕|○|✎) (?:(?:skipped|todo) )?(.*?)(?: \(\d+(?:\.\d+)? ?m?s\))?$`)
	// jestTotals is the summary line of the tests.
	jestTotals = regexp.MustCompile(`^Tests: +(.*\d+ total)$`)
)

// ParseJest reads Jest's verbose text output (the fallback when its JSON report is
// missing): each file's PASS or FAIL line, then its describe blocks and tests, indented by
// nesting. Only lines in that report are read; the run is complete when Jest printed its
// summary ("Tests: ... total") and the tests it listed add up to it. A test file that failed
// to run ("Test suite failed to run") is a suite error.
func ParseJest(log []byte) Result {
	var b builder
	inFile := false
	var describes []string // the describe titles open at each indentation level
	var indents []int
	listed, total := 0, -1
	file := ""
	for _, line := range lines(log) {
		if m := jestFileLine.FindStringSubmatch(line); m != nil {
			inFile, file, describes, indents = true, m[2], nil, nil
			b.r.Parsed = true
			continue
		}
		if m := jestTotals.FindStringSubmatch(line); m != nil {
			total = jestTotal(m[1])
			b.r.Parsed = true
			inFile = false
			continue
		}
		if !inFile {
			continue
		}
		trimmed := strings.TrimSpace(line)
		switch {
		case trimmed == "":
			continue
		case strings.HasPrefix(trimmed, "● Test suite failed to run"):
			b.suiteError(file + ": the test file failed to run")
			inFile = false
			continue
		case strings.HasPrefix(trimmed, "●"):
			inFile = false // the failure details that follow the list
			continue
		}
		if m := jestTestLine.FindStringSubmatch(line); m != nil {
			indent := len(m[1])
			for len(indents) > 0 && indents[len(indents)-1] >= indent {
				indents, describes = indents[:len(indents)-1], describes[:len(describes)-1]
			}
			name := strings.TrimSpace(strings.Join(append(append([]string(nil), describes...), m[3]), " "))
			st := map[string]pipeline.TestStatus{"✓": pipeline.TestPassed, "✕": pipeline.TestFailed,
				"○": pipeline.TestSkipped, "✎": pipeline.TestSkipped}[m[2]]
			b.set(name, st)
			listed++
			continue
		}
		if strings.HasPrefix(line, " ") {
			indent := len(line) - len(strings.TrimLeft(line, " "))
			for len(indents) > 0 && indents[len(indents)-1] >= indent {
				indents, describes = indents[:len(indents)-1], describes[:len(describes)-1]
			}
			indents, describes = append(indents, indent), append(describes, trimmed)
			continue
		}
		inFile = false // something else: console output, a warning
	}
	switch {
	case !b.r.Parsed:
	case total < 0:
		b.incomplete("Jest's output ends before its summary")
	case listed < total:
		b.incomplete("Jest's summary counts %d tests but its report lists %d", total, listed)
	}
	return b.result()
}

var jestTotalRe = regexp.MustCompile(`(\d+) total$`)

func jestTotal(s string) int {
	m := jestTotalRe.FindStringSubmatch(s)
	if m == nil {
		return -1
	}
	n := 0
	fmt.Sscan(m[1], &n)
	return n
}

// jestTestFile matches the files Jest's default testMatch runs.
var jestTestFile = regexp.MustCompile(`(^|/)__tests__/.*\.[cm]?[jt]sx?$|(^|/)[^/]*[.](test|spec)\.[cm]?[jt]sx?$`)

// jestArgs is Args for Jest: --runTestsByPath and the test files among files.
func jestArgs(files []string) []string {
	var out []string
	seen := map[string]bool{}
	for _, f := range files {
		f = strings.TrimPrefix(path.Clean(f), "./")
		if f == "." || f == ".." || strings.HasPrefix(f, "../") || strings.HasPrefix(f, "/") || strings.HasPrefix(f, "-") ||
			strings.Contains("/"+f, "/__snapshots__/") || strings.Contains("/"+f, "/__fixtures__/") || strings.Contains("/"+f, "/__mocks__/") {
			continue
		}
		if jestTestFile.MatchString(f) && !seen[f] {
			seen[f] = true
			out = append(out, f)
		}
	}
	if len(out) == 0 {
		return nil
	}
	return append([]string{"--runTestsByPath"}, out...)
}
