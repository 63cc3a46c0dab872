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

// TestValidateJavaScript validates testdata/repos/jskit.txtar, a Jest project built offline
// (Debian's Jest runs it): the labels come from Jest's JSON report of each run, the touched
// test file alone runs (--runTestsByPath), and the re-runs select the FAIL_TO_PASS tests by
// their full names (-t).
func TestValidateJavaScript(t *testing.T) {
	t.Parallel()
	sb := newSandbox(t, sandbox.Config{})
	stage := newStage(t, sb, validate.Config{Labels: testLabels(), Runs: 2, Reruns: 1})
	it := item(t, "jskit")
	out, err := stage.Process(t.Context(), it)
	require.NoError(t, err)
	v, ok := out.Record.(pipeline.Validation)
	require.True(t, ok, "record is %T", out.Record)
	assert.Equal(t, testlog.Jest, v.LogParser)
	assert.Equal(t, []string{"__tests__/words.test.js"}, v.TestFiles)
	assert.Equal(t, []string{"words ignores extra spaces", "words initials skips empty words"}, v.FailToPass, "FAIL_TO_PASS")
	assert.Equal(t, []string{"words counts words", "words initials takes first letters"}, v.PassToPass, "PASS_TO_PASS")
	assert.Empty(t, v.PassToFail)
	assert.Empty(t, v.Flaky)
	require.NotNil(t, v.Rerun)
	assert.True(t, v.Rerun.ByID, "re-runs select by id: %s", v.Rerun.Command)
	assert.Contains(t, v.Rerun.Command, `-t '^(?:words ignores extra spaces|words initials skips empty words)$'`)
	require.Len(t, v.Runs, 6)
	for _, r := range v.Runs {
		_, other := r.Results["doubles"]
		assert.False(t, other, "the untouched file does not run")
		if r.Side == validate.SideBefore && !r.Rerun {
			assert.Equal(t, pipeline.TestFailed, r.Results["words ignores extra spaces"])
			assert.Equal(t, pipeline.TestPassed, r.Results["words counts words"])
			assert.NotZero(t, r.ExitCode)
		}
		if r.Side == validate.SideAfter {
			assert.Zero(t, r.ExitCode)
		}
		if r.Rerun && r.Side == validate.SideAfter {
			assert.Equal(t, pipeline.TestPassed, r.Results["words initials skips empty words"])
		}
	}
}
