package testlog_test

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"swemill/pipeline"
	"swemill/testlog"
)

// TestSWEbenchParsersYieldOurIDs feeds every captured log of a test command's output to our
// parser and to the port of the SWE-bench parser SWEbenchParser names for its ids, and
// requires the same ids with the same pass or fail: what SWE-bench's harness reads from an
// eval script's output is what our labels say. Where no SWE-bench parser yields our ids,
// SWEbenchParser says so and the port must indeed miss one.
//
// One divergence is known and checked as such: in gotest_all a test prints lines that look
// like go test's results for other tests; parse_log_gotest reads them as results (our
// parser reads go test -json's events, which a test cannot forge).
func TestSWEbenchParsersYieldOurIDs(t *testing.T) {
	forged := map[string]map[string]bool{"gotest_all": {"TestPass": true, "TestFail": true}}
	named := map[string]bool{}
	for _, c := range goldenCases {
		if c.stream != "" && c.stream != testlog.StreamOutput {
			continue // a result file of our pytest plugin, not a command's output
		}
		t.Run(c.name, func(t *testing.T) {
			log, _, _ := readGolden(t, c.name)
			ours, err := testlog.ReadStream(c.parser, testlog.StreamOutput, bytes.NewReader(log), 0)
			require.NoError(t, err)
			var ids []string
			for id := range ours.Tests {
				ids = append(ids, id)
			}
			parser, why := testlog.SWEbenchParser(c.parser, ids)
			out := testlog.SWEbenchOutput(c.parser, log)
			if parser == "" {
				require.NotEmpty(t, why)
				for _, cand := range []string{testlog.SWEbenchPytest, testlog.SWEbenchDjango, testlog.SWEbenchSympy, testlog.SWEbenchGoTest} {
					theirs, _ := testlog.SWEbenchStatuses(cand, out)
					missing := false
					for _, id := range ids {
						if _, ok := theirs[id]; !ok {
							missing = true
						}
					}
					assert.True(t, missing || len(ids) == 0, "%s yields every id, yet none was named (%s)", cand, why)
				}
				return
			}
			named[c.parser] = true
			theirs, ok := testlog.SWEbenchStatuses(parser, out)
			require.True(t, ok)
			// What grading reads: a test passes for SWE-bench's harness (PASSED or XFAIL in the
			// parser's map; absent is a failure) exactly when it passes for us.
			for id, s := range ours.Tests {
				got := theirs[id]
				if forged[c.name][id] {
					assert.NotEqual(t, testlog.IsPass(s), testlog.IsPass(pipeline.TestStatus(got)), "%q: the forged line should fool %s", id, parser)
					continue
				}
				assert.Equal(t, testlog.IsPass(s), testlog.IsPass(pipeline.TestStatus(got)), "%q: ours %s, %s's %q", id, s, parser, got)
			}
		})
	}
	for _, p := range []string{testlog.Pytest, testlog.GoTest} {
		assert.True(t, named[p], "no captured %s log was checked against a SWE-bench parser", p)
	}
}

func TestSWEbenchParserByIDForm(t *testing.T) {
	for _, c := range []struct {
		ours, id, want string
	}{
		{testlog.Pytest, "tests/test_a.py::test_x[1-2]", testlog.SWEbenchPytest},
		{testlog.Pytest, "tests/test_a.py::test_x[a b]", ""},
		{testlog.Pytest, "tests/test_a.py::test_x[\x1b[1m]", testlog.SWEbenchPytest},
		{testlog.Pytest, "tests/test_a.py::test_x[a\x1fb]", ""},
		{testlog.Pytest, "[1]", ""},
		{testlog.GoTest, "TestX/sub_case", testlog.SWEbenchGoTest},
		{testlog.Sympy, "test_expand", ""},
		{testlog.Unittest, "test_x (m.C)", ""},
		{testlog.Django, "test_x (m.C)", ""},
	} {
		got, why := testlog.SWEbenchParser(c.ours, []string{c.id})
		assert.Equal(t, c.want, got, "%s %q", c.ours, c.id)
		assert.Equal(t, c.want == "", why != "", "%s %q: %s", c.ours, c.id, why)
	}
	assert.Equal(t, "go test -v -count=1 ./...", testlog.SWEbenchCommand(testlog.GoTest, "go test -json -count=1 ./..."))
}
