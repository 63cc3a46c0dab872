package testlog_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"swemill/pipeline"
	"swemill/testlog"
)

// want is a golden case's expectation, written by hand from what its suite does.
type want struct {
	ExitCode int  `json:"exit_code"`
	Parsed   bool `json:"parsed"`
	// SuiteErrors holds one substring per expected suite error.
	SuiteErrors []string                       `json:"suite_errors"`
	Tests       map[string]pipeline.TestStatus `json:"tests"`
	// Incomplete is a substring of the expected Result.Incomplete; empty: complete.
	Incomplete string `json:"incomplete"`
}

func readGolden(t *testing.T, name string) ([]byte, int, want) {
	t.Helper()
	base := filepath.Join("testdata", "golden", name)
	log, err := os.ReadFile(base + ".log")
	require.NoError(t, err)
	exitText, err := os.ReadFile(base + ".exit")
	require.NoError(t, err)
	exit, err := strconv.Atoi(strings.TrimSpace(string(exitText)))
	require.NoError(t, err)
	data, err := os.ReadFile(base + ".want.json")
	require.NoError(t, err)
	var w want
	require.NoError(t, json.Unmarshal(data, &w))
	return log, exit, w
}

// TestGolden parses every captured log (see capture_test.go; -update captures them again)
// and compares the result with the hand-written expectation, then cross-checks it with the
// exit code the command really had.
func TestGolden(t *testing.T) {
	switch {
	case *update:
		captureCases(t, nil)
	case *capture != "":
		only := map[string]bool{}
		for _, n := range strings.Split(*capture, ",") {
			only[n] = true
		}
		captureCases(t, only)
	}
	for _, c := range goldenCases {
		t.Run(c.name, func(t *testing.T) {
			log, exit, w := readGolden(t, c.name)
			assert.Equal(t, w.ExitCode, exit, "the captured exit code")
			stream := c.stream
			if stream == "" {
				stream = testlog.StreamOutput
			}
			got, err := testlog.ReadStream(c.parser, stream, bytes.NewReader(log), 0)
			require.NoError(t, err)
			assert.Equal(t, w.Parsed, got.Parsed)
			assert.Equal(t, w.Tests, got.Tests)
			require.Len(t, got.SuiteErrors, len(w.SuiteErrors), "suite errors: %q", got.SuiteErrors)
			for i, sub := range w.SuiteErrors {
				assert.Contains(t, got.SuiteErrors[i], sub)
			}
			if w.Incomplete != "" {
				assert.Contains(t, got.Incomplete, w.Incomplete)
				var inc *testlog.IncompleteError
				assert.ErrorAs(t, got.Check(exit), &inc)
				return
			}
			assert.Empty(t, got.Incomplete)
			assert.NoError(t, got.Check(exit), "a real run's output agrees with its exit code")
		})
	}
}

// TestGoldenCasesHaveFiles makes sure no golden file is left without a case.
func TestGoldenCasesHaveFiles(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "golden", "*.log"))
	require.NoError(t, err)
	names := map[string]bool{}
	for _, c := range goldenCases {
		names[c.name] = true
	}
	for _, f := range files {
		assert.True(t, names[strings.TrimSuffix(filepath.Base(f), ".log")], "%s has no case", f)
	}
	assert.Len(t, files, len(goldenCases))
}
