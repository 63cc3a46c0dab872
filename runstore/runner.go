package runstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
	"github.com/sourcegraph/conc/panics"

	"swemill/pipeline"
)

// RunConfig configures one `swemill run`.
type RunConfig struct {
	// Stages are the stages this run works; empty means all. Work for other stages is queued
	// (and left for a later run) but not done.
	Stages []string
	// Repos are the repositories ("owner/name") to mine when mine is in Stages.
	Repos []string
	// Miner is the mine stage; required when mine is in Stages.
	Miner pipeline.Miner
	// Processors are the per-instance stages by name; each stage in Stages needs one.
	Processors map[string]pipeline.Processor
	// Workers is the number of items each stage works at once; a missing stage gets
	// DefaultWorkers.
	Workers map[string]int
	// Timeouts bound one attempt of one item per stage; a missing stage gets DefaultTimeout.
	// With PostgreSQL, a job whose worker died is handed to another worker after this long.
	Timeouts map[string]time.Duration
	// Attempts is how many times an item is tried in a stage before it is recorded as
	// failed; a missing stage gets DefaultAttempts.
	Attempts map[string]int
	// RetryBackoff is the delay before the first retry of a failed attempt; it doubles with
	// each attempt, up to 5 minutes. Zero means 1 s.
	RetryBackoff time.Duration
	// SoftStopTimeout is how long items in flight may go on after the run is cancelled before
	// their contexts are cancelled and they are handed back. Zero means 30 s.
	SoftStopTimeout time.Duration
	// PollInterval is how often the runner looks for the end of the run and reports progress.
	// Zero means 200 ms.
	PollInterval time.Duration
	// Progress, when set, is called from the runner's goroutine after every poll.
	Progress func(Status)
	// KeepRunning keeps working for new jobs after the queues drain (until ctx is done),
	// instead of returning.
	KeepRunning bool
	// WorkerID names this process in logs and River's job attempts; empty means host-pid.
	WorkerID string
}

// Defaults for RunConfig's per-stage maps.
const (
	DefaultWorkers  = 2
	DefaultTimeout  = time.Hour
	DefaultAttempts = 3
)

// Validate checks the configuration; errors name the field.
func (c *RunConfig) Validate() error {
	for _, s := range c.Stages {
		if pipeline.StageIndex(s) < 0 {
			return fmt.Errorf("stages: unknown stage %q (stages are %s)", s, strings.Join(pipeline.Stages, ", "))
		}
	}
	for _, s := range c.stages() {
		if s == pipeline.StageMine {
			if c.Miner == nil {
				return errors.New("stages: mine is selected but no miner is configured")
			}
			continue
		}
		if c.Processors[s] == nil {
			return fmt.Errorf("stages: %s is selected but this build has no %s stage configured", s, s)
		}
	}
	for name, m := range map[string]map[string]int{"workers": c.Workers, "attempts": c.Attempts} {
		for s, n := range m {
			if pipeline.StageIndex(s) < 0 {
				return fmt.Errorf("%s: unknown stage %q", name, s)
			}
			if n < 1 {
				return fmt.Errorf("%s.%s: must be at least 1, got %d", name, s, n)
			}
		}
	}
	for s, d := range c.Timeouts {
		if pipeline.StageIndex(s) < 0 {
			return fmt.Errorf("timeouts: unknown stage %q", s)
		}
		if d <= 0 {
			return fmt.Errorf("timeouts.%s: must be positive, got %s", s, d)
		}
	}
	for _, r := range c.Repos {
		if owner, name, ok := strings.Cut(r, "/"); !ok || owner == "" || name == "" || strings.Contains(name, "/") {
			return fmt.Errorf("repos: %q is not owner/name", r)
		}
	}
	return nil
}

func (c *RunConfig) stages() []string {
	if len(c.Stages) == 0 {
		return pipeline.Stages
	}
	// Chain order, whatever order they were given in.
	var out []string
	for _, s := range pipeline.Stages {
		if slices.Contains(c.Stages, s) {
			out = append(out, s)
		}
	}
	return out
}

