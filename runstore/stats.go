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
	repos, _, err := s.Funnels(ctx)
	return repos, err
}

// LanguageFunnels returns the funnel per repository language (lower case, as mining recorded
// it; "unknown" when it did not), ordered by language. Repo holds the language.
func (s *Store) LanguageFunnels(ctx context.Context) ([]RepoFunnel, error) {
	_, langs, err := s.Funnels(ctx)
	return langs, err
}

// Funnels returns the funnel per repository and the funnel per language (as RepoFunnels and
// LanguageFunnels do), from one pass over the index of the stage rows' repository, language,
// stage and state.
func (s *Store) Funnels(ctx context.Context) (repos, languages []RepoFunnel, err error) {
	rows, err := s.db.read().query(ctx, `SELECT repo, language, stage, state, count(*)
		FROM swemill_stage_states GROUP BY repo, language, stage, state`)
	if err != nil {
		return nil, nil, fmt.Errorf("reading the funnels: %w", err)
	}
	defer rows.Close()
	byRepo, byLang := map[string]*RepoFunnel{}, map[string]*RepoFunnel{}
	for rows.Next() {
		var repo, lang, stage, state string
		var n int
		if err := rows.Scan(&repo, &lang, &stage, &state, &n); err != nil {
			return nil, nil, fmt.Errorf("reading the funnels: %w", err)
		}
		if lang == "" {
			lang = "unknown"
		}
		addFunnel(byRepo, repo, stage, state, n)
		addFunnel(byLang, lang, stage, state, n)
	}
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("reading the funnels: %w", err)
	}
	return sortedFunnels(byRepo), sortedFunnels(byLang), nil
}

func addFunnel(by map[string]*RepoFunnel, key, stage, state string, n int) {
	f := by[key]
	if f == nil {
		f = &RepoFunnel{Repo: key, Stages: map[string]map[pipeline.State]int{}}
		by[key] = f
	}
	if f.Stages[stage] == nil {
		f.Stages[stage] = map[pipeline.State]int{}
	}
	f.Stages[stage][pipeline.State(state)] += n
}

func sortedFunnels(by map[string]*RepoFunnel) []RepoFunnel {
	out := make([]RepoFunnel, 0, len(by))
	for _, f := range by {
		out = append(out, *f)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Repo < out[j].Repo })
	return out
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

// StageTimings returns the timing of every stage, in chain order. The count, sum and maximum
// come from one grouped read and each percentile from one read at its rank, all over the
// index of finished rows' seconds, so no row is sorted or sent here.
func (s *Store) StageTimings(ctx context.Context) ([]StageTiming, error) {
	q := s.db.read()
	const finished = `state IN ('done', 'dropped', 'failed')`
	rows, err := q.query(ctx, `SELECT stage, count(*), sum(seconds), max(seconds) FROM swemill_stage_states
		WHERE `+finished+` GROUP BY stage`)
	if err != nil {
		return nil, fmt.Errorf("reading stage timings: %w", err)
	}
	by := map[string]StageTiming{}
	for rows.Next() {
		var t StageTiming
		if err := rows.Scan(&t.Stage, &t.Items, &t.Total, &t.Max); err != nil {
			rows.Close()
			return nil, fmt.Errorf("reading stage timings: %w", err)
		}
		by[t.Stage] = t
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading stage timings: %w", err)
	}
	// The percentiles are the values at ranks (n-1)/2 and (n-1)*9/10 of the sorted seconds.
	rank := func(stage string, k int) (float64, error) {
		var v float64
		err := q.queryRow(ctx, `SELECT seconds FROM swemill_stage_states WHERE stage = $1 AND `+finished+`
			ORDER BY seconds LIMIT 1 OFFSET $2`, stage, k).Scan(&v)
		if err != nil {
			return 0, fmt.Errorf("reading the timings of %s: %w", stage, err)
		}
		return v, nil
	}
	out := make([]StageTiming, 0, len(pipeline.Stages))
	for _, st := range pipeline.Stages {
		t := by[st]
		t.Stage = st
		if t.Items > 0 {
			t.Mean = t.Total / float64(t.Items)
			if t.P50, err = rank(st, (t.Items-1)/2); err != nil {
				return nil, err
			}
			if t.P90, err = rank(st, (t.Items-1)*9/10); err != nil {
				return nil, err
			}
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
// test. Validations whose summary lists none are not read.
func (s *Store) FlakyTests(ctx context.Context) ([]FlakyFinding, error) {
	var out []FlakyFinding
	err := s.eachSummary(ctx, pipeline.StageValidate, noFlaky, func(id string, data []byte) error {
		var v validateSummary
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

// validateSummary is what the report reads of a validation (pipeline.Validation's flaky
// tests), stored as the summary of a done validate row.
type validateSummary struct {
	Flaky []pipeline.FlakyTest `json:"flaky,omitempty"`
}

// noFlaky is the summary of a validation that found no flaky test.
const noFlaky = "{}"

// summarize returns what the report reads of a stage's output, in the output's own shape, or
// nil when the report reads the output itself (it is small). Validations carry their test
// lists, thousands of ids on large suites, which the report does not need.
func summarize(stage string, output []byte) ([]byte, error) {
	if stage != pipeline.StageValidate {
		return nil, nil
	}
	var v validateSummary
	if err := json.Unmarshal(output, &v); err != nil {
		return nil, err
	}
	return json.Marshal(v)
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
	err := s.eachSummary(ctx, pipeline.StageRollout, "", func(id string, data []byte) error {
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

// eachSummary calls fn with the summary of every instance whose stage is done (its output
// when it has none, see summarize), except summaries equal to skip when skip is set, a page
// at a time so no cursor stays open while fn runs.
func (s *Store) eachSummary(ctx context.Context, stage, skip string, fn func(id string, summary []byte) error) error {
	c := s.db.collateBytes()
	after := ""
	const pageSize = 2000
	for {
		rows, err := s.db.read().query(ctx, `SELECT instance_id, coalesce(summary, output) FROM swemill_stage_states
			WHERE stage = $1 AND state = 'done' AND output IS NOT NULL AND instance_id`+c+` > $2
			AND ($3 = '' OR summary IS NULL OR summary <> $3)
			ORDER BY instance_id`+c+fmt.Sprintf(" LIMIT %d", pageSize), stage, after, skip)
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
		if len(page) < pageSize {
			return nil
		}
		after = page[len(page)-1].id
	}
}
