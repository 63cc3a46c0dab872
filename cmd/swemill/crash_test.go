package main

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"
	_ "modernc.org/sqlite"

	"swemill/pipeline"
	"swemill/pipeline/pipelinetest"
)

// crashChain is enough work that ten kills land before the run could finish: 3 repositories
// of 40 pull requests, 30 ms of hashing per item and stage.
const crashChain = "prs=40,page=4,work=30ms,flaky=5"

const crashConfig = `repos: [o/a, o/b, o/c]
workers: {mine: 2, build: 3, validate: 3, rollout: 3}
attempts: {mine: 10, build: 10, validate: 10, rollout: 10}
soft_stop: 1s
`

func swemillCmd(ctx context.Context, t *testing.T, chain string, args ...string) *exec.Cmd {
	t.Helper()
	bin, err := exec.LookPath("swemill") // the test binary itself, put on $PATH by testscript
	require.NoError(t, err)
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(os.Environ(), "SWEMILL_TEST_CHAIN="+chain)
	return cmd
}

// TestCrashRecovery kills `swemill run` with SIGKILL at random moments, at least ten times,
// restarting it each time, and checks that the final record equals an uninterrupted run's:
// nothing lost, each stage's output recorded once, no job left behind.
func TestCrashRecovery(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	ref, crash := t.TempDir(), t.TempDir()
	for _, d := range []string{ref, crash} {
		require.NoError(t, os.WriteFile(filepath.Join(d, ConfigFile), []byte(crashConfig), 0o644))
	}
	out, err := swemillCmd(ctx, t, crashChain, "run", "--dir", ref, "--progress", "none", "--log-level", "warn").CombinedOutput()
	require.NoError(t, err, "uninterrupted run: %s", out)

	seed := uint64(time.Now().UnixNano())
	t.Logf("kill schedule seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	for kills := 0; kills < 10; kills++ {
		cmd := swemillCmd(ctx, t, crashChain, "run", "--dir", crash, "--progress", "none", "--log-level", "error")
		var logs strings.Builder
		cmd.Stdout, cmd.Stderr = &logs, &logs
		require.NoError(t, cmd.Start())
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			t.Fatalf("the run ended (%v) before kill %d; make crashChain bigger so kills land mid-run:\n%s", err, kills+1, logs.String())
		case <-time.After(time.Duration(30+rng.IntN(270)) * time.Millisecond):
			require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
			<-done
		}
	}
	out, err = swemillCmd(ctx, t, crashChain, "run", "--dir", crash, "--progress", "none", "--log-level", "warn").CombinedOutput()
	require.NoError(t, err, "final run: %s", out)
	require.Contains(t, string(out), "complete")

	want := dumpRecord(t, ref)
	got := dumpRecord(t, crash)
	require.Equal(t, want, got, "the record after ten kills differs from an uninterrupted run's")
	require.Greater(t, len(want["swemill_stage_states"]), 300, "the chain did real work")
	checkRecordedOnce(t, crash)
	checkArtifacts(t, crash)
}

// dumpRecord reads the tables of a run directory's SQLite database that must not depend on
// how the run went, without timings, attempt counts and job ids.
func dumpRecord(t *testing.T, dir string) map[string][]string {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, pipeline.DatabaseFile)+"?mode=ro")
	require.NoError(t, err)
	defer db.Close()
	queries := map[string]string{
		"swemill_instances":    `SELECT instance_id, repo, record FROM swemill_instances ORDER BY instance_id`,
		"swemill_stage_states": `SELECT instance_id, stage, state, generation, reason, detail, coalesce(output, '') FROM swemill_stage_states ORDER BY instance_id, stage`,
		"swemill_artifacts":    `SELECT instance_id, stage, generation, name, digest, size FROM swemill_artifacts ORDER BY instance_id, stage, generation, name`,
		"swemill_repos":        `SELECT repo, state, generation, page, cursor, detail FROM swemill_repos ORDER BY repo`,
		"live river jobs":      `SELECT kind, state, args FROM river_job WHERE state NOT IN ('completed') ORDER BY id`,
		"unfinished runs":      `SELECT id FROM swemill_runs WHERE finished_at IS NULL`,
	}
	out := map[string][]string{}
	for name, q := range queries {
		rows, err := db.Query(q)
		require.NoError(t, err, name)
		cols, err := rows.Columns()
		require.NoError(t, err)
		out[name] = []string{}
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			require.NoError(t, rows.Scan(ptrs...))
			out[name] = append(out[name], fmt.Sprint(vals...))
		}
		require.NoError(t, rows.Err())
		rows.Close()
	}
	return out
}

// checkRecordedOnce checks that every instance's stage generation ended exactly once and that
// the states agree with the transitions.
func checkRecordedOnce(t *testing.T, dir string) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, pipeline.DatabaseFile)+"?mode=ro")
	require.NoError(t, err)
	defer db.Close()
	var bad int
	require.NoError(t, db.QueryRow(`SELECT count(*) FROM swemill_stage_states s
		WHERE (SELECT count(*) FROM swemill_transitions t WHERE t.instance_id = s.instance_id AND t.stage = s.stage
		       AND t.generation = s.generation AND t.to_state IN ('done', 'dropped', 'failed')) <> 1`).Scan(&bad))
	require.Zero(t, bad, "stage outputs recorded other than once")
	s, err := pipeline.Open(t.Context(), pipeline.Options{Dir: dir, ReadOnly: true})
	require.NoError(t, err)
	defer s.Close()
	problems, err := s.Verify(t.Context())
	require.NoError(t, err)
	require.Empty(t, problems)
}

