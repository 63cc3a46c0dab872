package scale

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/rs/zerolog"

	"swemill/export"
	"swemill/pipeline"
	"swemill/pipeline/pipelinetest"
	"swemill/report"
	"swemill/runstore"
)

// chainShape is the simulated chain: how many instances over how many repositories, how long
// each stage's work takes (real durations divided by the time compression) and what share
// each stage drops, deterministically per instance.
type chainShape struct {
	Instances, Repos int
	// Build, Validate and Rollout are the stub stages' durations.
	Build, Validate, Rollout time.Duration
	// BuildDrop and ValidateDrop are the shares dropped there, on top of pipelinetest's own
	// rules (every 4th pull request has no linked issue, every 7th fails to install, every
	// 5th has no failing test), which stay.
	BuildDrop, ValidateDrop float64
	// Workers is the number of items each stage works at once, per process.
	Workers int
}

// skywork is the chain of a Skywork-SWE-sized run, compressed 10,000 times: builds of about
// 50 s, validations of 90 s and rollouts of 10 min (the figures `make bench` measures per
// instance on real repositories, and a 100-turn agent run) become 5, 9 and 60 ms; the drops
// bring 150,000 candidates down to about 10,000 validated tasks.
var skywork = chainShape{
	Instances: 150_000, Repos: 1_000,
	Build: 5 * time.Millisecond, Validate: 9 * time.Millisecond, Rollout: 60 * time.Millisecond,
	BuildDrop: 0.10, ValidateDrop: 0.85, Workers: 8,
}

// share maps an instance and a salt to [0, 1), the same on every run and in every process.
func share(id, salt string) float64 {
	h := fnv.New64a()
	h.Write([]byte(salt))
	h.Write([]byte(id))
	return float64(h.Sum64()%1_000_000) / 1_000_000
}

func (c chainShape) repos() []string {
	out := make([]string, c.Repos)
	for i := range out {
		out[i] = fmt.Sprintf("scale/r%04d", i)
	}
	return out
}

// runConfig wires pipelinetest's miner and stages (their records are what the export reads)
// behind the shape's durations and drops.
func (c chainShape) runConfig() runstore.RunConfig {
	base := pipelinetest.Processors(pipelinetest.Config{})
	stub := func(stage string, d time.Duration, drop float64, reason string) pipeline.Processor {
		inner := base[stage]
		return pipeline.ProcessorFunc(func(ctx context.Context, item *pipeline.Item) (pipeline.Output, error) {
			select {
			case <-time.After(d):
			case <-ctx.Done():
				return pipeline.Output{}, ctx.Err()
			}
			if drop > 0 && share(item.Instance.InstanceID, stage) < drop {
				return pipeline.Output{}, pipeline.Drop(reason, "dropped by the scale benchmark's funnel")
			}
			return inner.Process(ctx, item)
		})
	}
	prs := (c.Instances + c.Repos - 1) / c.Repos
	return runstore.RunConfig{
		Repos: c.repos(),
		Miner: pipelinetest.Miner(pipelinetest.Config{PRs: prs, PageSize: 100}),
		Processors: map[string]pipeline.Processor{
			pipeline.StageBuild:    stub(pipeline.StageBuild, c.Build, c.BuildDrop, "install_failed"),
			pipeline.StageValidate: stub(pipeline.StageValidate, c.Validate, c.ValidateDrop, "no_fail_to_pass"),
			pipeline.StageRollout:  stub(pipeline.StageRollout, c.Rollout, 0, ""),
		},
		Workers: map[string]int{
			pipeline.StageMine: c.Workers, pipeline.StageBuild: c.Workers,
			pipeline.StageValidate: c.Workers, pipeline.StageRollout: c.Workers,
		},
		RetryBackoff: time.Millisecond,
		PollInterval: 200 * time.Millisecond,
	}
}

// The environment that makes the test binary a worker process of a PostgreSQL run.
const (
	envWorker    = "SWEMILL_SCALE_WORKER" // the run's database URL
	envArtifacts = "SWEMILL_SCALE_ARTIFACTS"
	envShape     = "SWEMILL_SCALE_SHAPE" // the chainShape, as JSON
)

