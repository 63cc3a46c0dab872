package runstore

import (
	"database/sql"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"swemill/pipeline"
)

// The direct insert must write the rows River's own insert writes, with the same unique key,
// so that River's unique index keeps one live job per args whichever of the two inserted it.
func TestInsertDirectMatchesRiver(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(t.Context(), Options{Dir: dir, Log: zerolog.Nop()})
	require.NoError(t, err)
	defer s.Close()
	e, ok := s.db.(*engine[*riversqlite.Driver, *sql.Tx])
	require.True(t, ok)
	ctx := t.Context()
	insert := func(args river.JobArgs, direct bool) int64 {
		var id int64
		require.NoError(t, e.inTx(ctx, func(tx txn) error {
			et := tx.(*engineTx[*riversqlite.Driver, *sql.Tx])
			require.True(t, et.direct, "SQLite transactions insert directly")
			et.direct = direct
			var err error
			id, err = et.insertJob(ctx, args, nil)
			return err
		}))
		return id
	}
	for _, j := range []river.JobArgs{
		newStageJob(pipeline.StageBuild, "o__a-1", 1),
		newStageJob(pipeline.StageRollout, "o__a-\"quoted\"-\u00fc<&>", 7),
		mineJob{Repo: "o/a", Generation: 2, Page: 3},
	} {
		// River first: the direct insert finds River's job.
		a := insert(j, false)
		require.Equal(t, a, insert(j, true), "%s: the direct insert takes River's job for the same", j.Kind())
	}
	// Direct first: River finds the direct insert's job.
	j := newStageJob(pipeline.StageValidate, "o__b-9", 1)
	b := insert(j, true)
	require.Equal(t, b, insert(j, false))
	// Another generation is another job.
	require.NotEqual(t, b, insert(newStageJob(pipeline.StageValidate, "o__b-9", 2), true))

	// The rows are alike column for column, but for the id, the times' values, the args and
	// the nonce River's insert leaves in the metadata (how it tells its insert from a
	// duplicate; the direct insert tells them apart by its statement's result).
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, DatabaseFile)+"?mode=ro")
	require.NoError(t, err)
	defer db.Close()
	row := func(id int64) string {
		var out string
		require.NoError(t, db.QueryRow(`SELECT json_array(kind, queue, state, json_remove(json(metadata), '$."river:unique_nonce"'), json(tags), max_attempts,
				priority, attempt, unique_states, length(unique_key), errors, attempted_by, attempted_at, finalized_at,
				typeof(args), typeof(created_at), length(created_at), typeof(scheduled_at), length(scheduled_at),
				scheduled_at <= datetime('now', 'subsec'))
			FROM river_job WHERE id = ?`, id).Scan(&out))
		return out
	}
	viaRiver := row(insert(newStageJob(pipeline.StageValidate, "o__b-10", 1), false))
	viaDirect := row(insert(newStageJob(pipeline.StageValidate, "o__b-11", 1), true))
	require.Equal(t, viaRiver, viaDirect)
	var args string
	require.NoError(t, db.QueryRow(`SELECT json(args) FROM river_job WHERE id = ?`, b).Scan(&args))
	require.Equal(t, fmt.Sprintf(`{"instance":%q,"generation":1}`, "o__b-9"), args)
}
