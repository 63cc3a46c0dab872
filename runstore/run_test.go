package runstore_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"swemill/pipeline"
	"swemill/pipeline/pipelinetest"
	"swemill/runstore"
)

func TestMain(m *testing.M) {
	code := m.Run()
	pipelinetest.StopPostgres()
	if code == 0 {
		if err := goleak.Find(goleak.IgnoreTopFunction("github.com/jackc/pgx/v5/pgxpool.(*Pool).backgroundHealthCheck")); err != nil {
			os.Stderr.WriteString("goleak: " + err.Error() + "\n")
			code = 1
		}
	}
	os.Exit(code)
}

// databases runs f once on SQLite and once on PostgreSQL.
func databases(t *testing.T, f func(t *testing.T, open func(t *testing.T) *runstore.Store)) {
	t.Run("sqlite", func(t *testing.T) {
		t.Parallel()
		f(t, func(t *testing.T) *runstore.Store { return openStore(t, t.TempDir(), "") })
	})
	t.Run("postgres", func(t *testing.T) {
		t.Parallel()
		url := pipelinetest.Postgres(t)
		f(t, func(t *testing.T) *runstore.Store { return openStore(t, t.TempDir(), url) })
	})
}

func openStore(t *testing.T, dir, url string) *runstore.Store {
	t.Helper()
	s, err := runstore.Open(t.Context(), runstore.Options{Dir: dir, Database: url, Log: zerolog.New(zerolog.NewTestWriter(t))})
	require.NoError(t, err)
	t.Cleanup(s.Close)
	return s
}

func chainConfig(c pipelinetest.Config, repos ...string) runstore.RunConfig {
	return runstore.RunConfig{
		Repos:        repos,
		Miner:        pipelinetest.Miner(c),
		Processors:   pipelinetest.Processors(c),
		Workers:      map[string]int{pipeline.StageBuild: 4, pipeline.StageValidate: 4, pipeline.StageRollout: 4},
		RetryBackoff: time.Millisecond,
		PollInterval: 20 * time.Millisecond,
	}
}

// counts turns a Status into stage -> state -> count, without the zeros.
func counts(st runstore.Status) map[string]map[pipeline.State]int {
	out := map[string]map[pipeline.State]int{}
	for _, s := range st.Stages {
		for state, n := range s.Counts {
			if n > 0 {
				if out[s.Stage] == nil {
					out[s.Stage] = map[pipeline.State]int{}
				}
				out[s.Stage][state] = n
			}
		}
	}
	return out
}

// wantChain is the funnel of pipelinetest's stages over 12 PRs in each of two repositories:
// mine drops 4, 8, 12; build drops 7; validate drops 5 and 10.
var wantChain = map[string]map[pipeline.State]int{
	pipeline.StageMine:     {pipeline.StateDone: 18, pipeline.StateDropped: 6},
	pipeline.StageBuild:    {pipeline.StateDone: 16, pipeline.StateDropped: 2},
	pipeline.StageValidate: {pipeline.StateDone: 12, pipeline.StateDropped: 4},
	pipeline.StageRollout:  {pipeline.StateDone: 12},
}

func TestRunChain(t *testing.T) {
	t.Parallel()
	databases(t, func(t *testing.T, open func(t *testing.T) *runstore.Store) {
		s := open(t)
		sum, err := s.Run(t.Context(), chainConfig(pipelinetest.Config{FlakyEvery: 3}, "o/a", "o/b"))
		require.NoError(t, err)
		require.True(t, sum.Complete)
		require.Equal(t, wantChain, counts(sum.Status))
		require.Equal(t, 24, sum.Status.Instances)
		require.Equal(t, 2, sum.Status.Repos.Counts[pipeline.StateDone])
		require.Equal(t, []runstore.ReasonCount{{Reason: "no_linked_issue", Count: 6}}, sum.Status.Stages[0].Drops)
		problems, err := s.Verify(t.Context())
		require.NoError(t, err)
		require.Empty(t, problems)

		// A flaky first attempt is retried and recorded, then succeeds.
		d, err := s.Show(t.Context(), "o__a-3")
		require.NoError(t, err)
		build := d.Stages[1]
		require.Equal(t, pipeline.StageBuild, build.Stage)
		require.Equal(t, pipeline.StateDone, build.State)
		require.Equal(t, 2, build.Attempts)
		var retried bool
		for _, tr := range d.Transitions {
			if tr.Stage == pipeline.StageBuild && tr.From == pipeline.StateRunning && tr.To == pipeline.StatePending {
				retried = true
				require.Equal(t, "retry", tr.Reason)
				require.Contains(t, tr.Detail, "daemon hiccup")
			}
		}
		require.True(t, retried, "the failed first attempt is in the history")
		require.Len(t, d.Artifacts, 3)
		for _, a := range d.Artifacts {
			data, err := os.ReadFile(a.Path)
			require.NoError(t, err)
			require.EqualValues(t, a.Size, len(data))
		}

		// A second run on the same store has nothing to do and changes nothing.
		sum2, err := s.Run(t.Context(), chainConfig(pipelinetest.Config{}, "o/a", "o/b"))
		require.NoError(t, err)
		require.Equal(t, wantChain, counts(sum2.Status))
		require.NotEqual(t, sum.RunID, sum2.RunID)
	})
}

