package runstore

import (
	"context"
	"fmt"
)

// CountTransitions counts the recorded transitions.
func (s *Store) CountTransitions(ctx context.Context) (int, error) {
	var n int
	err := s.db.read().queryRow(ctx, `SELECT count(*) FROM swemill_transitions`).Scan(&n)
	return n, err
}

// Synthesize fills the store with n instances of 1,000 repositories (language "python"
// for one in four), in the proportions of Skywork-SWE's funnel (146,568 candidates, 10,169
// validated, 8,209 resolved trajectories, from about 151,000 pull requests): 1 in 25 dropped
// at mine; of the rest, 1 in 5 dropped and 1 in 50 failed at build; 1 in 11 of all
// validated (done), the others dropped at validate; each validated instance rolled out
// once, resolved 4 times in 5. Every finished row has a duration, done rows carry small
// outputs (a flaky test for 1 in 10 validations, a trajectory per rollout), and every row a
// transition, so the report has something to group, decode and sort.
func (s *Store) Synthesize(ctx context.Context, n int) error {
	return s.db.inTx(ctx, func(tx txn) error {
		seq := fmt.Sprintf(`WITH RECURSIVE seq(k) AS (SELECT 1 UNION ALL SELECT k + 1 FROM seq WHERE k < %d)`, n)
		// reached says whether instance k has a row at stage ord; state its state there.
		const reached = `(ord = 0 OR (k % 25 <> 0 AND (ord = 1 OR (k % 5 <> 1 AND k % 50 <> 7 AND (ord = 2 OR k % 11 = 0)))))`
		const state = `CASE
			WHEN ord = 0 AND k % 25 = 0 THEN 'dropped'
			WHEN ord = 1 AND k % 5 = 1 THEN 'dropped'
			WHEN ord = 1 AND k % 50 = 7 THEN 'failed'
			WHEN ord = 2 AND k % 11 <> 0 THEN 'dropped'
			ELSE 'done' END`
		stmts := []string{
			seq + ` INSERT INTO swemill_instances (instance_id, repo, record, created_at, language)
				SELECT 'o__r' || (k % 1000) || '-' || k, 'o/r' || (k % 1000), '{}', k,
					CASE WHEN k % 4 = 0 THEN 'python' ELSE '' END FROM seq`,
			seq + `, st(stage, ord) AS (VALUES ('mine', 0), ('build', 1), ('validate', 2), ('rollout', 3)),
				x(k, stage, ord, state) AS (SELECT k, stage, ord, ` + state + ` FROM seq, st WHERE ` + reached + `)
				INSERT INTO swemill_stage_states (instance_id, stage, state, generation, reason, output, summary, seconds, updated_at, repo, language)
				SELECT 'o__r' || (k % 1000) || '-' || k, stage, state,
					1, CASE WHEN state = 'dropped' THEN 'reason_' || (k % 13) ELSE '' END,
					CASE WHEN state <> 'done' THEN NULL
						WHEN stage = 'validate' THEN CASE WHEN k % 110 = 0
							THEN '{"flaky":[{"name":"t' || (k % 5) || '","side":"after","pass_rate":0.5,"runs":4}],"log_parser":"pytest"}'
							ELSE '{"FAIL_TO_PASS":["t"],"log_parser":"pytest"}' END
						WHEN stage = 'rollout' THEN '{"trajectories":[{"trajectory_id":"t' || k || '","model":"m' || (k % 3) || '","resolved":' ||
							CASE WHEN k % 5 <> 0 THEN 'true' ELSE 'false' END || ',"exit_status":"finish","num_turns":' || (k % 40) ||
							',"prompt_tokens":' || (k % 9000) || ',"completion_tokens":' || (k % 700) || '}]}'
						ELSE '{}' END,
					CASE WHEN state = 'done' AND stage = 'validate' THEN
						CASE WHEN k % 110 = 0 THEN '{"flaky":[{"name":"t' || (k % 5) || '","side":"after","pass_rate":0.5,"runs":4}]}' ELSE '{}' END
					END,
					(k % 97) / 10.0, k, 'o/r' || (k % 1000), CASE WHEN k % 4 = 0 THEN 'python' ELSE '' END FROM x`,
			`INSERT INTO swemill_transitions (instance_id, stage, generation, from_state, to_state, reason, attempt, at)
				SELECT instance_id, stage, 1, 'running', state, reason, 1, updated_at FROM swemill_stage_states`,
		}
		for _, q := range stmts {
			if _, err := tx.exec(ctx, q); err != nil {
				return err
			}
		}
		return nil
	})
}

// StageRows returns every stage row, as text, keyed by instance id: what a rerun must leave
// alone for unselected instances, updated_at included.
func (s *Store) StageRows(ctx context.Context) (map[string]map[string]string, error) {
	rows, err := s.db.read().query(ctx, `SELECT instance_id, stage, state, generation, attempts, reason, detail,
		coalesce(output, ''), seconds, updated_at FROM swemill_stage_states ORDER BY instance_id, stage`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]map[string]string{}
	for rows.Next() {
		var id, stage, state, reason, detail, output string
		var gen, attempts, updated int64
		var seconds float64
		if err := rows.Scan(&id, &stage, &state, &gen, &attempts, &reason, &detail, &output, &seconds, &updated); err != nil {
			return nil, err
		}
		if out[id] == nil {
			out[id] = map[string]string{}
		}
		out[id][stage] = fmt.Sprint(state, gen, attempts, reason, detail, output, seconds, updated)
	}
	return out, rows.Err()
}

// RewindSchema puts the store back to what schema version v made of it (only what later
// migrations this test needs to undo are known here), so that reopening it migrates again.
func (s *Store) RewindSchema(ctx context.Context, v int) error {
	return s.db.inTx(ctx, func(tx txn) error {
		if v < 3 {
			for _, q := range []string{
				`DROP INDEX swemill_stage_states_done`, `DROP INDEX swemill_stage_states_repo`,
				`DROP INDEX swemill_stage_states_seconds`, `ALTER TABLE swemill_stage_states DROP COLUMN repo`,
				`ALTER TABLE swemill_stage_states DROP COLUMN language`, `ALTER TABLE swemill_stage_states DROP COLUMN summary`,
			} {
				if _, err := tx.exec(ctx, q); err != nil {
					return err
				}
			}
		}
		if v < 2 {
			if _, err := tx.exec(ctx, `ALTER TABLE swemill_instances DROP COLUMN language`); err != nil {
				return err
			}
		}
		_, err := tx.exec(ctx, `DELETE FROM swemill_schema WHERE version > $1`, v)
		return err
	})
}