func (c *RunConfig) workers(stage string) int {
	if n := c.Workers[stage]; n > 0 {
		return n
	}
	return DefaultWorkers
}

func (c *RunConfig) timeout(stage string) time.Duration {
	if d := c.Timeouts[stage]; d > 0 {
		return d
	}
	return DefaultTimeout
}

func (c *RunConfig) attempts(stage string) int {
	if n := c.Attempts[stage]; n > 0 {
		return n
	}
	return DefaultAttempts
}

// RunSummary says how a run ended.
type RunSummary struct {
	RunID int64
	// Resumed is true when the run continued one that had not finished.
	Resumed bool
	// Complete is true when every selected stage has nothing left to do.
	Complete bool
	Status   Status
}

// runner works the chain for one Run call.
type runner struct {
	s        *Store
	cfg      RunConfig
	log      zerolog.Logger
	stopping atomic.Bool
	// withTx runs fn in a transaction whose job inserts go through the working River client.
	withTx func(ctx context.Context, fn func(tx txn) error) error
}

// jobRef identifies one delivery of a job.
type jobRef struct {
	stage    string
	id       string // instance id, or repository for mine
	gen      int64
	page     int
	attempt  int
	maxTries int
}

// Run works the selected stages until nothing is left to do in them (or, with KeepRunning,
// until ctx is done). Cancelling ctx stops taking work; items in flight get SoftStopTimeout
// to finish and are then handed back for the next run. Only one Run may work a run directory
// at a time; a second is refused.
func (s *Store) Run(ctx context.Context, cfg RunConfig) (RunSummary, error) {
	if err := cfg.Validate(); err != nil {
		return RunSummary{}, err
	}
	lock, err := lockRunDir(s.dir)
	if err != nil {
		return RunSummary{}, err
	}
	defer lock.release()
	if cfg.WorkerID == "" {
		host, _ := os.Hostname()
		cfg.WorkerID = fmt.Sprintf("%s-%d", host, os.Getpid())
	}
	r := &runner{s: s, cfg: cfg, log: s.log.With().Str("worker", cfg.WorkerID).Logger()}
	return s.db.run(ctx, r)
}

// start prepares the tables for a run: it resumes an unfinished run or starts one, and queues
// mining for the configured repositories. It runs before the River client starts.
func (r *runner) start(ctx context.Context) (runID int64, resumed bool, err error) {
	s := r.s
	stages := strings.Join(r.cfg.stages(), ",")
	err = r.withTx(ctx, func(tx txn) error {
		var finished *int64
		err := tx.queryRow(ctx, `SELECT id, finished_at FROM swemill_runs ORDER BY id DESC LIMIT 1`).Scan(&runID, &finished)
		if err == nil && finished == nil {
			resumed = true
			_, err = tx.exec(ctx, `UPDATE swemill_runs SET stages = $1 WHERE id = $2`, stages, runID)
			return err
		}
		if err != nil && !isNoRows(err) {
			return err
		}
		host, _ := os.Hostname()
		return tx.queryRow(ctx, `INSERT INTO swemill_runs (started_at, stages, host) VALUES ($1, $2, $3) RETURNING id`,
			micros(s.now()), stages, host).Scan(&runID)
	})
	if err != nil {
		return 0, false, fmt.Errorf("starting run: %w", err)
	}
	if slices.Contains(r.cfg.stages(), pipeline.StageMine) {
		for _, repo := range r.cfg.Repos {
			if err := r.seedRepo(ctx, runID, repo); err != nil {
				return 0, false, err
			}
		}
	}
	return runID, resumed, nil
}

// seedRepo queues mining of repo for this run, unless this run already did or is doing it.
func (r *runner) seedRepo(ctx context.Context, runID int64, repo string) error {
	s := r.s
	return r.withTx(ctx, func(tx txn) error {
		cur, err := loadRepo(ctx, tx, s.db.forUpdate(), repo)
		if err != nil {
			return err
		}
		if cur.exists && (cur.runID == runID || cur.state == pipeline.StatePending || cur.state == pipeline.StateRunning) {
			return nil
		}
		return s.scheduleMine(ctx, tx, repo, cur, runID, cur.cursor)
	})
}