func TestRunDropsAWholeRepository(t *testing.T) {
	t.Parallel()
	s := openStore(t, t.TempDir(), "")
	sum, err := s.Run(t.Context(), chainConfig(pipelinetest.Config{PRs: 3}, "o/a", "excluded/b"))
	require.NoError(t, err)
	require.True(t, sum.Complete)
	require.Equal(t, 3, sum.Status.Instances, "no instance stands for the dropped repository")
	require.Equal(t, map[pipeline.State]int{pipeline.StateDone: 1, pipeline.StateDropped: 1},
		map[pipeline.State]int{pipeline.StateDone: sum.Status.Repos.Counts[pipeline.StateDone], pipeline.StateDropped: sum.Status.Repos.Counts[pipeline.StateDropped]})
	require.Equal(t, []runstore.ReasonCount{{Reason: "decontaminated", Count: 1}}, sum.Status.Repos.Drops)
}

func TestRunStagesAndUntil(t *testing.T) {
	t.Parallel()
	s := openStore(t, t.TempDir(), "")
	cfg := chainConfig(pipelinetest.Config{}, "o/a")
	cfg.Stages = []string{pipeline.StageMine, pipeline.StageBuild}
	sum, err := s.Run(t.Context(), cfg)
	require.NoError(t, err)
	require.True(t, sum.Complete)
	require.Equal(t, map[string]map[pipeline.State]int{
		pipeline.StageMine:     {pipeline.StateDone: 9, pipeline.StateDropped: 3},
		pipeline.StageBuild:    {pipeline.StateDone: 8, pipeline.StateDropped: 1},
		pipeline.StageValidate: {pipeline.StatePending: 8},
	}, counts(sum.Status))

	// The rest of the chain, without mining again.
	cfg.Stages = []string{pipeline.StageValidate, pipeline.StageRollout}
	sum, err = s.Run(t.Context(), cfg)
	require.NoError(t, err)
	require.Equal(t, pipeline.StateDone, pipeline.State("done"))
	require.Equal(t, 6, sum.Status.Stages[3].Counts[pipeline.StateDone])
}

func TestRunRecordsFailuresAndPanics(t *testing.T) {
	t.Parallel()
	s := openStore(t, t.TempDir(), "")
	var calls atomic.Int32
	cfg := chainConfig(pipelinetest.Config{PRs: 3}, "o/a")
	cfg.Stages = []string{pipeline.StageMine, pipeline.StageBuild}
	cfg.Attempts = map[string]int{pipeline.StageBuild: 2}
	cfg.Processors[pipeline.StageBuild] = pipeline.ProcessorFunc(func(ctx context.Context, item *pipeline.Item) (pipeline.Output, error) {
		calls.Add(1)
		switch item.Instance.PullNumber {
		case 1:
			panic("boom in " + item.Instance.InstanceID)
		case 2:
			return pipeline.Output{}, errors.New("the daemon is gone")
		}
		return pipeline.Output{Record: pipeline.Environment{ImageName: "img"}}, nil
	})
	sum, err := s.Run(t.Context(), cfg)
	require.NoError(t, err)
	require.Equal(t, map[pipeline.State]int{pipeline.StateFailed: 2, pipeline.StateDone: 1}, counts(sum.Status)[pipeline.StageBuild])
	require.EqualValues(t, 5, calls.Load(), "two attempts for each failing item, one for the good one")
	d, err := s.Show(t.Context(), "o__a-1")
	require.NoError(t, err)
	require.Equal(t, pipeline.StateFailed, d.Stages[1].State)
	require.Contains(t, d.Stages[1].Detail, "boom in o__a-1")
	require.Equal(t, 2, d.Stages[1].Attempts)
	d, err = s.Show(t.Context(), "o__a-2")
	require.NoError(t, err)
	require.Contains(t, d.Stages[1].Detail, "the daemon is gone")
}

