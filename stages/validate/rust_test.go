package validate_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"swemill/envbuild/sandbox"
	"swemill/pipeline"
	"swemill/stages/validate"
)

// TestValidateRust validates the Rust fixture (testdata/repos/rustunits.txtar), built offline
// from its inferred cargo recipe, with the default configuration, and checks the exact lists
// (libtest names, a #[should_panic] test with the mode libtest prints), the command that
// runs just the touched test targets, the re-runs by name, and that no container is left.
func TestValidateRust(t *testing.T) {
	t.Parallel()
	labels := testLabels()
	stage := newStage(t, newSandbox(t, sandbox.Config{}), validate.Config{Labels: labels})
	it := item(t, "rustunits")
	assert.Equal(t, "cargo", it.Environment.Recipe.LogParser)
	out, err := stage.Process(t.Context(), it)
	require.NoError(t, err)
	v, ok := out.Record.(pipeline.Validation)
	require.True(t, ok, "record is %T", out.Record)

	assert.Equal(t, "cargo", v.LogParser)
	assert.Equal(t, []string{"src/tests.rs", "tests/parse.rs"}, v.TestFiles)
	assert.Equal(t, []string{"space_before_unit", "tests::lower_case"}, v.FailToPass, "FAIL_TO_PASS")
	assert.Equal(t, []string{"errors::empty", "kilobytes", "megabytes", "tests::bytes", "tests::no_number - should panic"},
		v.PassToPass, "PASS_TO_PASS")
	assert.Empty(t, v.PassToFail)
	assert.Empty(t, v.Flaky)

	full, reruns := 3, validate.DefaultReruns
	require.Len(t, v.Runs, 2*(full+reruns))
	require.NotNil(t, v.Rerun)
	assert.True(t, v.Rerun.ByID, v.Rerun.Command)
	assert.Equal(t, "cargo test --no-fail-fast --lib --test parse -- --exact space_before_unit tests::lower_case", v.Rerun.Command)
	for _, r := range v.Runs {
		log := readArtifact(t, it, r.Log)
		assert.Contains(t, log, "Running unittests src/lib.rs", "%s run %d", r.Side, r.Index)
		assert.NotContains(t, log, "untouched", "tests/other.rs is not run")
		assert.NotContains(t, log, "Doc-tests", "doc tests are not run")
		if r.Rerun {
			assert.Len(t, r.Results, 2, "%s re-run %d runs the FAIL_TO_PASS tests alone", r.Side, r.Index)
		}
		for _, f2p := range v.FailToPass {
			if r.Side == validate.SideAfter {
				assert.Equal(t, pipeline.TestPassed, r.Results[f2p], "%s in %s run %d", f2p, r.Side, r.Index)
			} else {
				assert.Equal(t, pipeline.TestFailed, r.Results[f2p], "%s in %s run %d", f2p, r.Side, r.Index)
			}
		}
		assert.Equal(t, r.Side == validate.SideBefore, r.ExitCode != 0, "%s run %d: exit code %d", r.Side, r.Index, r.ExitCode)
	}
	assert.Empty(t, containersWith(t, labels), "no container is left")
}
