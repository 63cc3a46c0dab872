package runstore

import (
	"fmt"

	"github.com/riverqueue/river"

	"swemill/pipeline"
)

// River job kinds: one per stage, each on its own queue (named after the stage). Job args
// carry the rerun generation, and inserts are unique by args, so a job is unique by instance
// (or repository), stage and generation.

// mineJob mines one repository; Page counts continuation calls within a generation.
type mineJob struct {
	Repo       string `json:"repo"`
	Generation int64  `json:"generation"`
	Page       int    `json:"page"`
}

// Kind implements river.JobArgs.
func (mineJob) Kind() string { return "swemill_mine" }

// InsertOpts implements river.JobArgsWithInsertOpts.
func (mineJob) InsertOpts() river.InsertOpts { return stageInsertOpts(pipeline.StageMine) }

// instanceJob is what every per-instance stage's job carries.
type instanceJob struct {
	Instance   string `json:"instance"`
	Generation int64  `json:"generation"`
}

type buildJob struct{ instanceJob }
type validateJob struct{ instanceJob }
type rolloutJob struct{ instanceJob }

func (buildJob) Kind() string    { return "swemill_build" }
func (validateJob) Kind() string { return "swemill_validate" }
func (rolloutJob) Kind() string  { return "swemill_rollout" }

func (buildJob) InsertOpts() river.InsertOpts    { return stageInsertOpts(pipeline.StageBuild) }
func (validateJob) InsertOpts() river.InsertOpts { return stageInsertOpts(pipeline.StageValidate) }
func (rolloutJob) InsertOpts() river.InsertOpts  { return stageInsertOpts(pipeline.StageRollout) }

func (j buildJob) job() instanceJob    { return j.instanceJob }
func (j validateJob) job() instanceJob { return j.instanceJob }
func (j rolloutJob) job() instanceJob  { return j.instanceJob }

// stageArgs is satisfied by the per-instance job kinds.
type stageArgs interface {
	river.JobArgs
	job() instanceJob
}

// newStageJob returns the job args of a per-instance stage.
func newStageJob(stage, instance string, gen int64) river.JobArgs {
	j := instanceJob{Instance: instance, Generation: gen}
	switch stage {
	case pipeline.StageBuild:
		return buildJob{j}
	case pipeline.StageValidate:
		return validateJob{j}
	case pipeline.StageRollout:
		return rolloutJob{j}
	}
	panic(fmt.Sprintf("no per-instance job kind for stage %q", stage))
}

// maxAttemptsCeiling is River's attempt limit for every swemill job. The runner decides when
// an item has failed (after its stage's configured attempts) and records it; River's own
// limit only guards against a job that can never record anything.
const maxAttemptsCeiling = 25

func stageInsertOpts(stage string) river.InsertOpts {
	return river.InsertOpts{
		Queue:       stage,
		MaxAttempts: maxAttemptsCeiling,
		UniqueOpts:  river.UniqueOpts{ByArgs: true},
	}
}
