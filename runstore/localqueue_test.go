package runstore_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"swemill/pipeline"
	"swemill/pipeline/pipelinetest"
	"swemill/runstore"
)

// On SQLite the run hands out River's jobs itself; the job table must end as River's own
// client would leave it: every job completed once, with its attempts, the worker that ran
// it and the error of each failed attempt, and a retry-after snooze not counted as an
// attempt.
func TestLocalQueueLeavesRiversTable(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := openStore(t, dir, "")
	var rateLimited atomic.Bool
	cfg := chainConfig(pipelinetest.Config{PRs: 6, FlakyEvery: 3}, "o/a")
	validate := cfg.Processors[pipeline.StageValidate]
	cfg.Processors[pipeline.StageValidate] = pipeline.ProcessorFunc(func(ctx context.Context, item *pipeline.Item) (pipeline.Output, error) {
		if item.Instance.InstanceID == "o__a-2" && rateLimited.CompareAndSwap(false, true) {
			return pipeline.Output{}, pipeline.RetryAfter(time.Millisecond, errors.New("rate limited"))
		}
		return validate.Process(ctx, item)
	})
	cfg.WorkerID = "queue-test"
	sum, err := s.Run(t.Context(), cfg)
	require.NoError(t, err)
	require.True(t, sum.Complete)
	require.True(t, rateLimited.Load())

	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, runstore.DatabaseFile)+"?mode=ro")
	require.NoError(t, err)
	defer db.Close()
	rows, err := db.Query(`SELECT kind, json(args), state, attempt, finalized_at IS NOT NULL, json(attempted_by), coalesce(json(errors), '[]') FROM river_job ORDER BY id`)
	require.NoError(t, err)
	defer rows.Close()
	type job struct {
		kind, args, state string
		attempt           int
		finalized         bool
		by                []string
		errs              []struct {
			Attempt int    `json:"attempt"`
			Error   string `json:"error"`
		}
	}
	var jobs []job
	for rows.Next() {
		var j job
		var by, errs string
		require.NoError(t, rows.Scan(&j.kind, &j.args, &j.state, &j.attempt, &j.finalized, &by, &errs))
		require.NoError(t, json.Unmarshal([]byte(by), &j.by), by)
		require.NoError(t, json.Unmarshal([]byte(errs), &j.errs), errs)
		jobs = append(jobs, j)
	}
	require.NoError(t, rows.Err())
	seen := map[string]bool{}
	var flaky, snoozed int
	for _, j := range jobs {
		key := j.kind + j.args
		require.False(t, seen[key], "one job per stage, instance and generation: %s", key)
		seen[key] = true
		require.Equal(t, "completed", j.state, key)
		require.True(t, j.finalized, key)
		deliveries := j.attempt
		if j.kind == "swemill_validate" && j.args == `{"instance":"o__a-2","generation":1}` {
			deliveries++ // the snoozed delivery
		}
		require.Len(t, j.by, deliveries, "each delivery names its worker: %s", key)
		for _, b := range j.by {
			require.Regexp(t, `^queue-test_\d+$`, b)
		}
		require.Len(t, j.errs, j.attempt-1, "each failed attempt's error is kept: %s", key)
		switch {
		case j.kind == "swemill_build" && j.attempt == 2:
			flaky++
			require.Equal(t, 1, j.errs[0].Attempt)
			require.Contains(t, j.errs[0].Error, "daemon hiccup")
		case j.kind == "swemill_validate" && j.args == `{"instance":"o__a-2","generation":1}`:
			snoozed++
			require.Equal(t, 1, j.attempt, "a snooze is not an attempt")
		default:
			require.Equal(t, 1, j.attempt, key)
		}
	}
	require.Equal(t, 2, flaky, "PRs 3 and 6 fail their first build")
	require.Equal(t, 1, snoozed)
	kinds := map[string]int{}
	for _, j := range jobs {
		kinds[j.kind]++
	}
	for _, st := range []string{pipeline.StageBuild, pipeline.StageValidate, pipeline.StageRollout} {
		n := 0
		for _, c := range counts(sum.Status)[st] {
			n += c
		}
		require.Positive(t, n, st)
		require.Equal(t, n, kinds["swemill_"+st], "one job per instance in %s", st)
	}
}
