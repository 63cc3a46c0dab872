package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/containerd/errdefs"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"swemill/envbuild/envbuildtest"
	"swemill/envbuild/sandbox"
	"swemill/pipeline/pipelinetest"
	"swemill/runstore"
)

// sweepChild is a worker of the run in the directory $SWEMILL_SWEEP_DIR (its swemill.yaml
// names the database): it registers and sweeps as `swemill run` does, starts a container
// of $SWEMILL_SWEEP_IMAGE that sleeps and leaves one that exited, prints
// "ready WORKER RUNNING EXITED" and waits to be killed.
func sweepChild() {
	fail := func(err error) {
		fmt.Fprintln(os.Stderr, "sweep child:", err)
		os.Exit(1)
	}
	ctx := context.Background()
	dir, img := os.Getenv("SWEMILL_SWEEP_DIR"), os.Getenv("SWEMILL_SWEEP_IMAGE")
	cfg, _, err := loadConfig("", dir)
	if err != nil {
		fail(err)
	}
	log := zerolog.New(os.Stderr)
	env := wiringEnv{cfg: cfg, getenv: os.Getenv, log: log, worker: runstore.NewWorkerID("sweep-child")}
	cli, err := env.docker(ctx)
	if err != nil {
		fail(err)
	}
	sb, err := env.testSandbox(cli)
	if err != nil {
		fail(err)
	}
	store, err := runstore.Open(ctx, runstore.Options{Dir: dir, Database: cfg.Database, Log: log})
	if err != nil {
		fail(err)
	}
	stop, err := sweepGone(ctx, store, env.worker, sb, sweepPeriod, log)
	if err != nil {
		fail(err)
	}
	defer stop()
	running, err := sb.Create(ctx, sandbox.Spec{Image: img, Cmd: []string{"sleep", "600"}})
	if err == nil {
		err = running.Start(ctx)
	}
	if err != nil {
		fail(err)
	}
	exited, err := sb.Create(ctx, sandbox.Spec{Image: img, Cmd: []string{"true"}})
	if err == nil {
		_, err = exited.Run(ctx) // and never removed, as by a process killed right then
	}
	if err != nil {
		fail(err)
	}
	fmt.Printf("ready %s %s %s\n", env.worker, running.ID, exited.ID)
	time.Sleep(10 * time.Minute)
	fail(fmt.Errorf("never killed"))
}

// worker is a started sweepChild.
type worker struct {
	id         string
	containers []string
	cmd        *exec.Cmd
	exited     chan error
}

func startSweepChild(ctx context.Context, t *testing.T, dir, img string) *worker {
	t.Helper()
	bin, err := exec.LookPath("swemill-sweep-child") // the test binary, put on $PATH by testscript
	require.NoError(t, err)
	cmd := exec.CommandContext(ctx, bin)
	cmd.Env = append(os.Environ(), "SWEMILL_SWEEP_DIR="+dir, "SWEMILL_SWEEP_IMAGE="+img, "SWEMILL_CACHE="+t.TempDir())
	var stderr strings.Builder
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	w := &worker{cmd: cmd, exited: make(chan error, 1)}
	ready := make(chan []string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if f := strings.Fields(sc.Text()); len(f) == 4 && f[0] == "ready" {
				ready <- f[1:]
			}
		}
		w.exited <- cmd.Wait()
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		if t.Failed() {
			t.Logf("worker's log:\n%s", stderr.String())
		}
	})
	select {
	case f := <-ready:
		w.id, w.containers = f[0], f[1:]
	case err := <-w.exited:
		t.Fatalf("worker exited before it was ready: %v\n%s", err, stderr.String())
	case <-time.After(2 * time.Minute):
		t.Fatalf("worker not ready after 2 minutes:\n%s", stderr.String())
	}
	return w
}

// kill kills the worker with SIGKILL, as the OOM killer or `kill -9` does.
func (w *worker) kill(t *testing.T) {
	t.Helper()
	require.NoError(t, w.cmd.Process.Signal(syscall.SIGKILL))
	select {
	case <-w.exited:
	case <-time.After(time.Minute):
		t.Fatal("the killed worker did not exit")
	}
}

