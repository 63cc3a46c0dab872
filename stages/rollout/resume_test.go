package rollout_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"swemill/codeact"
	"swemill/pipeline"
	"swemill/stages/rollout"
	"swemill/stages/rollout/rollouttest"
)

// closeWatch is a Runtime whose workspaces report their sample index on closed when closed.
type closeWatch struct {
	rollout.Runtime
	closed chan string
}

func (r *closeWatch) Start(ctx context.Context, spec rollout.WorkspaceSpec) (rollout.Workspace, error) {
	ws, err := r.Runtime.Start(ctx, spec)
	if err != nil {
		return nil, err
	}
	return &watchedWorkspace{Workspace: ws, sample: spec.Labels[rollout.LabelSample], closed: r.closed}, nil
}

type watchedWorkspace struct {
	rollout.Workspace
	sample string
	closed chan string
	once   sync.Once
}

func (w *watchedWorkspace) Close(ctx context.Context) error {
	err := w.Workspace.Close(ctx)
	w.once.Do(func() { w.closed <- w.sample })
	return err
}

// TestFailedSampleKeepsOthers rolls out three samples at once against a model server that
// dies in the middle of sample 1 (its connection drops on the second request, and on every
// retry): samples 0 and 2, whose second requests are held until sample 1 has failed and its
// workspace is gone, go on to finish and are stored; the item fails. The retry, given what
// the runner recorded, makes model requests for sample 1 only and returns all three.
func TestFailedSampleKeepsOthers(t *testing.T) {
	t.Parallel()
	const seed = 40
	inst := pipeline.Instance{InstanceID: "acme__calc-7", Repo: "acme/calc", BaseCommit: "0123456789abcdef0123456789abcdef01234567",
		Patch:            "diff --git a/calc.py b/calc.py\n--- a/calc.py\n+++ b/calc.py\n@@ -1,2 +1,4 @@\n def div(a, b):\n+    if b == 0:\n+        return None\n     return a / b\n",
		ProblemStatement: "div(1, 0) raises ZeroDivisionError; it should return None."}
	item := newItem(t, inst, pipeline.Environment{ImageName: "swemill/inst.acme__calc-7:fake", WorkDir: "/testbed"},
		pipeline.Validation{FailToPass: []string{"test_calc.py::test_div_zero"}, TestFiles: []string{"test_calc.py"}})

	turns := []string{
		textCall("Let me look.", codeact.Bash, "command", "cat /testbed/calc.py"),
		textCall("", codeact.Editor, "command", "str_replace", "path", "/testbed/calc.py",
			"old_str", "    return a / b", "new_str", "    if b == 0:\n        return None\n    return a / b"),
		textCall("", codeact.Finish, "message", "div returns None for b == 0.", "task_completed", "true"),
	}
	var (
		mu       sync.Mutex
		requests map[int]int // sample -> model requests, this attempt
		dead     bool        // sample 1's server is gone
		dies     = true      // sample 1's server dies at its second request
		failed   = make(chan struct{})
	)
	srv := rollouttest.NewServer(t, "/dying/v1")
	srv.Policy = func(req map[string]any) rollouttest.Turn {
		k := int(req["seed"].(float64)) - seed
		turn := 0
		for _, m := range req["messages"].([]any) {
			if m.(map[string]any)["role"] == "assistant" {
				turn++
			}
		}
		mu.Lock()
		requests[k]++
		if k == 1 && turn == 1 && dies {
			dead, dies = true, false
		}
		hangup := k == 1 && dead
		mu.Unlock()
		if hangup {
			return rollouttest.Turn{Hangup: true}
		}
		if k != 1 && turn == 1 {
			select {
			case <-failed:
			case <-time.After(time.Minute):
				t.Errorf("sample %d: sample 1 did not fail", k)
			}
		}
		if turn >= len(turns) {
			t.Errorf("sample %d: request past the script", k)
			return rollouttest.Turn{Status: 400, ErrorMessage: "past the script"}
		}
		return rollouttest.Turn{Content: turns[turn]}
	}
	rt := &closeWatch{Runtime: &rollouttest.Runtime{Files: map[string]string{"/testbed/calc.py": "def div(a, b):\n    return a / b\n"}},
		closed: make(chan string, 16)}
	go func() {
		for s := range rt.closed {
			if s == "1" {
				close(failed)
				return
			}
		}
	}()
	var gradesMu sync.Mutex
	grades := 0
	grader := rollout.GraderFunc(func(ctx context.Context, item *pipeline.Item, patch string) (rollout.Grade, error) {
		gradesMu.Lock()
		grades++
		gradesMu.Unlock()
		return rollout.Grade{Applied: true, Tests: map[string]pipeline.TestStatus{"test_calc.py::test_div_zero": pipeline.TestPassed},
			Log: []byte("test_calc.py::test_div_zero PASSED\n")}, nil
	})
	s, err := rollout.New(rollout.Config{BaseURL: srv.URL(), Model: fakeModel, Seed: seed, Samples: 3, Parallel: 3,
		MaxRetries: 2, RetryDelay: time.Millisecond, RolloutTimeout: time.Minute}, rt, grader)
	require.NoError(t, err)
	t.Cleanup(s.Close)

	// Attempt 1: sample 1 fails, 0 and 2 are stored.
	requests = map[int]int{}
	out, err := s.Process(t.Context(), item)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "sample 1 of 3 failed, 2 stored")
	assert.Nil(t, out.Record)
	assert.Equal(t, map[int]int{0: 3, 1: 4, 2: 3}, requests, "model requests per sample (sample 1: one answered, then the first try and two retries of its second)")
	first := map[string]pipeline.ArtifactRef{}
	for _, a := range out.Artifacts {
		first[a.Name] = a
	}
	require.ElementsMatch(t, []string{rollout.TrajectoryArtifact(0), rollout.GradeLogArtifact(0), rollout.TrajectoryArtifact(2), rollout.GradeLogArtifact(2)},
		keys(first), "the finished samples' artifacts go back to the runner")
	assert.Equal(t, 2, grades)
	assert.Zero(t, rt.Runtime.(*rollouttest.Runtime).Open(), "every workspace is removed")

	// Attempt 2 of the same generation, with what the runner recorded: only sample 1 runs.
	mu.Lock()
	requests, dead = map[int]int{}, false
	mu.Unlock()
	retry := *item
	retry.Attempt, retry.Recorded = 2, out.Artifacts
	out, err = s.Process(t.Context(), &retry)
	require.NoError(t, err)
	assert.Equal(t, map[int]int{1: 3}, requests, "model requests per sample on the retry")
	assert.Equal(t, 3, grades)
	trajs := readTrajectories(t, &retry, out)
	require.Len(t, trajs, 3)
	for k, tr := range trajs {
		assert.Equal(t, k, tr.RolloutIndex)
		assert.Equal(t, int64(seed+k), tr.Seed)
		assert.True(t, tr.Resolved, "sample %d", k)
		assert.Equal(t, rollout.ExitFinish, tr.ExitStatus)
	}
	rec := out.Record.(pipeline.Rollouts)
	for _, k := range []int{0, 2} {
		assert.Equal(t, first[rollout.TrajectoryArtifact(k)], rec.Trajectories[k].Trajectory, "sample %d is the stored one", k)
		assert.Equal(t, []pipeline.ArtifactRef{first[rollout.GradeLogArtifact(k)]}, rec.Trajectories[k].Artifacts)
	}
	assert.Len(t, out.Artifacts, 6)

	// A stored sample made under another configuration is rolled out again.
	other, err := rollout.New(rollout.Config{BaseURL: srv.URL(), Model: fakeModel, Seed: seed, Samples: 3, Parallel: 3, Temperature: 0.7,
		MaxRetries: 2, RetryDelay: time.Millisecond, RolloutTimeout: time.Minute}, rt, grader)
	require.NoError(t, err)
	t.Cleanup(other.Close)
	mu.Lock()
	requests = map[int]int{}
	mu.Unlock()
	third := retry
	third.Attempt, third.Recorded = 3, out.Artifacts
	_, err = other.Process(t.Context(), &third)
	require.NoError(t, err)
	assert.Equal(t, map[int]int{0: 3, 1: 3, 2: 3}, requests)
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}