// finish records the end of a complete run.
func (r *runner) finish(ctx context.Context, runID int64) error {
	return r.withTx(ctx, func(tx txn) error {
		_, err := tx.exec(ctx, `UPDATE swemill_runs SET finished_at = $1 WHERE id = $2 AND finished_at IS NULL`, micros(r.s.now()), runID)
		return err
	})
}

// idle reports whether the selected stages have nothing pending or running. It reads both
// tables in one statement, so one snapshot: a mine transaction that moves work from a
// repository to its instances cannot fall between two reads.
func (r *runner) idle(ctx context.Context) (bool, error) {
	stages := r.cfg.stages()
	args := make([]any, len(stages))
	ph := make([]string, len(stages))
	for i, st := range stages {
		args[i], ph[i] = st, fmt.Sprintf("$%d", i+1)
	}
	repos := "0"
	if slices.Contains(stages, pipeline.StageMine) {
		repos = `(SELECT count(*) FROM swemill_repos WHERE state IN ('pending', 'running'))`
	}
	var n int
	err := r.s.db.read().queryRow(ctx, `SELECT (SELECT count(*) FROM swemill_stage_states
		WHERE state IN ('pending', 'running') AND stage IN (`+strings.Join(ph, ",")+`)) + `+repos, args...).Scan(&n)
	return err == nil && n == 0, err
}

// loop polls for the end of the run and reports progress, until the run is complete or ctx
// is done.
func (r *runner) loop(ctx context.Context) (complete bool, err error) {
	interval := r.cfg.PollInterval
	if interval <= 0 {
		interval = 200 * time.Millisecond
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return false, nil
		case <-t.C:
		}
		if r.cfg.Progress != nil {
			st, err := r.s.Status(ctx)
			if err == nil {
				r.cfg.Progress(st)
			}
		}
		idle, err := r.idle(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return false, nil
			}
			return false, fmt.Errorf("checking for the end of the run: %w", err)
		}
		if idle && !r.cfg.KeepRunning {
			return true, nil
		}
	}
}

