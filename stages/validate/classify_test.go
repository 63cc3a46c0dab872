package validate

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"swemill/pipeline"
)

func runsOf(side string, results ...map[string]pipeline.TestStatus) []pipeline.TestRun {
	var out []pipeline.TestRun
	for i, r := range results {
		out = append(out, pipeline.TestRun{Side: side, Index: i, Results: r})
	}
	return out
}

const (
	P = pipeline.TestPassed
	F = pipeline.TestFailed
	E = pipeline.TestError
	S = pipeline.TestSkipped
	X = pipeline.TestXFail
	U = pipeline.TestXPass
)

// TestClassify covers the rules: missing, FAILED and ERROR fail; PASSED and XFAIL pass;
// SKIPPED and XPASS are neither; a test that changes outcome within a side is flaky there,
// even between two kinds of failure it is not.
func TestClassify(t *testing.T) {
	before := runsOf(SideBefore,
		map[string]pipeline.TestStatus{"f2p_missing": "", "f2p_error": E, "f2p_fail": F, "p2p": P, "p2p_xfail": X, "p2f": P, "flaky_before": P, "skip": S, "fails": F, "mixed_fail": F, "xpass": U},
		map[string]pipeline.TestStatus{"f2p_error": E, "f2p_fail": F, "p2p": P, "p2p_xfail": X, "p2f": P, "flaky_before": F, "skip": S, "fails": F, "mixed_fail": E, "xpass": U},
		map[string]pipeline.TestStatus{"f2p_error": F, "f2p_fail": F, "p2p": P, "p2p_xfail": P, "p2f": P, "skip": S, "fails": F, "xpass": U},
	)
	after := runsOf(SideAfter,
		map[string]pipeline.TestStatus{"f2p_missing": P, "f2p_error": P, "f2p_fail": X, "p2p": P, "p2p_xfail": X, "p2f": F, "flaky_before": P, "skip": P, "fails": F, "mixed_fail": P, "xpass": P, "flaky_after": P},
		map[string]pipeline.TestStatus{"f2p_missing": P, "f2p_error": P, "f2p_fail": P, "p2p": P, "p2p_xfail": X, "p2f": E, "flaky_before": P, "skip": P, "fails": F, "mixed_fail": P, "xpass": P},
		map[string]pipeline.TestStatus{"f2p_missing": P, "f2p_error": P, "f2p_fail": P, "p2p": P, "p2p_xfail": X, "flaky_before": P, "skip": P, "fails": E, "mixed_fail": P, "xpass": P, "flaky_after": P},
	)
	v := classify(append(before, after...))
	assert.Equal(t, []string{"f2p_error", "f2p_fail", "f2p_missing", "mixed_fail"}, v.failToPass)
	assert.Equal(t, []string{"p2p", "p2p_xfail"}, v.passToPass)
	assert.Equal(t, []string{"p2f"}, v.passToFail)
	assert.Equal(t, []pipeline.FlakyTest{
		{Name: "flaky_after", Side: SideAfter, PassRate: 2.0 / 3, Runs: 3},
		{Name: "flaky_before", Side: SideBefore, PassRate: 1.0 / 3, Runs: 3},
	}, v.flaky)
	assert.Equal(t, 12, v.tests)
	assert.Equal(t, 10, v.stable)
}

func TestClassifyAllFlaky(t *testing.T) {
	v := classify(append(
		runsOf(SideBefore, map[string]pipeline.TestStatus{"a": P}, map[string]pipeline.TestStatus{"a": F}),
		runsOf(SideAfter, map[string]pipeline.TestStatus{"a": P}, map[string]pipeline.TestStatus{"a": P})...))
	assert.Empty(t, v.failToPass)
	assert.Equal(t, 1, v.tests)
	assert.Zero(t, v.stable)
}

