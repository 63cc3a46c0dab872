package runstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"swemill/pipeline"
)

// DatabaseFile is the SQLite database's file name in a run directory.
const DatabaseFile = "swemill.db"

// Options says where a run's store lives.
type Options struct {
	// Dir is the run directory. It must exist unless Create is set.
	Dir string
	// Create creates Dir when it does not exist.
	Create bool
	// Database is empty for SQLite in Dir (DatabaseFile), or a postgres:// URL shared by
	// workers on several machines.
	Database string
	// ArtifactsDir holds the content-addressed artifacts; empty means Dir/artifacts. Workers
	// that share a PostgreSQL database should share this directory too.
	ArtifactsDir string
	// ReadOnly opens an existing store without migrating it (status, ls, show).
	ReadOnly bool
	// Log receives the store's and the runner's log lines.
	Log zerolog.Logger
}

// Store is a run's record: swemill's tables in SQLite or PostgreSQL, and the artifacts. It is
// safe for concurrent use. Close it when done.
type Store struct {
	db        database
	dir       string
	artifacts *pipeline.Artifacts
	log       zerolog.Logger
	now       func() time.Time
	closeOnce sync.Once
}

// Open opens the store of a run directory, creating and migrating its database as needed.
func Open(ctx context.Context, o Options) (*Store, error) {
	if o.Dir == "" {
		return nil, errors.New("opening run: no run directory given")
	}
	if abs, err := filepath.Abs(o.Dir); err == nil {
		o.Dir = abs // artifact paths shown to people work from anywhere
	}
	fi, err := os.Stat(o.Dir)
	switch {
	case errors.Is(err, os.ErrNotExist) && o.Create:
		if err := os.MkdirAll(o.Dir, 0o755); err != nil {
			return nil, fmt.Errorf("creating run directory %s: %w", o.Dir, err)
		}
	case errors.Is(err, os.ErrNotExist):
		return nil, fmt.Errorf("run directory %s does not exist (swemill run creates it)", o.Dir)
	case err != nil:
		return nil, fmt.Errorf("opening run directory %s: %w", o.Dir, err)
	case !fi.IsDir():
		return nil, fmt.Errorf("run directory %s is not a directory", o.Dir)
	}
	dbPath := filepath.Join(o.Dir, DatabaseFile)
	if o.Database == "" && o.ReadOnly {
		if _, err := os.Stat(dbPath); errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("run directory %s has no run database (%s): nothing has run there yet", o.Dir, DatabaseFile)
		}
	}
	db, err := openDatabase(ctx, dbOptions{url: o.Database, sqlitePath: dbPath, readOnly: o.ReadOnly})
	if err != nil {
		return nil, err
	}
	adir := o.ArtifactsDir
	if adir == "" {
		adir = filepath.Join(o.Dir, "artifacts")
	}
	var arts *pipeline.Artifacts
	if o.ReadOnly {
		arts = pipeline.ArtifactsAt(adir)
	} else if arts, err = pipeline.OpenArtifacts(adir); err != nil {
		db.close()
		return nil, err
	}
	return &Store{db: db, dir: o.Dir, artifacts: arts, log: o.Log, now: time.Now}, nil
}

// Close closes the database. It is idempotent.
func (s *Store) Close() { s.closeOnce.Do(s.db.close) }

// Dir returns the run directory.
func (s *Store) Dir() string { return s.dir }

// Artifacts returns the run's artifact store.
func (s *Store) Artifacts() *pipeline.Artifacts { return s.artifacts }

// RiverClient is the store's River client, for tools that read River's tables (River's web
// UI): a *river.Client[*sql.Tx] on SQLite, a *river.Client[pgx.Tx] on PostgreSQL. It only
// inserts; it never works jobs.
func (s *Store) RiverClient() any { return s.db.riverClient() }

// DatabaseKind returns "sqlite" or "postgres".
func (s *Store) DatabaseKind() string { return s.db.kind() }

func micros(t time.Time) int64 { return t.UnixMicro() }

func fromMicros(us int64) time.Time { return time.UnixMicro(us).UTC() }

// stageRow is one instance's row in swemill_stage_states.
type stageRow struct {
	instance   string
	stage      string
	state      pipeline.State
	generation int64
	attempts   int
	reason     string
	detail     string
	output     sql.NullString
	exists     bool
}

// loadStage reads an instance's row at a stage; a missing row has exists false.
func loadStage(ctx context.Context, q querier, lock, instance, stage string) (stageRow, error) {
	r := stageRow{instance: instance, stage: stage}
	err := q.queryRow(ctx, `SELECT state, generation, attempts, reason, detail, output
		FROM swemill_stage_states WHERE instance_id = $1 AND stage = $2`+lock, instance, stage).
		Scan(&r.state, &r.generation, &r.attempts, &r.reason, &r.detail, &r.output)
	if errors.Is(err, sql.ErrNoRows) {
		return r, nil
	}
	if err != nil {
		return r, fmt.Errorf("reading %s state of %s: %w", stage, instance, err)
	}
	r.exists = true
	return r, nil
}