func TestRunHandsBackOnCancel(t *testing.T) {
	t.Parallel()
	s := openStore(t, t.TempDir(), "")
	started := make(chan struct{}, 16)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	cfg := chainConfig(pipelinetest.Config{PRs: 2}, "o/a")
	cfg.SoftStopTimeout = 10 * time.Millisecond
	cfg.Processors[pipeline.StageBuild] = pipeline.ProcessorFunc(func(ctx context.Context, item *pipeline.Item) (pipeline.Output, error) {
		started <- struct{}{}
		<-ctx.Done() // a build that only ends when it is cancelled
		return pipeline.Output{}, ctx.Err()
	})
	go func() {
		select {
		case <-started:
			cancel()
		case <-time.After(30 * time.Second):
		}
	}()
	sum, err := s.Run(ctx, cfg)
	require.NoError(t, err)
	require.False(t, sum.Complete)
	build := counts(sum.Status)[pipeline.StageBuild]
	require.Zero(t, build[pipeline.StateRunning], "nothing is left running")
	require.Zero(t, build[pipeline.StateFailed], "an interrupted item is handed back, not failed")
	require.Equal(t, 2, build[pipeline.StatePending])

	// The next run resumes the same run and finishes it.
	cfg = chainConfig(pipelinetest.Config{PRs: 2}, "o/a")
	sum2, err := s.Run(t.Context(), cfg)
	require.NoError(t, err)
	require.True(t, sum2.Complete)
	require.True(t, sum2.Resumed)
	require.Equal(t, sum.RunID, sum2.RunID)
	require.Equal(t, 2, counts(sum2.Status)[pipeline.StageRollout][pipeline.StateDone])
}

func TestRunRetryAfterDoesNotCountAnAttempt(t *testing.T) {
	t.Parallel()
	s := openStore(t, t.TempDir(), "")
	var calls atomic.Int32
	cfg := chainConfig(pipelinetest.Config{PRs: 1}, "o/a")
	cfg.Stages = []string{pipeline.StageMine, pipeline.StageBuild}
	cfg.Attempts = map[string]int{pipeline.StageBuild: 1}
	cfg.Processors[pipeline.StageBuild] = pipeline.ProcessorFunc(func(ctx context.Context, item *pipeline.Item) (pipeline.Output, error) {
		if calls.Add(1) < 3 {
			return pipeline.Output{}, pipeline.RetryAfter(time.Millisecond, errors.New("rate limited"))
		}
		return pipeline.Output{Record: pipeline.Environment{ImageName: "img"}}, nil
	})
	sum, err := s.Run(t.Context(), cfg)
	require.NoError(t, err)
	require.Equal(t, 1, counts(sum.Status)[pipeline.StageBuild][pipeline.StateDone])
	require.EqualValues(t, 3, calls.Load())
}

func TestSecondRunIsRefused(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := openStore(t, dir, "")
	entered := make(chan struct{})
	release := make(chan struct{})
	cfg := chainConfig(pipelinetest.Config{PRs: 1}, "o/a")
	cfg.Processors[pipeline.StageBuild] = pipeline.ProcessorFunc(func(ctx context.Context, item *pipeline.Item) (pipeline.Output, error) {
		close(entered)
		<-release
		return pipeline.Output{Record: pipeline.Environment{}}, nil
	})
	done := make(chan error, 1)
	go func() {
		_, err := s.Run(t.Context(), cfg)
		done <- err
	}()
	select {
	case <-entered:
	case <-time.After(30 * time.Second):
		t.Fatal("the first run never started building")
	}
	other := openStore(t, dir, "")
	_, err := other.Run(t.Context(), chainConfig(pipelinetest.Config{PRs: 1}, "o/a"))
	var busy *runstore.BusyError
	require.ErrorAs(t, err, &busy)
	require.Contains(t, err.Error(), "in use by process")

	// Status reads while the run goes on.
	st, err := other.Status(t.Context())
	require.NoError(t, err)
	require.Equal(t, 1, st.Stages[1].Counts[pipeline.StateRunning])
	close(release)
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(60 * time.Second):
		t.Fatal("the first run did not finish")
	}
}

func TestOpenRejectsBadPlaces(t *testing.T) {
	t.Parallel()
	_, err := runstore.Open(t.Context(), runstore.Options{Dir: filepath.Join(t.TempDir(), "nope")})
	require.ErrorContains(t, err, "does not exist")

	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, runstore.DatabaseFile), []byte("this is not a database, it is text"), 0o644))
	_, err = runstore.Open(t.Context(), runstore.Options{Dir: dir})
	require.ErrorContains(t, err, "not a database")

	_, err = runstore.Open(t.Context(), runstore.Options{Dir: t.TempDir(), Database: "mysql://x:secret@host/db"})
	require.ErrorContains(t, err, "only postgres://")
	require.NotContains(t, err.Error(), "secret")

	_, err = runstore.Open(t.Context(), runstore.Options{Dir: t.TempDir(), ReadOnly: true})
	require.ErrorContains(t, err, "no run database")
}

// A run killed after it made its database but before it committed its schema leaves a
// database without swemill's tables: status reads it as an empty record.
func TestStatusBeforeTheSchema(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, runstore.DatabaseFile), nil, 0o644))
	s, err := runstore.Open(t.Context(), runstore.Options{Dir: dir, ReadOnly: true})
	require.NoError(t, err)
	defer s.Close()
	st, err := s.Status(t.Context())
	require.NoError(t, err)
	require.Zero(t, st.Instances)
	require.Len(t, st.Stages, len(pipeline.Stages))
	for _, ss := range st.Stages {
		require.Zero(t, ss.Total, ss.Stage)
	}
}
