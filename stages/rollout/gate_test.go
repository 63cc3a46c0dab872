package rollout_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"swemill/codeact"
	"swemill/pipeline"
	"swemill/stages/rollout"
	"swemill/stages/rollout/rollouttest"
)

// TestUnsafeModelPatchIsFlagged: a grade whose Problem is unsafe_patch (validate's gate
// refused the model patch, which was not applied) fails every test and flags the
// trajectory unsafe_patch.
func TestUnsafeModelPatchIsFlagged(t *testing.T) {
	t.Parallel()
	srv := rollouttest.NewServer(t, "/v1",
		rollouttest.Turn{ToolCalls: []pipeline.ToolCall{nativeCall("c1", codeact.Editor,
			`{"command":"create","path":"/testbed/calc/extra.py","file_text":"X = 1\\n"}`)}},
		rollouttest.Turn{ToolCalls: []pipeline.ToolCall{nativeCall("c2", codeact.Finish, `{"message":"done","task_completed":"true"}`)}},
	)
	var graded string
	grader := rollout.GraderFunc(func(ctx context.Context, item *pipeline.Item, patch string) (rollout.Grade, error) {
		graded = patch
		return rollout.Grade{Problem: pipeline.ReasonUnsafePatch, Tests: map[string]pipeline.TestStatus{}, Log: []byte("refused\n")}, nil
	})
	rt := &rollouttest.Runtime{Files: map[string]string{"/testbed/calc/ops.py": opsPy}}
	s, err := rollout.New(rollout.Config{Backend: rollout.BackendOpenAI, Protocol: rollout.ProtocolNative, Model: fakeModel,
		BaseURL: srv.URL(), APIKey: fakeKey, RetryDelay: time.Millisecond, CommandTimeout: 30 * time.Second}, rt, grader)
	require.NoError(t, err)
	srv.APIKey = fakeKey
	defer s.Close()
	tr := processOne(t, s, memItem(t))
	srv.Verify(t)
	assert.Contains(t, graded, "calc/extra.py")
	assert.Equal(t, []string{rollout.FlagUnsafePatch}, tr.Flags)
	assert.True(t, pipeline.IsSecurityReason(tr.Flags[0]))
	assert.False(t, tr.Resolved)
	assert.Zero(t, tr.F2PPassed+tr.P2PPassed)
}

// TestOracleRefusesUnsafeGoldPatch: the oracle never applies a gold patch the gate
// refuses; the item drops unsafe_patch before any workspace is started.
func TestOracleRefusesUnsafeGoldPatch(t *testing.T) {
	t.Parallel()
	rt := &rollouttest.Runtime{}
	s := memStage(t, nil, rt, nil)
	item := memItem(t)
	item.Instance.Patch += "diff --git a/calc/data b/calc/data\nnew file mode 120000\nindex 0000000..3594e94\n--- /dev/null\n+++ b/calc/data\n@@ -0,0 +1 @@\n+/etc/passwd\n\\ No newline at end of file\n"
	_, err := s.Process(t.Context(), item)
	d, ok := pipeline.AsDrop(err)
	require.True(t, ok, "want a drop, got %v", err)
	assert.Equal(t, pipeline.ReasonUnsafePatch, d.Reason)
	assert.Empty(t, rt.Workspaces())
}