func TestMain(m *testing.M) {
	if url := os.Getenv(envWorker); url != "" {
		if err := workerMain(url); err != nil {
			fmt.Fprintln(os.Stderr, "scale worker:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	code := m.Run()
	pipelinetest.StopPostgres()
	os.Exit(code)
}

// workerMain works a PostgreSQL run as one process, until the run is complete.
func workerMain(url string) error {
	var c chainShape
	if err := json.Unmarshal([]byte(os.Getenv(envShape)), &c); err != nil {
		return fmt.Errorf("reading the chain shape: %w", err)
	}
	dir, err := os.MkdirTemp("", "scale-worker-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	ctx := context.Background()
	s, err := runstore.Open(ctx, runstore.Options{Dir: dir, Database: url, ArtifactsDir: os.Getenv(envArtifacts), Log: zerolog.Nop()})
	if err != nil {
		return err
	}
	defer s.Close()
	sum, err := s.Run(ctx, c.runConfig())
	if err != nil {
		return err
	}
	if !sum.Complete {
		return fmt.Errorf("the run stopped before it was complete")
	}
	return nil
}

// chainFigures are one run's figures.
type chainFigures struct {
	Processes   int
	Instances   int
	Transitions int
	Wall        time.Duration
	CPU         time.Duration // user + system of every worker process
	// MachineCPU is the busy time of the whole machine over the run (the database server,
	// the workers and anything else), read from /proc/stat; zero where it cannot be read.
	MachineCPU time.Duration
	Cores      int
	// P99Overhead is the 99th percentile, over finished stage attempts, of the time from the
	// attempt's running transition to its finishing one less the stub's own duration: what the
	// store and the runner add to an item's work. P99Pickup is that of the time from an item
	// becoming pending to it running: the wait in the queue, which the backlog of a run
	// that mines faster than it builds makes long.
	P99Overhead, P99Pickup time.Duration
	Funnel                 map[string]map[pipeline.State]int
}

func (f chainFigures) put(out map[string]float64, prefix string) {
	out[prefix+" instances"] = float64(f.Instances)
	out[prefix+" transitions"] = float64(f.Transitions)
	out[prefix+" wall_s"] = round(f.Wall.Seconds(), 2)
	out[prefix+" transitions/s"] = round(float64(f.Transitions)/f.Wall.Seconds(), 1)
	if f.CPU > 0 {
		out[prefix+" transitions/cpu_s"] = round(float64(f.Transitions)/f.CPU.Seconds(), 1)
	}
	if f.MachineCPU > 0 {
		// The machine's own ceiling: its cores divided by the busy time one transition
		// costs it, everything included; the run's rate over that ceiling is how close to
		// the physical limit it came.
		perTransition := f.MachineCPU.Seconds() / float64(f.Transitions)
		out[prefix+" machine_cpu_s"] = round(f.MachineCPU.Seconds(), 1)
		out[prefix+" machine_busy_share"] = round(f.MachineCPU.Seconds()/(f.Wall.Seconds()*float64(f.Cores)), 2)
		out[prefix+" ceiling_transitions/s"] = round(float64(f.Cores)/perTransition, 1)
		out[prefix+" of_ceiling"] = round(float64(f.Transitions)/f.Wall.Seconds()*perTransition/float64(f.Cores), 2)
		if f.CPU > 0 && f.MachineCPU > f.CPU {
			// Busy time outside the worker processes: on PostgreSQL the server's share (on an
			// otherwise idle machine).
			out[prefix+" other_cpu_ms/transition"] = round((f.MachineCPU-f.CPU).Seconds()*1000/float64(f.Transitions), 3)
		}
	}
	out[prefix+" p99_transition_overhead_ms"] = round(f.P99Overhead.Seconds()*1000, 2)
	out[prefix+" p99_queue_wait_ms"] = round(f.P99Pickup.Seconds()*1000, 1)
	for _, st := range []string{pipeline.StageValidate, pipeline.StageRollout} {
		out[prefix+" "+st+"_done"] = float64(f.Funnel[st][pipeline.StateDone])
	}
}

func round(x float64, digits int) float64 {
	p := 1.0
	for range digits {
		p *= 10
	}
	return float64(int64(x*p+0.5)) / p
}

// transitionLatencies reads every transition, in order, and returns their number and the
// p99s of chainFigures.
func transitionLatencies(ctx context.Context, q func(ctx context.Context, query string) (rowsLike, error), c chainShape) (n int, overhead, pickup time.Duration, err error) {
	rows, err := q(ctx, `SELECT instance_id, stage, generation, to_state, at FROM swemill_transitions ORDER BY id`)
	if err != nil {
		return 0, 0, 0, err
	}
	defer rows.Close()
	work := map[string]time.Duration{pipeline.StageBuild: c.Build, pipeline.StageValidate: c.Validate, pipeline.StageRollout: c.Rollout}
	pending, running := map[string]int64{}, map[string]int64{}
	var over, pick []float64
	for rows.Next() {
		var id, stage, to string
		var gen, at int64
		if err := rows.Scan(&id, &stage, &gen, &to, &at); err != nil {
			return 0, 0, 0, err
		}
		n++
		key := id + "\x00" + stage + "\x00" + strconv.FormatInt(gen, 10)
		switch pipeline.State(to) {
		case pipeline.StatePending:
			pending[key] = at
		case pipeline.StateRunning:
			running[key] = at
			if p, ok := pending[key]; ok {
				pick = append(pick, float64(at-p))
				delete(pending, key)
			}
		case pipeline.StateDone, pipeline.StateDropped, pipeline.StateFailed:
			if r, ok := running[key]; ok {
				over = append(over, float64(at-r)-float64(work[stage].Microseconds()))
				delete(running, key)
			}
		}
	}
	if err := rows.Err(); err != nil {
		return 0, 0, 0, err
	}
	return n, time.Duration(p99(over)) * time.Microsecond, time.Duration(p99(pick)) * time.Microsecond, nil
}

type rowsLike interface {
	Next() bool
	Scan(...any) error
	Err() error
	Close()
}

type sqlRows struct{ *sql.Rows }

func (r sqlRows) Close() { r.Rows.Close() }

func p99(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	sort.Float64s(v)
	return v[(len(v)-1)*99/100]
}

func funnel(st runstore.Status) map[string]map[pipeline.State]int {
	out := map[string]map[pipeline.State]int{}
	for _, s := range st.Stages {
		out[s.Stage] = s.Counts
	}
	return out
}

// runSQLite mines and works the shape's instances in one process on SQLite, then times the
// queries a user runs on the finished store, writing its figures into out.
func runSQLite(b *testing.B, c chainShape, out map[string]float64) {
	ctx := b.Context()
	dir := b.TempDir()
	s, err := runstore.Open(ctx, runstore.Options{Dir: dir, Log: zerolog.Nop()})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	var ru0 syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
	busy := machineBusy()
	start := time.Now()
	sum, err := s.Run(ctx, c.runConfig())
	wall := time.Since(start)
	var machine time.Duration
	if busy > 0 {
		machine = machineBusy() - busy
	}
	if err != nil {
		b.Fatal(err)
	}
	if !sum.Complete {
		b.Fatal("the SQLite run stopped before it was complete")
	}
	var ru1 syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru1)
	f := chainFigures{Processes: 1, Wall: wall, CPU: cpuOf(ru1) - cpuOf(ru0), MachineCPU: machine, Cores: runtime.NumCPU()}
	st, err := s.Status(ctx)
	if err != nil {
		b.Fatal(err)
	}
	f.Instances, f.Funnel = st.Instances, funnel(st)
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, runstore.DatabaseFile)+"?mode=ro")
	if err != nil {
		b.Fatal(err)
	}
	f.Transitions, f.P99Overhead, f.P99Pickup, err = transitionLatencies(ctx, func(ctx context.Context, q string) (rowsLike, error) {
		r, err := db.QueryContext(ctx, q)
		return sqlRows{r}, err
	}, c)
	db.Close()
	if err != nil {
		b.Fatal(err)
	}
	f.put(out, "sqlite")
	b.Logf("sqlite: %+v", f)

	// What a user runs on the finished store.
	timed := func(name string, n int, fn func() error) {
		start := time.Now()
		for range n {
			if err := fn(); err != nil {
				b.Fatalf("%s: %v", name, err)
			}
		}
		out["sqlite "+name+"_ms"] = round(time.Since(start).Seconds()*1000/float64(n), 1)
	}
	timed("status", 3, func() error { _, err := s.Status(ctx); return err })
	timed("ls", 3, func() error { _, err := s.List(ctx, runstore.ListFilter{Limit: 100}); return err })
	timed("ls_dropped", 3, func() error {
		_, err := s.List(ctx, runstore.ListFilter{Stage: pipeline.StageValidate, State: pipeline.StateDropped, Reason: "no_fail_to_pass", Limit: 100})
		return err
	})
	timed("report", 3, func() error {
		d, err := report.Gather(ctx, s, nil)
		if err != nil {
			return err
		}
		return report.Render(discard{}, d)
	})
	var rep *export.Report
	timed("export", 1, func() error {
		rep, err = export.Export(ctx, export.FromStore(s, nil), export.Config{Dir: filepath.Join(b.TempDir(), "dataset"), SFT: true, Log: zerolog.Nop()})
		return err
	})
	out["sqlite export_tasks"] = float64(rep.Tasks)
	out["sqlite export_trajectories"] = float64(rep.Trajectories)
	fi, err := os.Stat(filepath.Join(dir, runstore.DatabaseFile))
	if err != nil {
		b.Fatal(err)
	}
	out["sqlite db_MB"] = round(float64(fi.Size())/1e6, 1)
	var problems []string
	timed("verify", 1, func() error { problems, err = s.Verify(ctx); return err })
	if len(problems) > 0 {
		b.Fatalf("the store is inconsistent after the run: %d problems, first: %s", len(problems), problems[0])
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

func cpuOf(ru syscall.Rusage) time.Duration {
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// machineBusy returns the machine's busy CPU time so far (all cores, every process), from
// /proc/stat's first line; zero where it cannot be read.
func machineBusy() time.Duration {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(data), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return 0
	}
	var ticks int64
	for i, v := range f[1:9] {
		if i == 3 || i == 4 { // idle, iowait
			continue
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return 0
		}
		ticks += n
	}
	return time.Duration(ticks) * time.Second / 100 // USER_HZ
}

// runPostgres works the shape's instances with procs worker processes sharing one
// PostgreSQL database and artifacts directory, writing its figures into out under
// label/procs.
func runPostgres(b *testing.B, c chainShape, procs int, label string, out map[string]float64) {
	ctx := b.Context()
	url := pipelinetest.Postgres(b)
	shared := b.TempDir()
	shape, err := json.Marshal(c)
	if err != nil {
		b.Fatal(err)
	}
	busy := machineBusy()
	start := time.Now()
	var cmds []*exec.Cmd
	var logs []*strings.Builder
	for range procs {
		cmd := exec.CommandContext(ctx, os.Args[0], "-test.run", "^$")
		cmd.Env = append(os.Environ(), envWorker+"="+url, envArtifacts+"="+shared, envShape+"="+string(shape))
		var log strings.Builder
		cmd.Stdout, cmd.Stderr = &log, &log
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		cmds, logs = append(cmds, cmd), append(logs, &log)
	}
	var cpu time.Duration
	for i, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			b.Fatalf("worker %d: %v\n%s", i, err, logs[i])
		}
		cpu += cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	}
	wall := time.Since(start)
	var machine time.Duration
	if busy > 0 {
		machine = machineBusy() - busy
	}
	s, err := runstore.Open(ctx, runstore.Options{Dir: b.TempDir(), Database: url, ArtifactsDir: shared, ReadOnly: true, Log: zerolog.Nop()})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	f := chainFigures{Processes: procs, Wall: wall, CPU: cpu, MachineCPU: machine, Cores: runtime.NumCPU()}
	st, err := s.Status(ctx)
	if err != nil {
		b.Fatal(err)
	}
	f.Instances, f.Funnel = st.Instances, funnel(st)
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close(ctx)
	f.Transitions, f.P99Overhead, f.P99Pickup, err = transitionLatencies(ctx, func(ctx context.Context, q string) (rowsLike, error) {
		r, err := conn.Query(ctx, q)
		return pgxRows{r}, err
	}, c)
	if err != nil {
		b.Fatal(err)
	}
	prefix := fmt.Sprintf("%s/%d", label, procs)
	f.put(out, prefix)
	var size int64
	if err := conn.QueryRow(ctx, `SELECT pg_database_size(current_database())`).Scan(&size); err != nil {
		b.Fatal(err)
	}
	out[prefix+" db_MB"] = round(float64(size)/1e6, 1)
	b.Logf("%s: %+v", prefix, f)
}

type pgxRows struct{ pgx.Rows }

func (r pgxRows) Scan(dest ...any) error { return r.Rows.Scan(dest...) }
