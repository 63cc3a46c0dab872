package runstore

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"swemill/pipeline"
)

// On SQLite one process works a run directory (Run holds the directory's lock), so that
// process hands out the jobs of River's table itself instead of running a River client. A
// claim only reads which jobs are due; the jobs it hands out are
// held in memory, and each is marked running in its own first transaction, beside the
// stage's first write. The transaction that records a job's outcome also completes it
// (once), and retries and snoozes are written back with the states, times and attempt counts
// River gives them. Jobs are inserted by one plain statement that writes the row River's
// insert writes, unique key included (see insertDirect), so River's unique index still keeps
// one live job per args and River's tables, schema and web UI stay as they are. PostgreSQL,
// where several processes share the queues, keeps River's client.

// jobPool works the queued jobs of one run: River's client, or the local queue on SQLite.
type jobPool interface {
	// start begins handing out jobs.
	start(ctx context.Context) error
	// stop stops handing out jobs and waits for the jobs in flight, cancelling their
	// contexts once the soft-stop timeout has passed.
	stop(ctx context.Context) error
}

// sqliteTime formats t as River's SQLite driver stores times: text that compares, as text,
// in time order against SQLite's datetime('now', 'subsec').
func sqliteTime(t time.Time) string {
	return t.UTC().Round(time.Millisecond).Format("2006-01-02 15:04:05.000")
}

// localQueue is the job pool on SQLite.
type localQueue struct {
	r      *runner
	stages []string
	by     string // attempted_by, as a River client id
	soft   time.Duration
	poll   time.Duration
	wake   map[string]chan struct{}

	claimCtx   context.Context // cancelled by stop: no more claims
	stopClaims context.CancelFunc
	workCtx    context.Context // parent of the jobs' contexts, cancelled once soft stop expires
	cancelWork context.CancelFunc
	loops      sync.WaitGroup
	jobs       sync.WaitGroup
}

// claimedJob is one job handed out by a claim.
type claimedJob struct {
	id      int64
	kind    string
	args    []byte
	attempt int // the attempt this claim makes
	max     int
	// running is set once a committed transaction has marked the job running.
	running bool
}

func newLocalQueue(r *runner, stages []string, soft time.Duration) *localQueue {
	lq := &localQueue{r: r, stages: stages, by: riverClientID(r.cfg.WorkerID), soft: soft,
		poll: 50 * time.Millisecond, wake: make(map[string]chan struct{}, len(pipeline.Stages))}
	for _, st := range pipeline.Stages {
		lq.wake[st] = make(chan struct{}, 1)
	}
	return lq
}

// withTx runs fn in a transaction through the store and, once it commits, wakes the queues
// it inserted jobs into. The first transaction of a claimed job also marks the job running
// (see claim).
func (lq *localQueue) withTx(inTx func(ctx context.Context, fn func(tx txn) error) error) func(ctx context.Context, fn func(tx txn) error) error {
	return func(ctx context.Context, fn func(tx txn) error) error {
		c, _ := ctx.Value(claimKey{}).(*claimedJob)
		var queues []string
		err := inTx(ctx, func(tx txn) error {
			queues = queues[:0]
			if c != nil && !c.running {
				if err := lq.markRunning(ctx, tx, c); err != nil {
					return err
				}
			}
			return fn(&notingTx{txn: tx, queues: &queues})
		})
		if err == nil {
			if c != nil {
				c.running = true
			}
			for _, q := range queues {
				lq.nudge(q)
			}
		}
		return err
	}
}

// claimKey is the context key of the claimed job a job's goroutine works.
type claimKey struct{}

// markRunning marks a claimed job running in tx, as River's fetch does: one more attempt,
// its time and this process's id.
func (lq *localQueue) markRunning(ctx context.Context, tx txn, c *claimedJob) error {
	by, err := json.Marshal(lq.by)
	if err != nil {
		return err
	}
	n, err := tx.exec(ctx, `UPDATE river_job SET attempt = attempt + 1, attempted_at = $1, state = 'running',
			attempted_by = jsonb_insert(coalesce(attempted_by, jsonb('[]')), '$[#]', json($2))
		WHERE id = $3 AND attempt = $4 AND state IN ('available', 'retryable', 'scheduled')`,
		sqliteTime(time.Now()), string(by), c.id, c.attempt-1)
	if err != nil {
		return fmt.Errorf("marking job %d running: %w", c.id, err)
	}
	if n != 1 {
		return fmt.Errorf("marking job %d running: it changed since it was claimed", c.id)
	}
	return nil
}

