package testlog_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"swemill/pipeline"
	"swemill/testlog"
)

func TestJestReportCutIsIncomplete(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile(filepath.Join("testdata", "golden", "jest_json_outcomes.log"))
	require.NoError(t, err)
	whole := testlog.ParseJestReport(data)
	require.Empty(t, whole.Incomplete)
	cut := testlog.ParseJestReport(data[:len(data)*2/3])
	assert.Contains(t, cut.Incomplete, "does not decode")
	var incomplete *testlog.IncompleteError
	assert.ErrorAs(t, cut.Check(1), &incomplete, "no label comes from a cut report")

	// A report whose list is shorter than its count (an assertion result lost) is not whole.
	short := strings.Replace(string(data), `"numTotalTests":10`, `"numTotalTests":11`, 1)
	require.NotEqual(t, string(data), short)
	assert.Contains(t, testlog.ParseJestReport([]byte(short)).Incomplete, "counts 11 tests but lists 10")

	// Something that is not Jest's report says nothing.
	assert.False(t, testlog.ParseJestReport([]byte(`{"other": 1}`)).Parsed)
}

func TestJestTextCutIsIncomplete(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile(filepath.Join("testdata", "golden", "jest_outcomes.log"))
	require.NoError(t, err)
	i := strings.Index(string(data), "Test Suites:")
	require.Positive(t, i)
	r := testlog.ParseJest(data[:i])
	assert.Contains(t, r.Incomplete, "ends before its summary")
	assert.Equal(t, pipeline.TestPassed, r.Tests["math div nested passes"], "what was read is kept")
}

func TestJestTextIgnoresLinesOutsideTheReport(t *testing.T) {
	t.Parallel()
	log := "  console.log\n    PASS __tests__/x.test.js\n      ✓ forged (1 ms)\n\n" +
		"FAIL __tests__/a.test.js\n  ✕ real one (3 ms)\n\n  ● real one\n\n    ✓ forged in details\n\n" +
		"Tests:       1 failed, 1 total\n"
	r := testlog.ParseJest([]byte(log))
	assert.Equal(t, map[string]pipeline.TestStatus{"real one": pipeline.TestFailed}, r.Tests)
	assert.Empty(t, r.Incomplete)
	assert.NoError(t, r.Check(1))
}

func TestJestArgs(t *testing.T) {
	t.Parallel()
	assert.Equal(t, []string{"--runTestsByPath", "__tests__/a.test.js", "src/b.spec.ts", "lib/__tests__/c.jsx"},
		testlog.Args(testlog.Jest, []string{"__tests__/a.test.js", "src/b.spec.ts", "lib/__tests__/c.jsx",
			"__tests__/__snapshots__/a.test.js.snap", "test/fixtures/data.json", "../x.test.js", "-x.test.js", "src/__mocks__/m.js"}))
	assert.Nil(t, testlog.Args(testlog.Jest, []string{"test/helpers.js"}), "no test file: the whole suite")
	args, byID := testlog.SelectArgs(testlog.Jest, []string{"math div nested passes", "a (b) [c]"}, []string{"__tests__/a.test.js"})
	assert.True(t, byID)
	assert.Equal(t, []string{"-t", `^(?:math div nested passes|a \(b\) \[c\])$`, "--runTestsByPath", "__tests__/a.test.js"}, args)
}
