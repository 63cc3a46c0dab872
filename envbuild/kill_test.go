package envbuild_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"swemill/envbuild/envbuildtest"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/filters"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"swemill/envbuild"
	"swemill/envbuild/sandbox"
	"swemill/pipeline"
	"swemill/runstore"
)

func eventsFor(id, action string) events.ListOptions {
	return events.ListOptions{Filters: filters.NewArgs(filters.Arg("type", "container"),
		filters.Arg("container", id), filters.Arg("event", action))}
}

// childConfig is what the parent hands the child, as JSON-free environment variables.
const (
	childRun    = "SWEMILL_CHILD_RUN"
	childCache  = "SWEMILL_CHILD_CACHE"
	childMirror = "SWEMILL_CHILD_MIRROR"
	childSpec   = "SWEMILL_CHILD_SPEC"
	childCommit = "SWEMILL_CHILD_COMMIT"
	childPython = "SWEMILL_CHILD_PYTHON"
	childWorker = "SWEMILL_CHILD_WORKER"
)

// runChild is the child process: it starts a sandboxed command and an instance build whose
// install never ends, and waits to be killed. Both containers carry the run's label and the
// worker's.
func runChild() int {
	log := zerolog.New(os.Stderr)
	ctx := context.Background()
	cli, err := envbuild.Connect(ctx, "")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	sb, err := sandbox.New(cli, sandbox.Config{RunID: os.Getenv(childRun), Worker: os.Getenv(childWorker)}, log)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	c, err := sb.Create(ctx, sandbox.Spec{Image: os.Getenv(childPython), Cmd: []string{"sleep", "600"}})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	go func() { _, _ = c.Run(ctx) }()
	b, err := envbuild.NewBuilder(cli, envbuild.Config{
		CacheDir: os.Getenv(childCache), PythonBase: os.Getenv(childPython), SpecDir: os.Getenv(childSpec),
		RunID: os.Getenv(childRun), Worker: os.Getenv(childWorker),
		Sources: envbuild.SourceConfig{MirrorDir: os.Getenv(childMirror)}, Offline: true, BuildNetwork: "none",
	}, log)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	_, err = b.Build(ctx, pipeline.Instance{InstanceID: "acme__pyflat-kill", Repo: "acme/pyflat", BaseCommit: os.Getenv(childCommit)}, log)
	fmt.Fprintln(os.Stderr, "build returned (it should have been killed):", err)
	return 1
}

// TestKillMidBuildLeavesNoOrphans kills a process in the middle of a build and of a sandboxed
// command, then starts again as a run does: no container of either is left.
func TestKillMidBuildLeavesNoOrphans(t *testing.T) {
	t.Parallel()
	cli := envbuildtest.Docker(t)
	names := envbuildtest.Bases(t)
	dir := t.TempDir()
	mirror, specDir := filepath.Join(dir, "mirror"), filepath.Join(dir, "specs")
	repo := fixture(t, mirror, "pyflat")
	nonceSpec(t, specDir, "acme/pyflat", inferFixture(t, repo.Dir), func(s *envbuild.Spec) {
		s.Install = []string{"echo installing; sleep 600"}
	})
	run, worker := "kill-"+nonce(), runstore.NewWorkerID("kill")

	// Watch for the two containers starting: the sandboxed one (run label) and the build's.
	evCtx, stopEvents := context.WithCancel(t.Context())
	defer stopEvents()
	evs, evErrs := cli.Events(evCtx, events.ListOptions{Filters: filters.NewArgs(
		filters.Arg("type", "container"), filters.Arg("event", "start"))})

	child := envbuildtest.StartChild(t, childRun+"="+run, childWorker+"="+worker, childCache+"="+filepath.Join(dir, "cache"),
		childMirror+"="+mirror, childSpec+"="+specDir, childCommit+"="+repo.Commits["base"], childPython+"="+names["python"])

	sawSandbox, sawBuild := false, false
	deadline := time.After(10 * time.Minute)
	for !sawSandbox || !sawBuild {
		select {
		case ev := <-evs:
			attrs := ev.Actor.Attributes
			if attrs[sandbox.LabelRun] == run {
				require.Equal(t, worker, attrs[sandbox.LabelWorker], "container of role %s", attrs[sandbox.LabelRole])
				switch attrs[sandbox.LabelRole] {
				case "sandbox":
					sawSandbox = true
				case "build":
					sawBuild = true
				}
			}
		case err := <-evErrs:
			t.Fatalf("watching engine events: %v", err)
		case <-child.Exited():
			t.Fatalf("child exited early: %v\n%s", child.Err(), child.Log())
		case <-deadline:
			t.Fatal("the child never got mid-build")
		}
	}
	child.Kill(t)

	// The next start: the sweep removes both orphans, and nothing of the run remains.
	n, err := newSandbox(t, sandbox.Config{RunID: run}).Sweep(t.Context())
	require.NoError(t, err)
	require.GreaterOrEqual(t, n, 2, "the sandboxed container and the build container were orphans")
	own, err := cli.ContainerList(t.Context(), container.ListOptions{All: true,
		Filters: filters.NewArgs(filters.Arg("label", sandbox.LabelRun+"="+run))})
	require.NoError(t, err)
	require.Empty(t, own, "orphan containers left after the kill")
}
