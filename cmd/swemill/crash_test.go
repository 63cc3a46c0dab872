package main

import (
	"bufio"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
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
	"swemill/runstore"
)

// crashChain is the crash test's work: 3 repositories of 40 pull requests, 4 a mining page,
// 30 ms of hashing per item and stage; about 260 items start in an uninterrupted run.
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
	// Kills are timed by progress, not by the clock, so they land mid-chain on any machine
	// (a race-instrumented binary starts slowly): most after a random number of items have
	// started (the runner logs "working" for each), some during start-up. Ten kills of at
	// most 20 items each cannot finish the run's ~260 items.
	statusReads, startupKills := 0, 0
	for kills := 0; kills < 10; {
		cmd := swemillCmd(ctx, t, crashChain, "run", "--dir", crash, "--progress", "none", "--log-level", "debug")
		stderr, err := cmd.StderrPipe()
		require.NoError(t, err)
		require.NoError(t, cmd.Start())
		duringStartup := rng.IntN(5) == 0
		target := 1 + rng.IntN(20)
		reached := make(chan struct{})
		var logs strings.Builder
		scanned := make(chan struct{})
		go func() {
			defer close(scanned)
			sc := bufio.NewScanner(stderr)
			sc.Buffer(make([]byte, 1<<20), 1<<20)
			started := 0
			for sc.Scan() {
				if logs.Len() < 1<<16 {
					logs.WriteString(sc.Text() + "\n")
				}
				if strings.Contains(sc.Text(), `"message":"working"`) {
					if started++; started == target {
						close(reached)
					}
				}
			}
		}()
		done := make(chan error, 1)
		go func() {
			<-scanned
			done <- cmd.Wait()
		}()
		// status reads the record while the run works it (and while it is killed), once the
		// first run has created it.
		status := make(chan []byte, 1)
		_, statErr := os.Stat(filepath.Join(crash, runstore.DatabaseFile))
		go func() {
			if statErr != nil {
				status <- nil
				return
			}
			out, err := swemillCmd(ctx, t, crashChain, "status", "--dir", crash, "--json").CombinedOutput()
			if err != nil {
				out = append(out, []byte(err.Error())...)
			}
			status <- out
		}()
		var when <-chan struct{} = reached
		if duringStartup {
			startup := make(chan struct{})
			time.AfterFunc(time.Duration(rng.IntN(150))*time.Millisecond, func() { close(startup) })
			when = startup
		}
		select {
		case err := <-done:
			t.Fatalf("the run ended (%v) before kill %d; make crashChain bigger so kills land mid-run:\n%s", err, kills+1, logs.String())
		case <-when:
			require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
			<-done
		}
		if out := <-status; out != nil {
			var st runstore.Status
			require.NoError(t, json.Unmarshal(out, &st), "status during the run: %s", out)
			require.Len(t, st.Stages, len(pipeline.Stages))
			statusReads++
		}
		if duringStartup {
			startupKills++
		} else {
			kills++
		}
	}
	t.Logf("%d kills while working, %d during start-up", 10, startupKills)
	// The killed runs got somewhere, and did not get everywhere: the kills landed mid-work.
	mid, err := runstore.Open(ctx, runstore.Options{Dir: crash, ReadOnly: true})
	require.NoError(t, err)
	midSt, err := mid.Status(ctx)
	mid.Close()
	require.NoError(t, err)
	require.Positive(t, midSt.Stages[1].Counts[pipeline.StateDone], "no build finished between kills")
	require.Less(t, midSt.Stages[3].Counts[pipeline.StateDone], 3*expectedFunnel(1, 40)[pipeline.StageRollout][pipeline.StateDone],
		"the killed runs finished everything; kills did not land mid-run")
	require.GreaterOrEqual(t, statusReads, 5, "status ran during the run")
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
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, runstore.DatabaseFile)+"?mode=ro")
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
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, runstore.DatabaseFile)+"?mode=ro")
	require.NoError(t, err)
	defer db.Close()
	var bad int
	require.NoError(t, db.QueryRow(`SELECT count(*) FROM swemill_stage_states s
		WHERE (SELECT count(*) FROM swemill_transitions t WHERE t.instance_id = s.instance_id AND t.stage = s.stage
		       AND t.generation = s.generation AND t.to_state IN ('done', 'dropped', 'failed')) <> 1`).Scan(&bad))
	require.Zero(t, bad, "stage outputs recorded other than once")
	s, err := runstore.Open(t.Context(), runstore.Options{Dir: dir, ReadOnly: true})
	require.NoError(t, err)
	defer s.Close()
	problems, err := s.Verify(t.Context())
	require.NoError(t, err)
	require.Empty(t, problems)
}

