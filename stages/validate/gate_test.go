package validate_test

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"swemill/envbuild/envbuildtest"
	"swemill/envbuild/sandbox"
	"swemill/pipeline"
	"swemill/stages/validate"
)

const (
	// symlinkPatch adds a test fixture that is a link to the host's password file.
	symlinkPatch = "diff --git a/tests/fixture.txt b/tests/fixture.txt\nnew file mode 120000\nindex 0000000..3594e94\n--- /dev/null\n+++ b/tests/fixture.txt\n@@ -0,0 +1 @@\n+/etc/passwd\n\\ No newline at end of file\n"
	// traversalPatch writes a file three directories above the work directory.
	traversalPatch = "diff --git a/../../../tmp/pwned b/../../../tmp/pwned\nnew file mode 100644\nindex 0000000..3b18e51\n--- /dev/null\n+++ b/../../../tmp/pwned\n@@ -0,0 +1 @@\n+hello\n"
)

// labelControl marks the control container of TestUnsafePatchesStartNoContainer.
const labelControl = "swemill.test.control"

// TestUnsafePatchesStartNoContainer: a test patch with a symlink and a gold patch that
// climbs out of the tree drop the instance (unsafe_patch) in validation, a model patch with a
// symlink fails every test with Problem unsafe_patch, and an unsafe test patch fails grading
// as a drop, all before any container is created. The engine's event stream proves it: the
// first container created with the test's labels is the control's, made afterwards.
func TestUnsafePatchesStartNoContainer(t *testing.T) {
	t.Parallel()
	e := expectations[0]
	validatedItem(t, e) // build the fixture before listening
	labels := testLabels()
	cli := envbuildtest.Docker(t)
	evCtx, stop := context.WithCancel(t.Context())
	defer stop()
	msgs, errs := envbuildtest.ContainerEvents(evCtx, cli, "create", labels)

	sb := newSandbox(t, sandbox.Config{})
	stage := newStage(t, sb, validate.Config{Runs: 1, Labels: labels})
	for name, mutate := range map[string]func(*pipeline.Instance){
		"symlink test patch": func(in *pipeline.Instance) { in.TestPatch += symlinkPatch },
		"traversal patch":    func(in *pipeline.Instance) { in.Patch = traversalPatch + in.Patch },
	} {
		it := validatedItem(t, e)
		mutate(&it.Instance)
		_, err := stage.Process(t.Context(), it)
		d, ok := pipeline.AsDrop(err)
		require.True(t, ok, "%s: want a drop, got %v", name, err)
		assert.Equal(t, validate.ProblemUnsafePatch, d.Reason, name)
		assert.True(t, pipeline.IsSecurityReason(d.Reason))
		assert.Contains(t, d.Detail, "unsafe patch", name)
	}

	it := validatedItem(t, e)
	g, err := validate.Grade(t.Context(), sb, it, it.Instance.Patch+symlinkPatch, validate.GradeOptions{Labels: labels})
	require.NoError(t, err)
	assert.Equal(t, validate.ProblemUnsafePatch, g.Problem)
	assert.Contains(t, g.Detail, `symlink "tests/fixture.txt"`)
	assert.False(t, g.Applied)
	assert.False(t, g.Resolved)
	f2p, f2pTotal, p2p, p2pTotal := g.Counts()
	assert.Equal(t, [4]int{0, len(e.failToPass), 0, len(e.passToPass)}, [4]int{f2p, f2pTotal, p2p, p2pTotal})

	it = validatedItem(t, e)
	it.Instance.TestPatch = traversalPatch + it.Instance.TestPatch
	_, err = validate.Grade(t.Context(), sb, it, it.Instance.Patch, validate.GradeOptions{Labels: labels})
	d, ok := pipeline.AsDrop(err)
	require.True(t, ok, "want a drop, got %v", err)
	assert.Equal(t, validate.ProblemUnsafePatch, d.Reason)

	// The control: a harmless patch that does not apply starts one container.
	control := map[string]string{labelControl: "1"}
	for k, v := range labels {
		control[k] = v
	}
	it = validatedItem(t, e)
	g, err = validate.Grade(t.Context(), sb, it, "diff --git a/textkit/gone.py b/textkit/gone.py\n--- a/textkit/gone.py\n+++ b/textkit/gone.py\n@@ -1 +1 @@\n-x = 1\n+x = 2\n",
		validate.GradeOptions{Labels: control})
	require.NoError(t, err)
	require.Equal(t, validate.ProblemPatch, g.Problem)
	select {
	case m := <-msgs:
		assert.Equal(t, "1", m.Actor.Attributes[labelControl], "the first container created is the control's, not one for an unsafe patch: %+v", m.Actor.Attributes)
	case err := <-errs:
		if !errors.Is(err, io.EOF) {
			require.NoError(t, err)
		}
		t.Fatal("the event stream ended")
	case <-time.After(time.Minute):
		t.Fatal("no create event for the control container")
	}
	assert.Empty(t, containersWith(t, labels), "no container is left")
}
