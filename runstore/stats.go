package runstore

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"

	"swemill/pipeline"
)

// RepoFunnel is one repository's line of the funnel: per stage, instances by state.
type RepoFunnel struct {
	Repo string `json:"repo"`
	// Stages maps stage -> state -> count; states with no instance are left out.
	Stages map[string]map[pipeline.State]int `json:"stages"`
}

// RepoFunnels returns the funnel per repository, ordered by repository.
func (s *Store) RepoFunnels(ctx context.Context) ([]RepoFunnel, error) {
	return s.funnelsBy(ctx, "repo", "i.repo")
}

// LanguageFunnels returns the funnel per repository language (lower case, as mining recorded
// it; "unknown" when it did not), ordered by language. Repo holds the language.
func (s *Store) LanguageFunnels(ctx context.Context) ([]RepoFunnel, error) {
	return s.funnelsBy(ctx, "language", "CASE WHEN i.language = '' THEN 'unknown' ELSE i.language END")
}

// funnelsBy returns the funnel grouped by the instance column expression key (a constant of
// this package, never input), what says what it is for errors.
func (s *Store) funnelsBy(ctx context.Context, what, key string) ([]RepoFunnel, error) {
	rows, err := s.db.read().query(ctx, `SELECT `+key+`, x.stage, x.state, count(*)
		FROM swemill_instances i JOIN swemill_stage_states x ON x.instance_id = i.instance_id
		GROUP BY 1, x.stage, x.state`)
	if err != nil {
		return nil, fmt.Errorf("reading the funnel per %s: %w", what, err)
	}
	defer rows.Close()
	by := map[string]*RepoFunnel{}
	for rows.Next() {
		var repo, stage, state string
		var n int
		if err := rows.Scan(&repo, &stage, &state, &n); err != nil {
			return nil, err
		}
		f := by[repo]
		if f == nil {
			f = &RepoFunnel{Repo: repo, Stages: map[string]map[pipeline.State]int{}}
			by[repo] = f
		}
		if f.Stages[stage] == nil {
			f.Stages[stage] = map[pipeline.State]int{}
		}
		f.Stages[stage][pipeline.State(state)] += n
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	out := make([]RepoFunnel, 0, len(by))
	for _, f := range by {
		out = append(out, *f)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Repo < out[j].Repo })
	return out, nil
}

// StageTiming summarises the time items spent in a stage (their last attempt), over the
// items that finished it (done, dropped or failed).
type StageTiming struct {
	Stage string  `json:"stage"`
	Items int     `json:"items"`
	Total float64 `json:"total_seconds"`
	Mean  float64 `json:"mean_seconds"`
	P50   float64 `json:"p50_seconds"`
	P90   float64 `json:"p90_seconds"`
	Max   float64 `json:"max_seconds"`
}