// change is one transition of an instance at a stage.
type change struct {
	instance   string
	stage      string
	generation int64
	from       pipeline.State // "" when the instance had no row at the stage
	to         pipeline.State
	reason     string
	detail     string
	attempt    int
	// output replaces the stored output when set (done); other transitions clear it unless
	// keepOutput is set.
	output     []byte
	keepOutput bool
	jobID      int64
	seconds    float64
}

// apply writes a transition: the stage row and the append-only transitions row, in tx.
func (s *Store) apply(ctx context.Context, q querier, c change) error {
	now := micros(s.now())
	var out any
	if c.output != nil {
		out = string(c.output)
	}
	var job any
	if c.jobID != 0 {
		job = c.jobID
	}
	var summary any
	if c.output != nil {
		sum, err := summarize(c.stage, c.output)
		if err != nil {
			return fmt.Errorf("summarising the %s output of %s: %w", c.stage, c.instance, err)
		}
		if sum != nil {
			summary = string(sum)
		}
	}
	outputExpr, summaryExpr := "excluded.output", "excluded.summary"
	if c.keepOutput {
		outputExpr, summaryExpr = "swemill_stage_states.output", "swemill_stage_states.summary"
	}
	jobExpr := "excluded.job_id"
	if c.jobID == 0 {
		jobExpr = "swemill_stage_states.job_id"
	}
	// A new row takes its instance's repository and language (an instance is recorded before
	// any of its stages; a missing one leaves them NULL, which the table refuses).
	_, err := q.exec(ctx, `INSERT INTO swemill_stage_states
			(instance_id, stage, state, generation, attempts, reason, detail, output, summary, job_id, seconds, updated_at, repo, language)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12,
			(SELECT repo FROM swemill_instances WHERE instance_id = $1),
			(SELECT language FROM swemill_instances WHERE instance_id = $1))
		ON CONFLICT (instance_id, stage) DO UPDATE SET
			state = excluded.state, generation = excluded.generation, attempts = excluded.attempts,
			reason = excluded.reason, detail = excluded.detail, output = `+outputExpr+`, summary = `+summaryExpr+`,
			job_id = `+jobExpr+`, seconds = excluded.seconds, updated_at = excluded.updated_at`,
		c.instance, c.stage, string(c.to), c.generation, c.attempt, c.reason, c.detail, out, summary, job, c.seconds, now)
	if err != nil {
		return fmt.Errorf("writing %s state of %s: %w", c.stage, c.instance, err)
	}
	_, err = q.exec(ctx, `INSERT INTO swemill_transitions
			(instance_id, stage, generation, from_state, to_state, reason, detail, attempt, at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
		c.instance, c.stage, c.generation, string(c.from), string(c.to), c.reason, c.detail, c.attempt, now)
	if err != nil {
		return fmt.Errorf("recording %s transition of %s: %w", c.stage, c.instance, err)
	}
	return nil
}

// schedule queues stage for an instance under a new generation, in tx.
func (s *Store) schedule(ctx context.Context, tx txn, instance, stage, reason string) error {
	cur, err := loadStage(ctx, tx, s.db.forUpdate(), instance, stage)
	if err != nil {
		return err
	}
	gen := cur.generation + 1
	jobID, err := tx.insertJob(ctx, newStageJob(stage, instance, gen), nil)
	if err != nil {
		return fmt.Errorf("scheduling %s of %s: %w", stage, instance, err)
	}
	return s.apply(ctx, tx, change{
		instance: instance, stage: stage, generation: gen,
		from: cur.state, to: pipeline.StatePending, reason: reason, jobID: jobID,
	})
}

// invalidateAfter marks the instance's rows in stages after stage as stale, in tx, and
// returns how many it changed.
func (s *Store) invalidateAfter(ctx context.Context, q querier, instance, stage, reason string) (int, error) {
	n := 0
	for _, later := range pipeline.Stages[pipeline.StageIndex(stage)+1:] {
		cur, err := loadStage(ctx, q, s.db.forUpdate(), instance, later)
		if err != nil {
			return n, err
		}
		if !cur.exists || cur.state == pipeline.StateStale {
			continue
		}
		err = s.apply(ctx, q, change{
			instance: instance, stage: later, generation: cur.generation,
			from: cur.state, to: pipeline.StateStale, reason: reason, attempt: cur.attempts,
		})
		if err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// nextStage returns the stage after stage, or "" after the last.
func nextStage(stage string) string {
	i := pipeline.StageIndex(stage)
	if i < 0 || i+1 >= len(pipeline.Stages) {
		return ""
	}
	return pipeline.Stages[i+1]
}

func marshalRecord(v any) ([]byte, error) {
	if v == nil {
		return []byte("null"), nil
	}
	return json.Marshal(v)
}
