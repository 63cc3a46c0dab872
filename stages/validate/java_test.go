package validate_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"swemill/envbuild/sandbox"
	"swemill/pipeline"
	"swemill/stages/validate"
	"swemill/testlog"
)

// TestValidateJava validates testdata/repos/javacalc.txtar, a Maven project built offline
// (its pinned junit 4.12 and Surefire 3.0.0-M5 resolved from Debian's Maven repository):
// the labels come from the Surefire reports of each run, the touched test class alone runs
// (-Dtest), and the re-runs select the FAIL_TO_PASS tests by pkg.Class#method.
func TestValidateJava(t *testing.T) {
	t.Parallel()
	sb := newSandbox(t, sandbox.Config{})
	stage := newStage(t, sb, validate.Config{Labels: testLabels(), Runs: 2, Reruns: 1})
	it := item(t, "javacalc")
	out, err := stage.Process(t.Context(), it)
	require.NoError(t, err)
	v, ok := out.Record.(pipeline.Validation)
	require.True(t, ok, "record is %T", out.Record)
	assert.Equal(t, testlog.Maven, v.LogParser)
	assert.Equal(t, []string{"src/test/java/demo/WordsTest.java"}, v.TestFiles)
	assert.Equal(t, []string{"demo.WordsTest#capitalizesEmpty", "demo.WordsTest#keepsTheRest"}, v.FailToPass, "FAIL_TO_PASS")
	assert.Equal(t, []string{"demo.WordsTest#capitalizesFirstLetter", "demo.WordsTest#countsWords"}, v.PassToPass, "PASS_TO_PASS")
	assert.Empty(t, v.PassToFail)
	assert.Empty(t, v.Flaky)
	require.NotNil(t, v.Rerun)
	assert.True(t, v.Rerun.ByID, "re-runs select by id: %s", v.Rerun.Command)
	assert.Contains(t, v.Rerun.Command, "-Dtest=demo.WordsTest#capitalizesEmpty+keepsTheRest")
	require.Len(t, v.Runs, 6)
	for _, r := range v.Runs {
		_, other := r.Results["demo.OtherTest#countsNothing"]
		assert.False(t, other, "the untouched class does not run")
		if r.Side == validate.SideBefore && !r.Rerun {
			assert.Equal(t, pipeline.TestError, r.Results["demo.WordsTest#capitalizesEmpty"])
			assert.Equal(t, pipeline.TestFailed, r.Results["demo.WordsTest#keepsTheRest"])
			assert.NotZero(t, r.ExitCode)
		}
		if r.Side == validate.SideAfter {
			assert.Zero(t, r.ExitCode)
		}
	}
}
