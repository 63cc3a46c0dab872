package runstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"swemill/pipeline"
)

// Status is the funnel: per stage, how many instances are in each state and why they were
// dropped. It is read from swemill_stage_states, which holds the latest transition of every
// instance in every stage.
type Status struct {
	// Instances counts the instances recorded (every pull request mine looked at).
	Instances int           `json:"instances"`
	Stages    []StageStatus `json:"stages"`
	Repos     RepoStatus    `json:"repos"`
	LastRun   *RunInfo      `json:"last_run,omitempty"`
}

// StageStatus is one stage's line of the funnel.
type StageStatus struct {
	Stage string `json:"stage"`
	// Total counts the instances that reached the stage.
	Total int `json:"total"`
	// Counts has every state, zero or not.
	Counts map[pipeline.State]int `json:"counts"`
	// Drops are the drop reasons, most frequent first.
	Drops []ReasonCount `json:"drops"`
}

// ReasonCount is a drop reason and how many instances it dropped.
type ReasonCount struct {
	Reason string `json:"reason"`
	Count  int    `json:"count"`
}

// RepoStatus counts repositories by mining state.
type RepoStatus struct {
	Total  int                    `json:"total"`
	Counts map[pipeline.State]int `json:"counts"`
	// Drops are the reasons whole repositories were dropped, most frequent first.
	Drops []ReasonCount `json:"drops"`
}

// RunInfo describes a `swemill run`.
type RunInfo struct {
	ID         int64      `json:"id"`
	StartedAt  time.Time  `json:"started_at"`
	FinishedAt *time.Time `json:"finished_at,omitempty"`
	Stages     []string   `json:"stages"`
}

func zeroCounts() map[pipeline.State]int {
	m := make(map[pipeline.State]int, len(pipeline.AllStates))
	for _, s := range pipeline.AllStates {
		m[s] = 0
	}
	return m
}

// hasSchema says whether swemill's tables exist. They are made in one transaction, so one
// of them stands for all.
func (s *Store) hasSchema(ctx context.Context) (bool, error) {
	query := `SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'swemill_stage_states'`
	if s.db.kind() == "postgres" {
		query = `SELECT count(*) FROM pg_catalog.pg_tables WHERE tablename = 'swemill_stage_states' AND schemaname = ANY (current_schemas(false))`
	}
	var n int
	if err := s.db.read().queryRow(ctx, query).Scan(&n); err != nil {
		return false, fmt.Errorf("looking for swemill's tables: %w", err)
	}
	return n > 0, nil
}

