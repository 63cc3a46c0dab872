package runstore

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/rivertype"
	"github.com/rs/zerolog"

	"swemill/pipeline"
)

// run works the chain on this engine's database: with a River client on PostgreSQL, with
// the local queue on SQLite (see localqueue.go).
func (e *engine[TD, TTx]) run(ctx context.Context, r *runner) (RunSummary, error) {
	stages := r.cfg.stages()
	soft := r.cfg.SoftStopTimeout
	if soft <= 0 {
		soft = 30 * time.Second
	}
	var pool jobPool
	if e.dbKind == kindSQLite {
		lq := newLocalQueue(r, stages, soft)
		r.withTx = lq.withTx(e.inTx)
		// The run directory is locked by this process, so every job left running was left by a
		// process that died: hand them out again now.
		if err := e.requeueOrphans(ctx, stages); err != nil {
			return RunSummary{}, err
		}
		pool = lq
	} else {
		rp, err := e.riverPool(r, stages, soft)
		if err != nil {
			return RunSummary{}, err
		}
		pool = rp
	}
	runID, resumed, err := r.start(ctx)
	if err != nil {
		return RunSummary{}, err
	}
	if err := r.reconcile(ctx); err != nil {
		return RunSummary{}, err
	}
	r.log.Info().Int64("run", runID).Bool("resumed", resumed).Strs("stages", stages).Str("database", e.dbKind).Msg("run started")

	if err := pool.start(ctx); err != nil {
		return RunSummary{}, fmt.Errorf("starting the job client: %w", err)
	}
	complete, loopErr := r.loop(ctx)
	r.stopping.Store(!complete)
	stopErr := pool.stop(ctx)
	if loopErr != nil {
		return RunSummary{RunID: runID, Resumed: resumed}, loopErr
	}
	if stopErr != nil {
		return RunSummary{RunID: runID, Resumed: resumed}, fmt.Errorf("stopping the job client: %w", stopErr)
	}
	if complete {
		if err := r.finish(context.WithoutCancel(ctx), runID); err != nil {
			return RunSummary{}, err
		}
	}
	st, err := r.s.Status(context.WithoutCancel(ctx))
	if err != nil {
		return RunSummary{}, err
	}
	r.log.Info().Int64("run", runID).Bool("complete", complete).Msg("run stopped")
	return RunSummary{RunID: runID, Resumed: resumed, Complete: complete, Status: st}, nil
}

// riverPool is the job pool on PostgreSQL: a River client working the selected stages'
// queues, its job inserts going through r.withTx.
type riverPool[TTx any] struct {
	client *river.Client[TTx]
	soft   time.Duration
}

func (p riverPool[TTx]) start(ctx context.Context) error {
	// River's Start context would stop the client when cancelled; swemill stops it itself so
	// that it knows the stop is a hand-back and not a failure.
	return p.client.Start(context.WithoutCancel(ctx))
}

func (p riverPool[TTx]) stop(ctx context.Context) error {
	stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), p.soft+time.Minute)
	defer cancel()
	return p.client.Stop(stopCtx)
}

func (e *engine[TD, TTx]) riverPool(r *runner, stages []string, soft time.Duration) (riverPool[TTx], error) {
	queues := make(map[string]river.QueueConfig, len(stages))
	minTimeout := time.Duration(0)
	for _, st := range stages {
		queues[st] = river.QueueConfig{MaxWorkers: r.cfg.workers(st)}
	}
	for _, st := range pipeline.Stages {
		if t := r.cfg.timeout(st); minTimeout == 0 || t < minTimeout {
			minTimeout = t
		}
	}
	// Every kind has a worker, so no job is ever discarded as unknown; only the selected
	// stages' queues are fetched.
	workers := river.NewWorkers()
	river.AddWorker[mineJob](workers, &mineWorker[TD, TTx]{r: r})
	river.AddWorker[buildJob](workers, &instanceWorker[TD, TTx, buildJob]{r: r, stage: pipeline.StageBuild})
	river.AddWorker[validateJob](workers, &instanceWorker[TD, TTx, validateJob]{r: r, stage: pipeline.StageValidate})
	river.AddWorker[rolloutJob](workers, &instanceWorker[TD, TTx, rolloutJob]{r: r, stage: pipeline.StageRollout})

	client, err := river.NewClient[TTx](e.driver, &river.Config{
		ID:                   riverClientID(r.cfg.WorkerID),
		Queues:               queues,
		Workers:              workers,
		JobTimeout:           -1, // each stage's worker sets its own
		RescueStuckJobsAfter: minTimeout,
		FetchCooldown:        2 * time.Millisecond,
		FetchPollInterval:    time.Second, // PostgreSQL wakes workers with LISTEN/NOTIFY; polling is the fallback
		RetryPolicy:          backoffPolicy{first: r.cfg.RetryBackoff},
		SoftStopTimeout:      soft,
		Logger:               slog.New(zerologHandler{log: r.log.With().Str("component", "river").Logger()}),
	})
	if err != nil {
		return riverPool[TTx]{}, fmt.Errorf("creating the job client: %w", err)
	}
	r.withTx = func(ctx context.Context, fn func(tx txn) error) error {
		return e.inTxWith(ctx, client, fn)
	}
	return riverPool[TTx]{client: client, soft: soft}, nil
}