// TestLiveWorkerSweepsGoneWorkersContainers kills a worker process that left two containers
// (one running, one exited); a live worker of the same run, on the same engine, removes them
// at its next sweep, asking the run's record and not a clock. A live worker's containers, and
// a container of another run, are kept. With PostgreSQL each worker has its own run directory,
// as on separate machines; with SQLite they share one.
func TestLiveWorkerSweepsGoneWorkersContainers(t *testing.T) {
	t.Parallel()
	cli := envbuildtest.Docker(t)
	img := envbuildtest.Bases(t)["python"]
	for _, db := range []string{"sqlite", "postgres"} {
		t.Run(db, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
			defer cancel()
			runDir := func() string { return t.TempDir() }
			if db == "sqlite" {
				shared := t.TempDir()
				runDir = func() string { return shared }
			}
			conf := ""
			if db == "postgres" {
				conf = "database: " + pipelinetest.Postgres(t) + "\n"
			}
			newDir := func() string {
				d := runDir()
				require.NoError(t, os.WriteFile(filepath.Join(d, ConfigFile), []byte(conf), 0o644))
				return d
			}

			// This test's process is the live worker that sweeps, every 100 ms.
			dir := newDir()
			cfg, _, err := loadConfig("", dir)
			require.NoError(t, err)
			log := zerolog.New(zerolog.NewTestWriter(t))
			cache := t.TempDir()
			env := wiringEnv{cfg: cfg, log: log, worker: runstore.NewWorkerID("sweeper"),
				getenv: func(k string) string {
					if k == "SWEMILL_CACHE" {
						return cache
					}
					return ""
				}}
			run := env.runID()
			t.Cleanup(func() {
				list, _ := envbuildtest.Containers(context.Background(), cli, true, map[string]string{sandbox.LabelRun: run})
				for _, c := range list {
					_ = envbuildtest.RemoveContainer(context.Background(), cli, c.ID)
				}
			})
			sb, err := env.testSandbox(cli)
			require.NoError(t, err)
			store, err := runstore.Open(ctx, runstore.Options{Dir: dir, Database: cfg.Database, Log: log})
			require.NoError(t, err)
			defer store.Close()

			victim := startSweepChild(ctx, t, newDir(), img)
			survivor := startSweepChild(ctx, t, newDir(), img)
			for _, w := range []*worker{victim, survivor} {
				for _, id := range w.containers {
					ins, err := cli.ContainerInspect(ctx, id)
					require.NoError(t, err)
					require.Equal(t, run, ins.Config.Labels[sandbox.LabelRun], "the workers of one run share its label, whatever their run directory")
					require.Equal(t, w.id, ins.Config.Labels[sandbox.LabelWorker])
				}
			}
			// A container of another run whose worker never lived.
			other, err := sandbox.New(cli, sandbox.Config{RunID: run + "-other", Worker: "gone-0"}, log)
			require.NoError(t, err)
			foreign, err := other.Create(ctx, sandbox.Spec{Image: img, Cmd: []string{"true"}})
			require.NoError(t, err)
			defer func() { require.NoError(t, foreign.Remove(context.WithoutCancel(ctx))) }()

			evs, evErrs := envbuildtest.ContainerEvents(ctx, cli, "destroy", nil)
			stop, err := sweepGone(ctx, store, env.worker, sb, 100*time.Millisecond, log)
			require.NoError(t, err)
			defer stop()
			// The start-up sweep found both workers alive.
			for _, id := range append(victim.containers, survivor.containers...) {
				_, err := cli.ContainerInspect(ctx, id)
				require.NoError(t, err, "a live worker's container was removed")
			}

			victim.kill(t)
			removed := map[string]bool{}
			for len(removed) < len(victim.containers) {
				select {
				case ev := <-evs:
					for _, id := range victim.containers {
						if ev.Actor.ID == id {
							removed[id] = true
						}
					}
					for _, id := range survivor.containers {
						require.NotEqual(t, id, ev.Actor.ID, "a live worker's container was removed")
					}
					require.NotEqual(t, foreign.ID, ev.Actor.ID, "another run's container was removed")
				case err := <-evErrs:
					t.Fatalf("watching engine events: %v", err)
				case <-ctx.Done():
					t.Fatalf("the killed worker's containers were not removed (removed: %v)", removed)
				}
			}

			stop()

			// Another sweep keeps what is alive or not of the run.
			n, err := sb.SweepGone(ctx, store.WorkerGone)
			require.NoError(t, err)
			require.Zero(t, n)
			for _, id := range append(survivor.containers, foreign.ID) {
				_, err := cli.ContainerInspect(ctx, id)
				require.NoError(t, err)
			}
			gone, err := store.WorkerGone(ctx, survivor.id)
			require.NoError(t, err)
			require.False(t, gone, "the survivor is alive")

			// Once the survivor is killed too, its containers go, as soon as the store has
			// noticed (a PostgreSQL server ends a killed client's session, and its locks, a
			// moment after the connection drops).
			survivor.kill(t)
			swept := 0
			for deadline := time.Now().Add(30 * time.Second); swept < len(survivor.containers) && time.Now().Before(deadline); {
				n, err = sb.SweepGone(ctx, store.WorkerGone)
				require.NoError(t, err)
				swept += n
				time.Sleep(100 * time.Millisecond)
			}
			require.Equal(t, len(survivor.containers), swept)
			for _, id := range survivor.containers {
				_, err := cli.ContainerInspect(ctx, id)
				require.True(t, errdefs.IsNotFound(err), "container %s: %v", id, err)
			}
		})
	}
}