func TestConfigValidate(t *testing.T) {
	assert.NoError(t, Config{}.Validate())
	assert.ErrorContains(t, Config{Runs: -1}.Validate(), "Config.Runs")
	assert.ErrorContains(t, Config{Parallel: 1000}.Validate(), "Config.Parallel")
	assert.ErrorContains(t, Config{RunTimeout: 10}.Validate(), "Config.RunTimeout")
	d := Config{}.withDefaults()
	assert.Equal(t, 3, d.Runs)
	assert.Equal(t, 2, d.Parallel)
	assert.Equal(t, DefaultReruns, d.Reruns)
	assert.Equal(t, DefaultJitter, d.Jitter)
	off := Config{Reruns: -1, Jitter: -1}.withDefaults()
	assert.Zero(t, off.Reruns)
	assert.Zero(t, off.Jitter)
	assert.ErrorContains(t, Config{Reruns: 51}.Validate(), "Config.Reruns")
	assert.ErrorContains(t, Config{Jitter: time.Hour}.Validate(), "Config.Jitter")
}

// TestConfirm covers the re-runs' rules: before the fix a FAIL_TO_PASS test must fail or be
// missing in every re-run, after it pass in every re-run that reports it; one disagreement
// makes it flaky, with its pass rate over every run of the side; a test the re-runs after
// the fix never reported keeps its label, flagged unselected.
func TestConfirm(t *testing.T) {
	full := append(
		runsOf(SideBefore, map[string]pipeline.TestStatus{"ok": F, "late_pass": F, "late_fail": F, "unsel": F}, map[string]pipeline.TestStatus{"ok": E, "late_pass": F, "late_fail": F, "unsel": F}),
		runsOf(SideAfter, map[string]pipeline.TestStatus{"ok": P, "late_pass": P, "late_fail": P, "unsel": P}, map[string]pipeline.TestStatus{"ok": X, "late_pass": P, "late_fail": P, "unsel": P})...)
	rerun := func(side string, i int, r map[string]pipeline.TestStatus) pipeline.TestRun {
		return pipeline.TestRun{Side: side, Index: i, Rerun: true, Results: r}
	}
	runs := append(full,
		rerun(SideBefore, 2, map[string]pipeline.TestStatus{"ok": F, "late_pass": P}),
		rerun(SideBefore, 3, map[string]pipeline.TestStatus{"late_pass": F}),
		rerun(SideAfter, 2, map[string]pipeline.TestStatus{"ok": P, "late_pass": P, "late_fail": S}),
		rerun(SideAfter, 3, map[string]pipeline.TestStatus{"ok": P, "late_pass": P, "late_fail": F}),
	)
	c := confirm(runs, []string{"late_fail", "late_pass", "ok", "unsel"})
	assert.Equal(t, []string{"ok", "unsel"}, c.failToPass)
	assert.Equal(t, []string{"unsel"}, c.unselected)
	assert.Equal(t, []pipeline.FlakyTest{
		{Name: "late_fail", Side: SideAfter, PassRate: 2.0 / 4, Runs: 4},
		{Name: "late_pass", Side: SideBefore, PassRate: 1.0 / 4, Runs: 4},
	}, c.flaky)
	// Re-runs are not full runs: classify reads the full ones only, so tests the re-runs
	// did not select are not taken for missing.
	v := classify(runs)
	assert.Equal(t, []string{"late_fail", "late_pass", "ok", "unsel"}, v.failToPass)
	assert.Empty(t, v.flaky)
}

// TestSeedOf: seeds are stable for a run, differ between the runs of an instance, and are
// never 0 (which would turn Python's hash randomization off).
func TestSeedOf(t *testing.T) {
	assert.Equal(t, seedOf("o__r-1", SideBefore, 0), seedOf("o__r-1", SideBefore, 0))
	seen := map[uint32]bool{}
	for _, side := range []string{SideBefore, SideAfter} {
		for i := range 20 {
			s := seedOf("o__r-1", side, i)
			assert.NotZero(t, s)
			assert.False(t, seen[s], "seed %d repeats", s)
			seen[s] = true
		}
	}
}