// requeueOrphans makes River jobs of the selected stages that a dead process left running, or
// that wait for a retry, available now. It also clears a dead process's leadership so this
// one leads River's maintenance at once.
func (e *engine[TD, TTx]) requeueOrphans(ctx context.Context, stages []string) error {
	args := make([]any, len(stages))
	ph := make([]string, len(stages))
	for i, st := range stages {
		args[i], ph[i] = st, fmt.Sprintf("$%d", i+1)
	}
	var n int64
	err := e.inTx(ctx, func(tx txn) error {
		var err error
		n, err = tx.exec(ctx, `UPDATE river_job SET state = 'available', scheduled_at = datetime('now', 'subsec')
			WHERE state IN ('running', 'retryable', 'scheduled') AND queue IN (`+strings.Join(ph, ",")+`)`, args...)
		if err != nil {
			return fmt.Errorf("re-queueing jobs left running: %w", err)
		}
		if _, err := tx.exec(ctx, `DELETE FROM river_leader`); err != nil {
			return fmt.Errorf("clearing a dead leader: %w", err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if n > 0 {
		zerolog.Ctx(ctx).Debug().Int64("jobs", n).Msg("re-queued jobs left by a previous process")
	}
	return nil
}

// riverClientID makes a River client id from a worker id (letters, digits, '-', '_', '.').
func riverClientID(worker string) string {
	return fmt.Sprintf("%s_%d", safeID(worker), time.Now().UnixNano()%1_000_000)
}

type mineWorker[TD riverdriver.Driver[TTx], TTx any] struct {
	river.WorkerDefaults[mineJob]
	r *runner
}

func (w *mineWorker[TD, TTx]) Timeout(*river.Job[mineJob]) time.Duration {
	return w.r.cfg.timeout(pipeline.StageMine)
}

func (w *mineWorker[TD, TTx]) Work(ctx context.Context, job *river.Job[mineJob]) error {
	ref := jobRef{stage: pipeline.StageMine, id: job.Args.Repo, gen: job.Args.Generation, page: job.Args.Page,
		attempt: job.Attempt, maxTries: w.r.cfg.attempts(pipeline.StageMine)}
	return w.r.workMine(ctx, ref, completer[TD, TTx](job))
}

type instanceWorker[TD riverdriver.Driver[TTx], TTx any, A stageArgs] struct {
	river.WorkerDefaults[A]
	r     *runner
	stage string
}

func (w *instanceWorker[TD, TTx, A]) Timeout(*river.Job[A]) time.Duration {
	return w.r.cfg.timeout(w.stage)
}

func (w *instanceWorker[TD, TTx, A]) Work(ctx context.Context, job *river.Job[A]) error {
	j := job.Args.job()
	ref := jobRef{stage: w.stage, id: j.Instance, gen: j.Generation, attempt: job.Attempt, maxTries: w.r.cfg.attempts(w.stage)}
	return w.r.workInstance(ctx, ref, completer[TD, TTx](job))
}

// completer returns a function that completes job inside a swemill transaction.
func completer[TD riverdriver.Driver[TTx], TTx any, A river.JobArgs](job *river.Job[A]) func(ctx context.Context, tx txn) error {
	return func(ctx context.Context, tx txn) error {
		et, ok := tx.(*engineTx[TD, TTx])
		if !ok {
			return fmt.Errorf("completing job %d: transaction of another database", job.ID)
		}
		if _, err := river.JobCompleteTx[TD](ctx, et.tx, job); err != nil {
			return fmt.Errorf("completing job %d: %w", job.ID, err)
		}
		return nil
	}
}

// riverSnooze asks River to hand the job out again after d without counting the attempt.
func riverSnooze(d time.Duration) error { return river.JobSnooze(d) }

// backoffPolicy retries after first, doubling per attempt, up to five minutes.
type backoffPolicy struct{ first time.Duration }

func (p backoffPolicy) NextRetry(job *rivertype.JobRow) time.Time {
	d := p.first
	if d <= 0 {
		d = time.Second
	}
	for i := 1; i < job.Attempt && d < 5*time.Minute; i++ {
		d *= 2
	}
	return time.Now().Add(min(d, 5*time.Minute))
}

// zerologHandler sends River's slog records to zerolog, one level down: River's info lines
// are swemill's debug lines.
type zerologHandler struct {
	log   zerolog.Logger
	attrs []slog.Attr
}

func (h zerologHandler) Enabled(_ context.Context, l slog.Level) bool {
	return h.log.GetLevel() <= zlevel(l)
}

func zlevel(l slog.Level) zerolog.Level {
	switch {
	case l >= slog.LevelError:
		return zerolog.ErrorLevel
	case l >= slog.LevelWarn:
		return zerolog.WarnLevel
	default:
		return zerolog.DebugLevel
	}
}

func (h zerologHandler) Handle(_ context.Context, rec slog.Record) error {
	ev := h.log.WithLevel(zlevel(rec.Level))
	for _, a := range h.attrs {
		ev = ev.Any(a.Key, a.Value.Any())
	}
	rec.Attrs(func(a slog.Attr) bool {
		ev = ev.Any(a.Key, a.Value.Any())
		return true
	})
	ev.Msg(rec.Message)
	return nil
}

func (h zerologHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return zerologHandler{log: h.log, attrs: append(append([]slog.Attr(nil), h.attrs...), attrs...)}
}

func (h zerologHandler) WithGroup(string) slog.Handler { return h }
