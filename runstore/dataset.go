package runstore

import (
	"context"
	"encoding/json"
	"fmt"
	"iter"
	"sort"

	"swemill/pipeline"
)

// The dataset side of the store: what export reads. Iterators page through the tables by
// instance id (bytewise, on both databases), a page at a time, so they hold no cursor open
// between items and their memory does not grow with the run.

// exportPage is how many instances one page of an export iterator reads.
const exportPage = 200

// TaskRecord is a validated instance with what build and validate produced for it.
type TaskRecord struct {
	Instance    pipeline.Instance
	Environment pipeline.Environment
	Validation  pipeline.Validation
	// Artifacts are the files recorded with the instance's build and validate results.
	Artifacts []pipeline.ArtifactRef
}

// Tasks yields the instances whose validation is done with a non-empty FAIL_TO_PASS, in
// ascending instance id (bytewise) order.
func (s *Store) Tasks(ctx context.Context) iter.Seq2[*TaskRecord, error] {
	return func(yield func(*TaskRecord, error) bool) {
		after := ""
		for {
			page, err := s.tasksPage(ctx, after)
			if err != nil {
				yield(nil, err)
				return
			}
			for _, t := range page {
				if len(t.Validation.FailToPass) == 0 {
					continue
				}
				if !yield(t, nil) {
					return
				}
			}
			if len(page) < exportPage {
				return
			}
			after = page[len(page)-1].Instance.InstanceID
		}
	}
}

func (s *Store) tasksPage(ctx context.Context, after string) ([]*TaskRecord, error) {
	c := s.db.collateBytes()
	rows, err := s.db.read().query(ctx, `SELECT i.instance_id, i.record, b.output, v.output, b.generation, v.generation
		FROM swemill_instances i
		JOIN swemill_stage_states b ON b.instance_id = i.instance_id AND b.stage = 'build' AND b.state = 'done'
		JOIN swemill_stage_states v ON v.instance_id = i.instance_id AND v.stage = 'validate' AND v.state = 'done'
		WHERE i.instance_id`+c+` > $1 ORDER BY i.instance_id`+c+fmt.Sprintf(" LIMIT %d", exportPage), after)
	if err != nil {
		return nil, fmt.Errorf("reading validated instances: %w", err)
	}
	type gens struct{ build, validate int64 }
	var page []*TaskRecord
	var g []gens
	for rows.Next() {
		var id, rec, env, val string
		var bg, vg int64
		if err := rows.Scan(&id, &rec, &env, &val, &bg, &vg); err != nil {
			rows.Close()
			return nil, err
		}
		t := &TaskRecord{}
		if err := decodeRecord(id, "instance", rec, &t.Instance); err != nil {
			rows.Close()
			return nil, err
		}
		if err := decodeRecord(id, pipeline.StageBuild, env, &t.Environment); err != nil {
			rows.Close()
			return nil, err
		}
		if err := decodeRecord(id, pipeline.StageValidate, val, &t.Validation); err != nil {
			rows.Close()
			return nil, err
		}
		page = append(page, t)
		g = append(g, gens{bg, vg})
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for i, t := range page {
		arts, err := s.artifactsOf(ctx, t.Instance.InstanceID, map[string]int64{pipeline.StageBuild: g[i].build, pipeline.StageValidate: g[i].validate})
		if err != nil {
			return nil, err
		}
		t.Artifacts = arts
	}
	return page, nil
}

// artifactsOf lists an instance's artifacts recorded by the given stage generations, by name.
func (s *Store) artifactsOf(ctx context.Context, instance string, gens map[string]int64) ([]pipeline.ArtifactRef, error) {
	rows, err := s.db.read().query(ctx, `SELECT stage, generation, name, digest, size FROM swemill_artifacts
		WHERE instance_id = $1 ORDER BY stage, name`, instance)
	if err != nil {
		return nil, fmt.Errorf("reading artifacts of %s: %w", instance, err)
	}
	defer rows.Close()
	var out []pipeline.ArtifactRef
	for rows.Next() {
		var stage string
		var gen int64
		var a pipeline.ArtifactRef
		if err := rows.Scan(&stage, &gen, &a.Name, &a.Digest, &a.Size); err != nil {
			return nil, err
		}
		if want, ok := gens[stage]; ok && want == gen {
			out = append(out, a)
		}
	}
	return out, rows.Err()
}

// RolloutRecord is one stored trajectory with the files of its rollout.
type RolloutRecord struct {
	Trajectory pipeline.Trajectory
	Artifacts  []pipeline.ArtifactRef
}

// Rollouts yields every trajectory of the instances whose rollout is done, ordered by
// instance id, rollout index and trajectory id. Each trajectory is read from its artifact.
func (s *Store) Rollouts(ctx context.Context) iter.Seq2[*RolloutRecord, error] {
	return func(yield func(*RolloutRecord, error) bool) {
		after := ""
		c := s.db.collateBytes()
		for {
			rows, err := s.db.read().query(ctx, `SELECT instance_id, output FROM swemill_stage_states
				WHERE stage = 'rollout' AND state = 'done' AND instance_id`+c+` > $1
				ORDER BY instance_id`+c+fmt.Sprintf(" LIMIT %d", exportPage), after)
			if err != nil {
				yield(nil, fmt.Errorf("reading rollouts: %w", err))
				return
			}
			type entry struct {
				id  string
				out pipeline.Rollouts
			}
			var page []entry
			for rows.Next() {
				var e entry
				var out string
				if err := rows.Scan(&e.id, &out); err != nil {
					rows.Close()
					yield(nil, err)
					return
				}
				if err := decodeRecord(e.id, pipeline.StageRollout, out, &e.out); err != nil {
					rows.Close()
					yield(nil, err)
					return
				}
				page = append(page, e)
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				yield(nil, err)
				return
			}
			for _, e := range page {
				refs := e.out.Trajectories
				sort.SliceStable(refs, func(a, b int) bool {
					if refs[a].RolloutIndex != refs[b].RolloutIndex {
						return refs[a].RolloutIndex < refs[b].RolloutIndex
					}
					return refs[a].TrajectoryID < refs[b].TrajectoryID
				})
				for _, ref := range refs {
					data, err := s.artifacts.Read(ref.Trajectory)
					if err != nil {
						yield(nil, fmt.Errorf("reading trajectory %s of %s: %w", ref.TrajectoryID, e.id, err))
						return
					}
					r := &RolloutRecord{Artifacts: ref.Artifacts}
					if err := json.Unmarshal(data, &r.Trajectory); err != nil {
						yield(nil, fmt.Errorf("decoding trajectory %s of %s: %w", ref.TrajectoryID, e.id, err))
						return
					}
					if !yield(r, nil) {
						return
					}
				}
			}
			if len(page) < exportPage {
				return
			}
			after = page[len(page)-1].id
		}
	}
}

func decodeRecord(id, what, data string, dst any) error {
	if err := json.Unmarshal([]byte(data), dst); err != nil {
		return fmt.Errorf("decoding the %s record of %s: %w", what, id, err)
	}
	return nil
}