// Status reads the funnel. It only reads, so it works while a run is going.
func (s *Store) Status(ctx context.Context) (Status, error) {
	q := s.db.read()
	st := Status{Repos: RepoStatus{Counts: zeroCounts(), Drops: []ReasonCount{}}}
	byStage := make(map[string]*StageStatus, len(pipeline.Stages))
	for _, name := range pipeline.Stages {
		st.Stages = append(st.Stages, StageStatus{Stage: name, Counts: zeroCounts(), Drops: []ReasonCount{}})
	}
	for i := range st.Stages {
		byStage[st.Stages[i].Stage] = &st.Stages[i]
	}
	// A first run that has made the database but not yet committed its schema (or was
	// stopped before it did) has recorded nothing: the funnel is empty, not an error.
	if ok, err := s.hasSchema(ctx); err != nil {
		return st, fmt.Errorf("reading the funnel: %w", err)
	} else if !ok {
		return st, nil
	}
	rows, err := q.query(ctx, `SELECT stage, state, reason, count(*) FROM swemill_stage_states GROUP BY stage, state, reason`)
	if err != nil {
		return st, fmt.Errorf("reading the funnel: %w", err)
	}
	for rows.Next() {
		var stage, state, reason string
		var n int
		if err := rows.Scan(&stage, &state, &reason, &n); err != nil {
			rows.Close()
			return st, fmt.Errorf("reading the funnel: %w", err)
		}
		ss := byStage[stage]
		if ss == nil {
			continue
		}
		ss.Counts[pipeline.State(state)] += n
		ss.Total += n
		if pipeline.State(state) == pipeline.StateDropped {
			ss.Drops = append(ss.Drops, ReasonCount{Reason: reason, Count: n})
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return st, fmt.Errorf("reading the funnel: %w", err)
	}
	for i := range st.Stages {
		sortReasons(st.Stages[i].Drops)
	}
	if err := q.queryRow(ctx, `SELECT count(*) FROM swemill_instances`).Scan(&st.Instances); err != nil {
		return st, fmt.Errorf("counting instances: %w", err)
	}
	rows, err = q.query(ctx, `SELECT state, reason, count(*) FROM swemill_repos GROUP BY state, reason`)
	if err != nil {
		return st, fmt.Errorf("reading repositories: %w", err)
	}
	for rows.Next() {
		var state, reason string
		var n int
		if err := rows.Scan(&state, &reason, &n); err != nil {
			rows.Close()
			return st, err
		}
		st.Repos.Counts[pipeline.State(state)] += n
		st.Repos.Total += n
		if pipeline.State(state) == pipeline.StateDropped {
			st.Repos.Drops = append(st.Repos.Drops, ReasonCount{Reason: reason, Count: n})
		}
	}
	rows.Close()
	sortReasons(st.Repos.Drops)
	var ri RunInfo
	var started int64
	var finished sql.NullInt64
	var stages string
	err = q.queryRow(ctx, `SELECT id, started_at, finished_at, stages FROM swemill_runs ORDER BY id DESC LIMIT 1`).
		Scan(&ri.ID, &started, &finished, &stages)
	switch {
	case err == nil:
		ri.StartedAt = fromMicros(started)
		if finished.Valid {
			t := fromMicros(finished.Int64)
			ri.FinishedAt = &t
		}
		ri.Stages = strings.Split(stages, ",")
		st.LastRun = &ri
	case !errors.Is(err, sql.ErrNoRows):
		return st, fmt.Errorf("reading the last run: %w", err)
	}
	return st, nil
}

func sortReasons(rs []ReasonCount) {
	sort.Slice(rs, func(i, j int) bool {
		if rs[i].Count != rs[j].Count {
			return rs[i].Count > rs[j].Count
		}
		return rs[i].Reason < rs[j].Reason
	})
}

// RepoProblem is a repository whose mining ended dropped or failed, with why.
type RepoProblem struct {
	Repo  string         `json:"repo"`
	State pipeline.State `json:"state"`
	// Reason is the drop reason (empty for a failure); Detail says more, for people.
	Reason string `json:"reason,omitempty"`
	Detail string `json:"detail,omitempty"`
}

// RepoProblems lists the repositories whose mining was dropped or failed, by name. It only
// reads.
func (s *Store) RepoProblems(ctx context.Context) ([]RepoProblem, error) {
	rows, err := s.db.read().query(ctx, `SELECT repo, state, reason, detail FROM swemill_repos
		WHERE state IN ('dropped', 'failed') ORDER BY repo`)
	if err != nil {
		return nil, fmt.Errorf("reading repositories: %w", err)
	}
	defer rows.Close()
	var out []RepoProblem
	for rows.Next() {
		var p RepoProblem
		if err := rows.Scan(&p.Repo, &p.State, &p.Reason, &p.Detail); err != nil {
			return nil, fmt.Errorf("reading repositories: %w", err)
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// ListFilter selects instances for List. Empty fields select everything.
type ListFilter struct {
	Repo string
	// Stage with State selects instances in that state at that stage; Stage alone selects
	// instances that reached it.
	Stage  string
	State  pipeline.State
	Reason string
	// Instances selects these ids.
	Instances []string
	// After pages: only ids after it. Limit caps the rows (zero: no cap).
	After string
	Limit int
}

// InstanceSummary is one instance with its state in each stage it reached.
type InstanceSummary struct {
	InstanceID string      `json:"instance_id"`
	Repo       string      `json:"repo"`
	Stages     []StageCell `json:"stages"`
}

// StageCell is an instance's state in one stage.
type StageCell struct {
	Stage      string         `json:"stage"`
	State      pipeline.State `json:"state"`
	Reason     string         `json:"reason,omitempty"`
	Generation int64          `json:"generation"`
	Attempts   int            `json:"attempts"`
}

// where builds the WHERE clause of a filter over swemill_instances aliased i; collate makes
// the id comparison bytewise.
func (f ListFilter) where(collate string) (string, []any) {
	var conds []string
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	if f.Repo != "" {
		conds = append(conds, "i.repo = "+arg(f.Repo))
	}
	if len(f.Instances) > 0 {
		ph := make([]string, len(f.Instances))
		for k, id := range f.Instances {
			ph[k] = arg(id)
		}
		conds = append(conds, "i.instance_id IN ("+strings.Join(ph, ",")+")")
	}
	if f.Stage != "" || f.State != "" || f.Reason != "" {
		sub := "SELECT 1 FROM swemill_stage_states x WHERE x.instance_id = i.instance_id"
		if f.Stage != "" {
			sub += " AND x.stage = " + arg(f.Stage)
		}
		if f.State != "" {
			sub += " AND x.state = " + arg(string(f.State))
		}
		if f.Reason != "" {
			sub += " AND x.reason = " + arg(f.Reason)
		}
		conds = append(conds, "EXISTS ("+sub+")")
	}
	if f.After != "" {
		conds = append(conds, "i.instance_id"+collate+" > "+arg(f.After))
	}
	if len(conds) == 0 {
		return "", args
	}
	return " WHERE " + strings.Join(conds, " AND "), args
}

// List returns instances matching f, ordered by id.
func (s *Store) List(ctx context.Context, f ListFilter) ([]InstanceSummary, error) {
	if f.Stage != "" && pipeline.StageIndex(f.Stage) < 0 {
		return nil, fmt.Errorf("listing instances: unknown stage %q (stages are %s)", f.Stage, strings.Join(pipeline.Stages, ", "))
	}
	c := s.db.collateBytes()
	where, args := f.where(c)
	limit := ""
	if f.Limit > 0 {
		limit = fmt.Sprintf(" LIMIT %d", f.Limit)
	}
	q := s.db.read()
	rows, err := q.query(ctx, `SELECT i.instance_id, i.repo, s.stage, s.state, s.reason, s.generation, s.attempts
		FROM (SELECT instance_id, repo FROM swemill_instances i`+where+` ORDER BY instance_id`+c+limit+`) i
		LEFT JOIN swemill_stage_states s ON s.instance_id = i.instance_id
		ORDER BY i.instance_id`+c, args...)
	if err != nil {
		return nil, fmt.Errorf("listing instances: %w", err)
	}
	defer rows.Close()
	var out []InstanceSummary
	for rows.Next() {
		var id, repo string
		var stage, state, reason sql.NullString
		var gen, attempts sql.NullInt64
		if err := rows.Scan(&id, &repo, &stage, &state, &reason, &gen, &attempts); err != nil {
			return nil, fmt.Errorf("listing instances: %w", err)
		}
		if len(out) == 0 || out[len(out)-1].InstanceID != id {
			out = append(out, InstanceSummary{InstanceID: id, Repo: repo})
		}
		if stage.Valid {
			cur := &out[len(out)-1]
			cur.Stages = append(cur.Stages, StageCell{Stage: stage.String, State: pipeline.State(state.String),
				Reason: reason.String, Generation: gen.Int64, Attempts: int(attempts.Int64)})
		}
	}
	for i := range out {
		sort.Slice(out[i].Stages, func(a, b int) bool {
			return pipeline.StageIndex(out[i].Stages[a].Stage) < pipeline.StageIndex(out[i].Stages[b].Stage)
		})
	}
	return out, rows.Err()
}

// InstanceDetail is everything recorded about one instance.
type InstanceDetail struct {
	Instance    pipeline.Instance `json:"instance"`
	Stages      []StageDetail     `json:"stages"`
	Transitions []Transition      `json:"transitions"`
	Artifacts   []StoredArtifact  `json:"artifacts"`
}

// StageDetail is an instance's current state in one stage, with the stage's output.
type StageDetail struct {
	Stage      string          `json:"stage"`
	State      pipeline.State  `json:"state"`
	Generation int64           `json:"generation"`
	Attempts   int             `json:"attempts"`
	Reason     string          `json:"reason,omitempty"`
	Detail     string          `json:"detail,omitempty"`
	Seconds    float64         `json:"seconds"`
	UpdatedAt  time.Time       `json:"updated_at"`
	Output     json.RawMessage `json:"output,omitempty"`
}

// Transition is one recorded state change.
type Transition struct {
	Stage      string         `json:"stage"`
	Generation int64          `json:"generation"`
	From       pipeline.State `json:"from"`
	To         pipeline.State `json:"to"`
	Reason     string         `json:"reason,omitempty"`
	Detail     string         `json:"detail,omitempty"`
	Attempt    int            `json:"attempt"`
	At         time.Time      `json:"at"`
}

// StoredArtifact is an artifact recorded for an instance, with its file's path.
type StoredArtifact struct {
	Stage      string `json:"stage"`
	Generation int64  `json:"generation"`
	pipeline.ArtifactRef
	Path string `json:"path"`
}

// NotFoundError says that an instance is not in the store.
type NotFoundError struct{ ID string }

func (e *NotFoundError) Error() string { return fmt.Sprintf("instance %s is not in this run", e.ID) }

// Show reads everything recorded about an instance.
func (s *Store) Show(ctx context.Context, id string) (*InstanceDetail, error) {
	q := s.db.read()
	var rec string
	err := q.queryRow(ctx, `SELECT record FROM swemill_instances WHERE instance_id = $1`, id).Scan(&rec)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, &NotFoundError{ID: id}
	}
	if err != nil {
		return nil, fmt.Errorf("reading instance %s: %w", id, err)
	}
	d := &InstanceDetail{Stages: []StageDetail{}, Transitions: []Transition{}, Artifacts: []StoredArtifact{}}
	if err := json.Unmarshal([]byte(rec), &d.Instance); err != nil {
		return nil, fmt.Errorf("decoding instance %s: %w", id, err)
	}
	rows, err := q.query(ctx, `SELECT stage, state, generation, attempts, reason, detail, seconds, updated_at, output
		FROM swemill_stage_states WHERE instance_id = $1`, id)
	if err != nil {
		return nil, fmt.Errorf("reading states of %s: %w", id, err)
	}
	for rows.Next() {
		var sd StageDetail
		var updated int64
		var out sql.NullString
		if err := rows.Scan(&sd.Stage, &sd.State, &sd.Generation, &sd.Attempts, &sd.Reason, &sd.Detail, &sd.Seconds, &updated, &out); err != nil {
			rows.Close()
			return nil, err
		}
		sd.UpdatedAt = fromMicros(updated)
		if out.Valid && out.String != "null" {
			sd.Output = json.RawMessage(out.String)
		}
		d.Stages = append(d.Stages, sd)
	}
	rows.Close()
	sort.Slice(d.Stages, func(a, b int) bool {
		return pipeline.StageIndex(d.Stages[a].Stage) < pipeline.StageIndex(d.Stages[b].Stage)
	})
	rows, err = q.query(ctx, `SELECT stage, generation, from_state, to_state, reason, detail, attempt, at
		FROM swemill_transitions WHERE instance_id = $1 ORDER BY id`, id)
	if err != nil {
		return nil, fmt.Errorf("reading history of %s: %w", id, err)
	}
	for rows.Next() {
		var t Transition
		var at int64
		if err := rows.Scan(&t.Stage, &t.Generation, &t.From, &t.To, &t.Reason, &t.Detail, &t.Attempt, &at); err != nil {
			rows.Close()
			return nil, err
		}
		t.At = fromMicros(at)
		d.Transitions = append(d.Transitions, t)
	}
	rows.Close()
	rows, err = q.query(ctx, `SELECT stage, generation, name, digest, size FROM swemill_artifacts
		WHERE instance_id = $1 ORDER BY stage, generation, name`, id)
	if err != nil {
		return nil, fmt.Errorf("reading artifacts of %s: %w", id, err)
	}
	defer rows.Close()
	for rows.Next() {
		var a StoredArtifact
		if err := rows.Scan(&a.Stage, &a.Generation, &a.Name, &a.Digest, &a.Size); err != nil {
			return nil, err
		}
		a.Path = s.artifacts.Path(a.Digest)
		d.Artifacts = append(d.Artifacts, a)
	}
	sort.SliceStable(d.Artifacts, func(a, b int) bool {
		return pipeline.StageIndex(d.Artifacts[a].Stage) < pipeline.StageIndex(d.Artifacts[b].Stage)
	})
	return d, rows.Err()
}

// LastTransition returns the id of the latest recorded transition (0 when there is none): a
// mark that changes whenever anything in the record does.
func (s *Store) LastTransition(ctx context.Context) (int64, error) {
	var id int64
	err := s.db.read().queryRow(ctx, `SELECT COALESCE(MAX(id), 0) FROM swemill_transitions`).Scan(&id)
	return id, err
}

// Verify checks the record's invariants: every stage row is its instance's latest transition
// at that stage, and no generation of a stage ended twice. It returns the problems found.
func (s *Store) Verify(ctx context.Context) ([]string, error) {
	q := s.db.read()
	var problems []string
	rows, err := q.query(ctx, `SELECT s.instance_id, s.stage, s.state, s.generation, t.to_state, t.generation
		FROM swemill_stage_states s
		LEFT JOIN swemill_transitions t ON t.id = (SELECT max(id) FROM swemill_transitions m
			WHERE m.instance_id = s.instance_id AND m.stage = s.stage)
		WHERE t.id IS NULL OR t.to_state <> s.state OR t.generation <> s.generation`)
	if err != nil {
		return nil, fmt.Errorf("verifying states: %w", err)
	}
	for rows.Next() {
		var id, stage, state string
		var gen int64
		var tState sql.NullString
		var tGen sql.NullInt64
		if err := rows.Scan(&id, &stage, &state, &gen, &tState, &tGen); err != nil {
			rows.Close()
			return nil, err
		}
		problems = append(problems, fmt.Sprintf("%s at %s is %s (generation %d) but its last transition says %s (generation %d)",
			id, stage, state, gen, tState.String, tGen.Int64))
	}
	rows.Close()
	rows, err = q.query(ctx, `SELECT instance_id, stage, generation, count(*) FROM swemill_transitions
		WHERE to_state IN ('done', 'dropped', 'failed')
		GROUP BY instance_id, stage, generation HAVING count(*) > 1`)
	if err != nil {
		return nil, fmt.Errorf("verifying transitions: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id, stage string
		var gen int64
		var n int
		if err := rows.Scan(&id, &stage, &gen, &n); err != nil {
			return nil, err
		}
		problems = append(problems, fmt.Sprintf("%s at %s generation %d ended %d times", id, stage, gen, n))
	}
	return problems, rows.Err()
}
