package export

import (
	"context"
	"encoding/json"
	"iter"

	"swemill/pipeline"
)

// Source is what Export reads: the run's validated tasks and trajectories, its funnel and the
// run's metadata. The run store implements it; tests use a slice-backed fake.
//
// Both iterators must yield in a stable, strictly increasing order (see Task and Rollout),
// because the same store must give byte-identical files; Export checks the order and fails
// on a violation. A yielded value is read before the next one is requested, so an
// implementation may reuse it. An iterator that fails yields a non-nil error and Export stops.
type Source interface {
	// Tasks yields every validated instance that has a non-empty FAIL_TO_PASS, ordered by
	// Instance.InstanceID ascending.
	Tasks(ctx context.Context) iter.Seq2[*Task, error]
	// Rollouts yields every graded trajectory, ordered by (InstanceID, RolloutIndex,
	// TrajectoryID) ascending. Export applies Config.ResolvedOnly itself.
	Rollouts(ctx context.Context) iter.Seq2[*Rollout, error]
	// Funnel returns the per-stage counts of the run.
	Funnel(ctx context.Context) (Funnel, error)
	// Run returns the run's metadata.
	Run(ctx context.Context) (RunInfo, error)
}

// Task is one validated instance with what the build and validate stages produced for it.
type Task struct {
	Instance    pipeline.Instance
	Environment pipeline.Environment
	Validation  pipeline.Validation
	// Artifacts are other files recorded with the instance (the build log, ...); they go to
	// the manifest beside the validation logs of Validation.Runs. May be empty.
	Artifacts []pipeline.ArtifactRef
	// Version is the swemill version that validated the instance; empty means RunInfo.Version.
	Version string
}

// Rollout is one graded trajectory.
type Rollout struct {
	Trajectory pipeline.Trajectory
	// Artifacts are files recorded with the rollout (the grading log, ...). May be empty.
	Artifacts []pipeline.ArtifactRef
	// Version is the swemill version that ran the rollout; empty means RunInfo.Version.
	Version string
}

// Funnel is the run's funnel, one entry per stage. Export renders the stages in
// pipeline.Stages order (unknown stages after them, by name), and counts by count
// descending, then name.
type Funnel []StageFunnel

// StageFunnel counts the instances of one stage.
type StageFunnel struct {
	// Stage is a pipeline stage name ("mine", "build", ...).
	Stage string
	// States counts instances by their state in this stage ("done", "dropped", "failed",
	// "pending", ...).
	States map[string]int64
	// Drops counts dropped instances by pipeline.DropError reason ("no_linked_issue", ...).
	Drops map[string]int64
}

// RunInfo describes the run that produced the data.
type RunInfo struct {
	// Version is the swemill version doing the export ("v0.3.1", "devel+abc123").
	Version string
	// Config is the run's configuration as a JSON object; secrets must already be removed.
	// It is re-indented but its key order is kept, so it must be deterministic. May be nil.
	Config json.RawMessage
}
