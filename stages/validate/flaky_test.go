package validate_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"swemill/envbuild/sandbox"
	"swemill/pipeline"
	"swemill/stages/validate"
)

// TestFlakesNeverLabelled validates hostile_flaky with the default configuration: a test
// that fails for a third of hash seeds and one that fails two seconds in three, both
// failing before the fix, never reach the labels; the fix's own test does. A flake that
// passed in some run is reported flaky after the fix, with its pass rate over every run
// that reported it.
func TestFlakesNeverLabelled(t *testing.T) {
	t.Parallel()
	labels := testLabels()
	stage := newStage(t, newSandbox(t, sandbox.Config{}), validate.Config{Labels: labels})
	it := item(t, "hostile_flaky")
	out, err := stage.Process(t.Context(), it)
	assert.Empty(t, containersWith(t, labels), "no container is left")
	require.NoError(t, err)
	v := out.Record.(pipeline.Validation)
	assert.Equal(t, []string{"tests/test_calc.py::test_mul"}, v.FailToPass)
	assert.Equal(t, []string{"tests/test_calc.py::test_add"}, v.PassToPass)
	flaky := map[string]pipeline.FlakyTest{}
	for _, f := range v.Flaky {
		assert.Equal(t, validate.SideAfter, f.Side, "%s fails throughout before the fix", f.Name)
		assert.Greater(t, f.PassRate, 0.0, f.Name)
		assert.Less(t, f.PassRate, 1.0, f.Name)
		flaky[f.Name] = f
	}
	// A flake that passed in any run is reported flaky; one that failed in every run (the
	// clock test does, a run in three or so) is simply not labelled.
	for _, test := range []string{"tests/test_calc.py::test_hash_order", "tests/test_calc.py::test_clock"} {
		passed := 0
		for _, r := range v.Runs {
			if r.Results[test] == pipeline.TestPassed {
				passed++
			}
		}
		if passed > 0 {
			assert.Contains(t, flaky, test, "passed in %d runs", passed)
		}
		t.Logf("%s passed in %d of %d runs", test, passed, len(v.Runs)/2)
	}
	require.NotNil(t, v.Rerun)
	t.Logf("flaky: %+v", v.Flaky)
}

// TestGoShuffle turns validate's shuffle on: each go test run takes its seed for -shuffle,
// and says so in its log.
func TestGoShuffle(t *testing.T) {
	t.Parallel()
	labels := testLabels()
	stage := newStage(t, newSandbox(t, sandbox.Config{}), validate.Config{Runs: 1, Reruns: -1, Shuffle: true, Labels: labels})
	it := item(t, "gokit")
	out, err := stage.Process(t.Context(), it)
	assert.Empty(t, containersWith(t, labels), "no container is left")
	require.NoError(t, err)
	v := out.Record.(pipeline.Validation)
	require.Len(t, v.Runs, 2)
	for _, r := range v.Runs {
		require.NotZero(t, r.Seed)
		assert.Contains(t, readArtifact(t, it, r.Log), fmt.Sprintf("-test.shuffle %d", r.Seed))
	}
}
