package runstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"swemill/pipeline"
)

// repoRow is a repository's mining state in swemill_repos.
type repoRow struct {
	repo       string
	state      pipeline.State
	generation int64
	page       int
	attempts   int
	reason     string
	detail     string
	cursor     string
	runID      int64
	exists     bool
}

func loadRepo(ctx context.Context, q querier, lock, repo string) (repoRow, error) {
	r := repoRow{repo: repo}
	err := q.queryRow(ctx, `SELECT state, generation, page, attempts, reason, detail, cursor, run_id
		FROM swemill_repos WHERE repo = $1`+lock, repo).
		Scan(&r.state, &r.generation, &r.page, &r.attempts, &r.reason, &r.detail, &r.cursor, &r.runID)
	if errors.Is(err, sql.ErrNoRows) {
		return r, nil
	}
	if err != nil {
		return r, fmt.Errorf("reading mining state of %s: %w", repo, err)
	}
	r.exists = true
	return r, nil
}

func isNoRows(err error) bool { return errors.Is(err, sql.ErrNoRows) }

// scheduleMine queues mining of repo under a new generation, from cursor, in tx.
func (s *Store) scheduleMine(ctx context.Context, tx txn, repo string, cur repoRow, runID int64, cursor string) error {
	gen := cur.generation + 1
	id, err := tx.insertJob(ctx, mineJob{Repo: repo, Generation: gen}, nil)
	if err != nil {
		return fmt.Errorf("scheduling mining of %s: %w", repo, err)
	}
	_, err = tx.exec(ctx, `INSERT INTO swemill_repos (repo, state, generation, page, attempts, detail, cursor, run_id, job_id, updated_at)
		VALUES ($1, 'pending', $2, 0, 0, '', $3, $4, $5, $6)
		ON CONFLICT (repo) DO UPDATE SET state = 'pending', generation = excluded.generation, page = 0,
			attempts = 0, reason = '', detail = '', cursor = excluded.cursor, run_id = excluded.run_id,
			job_id = excluded.job_id, updated_at = excluded.updated_at`,
		repo, gen, cursor, runID, id, micros(s.now()))
	if err != nil {
		return fmt.Errorf("scheduling mining of %s: %w", repo, err)
	}
	return nil
}

func (s *Store) setRepo(ctx context.Context, q querier, r repoRow) error {
	_, err := q.exec(ctx, `UPDATE swemill_repos SET state = $1, page = $2, attempts = $3, reason = $4, detail = $5, cursor = $6, updated_at = $7
		WHERE repo = $8`, string(r.state), r.page, r.attempts, r.reason, r.detail, r.cursor, micros(s.now()), r.repo)
	if err != nil {
		return fmt.Errorf("writing mining state of %s: %w", r.repo, err)
	}
	return nil
}

// workMine handles one delivery of a mine job: one Mine call on a repository, its results
// recorded with the new cursor in one transaction.
func (r *runner) workMine(ctx context.Context, j jobRef, complete func(ctx context.Context, tx txn) error) error {
	s := r.s
	log := r.log.With().Str("stage", pipeline.StageMine).Str("repo", j.id).Int64("generation", j.gen).Int("page", j.page).Int("attempt", j.attempt).Logger()
	var job *pipeline.RepoJob
	err := r.withTx(ctx, func(tx txn) error {
		cur, err := loadRepo(ctx, tx, s.db.forUpdate(), j.id)
		if err != nil {
			return err
		}
		if !cur.exists || cur.generation != j.gen || cur.page != j.page || (cur.state != pipeline.StatePending && cur.state != pipeline.StateRunning) {
			log.Debug().Msg("skipping a stale mine job")
			return complete(ctx, tx)
		}
		job = &pipeline.RepoJob{Repo: j.id, Cursor: cur.cursor, Generation: j.gen, Attempt: j.attempt, Artifacts: s.artifacts, Log: log}
		cur.state, cur.attempts = pipeline.StateRunning, j.attempt
		return s.setRepo(ctx, tx, cur)
	})
	if err != nil || job == nil {
		return err
	}

	log.Debug().Msg("working")
	var res pipeline.MineResult
	perr := safely(func() error {
		var err error
		res, err = r.cfg.Miner.Mine(ctx, job)
		return err
	})
	oc := r.classify(ctx, j, perr)
	if oc == outcomeDone {
		if err := validateMined(j.id, res.Instances); err != nil {
			perr, oc = err, outcomeFailed
		}
	}

	wctx, cancel := recordCtx(ctx)
	defer cancel()
	var ret error
	kept, dropped := 0, 0
	err = r.withTx(wctx, func(tx txn) error {
		cur, err := loadRepo(wctx, tx, s.db.forUpdate(), j.id)
		if err != nil {
			return err
		}
		if cur.generation != j.gen || cur.page != j.page || cur.state != pipeline.StateRunning {
			return complete(wctx, tx)
		}
		switch oc {
		case outcomeDone:
			for _, m := range res.Instances {
				recorded, err := s.recordMined(wctx, tx, m, j.attempt)
				if err != nil {
					return err
				}
				switch {
				case !recorded:
				case m.Drop != nil:
					dropped++
				default:
					kept++
				}
			}
			cur.cursor, cur.reason, cur.detail = res.Cursor, "", ""
			if res.Drop != nil {
				cur.state, cur.reason, cur.detail = pipeline.StateDropped, res.Drop.Reason, res.Drop.Detail
			} else if res.More {
				cur.state, cur.page = pipeline.StatePending, cur.page+1
				id, err := tx.insertJob(wctx, mineJob{Repo: j.id, Generation: j.gen, Page: cur.page}, nil)
				if err != nil {
					return err
				}
				if _, err := tx.exec(wctx, `UPDATE swemill_repos SET job_id = $1 WHERE repo = $2`, id, j.id); err != nil {
					return err
				}
			} else {
				cur.state = pipeline.StateDone
			}
		default:
			cur.state, cur.reason, cur.detail, ret = transition(oc, perr)
		}
		if err := s.setRepo(wctx, tx, cur); err != nil {
			return err
		}
		if ret != nil {
			return nil // River reschedules the job itself
		}
		return complete(wctx, tx)
	})
	if err != nil {
		return fmt.Errorf("recording mining of %s: %w", j.id, err)
	}
	switch oc {
	case outcomeDone:
		if res.Drop != nil {
			log.Info().Str("reason", res.Drop.Reason).Msg("repository dropped")
			break
		}
		log.Info().Int("seen", len(res.Instances)).Int("kept", kept).Int("dropped", dropped).Bool("more", res.More).Msg("mined")
	case outcomeRetry:
		log.Warn().Err(perr).Msg("mining attempt failed; will retry")
	case outcomeFailed:
		log.Error().Err(perr).Msg("mining failed on its last attempt")
	}
	if oc == outcomeDone && res.More {
		// The continuation is its own job; this one is done.
		return nil
	}
	return ret
}

