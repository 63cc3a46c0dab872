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
			// The tests a row can label: PASSED (after the fix, or on both sides) and FAILED
			// (before it); XFAIL and ERROR ones are what SWEbenchParser calls risky.
			var ids []string
			for id, s := range ours.Tests {
				if s == pipeline.TestPassed || s == pipeline.TestFailed {
					ids = append(ids, id)
				}
			}
			parser, why := testlog.SWEbenchParser(c.parser, ids, nil)
			out := testlog.SWEbenchOutput(c.parser, log)
			if parser == "" {
				require.NotEmpty(t, why)
				for _, cand := range []string{testlog.SWEbenchPytest, testlog.SWEbenchPytestV2, testlog.SWEbenchDjango, testlog.SWEbenchSympy, testlog.SWEbenchGoTest, testlog.SWEbenchMaven, testlog.SWEbenchCargo} {
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
			named[parser] = true
			theirs, ok := testlog.SWEbenchStatuses(parser, out)
			require.True(t, ok)
			// What grading reads: a test passes for SWE-bench's harness (PASSED or XFAIL in the
			// parser's map; absent is a failure) exactly when it passes for us.
			for _, id := range ids {
				s, got := ours.Tests[id], theirs[id]
				if forged[c.name][id] {
					assert.NotEqual(t, testlog.IsPass(s), testlog.IsPass(pipeline.TestStatus(got)), "%q: the forged line should fool %s", id, parser)
					continue
				}
				assert.Equal(t, testlog.IsPass(s), testlog.IsPass(pipeline.TestStatus(got)), "%q: ours %s, %s's %q", id, s, parser, got)
			}
		})
	}
	for _, p := range []string{testlog.SWEbenchPytest, testlog.SWEbenchPytestV2, testlog.SWEbenchGoTest, testlog.SWEbenchCargo} {
		assert.True(t, named[p], "no captured log was checked against %s", p)
	}
}

func TestSWEbenchParserByIDForm(t *testing.T) {
	for _, c := range []struct {
		ours, id string
		risky    bool
		want     string
	}{
		{testlog.Pytest, "tests/test_a.py::test_x[1-2]", false, testlog.SWEbenchPytest},
		{testlog.Pytest, "tests/test_a.py::test_x[1-2]", true, testlog.SWEbenchPytest},
		{testlog.Pytest, "tests/test_a.py::test_x[a b]", false, testlog.SWEbenchPytestV2},
		{testlog.Pytest, "tests/test_a.py::test_x[a b]", true, ""},
		{testlog.Pytest, "tests/test_a.py::test_x[a  b]", false, ""},
		{testlog.Pytest, "tests/test_a.py::test_x[a \x1b[1m b]", false, ""},
		{testlog.Pytest, "tests/test_a.py::test_x[\x1b[1m]", false, testlog.SWEbenchPytest},
		{testlog.Pytest, "tests/test_a.py::test_x[a\tb]", false, ""},
		{testlog.Pytest, "tests/test_a.py::test_x[a\x1fb]", false, ""},
		{testlog.Pytest, "[1]", false, ""},
		{testlog.GoTest, "TestX/sub_case", false, testlog.SWEbenchGoTest},
		{testlog.Sympy, "test_expand", false, ""},
		{testlog.Cargo, "tests::parses_r#type", false, testlog.SWEbenchCargo},
		{testlog.Cargo, "tests::panics - should panic", false, ""},
		{testlog.Cargo, "src/lib.rs - add (line 5)", false, ""},
		{testlog.Jest, "words counts words", false, ""},
		{testlog.Unittest, "test_x (m.C)", false, ""},
		{testlog.Django, "test_x (m.C)", false, ""},
	} {
		got, why := testlog.SWEbenchParser(c.ours, []string{c.id}, func(string) bool { return c.risky })
		assert.Equal(t, c.want, got, "%s %q risky=%v", c.ours, c.id, c.risky)
		assert.Equal(t, c.want == "", why != "", "%s %q: %s", c.ours, c.id, why)
	}
	assert.Equal(t, "go test -v -count=1 ./...", testlog.SWEbenchCommand(testlog.GoTest, "go test -json -count=1 ./..."))
}
