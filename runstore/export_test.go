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

// Synthesize fills the store with n instances that went through every stage: one in ten is
// dropped at mine, and the rest spread over the later stages' states, with transitions.
func (s *Store) Synthesize(ctx context.Context, n int) error {
	return s.db.inTx(ctx, func(tx txn) error {
		seq := fmt.Sprintf(`WITH RECURSIVE seq(k) AS (SELECT 1 UNION ALL SELECT k + 1 FROM seq WHERE k < %d)`, n)
		stmts := []string{
			seq + ` INSERT INTO swemill_instances (instance_id, repo, record, created_at)
				SELECT 'o__r' || (k % 50) || '-' || k, 'o/r' || (k % 50), '{}', k FROM seq`,
			seq + `, st(stage, ord) AS (VALUES ('mine', 0), ('build', 1), ('validate', 2), ('rollout', 3))
				INSERT INTO swemill_stage_states (instance_id, stage, state, generation, reason, updated_at)
				SELECT 'o__r' || (k % 50) || '-' || k, stage,
					CASE WHEN k % 10 = 0 THEN 'dropped' WHEN k % 7 = ord THEN 'failed' ELSE 'done' END,
					1, CASE WHEN k % 10 = 0 THEN 'reason_' || (k % 13) ELSE '' END, k FROM seq, st`,
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
		if v < 2 {
			if _, err := tx.exec(ctx, `ALTER TABLE swemill_instances DROP COLUMN language`); err != nil {
				return err
			}
		}
		_, err := tx.exec(ctx, `DELETE FROM swemill_schema WHERE version > $1`, v)
		return err
	})
}