// validateMined checks a miner's output before any of it is written.
func validateMined(repo string, ms []pipeline.Mined) error {
	seen := make(map[string]bool, len(ms))
	for i, m := range ms {
		id := m.Instance.InstanceID
		if id == "" {
			return fmt.Errorf("miner returned an instance without an id (item %d of %s)", i, repo)
		}
		if seen[id] {
			return fmt.Errorf("miner returned instance %s twice", id)
		}
		seen[id] = true
		if m.Instance.Repo == "" {
			return fmt.Errorf("miner returned instance %s without a repo", id)
		}
		if m.Drop != nil && m.Drop.Reason == "" {
			return fmt.Errorf("miner dropped instance %s without a reason", id)
		}
	}
	return nil
}

// recordMined writes one mined pull request, unless the instance is already recorded (and
// not invalidated by a rerun of mine). It reports whether it wrote anything.
func (s *Store) recordMined(ctx context.Context, tx txn, m pipeline.Mined, attempt int) (bool, error) {
	id := m.Instance.InstanceID
	cur, err := loadStage(ctx, tx, s.db.forUpdate(), id, pipeline.StageMine)
	if err != nil {
		return false, err
	}
	if cur.exists && cur.state != pipeline.StateStale {
		return false, nil
	}
	rec, err := json.Marshal(m.Instance)
	if err != nil {
		return false, fmt.Errorf("encoding instance %s: %w", id, err)
	}
	_, err = tx.exec(ctx, `INSERT INTO swemill_instances (instance_id, repo, record, created_at, language) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (instance_id) DO UPDATE SET repo = excluded.repo, record = excluded.record, language = excluded.language`,
		id, m.Instance.Repo, string(rec), micros(s.now()), strings.ToLower(m.Instance.Language))
	if err != nil {
		return false, fmt.Errorf("writing instance %s: %w", id, err)
	}
	// A pull request mined again may name another repository (renamed, transferred) or
	// language: the stage rows carry both for the funnels.
	_, err = tx.exec(ctx, `UPDATE swemill_stage_states SET repo = $2, language = $3
		WHERE instance_id = $1 AND (repo <> $2 OR language <> $3)`, id, m.Instance.Repo, strings.ToLower(m.Instance.Language))
	if err != nil {
		return false, fmt.Errorf("writing instance %s: %w", id, err)
	}
	c := change{instance: id, stage: pipeline.StageMine, generation: cur.generation + 1, from: cur.state, to: pipeline.StateDone, attempt: attempt}
	if m.Drop != nil {
		c.to, c.reason, c.detail = pipeline.StateDropped, m.Drop.Reason, m.Drop.Detail
	}
	if err := s.apply(ctx, tx, c); err != nil {
		return false, err
	}
	if c.to == pipeline.StateDone {
		if err := s.schedule(ctx, tx, id, pipeline.StageBuild, ""); err != nil {
			return false, err
		}
	}
	return true, nil
}