// nudge wakes queue's claim loop, if it has one.
func (lq *localQueue) nudge(queue string) {
	if ch := lq.wake[queue]; ch != nil {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// notingTx notes the queues of the jobs inserted through it.
type notingTx struct {
	txn
	queues *[]string
}

func (t *notingTx) insertJob(ctx context.Context, args river.JobArgs, opts *river.InsertOpts) (int64, error) {
	id, err := t.txn.insertJob(ctx, args, opts)
	if err == nil {
		q := ""
		if opts != nil {
			q = opts.Queue
		}
		if a, ok := args.(river.JobArgsWithInsertOpts); ok && q == "" {
			q = a.InsertOpts().Queue
		}
		*t.queues = append(*t.queues, q)
	}
	return id, err
}

func (lq *localQueue) start(ctx context.Context) error {
	lq.claimCtx, lq.stopClaims = context.WithCancel(context.WithoutCancel(ctx))
	lq.workCtx, lq.cancelWork = context.WithCancel(context.WithoutCancel(ctx))
	for _, st := range lq.stages {
		lq.loops.Add(1)
		go lq.serve(st, lq.r.cfg.workers(st))
	}
	return nil
}

func (lq *localQueue) stop(context.Context) error {
	lq.stopClaims()
	lq.loops.Wait()
	done := make(chan struct{})
	go func() {
		lq.jobs.Wait()
		close(done)
	}()
	t := time.NewTimer(lq.soft)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		lq.r.log.Warn().Dur("soft_stop_timeout", lq.soft).Msg("cancelling items still in flight; they are handed back")
		lq.cancelWork()
		<-done
	}
	lq.cancelWork()
	return nil
}

// serve claims stage's jobs while it has free workers, until stop.
func (lq *localQueue) serve(stage string, slots int) {
	defer lq.loops.Done()
	held := make(map[int64]bool, slots)
	done := make(chan int64, slots)
	tick := time.NewTicker(lq.poll)
	defer tick.Stop()
	// more is false once a claim found fewer due jobs than it asked for, until a job is
	// inserted into the queue or the poll interval passes (a retry coming due, a job queued
	// by another process): a worker freed meanwhile does not ask again.
	more := true
	for {
		if free := slots - len(held); free > 0 && more {
			jobs, err := lq.claim(stage, free, held)
			if err != nil && lq.claimCtx.Err() == nil {
				lq.r.log.Warn().Err(err).Str("stage", stage).Msg("claiming jobs")
			}
			more = err != nil || len(jobs) == free
			for _, j := range jobs {
				held[j.id] = true
				lq.jobs.Add(1)
				go func() {
					defer lq.jobs.Done()
					lq.work(stage, j)
					done <- j.id
				}()
			}
		}
		select {
		case <-lq.claimCtx.Done():
			return
		case id := <-done:
			delete(held, id)
		case <-lq.wake[stage]:
			more = true
		case <-tick.C:
			more = true
		}
	drain:
		for {
			select {
			case id := <-done:
				delete(held, id)
			default:
				break drain
			}
		}
	}
}

// claim returns up to n of queue's due jobs that this process does not hold yet, in River's
// order (priority, then scheduled time, then id). Jobs waiting for a retry or a snooze are
// due once their scheduled time has passed. Claiming only reads: this process is the only
// one working the database's queues (it holds the run directory), so the jobs it holds are
// kept in memory and a job is marked running in the job's own first transaction, with the
// stage's first write, rather than by a commit of its own.
func (lq *localQueue) claim(queue string, n int, held map[int64]bool) ([]*claimedJob, error) {
	rows, err := lq.r.s.db.read().query(lq.claimCtx, `SELECT id, kind, json(args), attempt + 1, max_attempts FROM river_job
		WHERE queue = $1 AND state IN ('available', 'retryable', 'scheduled') AND scheduled_at <= $2 AND priority >= 0
		ORDER BY priority, scheduled_at, id LIMIT $3`, queue, sqliteTime(time.Now()), n+len(held))
	if err != nil {
		return nil, fmt.Errorf("claiming %s jobs: %w", queue, err)
	}
	defer rows.Close()
	var out []*claimedJob
	for rows.Next() && len(out) < n {
		j := new(claimedJob)
		if err := rows.Scan(&j.id, &j.kind, &j.args, &j.attempt, &j.max); err != nil {
			return nil, fmt.Errorf("claiming %s jobs: %w", queue, err)
		}
		if !held[j.id] {
			out = append(out, j)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("claiming %s jobs: %w", queue, err)
	}
	return out, nil
}

// work runs one claimed job and writes its outcome back.
func (lq *localQueue) work(stage string, j *claimedJob) {
	r := lq.r
	ctx, cancel := context.WithTimeout(context.WithValue(lq.workCtx, claimKey{}, j), r.cfg.timeout(stage))
	defer cancel()
	completed := false
	complete := func(ctx context.Context, tx txn) error {
		n, err := tx.exec(ctx, `UPDATE river_job SET state = 'completed', finalized_at = $1 WHERE id = $2 AND state = 'running'`,
			sqliteTime(time.Now()), j.id)
		if err != nil {
			return fmt.Errorf("completing job %d: %w", j.id, err)
		}
		if n != 1 {
			return fmt.Errorf("completing job %d: it is not running", j.id)
		}
		completed = true
		return nil
	}
	err := safely(func() error {
		ref := jobRef{stage: stage, attempt: j.attempt, maxTries: r.cfg.attempts(stage)}
		switch {
		case stage == pipeline.StageMine && j.kind == mineJob{}.Kind():
			var a mineJob
			if err := json.Unmarshal(j.args, &a); err != nil {
				return fmt.Errorf("decoding job %d: %w", j.id, err)
			}
			ref.id, ref.gen, ref.page = a.Repo, a.Generation, a.Page
			return r.workMine(ctx, ref, complete)
		case stage != pipeline.StageMine && j.kind == newStageJob(stage, "", 0).Kind():
			var a instanceJob
			if err := json.Unmarshal(j.args, &a); err != nil {
				return fmt.Errorf("decoding job %d: %w", j.id, err)
			}
			ref.id, ref.gen = a.Instance, a.Generation
			return r.workInstance(ctx, ref, complete)
		}
		return fmt.Errorf("job %d is of kind %q, which queue %s does not hold", j.id, j.kind, stage)
	})
	wctx, wcancel := recordCtx(ctx)
	defer wcancel()
	if err == nil && completed {
		return
	}
	if werr := lq.writeBack(wctx, stage, j, err); werr != nil {
		// The job stays as it was in the table (running: the next run hands it out again;
		// due: claimed again). Hold it a poll interval so a store that keeps failing is not
		// asked again at once.
		r.log.Error().Err(werr).Int64("job", j.id).Str("stage", stage).Msg("recording a job's outcome")
		select {
		case <-time.After(lq.poll):
		case <-lq.workCtx.Done():
		}
	}
}

// writeBack records a job that did not complete itself: completed (it returned nil), put
// back for later without counting the attempt (a snooze), retried after the backoff, or
// discarded after River's attempt ceiling, as River's executor would.
func (lq *localQueue) writeBack(ctx context.Context, stage string, j *claimedJob, jobErr error) error {
	now := time.Now()
	var snooze *rivertype.JobSnoozeError
	isSnooze := errors.As(jobErr, &snooze)
	err := lq.r.withTx(ctx, func(tx txn) error {
		switch {
		case jobErr == nil:
			_, err := tx.exec(ctx, `UPDATE river_job SET state = 'completed', finalized_at = $1 WHERE id = $2 AND state = 'running'`,
				sqliteTime(now), j.id)
			return err
		case isSnooze:
			state := "scheduled"
			if snooze.Duration <= 0 {
				state = "available"
			}
			_, err := tx.exec(ctx, `UPDATE river_job SET state = $1, scheduled_at = $2, attempt = attempt - 1
				WHERE id = $3 AND state = 'running'`, state, sqliteTime(now.Add(snooze.Duration)), j.id)
			return err
		}
		lq.r.log.Warn().Err(jobErr).Int64("job", j.id).Str("stage", stage).Int("attempt", j.attempt).Msg("job failed")
		rec, err := json.Marshal(rivertype.AttemptError{At: now.UTC(), Attempt: j.attempt, Error: jobErr.Error()})
		if err != nil {
			return err
		}
		state, scheduled, finalized := "retryable", sqliteTime(backoffPolicy{first: lq.r.cfg.RetryBackoff}.NextRetry(&rivertype.JobRow{Attempt: j.attempt})), any(nil)
		if j.attempt >= j.max {
			state, scheduled, finalized = "discarded", sqliteTime(now), sqliteTime(now)
		}
		_, err = tx.exec(ctx, `UPDATE river_job SET state = $1, scheduled_at = $2, finalized_at = $3,
				errors = jsonb_insert(coalesce(errors, jsonb('[]')), '$[#]', json($4))
			WHERE id = $5 AND state = 'running'`, state, scheduled, finalized, string(rec), j.id)
		return err
	})
	if err == nil && isSnooze && snooze.Duration <= 0 {
		lq.nudge(stage)
	}
	return err
}

// uniqueStateBits are the bits of River's unique_states bitmask, by job state, as River's
// unique index reads them.
var uniqueStateBits = map[rivertype.JobState]uint{
	rivertype.JobStateAvailable: 0, rivertype.JobStateCancelled: 1, rivertype.JobStateCompleted: 2,
	rivertype.JobStateDiscarded: 3, rivertype.JobStatePending: 4, rivertype.JobStateRetryable: 5,
	rivertype.JobStateRunning: 6, rivertype.JobStateScheduled: 7,
}

// insertDirect inserts a swemill job into River's SQLite table with one plain statement,
// as River's insert would write it (the same args, defaults, unique key and unique states,
// so River's unique index still refuses a second live job with the same args), and returns
// its id, or that of the live job with the same args. ok is false for a job whose options
// this does not cover; River inserts those.
func insertDirect(ctx context.Context, q querier, args river.JobArgs, opts *river.InsertOpts) (id int64, ok bool, err error) {
	wo, hasOpts := args.(river.JobArgsWithInsertOpts)
	if opts != nil || !hasOpts {
		return 0, false, nil
	}
	o := wo.InsertOpts()
	u := o.UniqueOpts
	if !u.ByArgs || u.ByPeriod != 0 || u.ByQueue || len(u.ByState) > 0 || u.ExcludeKind ||
		o.Queue == "" || o.MaxAttempts <= 0 || o.Priority != 0 || !o.ScheduledAt.IsZero() || len(o.Tags) > 0 || len(o.Metadata) > 0 || o.Pending {
		return 0, false, nil
	}
	encoded, err := json.Marshal(args)
	if err != nil {
		return 0, true, fmt.Errorf("encoding %s job: %w", args.Kind(), err)
	}
	key, err := riverUniqueKey(args.Kind(), encoded)
	if err != nil {
		return 0, true, fmt.Errorf("encoding %s job: %w", args.Kind(), err)
	}
	var states int64
	for _, st := range rivertype.UniqueOptsByStateDefault() {
		states |= 1 << uniqueStateBits[st]
	}
	rows, err := q.query(ctx, `INSERT INTO river_job (args, created_at, kind, max_attempts, metadata, priority, queue, scheduled_at, state, tags, unique_key, unique_states)
		VALUES (jsonb($1), $5, $2, $3, jsonb('{}'), 1, $4, $5, 'available', jsonb('[]'), $6, $7)
		ON CONFLICT (unique_key) WHERE unique_key IS NOT NULL AND unique_states IS NOT NULL AND CASE state
			WHEN 'available' THEN unique_states & (1 << 0) WHEN 'cancelled' THEN unique_states & (1 << 1)
			WHEN 'completed' THEN unique_states & (1 << 2) WHEN 'discarded' THEN unique_states & (1 << 3)
			WHEN 'pending' THEN unique_states & (1 << 4) WHEN 'retryable' THEN unique_states & (1 << 5)
			WHEN 'running' THEN unique_states & (1 << 6) WHEN 'scheduled' THEN unique_states & (1 << 7)
			ELSE 0 END >= 1
		DO NOTHING RETURNING id`, string(encoded), args.Kind(), o.MaxAttempts, o.Queue, sqliteTime(time.Now()), key[:], states)
	if err != nil {
		return 0, true, fmt.Errorf("inserting %s job: %w", args.Kind(), err)
	}
	inserted := rows.Next()
	if inserted {
		err = rows.Scan(&id)
	}
	rows.Close()
	if err == nil {
		err = rows.Err()
	}
	if err != nil {
		return 0, true, fmt.Errorf("inserting %s job: %w", args.Kind(), err)
	}
	if inserted {
		return id, true, nil
	}
	// A live job with the same args exists: that one is the job.
	err = q.queryRow(ctx, `SELECT id FROM river_job WHERE unique_key = $1 AND unique_states IS NOT NULL
		AND state IN ('available', 'pending', 'retryable', 'running', 'scheduled', 'completed') ORDER BY id DESC LIMIT 1`, key[:]).Scan(&id)
	if err != nil {
		return 0, true, fmt.Errorf("inserting %s job: finding the job with the same args: %w", args.Kind(), err)
	}
	return id, true, nil
}

// riverUniqueKey is River's unique key of a job unique by kind and args: the SHA-256 of
// "&kind=KIND&args=" and the encoded args' object with its keys sorted.
func riverUniqueKey(kind string, encoded []byte) ([32]byte, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(encoded, &fields); err != nil {
		return [32]byte{}, err
	}
	keys := make([]string, 0, len(fields))
	for k := range fields {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	b.WriteString("&kind=" + kind + "&args={")
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(',')
		}
		name, err := json.Marshal(k)
		if err != nil {
			return [32]byte{}, err
		}
		b.Write(name)
		b.WriteByte(':')
		b.Write(fields[k])
	}
	b.WriteByte('}')
	return sha256.Sum256([]byte(b.String())), nil
}
