package testlog

import (
	"regexp"
	"strings"

	"swemill/pipeline"
)

var (
	// pytestHeaderRe matches a section header or the closing line: "==== title ====".
	pytestHeaderRe = regexp.MustCompile(`^=+ (.+?) =+$`)
	// pytestFinalRe matches the closing line's title: "3 failed, 2 passed in 0.12s",
	// "no tests ran in 0.01s", "1 passed in 65.02s (0:01:05)".
	pytestFinalRe = regexp.MustCompile(`\bin [0-9]+(\.[0-9]+)?s\b`)
	// pytestPercentRe ends a verbose line: "[ 42%]".
	pytestPercentRe = regexp.MustCompile(`\s\[\s*[0-9]{1,3}%\]$`)
	// pytestXdistRe is a verbose line of pytest-xdist: "[gw0] [ 50%] PASSED path::test".
	pytestXdistRe = regexp.MustCompile(`^\[gw[0-9]+\] \[\s*[0-9]{1,3}%\] ([A-Z]+) (.+)$`)
	// pytestSkipLocRe is the location form of a skip in the summary: "path.py:12: reason".
	pytestSkipLocRe = regexp.MustCompile(`^\S+\.py:[0-9]+: `)
)

var pytestStatuses = map[string]pipeline.TestStatus{
	"PASSED":  pipeline.TestPassed,
	"FAILED":  pipeline.TestFailed,
	"ERROR":   pipeline.TestError,
	"SKIPPED": pipeline.TestSkipped,
	"XFAIL":   pipeline.TestXFail,
	"XPASS":   pipeline.TestXPass,
}

// ParsePytest reads pytest's output. The short test summary (-rA) is what counts: its
// lines are read only inside the last "short test summary info" section, so output that
// tests print (shown in other sections, summary headers included) is never taken for
// results. Verbose lines (-v), read only
// in the "test session starts" section, add what the summary leaves out: the node ids of
// skipped tests. A module that cannot be collected, or a usage error ("file or directory not
// found"), is a suite error. A session that began and never printed its closing line is
// incomplete. Node ids keep pytest's form, parameters included:
// "tests/test_x.py::TestClass::test_y[a b-[1]]".
func ParsePytest(log []byte) Result {
	var b builder
	all := lines(log)
	// Only the last summary header is pytest's own: a test's captured output, shown in an
	// earlier section, may print one.
	last := -1
	for i, line := range all {
		if m := pytestHeaderRe.FindStringSubmatch(line); m != nil && strings.EqualFold(m[1], "short test summary info") {
			last = i
		}
	}
	section := ""
	began, ended := false, false
	for i, line := range all {
		if m := pytestHeaderRe.FindStringSubmatch(line); m != nil {
			section = strings.ToLower(m[1])
			if section == "short test summary info" && i != last {
				section = "output"
			}
			if section == "test session starts" {
				began = true
			}
			if pytestFinalRe.MatchString(m[1]) {
				b.r.Parsed, ended = true, true
			}
			continue
		}
		switch section {
		case "":
			// Before the session header: usage errors.
			if msg, ok := strings.CutPrefix(line, "ERROR: "); ok {
				b.suiteError(msg)
			}
		case "test session starts":
			pytestVerbose(&b, line)
		case "short test summary info":
			pytestSummary(&b, line)
		}
	}
	if began && !ended {
		b.incomplete("pytest's output has no closing summary line: the session never finished (killed or crashed)")
	}
	return b.result()
}

// pytestSummary reads one line of the short test summary.
func pytestSummary(b *builder, line string) {
	word, rest, ok := strings.Cut(line, " ")
	status, known := pytestStatuses[word]
	if !ok || !known || rest == "" {
		return
	}
	if status == pipeline.TestSkipped {
		// "SKIPPED [2] path.py:12: reason" names a location, not a test; pytest 8 names
		// the test in verbose mode ("SKIPPED [1] path.py::test_x - reason").
		count, after, ok := strings.Cut(rest, " ")
		if !ok || !strings.HasPrefix(count, "[") || pytestSkipLocRe.MatchString(after) {
			b.r.Parsed = true
			return
		}
		rest = after
	}
	id := pytestNodeID(rest, summaryEnd)
	if !strings.Contains(id, "::") {
		// A module that could not be collected: "ERROR tests/test_x.py - ImportError".
		if status == pipeline.TestError || status == pipeline.TestFailed {
			b.suiteError("collecting " + id + " failed")
		}
		return
	}
	b.set(id, status)
}

// pytestVerbose reads a verbose line: "path::test[param] PASSED   [ 42%]", with an optional
// reason in parentheses after the status, or pytest-xdist's "[gw0] [ 42%] PASSED path::test".
func pytestVerbose(b *builder, line string) {
	if m := pytestXdistRe.FindStringSubmatch(line); m != nil {
		if s, ok := pytestStatuses[m[1]]; ok && strings.Contains(m[2], "::") {
			b.set(pytestNodeID(m[2], summaryEnd), s)
		}
		return
	}
	if !strings.Contains(line, "::") || !pytestPercentRe.MatchString(line) {
		return
	}
	id := pytestNodeID(line, verboseEnd)
	rest := strings.TrimPrefix(line[len(id):], " ")
	word, _, _ := strings.Cut(rest, " ")
	if s, ok := pytestStatuses[word]; ok && strings.Contains(id, "::") {
		b.set(id, s)
	}
}

// pytestNodeID returns the node id at the start of s, where s is a node id followed by
// nothing, by " - message", or by " reason". A node id is a path (which may hold spaces),
// then "::"-separated names (which cannot), then perhaps parameters in brackets, which may
// hold anything, brackets and " - " included. The parameters end at a "]" that closes the
// first "[" (or closes more brackets than were opened): the first such "]" after which
// ends(rest) holds, or else the first one. A string without "::" before any " - " is a bare
// path (a collection error).
func pytestNodeID(s string, ends func(rest string) bool) string {
	colons := strings.Index(s, "::")
	dash := strings.Index(s, " - ")
	if colons < 0 || (dash >= 0 && dash < colons) {
		if dash >= 0 {
			return s[:dash]
		}
		return s
	}
	j := colons
	for j < len(s) {
		if strings.HasPrefix(s[j:], "::") {
			j += 2
			continue
		}
		c := s[j]
		if c == '_' || c == '.' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c >= 0x80 {
			j++
			continue
		}
		break
	}
	if j >= len(s) || s[j] != '[' {
		return s[:j]
	}
	depth, first := 0, -1
	for k := j; k < len(s); k++ {
		switch s[k] {
		case '[':
			depth++
		case ']':
			depth--
			if depth > 0 {
				continue
			}
			if ends(s[k+1:]) {
				return s[:k+1]
			}
			if first < 0 {
				first = k
			}
		}
	}
	if first >= 0 {
		return s[:first+1]
	}
	return s
}

// summaryEnd says where a node id ends in a summary line: at the end, or before " - ".
func summaryEnd(rest string) bool { return rest == "" || strings.HasPrefix(rest, " - ") }

// verboseEnd says where a node id ends in a verbose line: before its status.
func verboseEnd(rest string) bool {
	word, _, _ := strings.Cut(strings.TrimPrefix(rest, " "), " ")
	_, ok := pytestStatuses[word]
	return ok && strings.HasPrefix(rest, " ")
}