// reconcile makes sure every pending or running item of the selected stages has a live
// River job: after a crash, a job may have been discarded by River while swemill's tables
// still expected it. Inserts are unique, so live jobs are not duplicated.
func (r *runner) reconcile(ctx context.Context) error {
	s := r.s
	stages := r.cfg.stages()
	type key struct {
		id, stage string
		gen       int64
	}
	var keys []key
	q := s.db.read()
	rows, err := q.query(ctx, `SELECT instance_id, stage, generation FROM swemill_stage_states s
		WHERE state IN ('pending', 'running')
		  AND NOT EXISTS (SELECT 1 FROM river_job j WHERE j.id = s.job_id
		                  AND j.state IN ('available', 'running', 'retryable', 'scheduled', 'pending'))`)
	if err != nil {
		return fmt.Errorf("reconciling jobs: %w", err)
	}
	for rows.Next() {
		var k key
		if err := rows.Scan(&k.id, &k.stage, &k.gen); err != nil {
			rows.Close()
			return fmt.Errorf("reconciling jobs: %w", err)
		}
		if slices.Contains(stages, k.stage) && k.stage != pipeline.StageMine {
			keys = append(keys, k)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("reconciling jobs: %w", err)
	}
	for _, k := range keys {
		err := r.withTx(ctx, func(tx txn) error {
			cur, err := loadStage(ctx, tx, s.db.forUpdate(), k.id, k.stage)
			if err != nil || cur.generation != k.gen || (cur.state != pipeline.StatePending && cur.state != pipeline.StateRunning) {
				return err
			}
			id, err := tx.insertJob(ctx, newStageJob(k.stage, k.id, k.gen), nil)
			if err != nil {
				return err
			}
			_, err = tx.exec(ctx, `UPDATE swemill_stage_states SET job_id = $1 WHERE instance_id = $2 AND stage = $3`, id, k.id, k.stage)
			return err
		})
		if err != nil {
			return fmt.Errorf("reconciling %s job of %s: %w", k.stage, k.id, err)
		}
		r.log.Warn().Str("stage", k.stage).Str("instance", k.id).Msg("re-queued an item whose job was lost")
	}
	if !slices.Contains(stages, pipeline.StageMine) {
		return nil
	}
	var repos []repoRow
	rows, err = q.query(ctx, `SELECT repo FROM swemill_repos s WHERE state IN ('pending', 'running')
		AND NOT EXISTS (SELECT 1 FROM river_job j WHERE j.id = s.job_id
		                AND j.state IN ('available', 'running', 'retryable', 'scheduled', 'pending'))`)
	if err != nil {
		return fmt.Errorf("reconciling mine jobs: %w", err)
	}
	for rows.Next() {
		var rr repoRow
		if err := rows.Scan(&rr.repo); err != nil {
			rows.Close()
			return err
		}
		repos = append(repos, rr)
	}
	rows.Close()
	for _, rr := range repos {
		err := r.withTx(ctx, func(tx txn) error {
			cur, err := loadRepo(ctx, tx, s.db.forUpdate(), rr.repo)
			if err != nil || (cur.state != pipeline.StatePending && cur.state != pipeline.StateRunning) {
				return err
			}
			id, err := tx.insertJob(ctx, mineJob{Repo: cur.repo, Generation: cur.generation, Page: cur.page}, nil)
			if err != nil {
				return err
			}
			_, err = tx.exec(ctx, `UPDATE swemill_repos SET job_id = $1 WHERE repo = $2`, id, cur.repo)
			return err
		})
		if err != nil {
			return fmt.Errorf("reconciling mine job of %s: %w", rr.repo, err)
		}
	}
	return nil
}

// outcome classifies how one attempt ended.
type outcome int

const (
	outcomeDone outcome = iota
	outcomeDropped
	outcomeRetryAfter
	outcomeHandBack
	outcomeRetry
	outcomeFailed
)

func (r *runner) classify(ctx context.Context, j jobRef, err error) outcome {
	if err == nil {
		return outcomeDone
	}
	if _, ok := pipeline.AsDrop(err); ok {
		return outcomeDropped
	}
	var ra *pipeline.RetryAfterError
	if errors.As(err, &ra) {
		return outcomeRetryAfter
	}
	if ctx.Err() != nil && r.stopping.Load() {
		return outcomeHandBack
	}
	if j.attempt < j.maxTries {
		return outcomeRetry
	}
	return outcomeFailed
}

// transition is where an attempt that did not finish its work leaves a repository or an
// instance: its next state, the reason and detail recorded with it, and the error handed to
// River (a snooze, or the error River retries); ret nil means the job is complete.
func transition(oc outcome, perr error) (to pipeline.State, reason, detail string, ret error) {
	switch oc {
	case outcomeDropped:
		d, _ := pipeline.AsDrop(perr)
		return pipeline.StateDropped, d.Reason, d.Detail, nil
	case outcomeRetryAfter:
		var ra *pipeline.RetryAfterError
		errors.As(perr, &ra)
		return pipeline.StatePending, "retry_after", perr.Error(), riverSnooze(ra.Delay)
	case outcomeHandBack:
		return pipeline.StatePending, "interrupted", "", riverSnooze(0)
	case outcomeRetry:
		return pipeline.StatePending, "retry", perr.Error(), perr
	default:
		return pipeline.StateFailed, "", perr.Error(), nil
	}
}

// safely calls fn, turning a panic into that item's error.
func safely(fn func() error) error {
	var err error
	if rec := panics.Try(func() { err = fn() }); rec != nil {
		return fmt.Errorf("stage panicked: %w", rec.AsError())
	}
	return err
}

// recordCtx is the context for recording an outcome: it outlives the item's cancellation
// (a shutdown or a timeout must still be written down) but not forever.
func recordCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
}