// checkArtifacts checks that every recorded artifact is on disk with its digest.
func checkArtifacts(t *testing.T, dir string) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, pipeline.DatabaseFile)+"?mode=ro")
	require.NoError(t, err)
	defer db.Close()
	rows, err := db.Query(`SELECT DISTINCT digest FROM swemill_artifacts`)
	require.NoError(t, err)
	defer rows.Close()
	n := 0
	for rows.Next() {
		var digest string
		require.NoError(t, rows.Scan(&digest))
		hexsum := strings.TrimPrefix(digest, "sha256:")
		data, err := os.ReadFile(filepath.Join(dir, "artifacts", "sha256", hexsum[:2], hexsum[2:]))
		require.NoError(t, err)
		sum := sha256.Sum256(data)
		require.Equal(t, hexsum, hex.EncodeToString(sum[:]))
		n++
	}
	require.NoError(t, rows.Err())
	require.Positive(t, n)
}

// TestTwoWorkersOnPostgres runs two worker processes, each with its own run directory, on one
// PostgreSQL database, and checks that they share the work and record the same funnel as a
// single run.
func TestTwoWorkersOnPostgres(t *testing.T) {
	t.Parallel()
	url := pipelinetest.Postgres(t)
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	shared := t.TempDir()
	const chain = "prs=30,page=5,work=20ms,flaky=4"
	conf := fmt.Sprintf("database: %s\nartifacts_dir: %s\nrepos: [o/a, o/b]\nworkers: {build: 2, validate: 2, rollout: 2}\n", url, shared)
	var cmds []*exec.Cmd
	var logs []*strings.Builder
	for range 2 {
		dir := t.TempDir()
		require.NoError(t, os.WriteFile(filepath.Join(dir, ConfigFile), []byte(conf), 0o644))
		cmd := swemillCmd(ctx, t, chain, "run", "--dir", dir, "--progress", "none", "--log-level", "warn")
		var b strings.Builder
		cmd.Stdout, cmd.Stderr = &b, &b
		require.NoError(t, cmd.Start())
		cmds, logs = append(cmds, cmd), append(logs, &b)
	}
	for i, cmd := range cmds {
		require.NoError(t, cmd.Wait(), "worker %d:\n%s", i, logs[i])
	}

	s, err := pipeline.Open(ctx, pipeline.Options{Dir: t.TempDir(), Database: url, ArtifactsDir: shared, ReadOnly: true})
	require.NoError(t, err)
	defer s.Close()
	st, err := s.Status(ctx)
	require.NoError(t, err)
	got := map[string]map[pipeline.State]int{}
	for _, ss := range st.Stages {
		got[ss.Stage] = map[pipeline.State]int{}
		for k, v := range ss.Counts {
			if v > 0 {
				got[ss.Stage][k] = v
			}
		}
	}
	require.Equal(t, expectedFunnel(2, 30), got)
	problems, err := s.Verify(ctx)
	require.NoError(t, err)
	require.Empty(t, problems)

	// Both processes worked jobs.
	conn, err := pgx.Connect(ctx, url)
	require.NoError(t, err)
	defer conn.Close(ctx)
	var workers []string
	rows, err := conn.Query(ctx, `SELECT DISTINCT w FROM river_job, unnest(attempted_by) AS w`)
	require.NoError(t, err)
	for rows.Next() {
		var w string
		require.NoError(t, rows.Scan(&w))
		workers = append(workers, w)
	}
	require.NoError(t, rows.Err())
	for _, cmd := range cmds {
		found := false
		for _, w := range workers {
			found = found || strings.Contains(w, fmt.Sprintf("-%d_", cmd.Process.Pid))
		}
		require.True(t, found, "worker pid %d worked no job (workers: %v)", cmd.Process.Pid, workers)
	}
}

// expectedFunnel computes pipelinetest's funnel for repos repositories of prs pull requests
// each, from its documented rules.
func expectedFunnel(repos, prs int) map[string]map[pipeline.State]int {
	f := map[string]map[pipeline.State]int{}
	add := func(stage string, state pipeline.State) {
		if f[stage] == nil {
			f[stage] = map[pipeline.State]int{}
		}
		f[stage][state] += repos
	}
	for n := 1; n <= prs; n++ {
		if n%4 == 0 {
			add(pipeline.StageMine, pipeline.StateDropped)
			continue
		}
		add(pipeline.StageMine, pipeline.StateDone)
		if n%7 == 0 {
			add(pipeline.StageBuild, pipeline.StateDropped)
			continue
		}
		add(pipeline.StageBuild, pipeline.StateDone)
		if n%5 == 0 {
			add(pipeline.StageValidate, pipeline.StateDropped)
			continue
		}
		add(pipeline.StageValidate, pipeline.StateDone)
		add(pipeline.StageRollout, pipeline.StateDone)
	}
	return f
}