// checkArtifacts checks that every recorded artifact is on disk with its digest.
func checkArtifacts(t *testing.T, dir string) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, runstore.DatabaseFile)+"?mode=ro")
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

	s, err := runstore.Open(ctx, runstore.Options{Dir: t.TempDir(), Database: url, ArtifactsDir: shared, ReadOnly: true})
	require.NoError(t, err)
	defer s.Close()
	st, err := s.Status(ctx)
	require.NoError(t, err)
	got := funnelCounts(st)
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
			found = found || strings.Contains(w, fmt.Sprintf("-%d-", cmd.Process.Pid))
		}
		require.True(t, found, "worker pid %d worked no job (workers: %v)", cmd.Process.Pid, workers)
	}
}

// funnelCounts turns a Status into stage -> state -> count, without the zeros.
func funnelCounts(st runstore.Status) map[string]map[pipeline.State]int {
	got := map[string]map[pipeline.State]int{}
	for _, ss := range st.Stages {
		got[ss.Stage] = map[pipeline.State]int{}
		for k, v := range ss.Counts {
			if v > 0 {
				got[ss.Stage][k] = v
			}
		}
	}
	return got
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

// TestSignalHandsBackWork sends SIGINT to a run whose items are mid-work: it stops taking
// work, hands the items in flight back after soft_stop, exits 130, and the next run finishes.
func TestSignalHandsBackWork(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, ConfigFile), []byte("repos: [o/a]\nsoft_stop: 100ms\n"), 0o644))
	const chain = "prs=6,page=6,work=3s"
	cmd := swemillCmd(ctx, t, "prs=6,page=6", "run", "--dir", dir, "--until", "mine", "--progress", "none")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)

	cmd = swemillCmd(ctx, t, chain, "run", "--dir", dir, "--progress", "none", "--log-level", "debug")
	stderr, err := cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	var log strings.Builder
	sc := bufio.NewScanner(stderr)
	working := "" // the item whose work the signal interrupts
	for sc.Scan() {
		log.WriteString(sc.Text() + "\n")
		// A build worker has claimed its item: interrupt it mid-work.
		var line struct{ Stage, Instance, Message string }
		if json.Unmarshal(sc.Bytes(), &line) == nil && line.Stage == "build" && line.Message == "working" {
			working = line.Instance
			require.NoError(t, cmd.Process.Signal(os.Interrupt))
			break
		}
	}
	require.NotEmpty(t, working, "no build worker started: %s", log.String())
	go func() {
		for sc.Scan() {
			log.WriteString(sc.Text() + "\n")
		}
	}()
	err = cmd.Wait()
	var exit *exec.ExitError
	require.ErrorAs(t, err, &exit, "the run should fail with exit 130")
	require.Equal(t, exitInterrupted, exit.ExitCode())

	s, err := runstore.Open(ctx, runstore.Options{Dir: dir, ReadOnly: true})
	require.NoError(t, err)
	st, err := s.Status(ctx)
	require.NoError(t, err)
	build := st.Stages[1]
	require.Zero(t, build.Counts[pipeline.StateRunning], "nothing left running")
	require.Zero(t, build.Counts[pipeline.StateDone]+build.Counts[pipeline.StateFailed], "3 s items cannot have finished")
	require.Equal(t, 6-1, build.Counts[pipeline.StatePending], "every mined instance is back to pending")
	d, err := s.Show(ctx, working)
	require.NoError(t, err)
	var handedBack bool
	for _, tr := range d.Transitions {
		handedBack = handedBack || (tr.From == pipeline.StateRunning && tr.To == pipeline.StatePending && tr.Reason == "interrupted")
	}
	s.Close()
	require.True(t, handedBack, "%s was handed back; history: %+v", working, d.Transitions)

	out, err = swemillCmd(ctx, t, "prs=6,page=6", "run", "--dir", dir, "--progress", "none", "--log-level", "warn").CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.Contains(t, string(out), "run 2 complete")
}

