package runstore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	"swemill/pipeline"
)

// Selector picks the instances a rerun applies to. The state selectors (Failed, Dropped)
// are alternatives; Repo and Instances narrow the choice further. All selects every instance
// that reached the stage.
type Selector struct {
	Failed bool
	// Dropped selects instances dropped at the stage for these reasons ("*" for any reason).
	Dropped   []string
	Repo      string
	Instances []string
	All       bool
}

func (sel Selector) empty() bool {
	return !sel.Failed && len(sel.Dropped) == 0 && sel.Repo == "" && len(sel.Instances) == 0 && !sel.All
}

// ErrNoSelector is Rerun's answer to an empty Selector: a rerun must say what it applies to.
var ErrNoSelector = errors.New("rerun: say which instances (--failed, --dropped REASON, --repo R, --instance ID or --all)")

// RerunResult says what a rerun did.
type RerunResult struct {
	// Rerun lists the instances queued again at the stage.
	Rerun []string `json:"rerun"`
	// Invalidated counts the later-stage results marked stale.
	Invalidated int `json:"invalidated"`
	// Waiting lists selected instances left alone because the stage before is not done.
	Waiting []string `json:"waiting,omitempty"`
	// NotReached lists instances named with --instance that never reached the stage.
	NotReached []string `json:"not_reached,omitempty"`
	// Repos lists the repositories queued for mining again (rerun of mine).
	Repos []string `json:"repos,omitempty"`
}

// Rerun queues stage again for the selected instances under a new generation and marks their
// results in every later stage stale; those are redone as the chain reaches them again.
// Nothing else changes. A running `swemill run` picks the new work up; otherwise the next run
// does. Rerunning mine re-mines the selected instances' repositories from scratch and
// rewrites only the selected instances.
func (s *Store) Rerun(ctx context.Context, stage string, sel Selector) (RerunResult, error) {
	var res RerunResult
	if pipeline.StageIndex(stage) < 0 {
		return res, fmt.Errorf("rerun: unknown stage %q (stages are %s)", stage, strings.Join(pipeline.Stages, ", "))
	}
	if sel.empty() {
		return res, ErrNoSelector
	}
	ids, notReached, err := s.selectForRerun(ctx, stage, sel)
	if err != nil {
		return res, err
	}
	prev := ""
	if i := pipeline.StageIndex(stage); i > 0 {
		prev = pipeline.Stages[i-1]
	}
	reason := "rerun of " + stage
	repos := map[string]bool{}
	err = s.db.inTx(ctx, func(tx txn) error {
		res = RerunResult{NotReached: notReached}
		for _, id := range ids {
			if prev != "" {
				p, err := loadStage(ctx, tx, s.db.forUpdate(), id, prev)
				if err != nil {
					return err
				}
				if p.state != pipeline.StateDone {
					res.Waiting = append(res.Waiting, id)
					continue
				}
			}
			n, err := s.invalidateAfter(ctx, tx, id, stage, reason)
			if err != nil {
				return err
			}
			res.Invalidated += n
			if stage == pipeline.StageMine {
				cur, err := loadStage(ctx, tx, s.db.forUpdate(), id, pipeline.StageMine)
				if err != nil {
					return err
				}
				if err := s.apply(ctx, tx, change{instance: id, stage: pipeline.StageMine, generation: cur.generation,
					from: cur.state, to: pipeline.StateStale, reason: reason, attempt: cur.attempts}); err != nil {
					return err
				}
				var repo string
				if err := tx.queryRow(ctx, `SELECT repo FROM swemill_instances WHERE instance_id = $1`, id).Scan(&repo); err != nil {
					return fmt.Errorf("reading repository of %s: %w", id, err)
				}
				repos[repo] = true
			} else if err := s.schedule(ctx, tx, id, stage, reason); err != nil {
				return err
			}
			res.Rerun = append(res.Rerun, id)
		}
		res.Repos = res.Repos[:0]
		for repo := range repos {
			res.Repos = append(res.Repos, repo)
		}
		sort.Strings(res.Repos)
		for _, repo := range res.Repos {
			cur, err := loadRepo(ctx, tx, s.db.forUpdate(), repo)
			if err != nil {
				return err
			}
			// A fresh cursor makes the miner see every pull request again; it rewrites only
			// the instances marked stale above.
			if err := s.scheduleMine(ctx, tx, repo, cur, cur.runID, ""); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return RerunResult{}, fmt.Errorf("rerunning %s: %w", stage, err)
	}
	return res, nil
}

// selectForRerun lists the instances at stage that sel selects, and the instances sel names
// that have not reached stage.
func (s *Store) selectForRerun(ctx context.Context, stage string, sel Selector) (ids, notReached []string, err error) {
	var conds []string
	args := []any{stage}
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	var states []string
	if sel.Failed {
		states = append(states, "x.state = 'failed'")
	}
	for _, r := range sel.Dropped {
		if r == "*" {
			states = append(states, "x.state = 'dropped'")
			continue
		}
		states = append(states, "(x.state = 'dropped' AND x.reason = "+arg(r)+")")
	}
	if len(states) > 0 {
		conds = append(conds, "("+strings.Join(states, " OR ")+")")
	}
	if sel.Repo != "" {
		conds = append(conds, "i.repo = "+arg(sel.Repo))
	}
	if len(sel.Instances) > 0 {
		ph := make([]string, len(sel.Instances))
		for k, id := range sel.Instances {
			ph[k] = arg(id)
		}
		conds = append(conds, "i.instance_id IN ("+strings.Join(ph, ",")+")")
	}
	where := ""
	if len(conds) > 0 {
		where = " AND " + strings.Join(conds, " AND ")
	}
	rows, err := s.db.read().query(ctx, `SELECT i.instance_id FROM swemill_instances i
		JOIN swemill_stage_states x ON x.instance_id = i.instance_id AND x.stage = $1`+where+`
		ORDER BY i.instance_id`, args...)
	if err != nil {
		return nil, nil, fmt.Errorf("selecting instances to rerun: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, nil, err
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		return nil, nil, err
	}
	for _, want := range sel.Instances {
		if slices.Contains(ids, want) {
			continue
		}
		d, err := s.Show(ctx, want)
		if err != nil {
			return nil, nil, err
		}
		reached := false
		for _, st := range d.Stages {
			reached = reached || st.Stage == stage
		}
		if !reached {
			notReached = append(notReached, want)
		}
	}
	return ids, notReached, nil
}
