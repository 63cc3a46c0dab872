package validate_test

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"swemill/pipeline"
	"swemill/stages/validate"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// TestWriteTestTable compares the table `swemill show` prints with testdata/table.golden
// (-update rewrites it).
func TestWriteTestTable(t *testing.T) {
	t.Parallel()
	ref := func(name, digest string) pipeline.ArtifactRef {
		return pipeline.ArtifactRef{Name: name, Digest: "sha256:" + digest + "0123456789abcdef0123456789abcdef0123456789abcdef", Size: 1234}
	}
	run := func(side string, i, exit int, results map[string]pipeline.TestStatus) pipeline.TestRun {
		return pipeline.TestRun{Side: side, Index: i, ExitCode: exit, Seconds: 1.5 + float64(i), Log: ref(validate.LogArtifact(side, i), "abcdef0123456789"), Results: results}
	}
	v := pipeline.Validation{
		FailToPass: []string{"tests/test_x.py::test_new[a b]"},
		PassToPass: []string{"tests/test_x.py::TestOld::test_kept"},
		PassToFail: []string{"tests/test_x.py::test_broken"},
		Flaky: []pipeline.FlakyTest{
			{Name: "tests/test_x.py::test_flaky", Side: "before", PassRate: 2.0 / 3, Runs: 3},
			{Name: "tests/test_x.py::test_flaky", Side: "after", PassRate: 1.0 / 3, Runs: 3},
		},
		LogParser: "pytest",
		TestFiles: []string{"tests/test_x.py"},
	}
	for i := range 3 {
		flaky := pipeline.TestPassed
		if i == 1 {
			flaky = pipeline.TestFailed
		}
		v.Runs = append(v.Runs, run("before", i, 1, map[string]pipeline.TestStatus{
			"tests/test_x.py::TestOld::test_kept": pipeline.TestPassed, "tests/test_x.py::test_broken": pipeline.TestPassed,
			"tests/test_x.py::test_flaky": flaky, "tests/test_x.py::test_skipped": pipeline.TestSkipped,
		}))
	}
	for i := range 3 {
		flaky := pipeline.TestFailed
		if i == 1 {
			flaky = pipeline.TestPassed
		}
		v.Runs = append(v.Runs, run("after", i, 1, map[string]pipeline.TestStatus{
			"tests/test_x.py::TestOld::test_kept": pipeline.TestPassed, "tests/test_x.py::test_broken": pipeline.TestError,
			"tests/test_x.py::test_flaky": flaky, "tests/test_x.py::test_skipped": pipeline.TestSkipped,
			"tests/test_x.py::test_new[a b]": pipeline.TestPassed,
		}))
	}
	v.Runs[5].TimedOut, v.Runs[5].OOM = true, true
	// Two re-runs a side of the FAIL_TO_PASS test alone, with seeds, after each side's runs.
	rerun := func(side string, i int, st pipeline.TestStatus) pipeline.TestRun {
		r := run(side, i, 1, map[string]pipeline.TestStatus{"tests/test_x.py::test_new[a b]": st})
		r.Rerun, r.Seed = true, uint32(1000+i)
		return r
	}
	v.Runs = slices.Concat(v.Runs[:3], []pipeline.TestRun{rerun("before", 3, pipeline.TestFailed), rerun("before", 4, "")},
		v.Runs[3:], []pipeline.TestRun{rerun("after", 3, pipeline.TestPassed), rerun("after", 4, pipeline.TestPassed)})
	v.Rerun = &pipeline.Rerun{Runs: 2, Command: "pytest -rA 'tests/test_x.py::test_new[a b]'", ByID: true}
	v.Warnings = []string{"a warning"}
	var got bytes.Buffer
	require.NoError(t, validate.WriteTestTable(&got, v))
	p := filepath.Join("testdata", "table.golden")
	if *update {
		require.NoError(t, os.WriteFile(p, got.Bytes(), 0o644))
	}
	want, err := os.ReadFile(p)
	require.NoError(t, err, "run with -update to write it")
	assert.Equal(t, string(want), got.String())
}