// TestPostgresRescuesADeadWorkersItems kills one of two workers on PostgreSQL in the middle
// of an item; after the stage's timeout, River hands its jobs to the survivor, which finishes
// the run with the same funnel.
func TestPostgresRescuesADeadWorkersItems(t *testing.T) {
	t.Parallel()
	url := pipelinetest.Postgres(t)
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	shared := t.TempDir()
	const chain = "prs=12,page=2,work=1s"
	conf := fmt.Sprintf("database: %s\nartifacts_dir: %s\nrepos: [o/a]\nworkers: {build: 2, validate: 2, rollout: 2}\n"+
		"timeouts: {mine: 4s, build: 4s, validate: 4s, rollout: 4s}\nattempts: {build: 5, validate: 5, rollout: 5}\n", url, shared)
	start := func() (*exec.Cmd, *bufio.Scanner) {
		dir := t.TempDir()
		require.NoError(t, os.WriteFile(filepath.Join(dir, ConfigFile), []byte(conf), 0o644))
		cmd := swemillCmd(ctx, t, chain, "run", "--dir", dir, "--progress", "none", "--log-level", "debug")
		stderr, err := cmd.StderrPipe()
		require.NoError(t, err)
		require.NoError(t, cmd.Start())
		return cmd, bufio.NewScanner(stderr)
	}
	victim, vlog := start()
	var victimLog strings.Builder
	for vlog.Scan() {
		victimLog.WriteString(vlog.Text() + "\n")
		if strings.Contains(vlog.Text(), `"stage":"build"`) && strings.Contains(vlog.Text(), `"message":"working"`) {
			break
		}
	}
	require.Contains(t, victimLog.String(), `"message":"working"`, "the victim never started building:\n%s", victimLog.String())
	survivor, slog := start()
	var survivorLog strings.Builder
	drained := make(chan struct{})
	go func() {
		defer close(drained)
		for slog.Scan() {
			survivorLog.WriteString(slog.Text() + "\n")
		}
	}()
	require.NoError(t, victim.Process.Signal(syscall.SIGKILL))
	_ = victim.Wait()
	<-drained
	require.NoError(t, survivor.Wait(), "survivor:\n%s", survivorLog.String())

	s, err := runstore.Open(ctx, runstore.Options{Dir: t.TempDir(), Database: url, ArtifactsDir: shared, ReadOnly: true})
	require.NoError(t, err)
	defer s.Close()
	st, err := s.Status(ctx)
	require.NoError(t, err)
	got := funnelCounts(st)
	require.Equal(t, expectedFunnel(1, 12), got, "survivor:\n%s", survivorLog.String())
	problems, err := s.Verify(ctx)
	require.NoError(t, err)
	require.Empty(t, problems)
}

// TestScheduledRunWhileRunning is the nightly pattern's guard: a run started while another
// works the same directory is refused with exit code 4 and a message naming the holder, and
// changes nothing.
func TestScheduledRunWhileRunning(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	dir := t.TempDir()
	first := swemillCmd(ctx, t, "prs=3,page=3,work=700ms", "run", "--dir", dir, "--repo", "o/a", "--progress", "none", "--log-level", "info")
	stderr, err := first.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, first.Start())
	sc := bufio.NewScanner(stderr)
	for sc.Scan() && !strings.Contains(sc.Text(), `"message":"run started"`) {
	}
	go func() {
		for sc.Scan() {
		}
	}()

	second := swemillCmd(ctx, t, "prs=3,page=3", "run", "--dir", dir, "--repo", "o/a", "--progress", "none")
	out, err := second.CombinedOutput()
	var exit *exec.ExitError
	require.ErrorAs(t, err, &exit, "%s", out)
	require.Equal(t, exitBusy, exit.ExitCode())
	require.Contains(t, string(out), fmt.Sprintf("is in use by process %d", first.Process.Pid))

	require.NoError(t, first.Wait())
	out, err = swemillCmd(ctx, t, "prs=3,page=3", "status", "--dir", dir, "--verify").CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.Contains(t, string(out), "record verified")
	require.Contains(t, string(out), "last run: #1 ")
}