// StageTimings returns the timing of every stage, in chain order.
func (s *Store) StageTimings(ctx context.Context) ([]StageTiming, error) {
	rows, err := s.db.read().query(ctx, `SELECT stage, seconds FROM swemill_stage_states
		WHERE state IN ('done', 'dropped', 'failed') ORDER BY stage, seconds`)
	if err != nil {
		return nil, fmt.Errorf("reading stage timings: %w", err)
	}
	defer rows.Close()
	secs := map[string][]float64{}
	for rows.Next() {
		var stage string
		var sec float64
		if err := rows.Scan(&stage, &sec); err != nil {
			return nil, err
		}
		secs[stage] = append(secs[stage], sec)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	out := make([]StageTiming, 0, len(pipeline.Stages))
	for _, st := range pipeline.Stages {
		v := secs[st]
		t := StageTiming{Stage: st, Items: len(v)}
		if len(v) > 0 {
			sort.Float64s(v)
			for _, x := range v {
				t.Total += x
			}
			t.Mean = t.Total / float64(len(v))
			t.P50 = v[(len(v)-1)/2]
			t.P90 = v[(len(v)-1)*9/10]
			t.Max = v[len(v)-1]
		}
		out = append(out, t)
	}
	return out, nil
}

// FlakyFinding is a flaky test found while validating an instance.
type FlakyFinding struct {
	InstanceID string `json:"instance_id"`
	pipeline.FlakyTest
}

// FlakyTests lists the flaky tests recorded by validations that are done, by instance and
// test.
func (s *Store) FlakyTests(ctx context.Context) ([]FlakyFinding, error) {
	var out []FlakyFinding
	err := s.eachOutput(ctx, pipeline.StageValidate, func(id string, data []byte) error {
		var v struct {
			Flaky []pipeline.FlakyTest `json:"flaky"`
		}
		if err := json.Unmarshal(data, &v); err != nil {
			return fmt.Errorf("decoding the validation of %s: %w", id, err)
		}
		for _, f := range v.Flaky {
			out = append(out, FlakyFinding{InstanceID: id, FlakyTest: f})
		}
		return nil
	})
	return out, err
}

// ModelResults sums up the trajectories of one model.
type ModelResults struct {
	Model            string  `json:"model"`
	Trajectories     int     `json:"trajectories"`
	Resolved         int     `json:"resolved"`
	ResolvedRate     float64 `json:"resolved_rate"`
	Instances        int     `json:"instances"`
	MeanTurns        float64 `json:"mean_turns"`
	PromptTokens     int64   `json:"prompt_tokens"`
	CompletionTokens int64   `json:"completion_tokens"`
	// ExitStatuses counts how rollouts ended.
	ExitStatuses map[string]int `json:"exit_statuses"`
}

// RolloutResults sums up the trajectories of instances whose rollout is done, per model,
// ordered by model.
func (s *Store) RolloutResults(ctx context.Context) ([]ModelResults, error) {
	by := map[string]*ModelResults{}
	seen := map[string]map[string]bool{}
	err := s.eachOutput(ctx, pipeline.StageRollout, func(id string, data []byte) error {
		var r pipeline.Rollouts
		if err := json.Unmarshal(data, &r); err != nil {
			return fmt.Errorf("decoding the rollouts of %s: %w", id, err)
		}
		for _, t := range r.Trajectories {
			m := by[t.Model]
			if m == nil {
				m = &ModelResults{Model: t.Model, ExitStatuses: map[string]int{}}
				by[t.Model], seen[t.Model] = m, map[string]bool{}
			}
			m.Trajectories++
			if t.Resolved {
				m.Resolved++
			}
			m.MeanTurns += float64(t.NumTurns)
			m.PromptTokens += t.PromptTokens
			m.CompletionTokens += t.CompletionTokens
			m.ExitStatuses[t.ExitStatus]++
			seen[t.Model][id] = true
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	out := make([]ModelResults, 0, len(by))
	for _, m := range by {
		m.Instances = len(seen[m.Model])
		if m.Trajectories > 0 {
			m.ResolvedRate = float64(m.Resolved) / float64(m.Trajectories)
			m.MeanTurns /= float64(m.Trajectories)
		}
		out = append(out, *m)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Model < out[j].Model })
	return out, nil
}

// eachOutput calls fn with the output of every instance whose stage is done, a page at a
// time so no cursor stays open while fn runs.
func (s *Store) eachOutput(ctx context.Context, stage string, fn func(id string, output []byte) error) error {
	c := s.db.collateBytes()
	after := ""
	for {
		rows, err := s.db.read().query(ctx, `SELECT instance_id, output FROM swemill_stage_states
			WHERE stage = $1 AND state = 'done' AND output IS NOT NULL AND instance_id`+c+` > $2
			ORDER BY instance_id`+c+fmt.Sprintf(" LIMIT %d", exportPage), stage, after)
		if err != nil {
			return fmt.Errorf("reading %s outputs: %w", stage, err)
		}
		type row struct {
			id  string
			out []byte
		}
		var page []row
		for rows.Next() {
			var r row
			var out string
			if err := rows.Scan(&r.id, &out); err != nil {
				rows.Close()
				return err
			}
			r.out = []byte(out)
			page = append(page, r)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, r := range page {
			if err := fn(r.id, r.out); err != nil {
				return err
			}
		}
		if len(page) < exportPage {
			return nil
		}
		after = page[len(page)-1].id
	}
}
