package pipeline

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/rs/zerolog"
)

// Stage names, in chain order. Mine works per repository; the others per instance.
const (
	StageMine     = "mine"
	StageBuild    = "build"
	StageValidate = "validate"
	StageRollout  = "rollout"
)

// Stages lists every stage in chain order.
var Stages = []string{StageMine, StageBuild, StageValidate, StageRollout}

// StageIndex returns the position of stage in Stages, or -1 when it is not a stage.
func StageIndex(stage string) int {
	for i, s := range Stages {
		if s == stage {
			return i
		}
	}
	return -1
}

// RepoJob is one unit of mining work: a repository, resumed from its cursor.
type RepoJob struct {
	// Repo is "owner/name".
	Repo string
	// Cursor is what the previous Mine call returned for Repo (opaque to the runner; empty
	// the first time).
	Cursor string
	// Generation counts the times Repo was scheduled for mining.
	Generation int64
	// Attempt counts from 1 the deliveries of this unit of work.
	Attempt int
	// Artifacts stores files; Log carries the repo's fields.
	Artifacts *Artifacts
	Log       zerolog.Logger
}

// Mined is one pull request seen by the miner: a candidate Instance, or a drop.
type Mined struct {
	// Instance must have InstanceID and Repo set even when Drop is set.
	Instance Instance
	// Drop, when set, says why the pull request is not a task.
	Drop *DropError
}

// MineResult is what one Mine call produced.
type MineResult struct {
	// Instances are the pull requests seen, in any order. An instance id already in the store
	// is left as it is (mining is idempotent).
	Instances []Mined
	// Cursor is stored for Repo in the same transaction as Instances.
	Cursor string
	// More asks for another Mine call on Repo, from Cursor, right away (paging).
	More bool
	// Drop, when set, drops the whole repository (excluded, licence not allowed); Cursor is
	// still stored, so a later run can check again cheaply.
	Drop *DropError
}

// Miner is the mine stage: it turns a repository into candidate instances.
type Miner interface {
	Mine(ctx context.Context, job *RepoJob) (MineResult, error)
}

// Item is one instance handed to a per-instance stage, with what earlier stages produced.
type Item struct {
	Instance Instance
	// Environment is set once build is done; Validation once validate is done.
	Environment *Environment
	Validation  *Validation
	// Stage, Generation and Attempt identify this delivery. Attempt counts from 1.
	Stage      string
	Generation int64
	Attempt    int
	// Artifacts stores files; Log carries the stage and instance fields.
	Artifacts *Artifacts
	Log       zerolog.Logger
	// Recorded are the artifacts that earlier attempts of this stage and generation recorded,
	// sorted by name (an attempt's Output.Artifacts are recorded whether it succeeds, fails
	// or is handed back; the first recording of a name wins). A stage that does several
	// independent pieces of work per item finds in them what a failed attempt finished.
	Recorded []ArtifactRef
}

// Output is what a per-instance stage produced.
type Output struct {
	// Record is the stage's result (Environment, Validation, a RolloutRecord...), stored as
	// JSON with the instance's state.
	Record any
	// Artifacts are files the stage stored, recorded with the instance. They are recorded
	// also when Process returns an error, so the next attempt finds them in Item.Recorded.
	Artifacts []ArtifactRef
}

// Processor is a per-instance stage (build, validate, rollout). It handles one item
// synchronously; the runner owns concurrency, deadlines and retries. A *DropError return
// drops the instance with a reason; other errors are retried up to the stage's attempts and
// then recorded as failed.
type Processor interface {
	Process(ctx context.Context, item *Item) (Output, error)
}

// ProcessorFunc adapts a function to Processor.
type ProcessorFunc func(ctx context.Context, item *Item) (Output, error)

// Process calls f.
func (f ProcessorFunc) Process(ctx context.Context, item *Item) (Output, error) {
	return f(ctx, item)
}

// MinerFunc adapts a function to Miner.
type MinerFunc func(ctx context.Context, job *RepoJob) (MineResult, error)

// Mine calls f.
func (f MinerFunc) Mine(ctx context.Context, job *RepoJob) (MineResult, error) {
	return f(ctx, job)
}

// DropError says that an item is not a task, and why. It is an outcome, not a failure.
type DropError struct {
	// Reason is a short snake_case code that the funnel groups by ("no_linked_issue").
	Reason string
	// Detail is free text for people (the tail of a build log, the missing file...).
	Detail string
}

func (e *DropError) Error() string {
	if e.Detail == "" {
		return "dropped: " + e.Reason
	}
	return "dropped: " + e.Reason + ": " + e.Detail
}

// Drop returns a *DropError with the reason code and a formatted detail.
func Drop(reason, format string, args ...any) *DropError {
	return &DropError{Reason: reason, Detail: fmt.Sprintf(format, args...)}
}

// AsDrop reports whether err is or wraps a *DropError and returns it.
func AsDrop(err error) (*DropError, bool) {
	var d *DropError
	ok := errors.As(err, &d)
	return d, ok
}

// RetryAfterError asks the runner to try the item again after Delay without counting the
// attempt as failed (a rate limit, a busy daemon).
type RetryAfterError struct {
	Delay time.Duration
	Err   error
}

func (e *RetryAfterError) Error() string {
	return fmt.Sprintf("retrying after %s: %v", e.Delay, e.Err)
}

func (e *RetryAfterError) Unwrap() error { return e.Err }

// RetryAfter returns a *RetryAfterError.
func RetryAfter(d time.Duration, err error) *RetryAfterError {
	return &RetryAfterError{Delay: d, Err: err}
}