// workInstance handles one delivery of a per-instance stage's job. complete marks the River
// job completed inside a transaction.
func (r *runner) workInstance(ctx context.Context, j jobRef, complete func(ctx context.Context, tx txn) error) error {
	s := r.s
	log := r.log.With().Str("stage", j.stage).Str("instance", j.id).Int64("generation", j.gen).Int("attempt", j.attempt).Logger()
	var item *pipeline.Item
	err := r.withTx(ctx, func(tx txn) error {
		cur, err := loadStage(ctx, tx, s.db.forUpdate(), j.id, j.stage)
		if err != nil {
			return err
		}
		if !cur.exists || cur.generation != j.gen || (cur.state != pipeline.StatePending && cur.state != pipeline.StateRunning) {
			log.Debug().Str("state", string(cur.state)).Msg("skipping a stale job")
			return complete(ctx, tx)
		}
		item, err = s.loadItem(ctx, tx, j.id, j.stage)
		var bad *badRecordError
		if errors.As(err, &bad) {
			// A record this build cannot read fails the item, not the run.
			item = nil
			log.Error().Err(err).Msg("failing an item whose stored record cannot be read")
			if err := s.apply(ctx, tx, change{
				instance: j.id, stage: j.stage, generation: j.gen,
				from: cur.state, to: pipeline.StateFailed, detail: err.Error(), attempt: j.attempt,
			}); err != nil {
				return err
			}
			return complete(ctx, tx)
		}
		if err != nil {
			return err
		}
		item.Generation, item.Attempt, item.Artifacts = j.gen, j.attempt, s.artifacts
		item.Log = log
		if item.Recorded, err = recordedArtifacts(ctx, tx, j.id, j.stage, j.gen); err != nil {
			return err
		}
		return s.apply(ctx, tx, change{
			instance: j.id, stage: j.stage, generation: j.gen,
			from: cur.state, to: pipeline.StateRunning, attempt: j.attempt,
		})
	})
	if err != nil || item == nil {
		return err
	}

	log.Debug().Msg("working")
	proc := r.cfg.Processors[j.stage]
	start := time.Now()
	var out pipeline.Output
	perr := safely(func() error {
		var err error
		out, err = proc.Process(ctx, item)
		return err
	})
	seconds := time.Since(start).Seconds()
	oc := r.classify(ctx, j, perr)

	wctx, cancel := recordCtx(ctx)
	defer cancel()
	var ret error
	err = r.withTx(wctx, func(tx txn) error {
		cur, err := loadStage(wctx, tx, s.db.forUpdate(), j.id, j.stage)
		if err != nil {
			return err
		}
		if cur.generation != j.gen || cur.state != pipeline.StateRunning {
			log.Info().Str("state", string(cur.state)).Msg("discarding the result of an item rerun meanwhile")
			return complete(wctx, tx)
		}
		c := change{instance: j.id, stage: j.stage, generation: j.gen, from: pipeline.StateRunning, attempt: j.attempt, seconds: seconds}
		switch oc {
		case outcomeDone:
			rec, err := marshalRecord(out.Record)
			if err != nil {
				c.to, c.detail = pipeline.StateFailed, fmt.Sprintf("encoding the %s record: %v", j.stage, err)
				break
			}
			c.to, c.output = pipeline.StateDone, rec
		default:
			c.to, c.reason, c.detail, ret = transition(oc, perr)
		}
		if err := s.apply(wctx, tx, c); err != nil {
			return err
		}
		if err := s.recordArtifacts(wctx, tx, j.id, j.stage, j.gen, out.Artifacts); err != nil {
			return err
		}
		if c.to == pipeline.StateDone {
			if next := nextStage(j.stage); next != "" {
				if err := s.schedule(wctx, tx, j.id, next, ""); err != nil {
					return err
				}
			}
		}
		if ret != nil {
			return nil // River reschedules the job itself
		}
		return complete(wctx, tx)
	})
	if err != nil {
		return fmt.Errorf("recording %s of %s: %w", j.stage, j.id, err)
	}
	switch oc {
	case outcomeRetry:
		log.Warn().Err(perr).Msg("attempt failed; will retry")
	case outcomeFailed:
		log.Error().Err(perr).Msg("failed on its last attempt")
	case outcomeDropped:
		d, _ := pipeline.AsDrop(perr)
		log.Debug().Str("reason", d.Reason).Msg("dropped")
	}
	return ret
}

// loadItem reads an instance and what earlier stages produced for it.
func (s *Store) loadItem(ctx context.Context, q querier, instance, stage string) (*pipeline.Item, error) {
	var rec string
	if err := q.queryRow(ctx, `SELECT record FROM swemill_instances WHERE instance_id = $1`, instance).Scan(&rec); err != nil {
		return nil, fmt.Errorf("reading instance %s: %w", instance, err)
	}
	item := &pipeline.Item{Stage: stage}
	if err := json.Unmarshal([]byte(rec), &item.Instance); err != nil {
		return nil, &badRecordError{fmt.Errorf("decoding instance %s: %w", instance, err)}
	}
	rows, err := q.query(ctx, `SELECT stage, output FROM swemill_stage_states
		WHERE instance_id = $1 AND state = 'done' AND output IS NOT NULL`, instance)
	if err != nil {
		return nil, fmt.Errorf("reading outputs of %s: %w", instance, err)
	}
	defer rows.Close()
	for rows.Next() {
		var st, out string
		if err := rows.Scan(&st, &out); err != nil {
			return nil, err
		}
		if pipeline.StageIndex(st) >= pipeline.StageIndex(stage) {
			continue
		}
		var dst any
		switch st {
		case pipeline.StageBuild:
			item.Environment = new(pipeline.Environment)
			dst = item.Environment
		case pipeline.StageValidate:
			item.Validation = new(pipeline.Validation)
			dst = item.Validation
		default:
			continue
		}
		if err := json.Unmarshal([]byte(out), dst); err != nil {
			return nil, &badRecordError{fmt.Errorf("decoding %s output of %s: %w", st, instance, err)}
		}
	}
	return item, rows.Err()
}

// badRecordError is a stored record that does not decode.
type badRecordError struct{ err error }

func (e *badRecordError) Error() string { return e.err.Error() }
func (e *badRecordError) Unwrap() error { return e.err }

// recordArtifacts points an instance's stage generation at stored artifacts, in tx.
func (s *Store) recordArtifacts(ctx context.Context, q querier, instance, stage string, gen int64, refs []pipeline.ArtifactRef) error {
	for _, a := range refs {
		if !pipeline.ValidDigest(a.Digest) {
			return fmt.Errorf("artifact %s of %s has invalid digest %q", a.Name, instance, a.Digest)
		}
		_, err := q.exec(ctx, `INSERT INTO swemill_artifacts (instance_id, stage, generation, name, digest, size, created_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING`,
			instance, stage, gen, a.Name, a.Digest, a.Size, micros(s.now()))
		if err != nil {
			return fmt.Errorf("recording artifact %s of %s: %w", a.Name, instance, err)
		}
	}
	return nil
}

// recordedArtifacts lists the artifacts recorded for an instance's stage generation, by name.
func recordedArtifacts(ctx context.Context, q querier, instance, stage string, gen int64) ([]pipeline.ArtifactRef, error) {
	rows, err := q.query(ctx, `SELECT name, digest, size FROM swemill_artifacts
		WHERE instance_id = $1 AND stage = $2 AND generation = $3 ORDER BY name`, instance, stage, gen)
	if err != nil {
		return nil, fmt.Errorf("reading recorded artifacts of %s: %w", instance, err)
	}
	defer rows.Close()
	var out []pipeline.ArtifactRef
	for rows.Next() {
		var a pipeline.ArtifactRef
		if err := rows.Scan(&a.Name, &a.Digest, &a.Size); err != nil {
			return nil, fmt.Errorf("reading recorded artifacts of %s: %w", instance, err)
		}
		out = append(out, a)
	}
	return out, rows.Err()
}
