package rollout_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"testing"
	"time"

	"swemill/envbuild/envbuildtest"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"swemill/envbuild"
	"swemill/envbuild/sandbox"
	"swemill/pipeline"
	"swemill/stages/rollout"
	"swemill/stages/rollout/rollouttest"
)

const (
	childRun  = "SWEMILL_ROLLOUT_CHILD_RUN"
	childItem = "SWEMILL_ROLLOUT_CHILD_ITEM"
)

// childItemJSON is how the parent hands the item to the child.
type childItemJSON struct {
	Instance    pipeline.Instance
	Environment pipeline.Environment
	Validation  pipeline.Validation
}

// childT lets the fake server report to the child's stderr.
type childT struct{}

func (childT) Errorf(format string, args ...any) { fmt.Fprintf(os.Stderr, format+"\n", args...) }
func (childT) Cleanup(func())                    {}

// runChild is the child process: it rolls an instance out against a model that never
// answers, so it is killed with its container running and its first request in flight.
func runChild() int {
	ctx := context.Background()
	var ci childItemJSON
	if err := json.Unmarshal([]byte(os.Getenv(childItem)), &ci); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	cli, err := envbuild.Connect(ctx, "")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	log := zerolog.New(os.Stderr)
	rt, err := rollout.NewDockerRuntime(cli, rollout.DockerConfig{Sandbox: sandbox.Config{RunID: os.Getenv(childRun)}}, log)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	srv := rollouttest.NewServer(childT{}, "/v1")
	srv.Latency = time.Hour
	srv.Policy = func(map[string]any) rollouttest.Turn { return rollouttest.Turn{Content: "never sent"} }
	s, err := rollout.New(rollout.Config{BaseURL: srv.URL(), Model: fakeModel}, rt,
		rollout.GraderFunc(func(context.Context, *pipeline.Item, string) (rollout.Grade, error) {
			return rollout.Grade{}, fmt.Errorf("the child never grades")
		}))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	dir, err := os.MkdirTemp("", "rollout-child-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	arts, err := pipeline.OpenArtifacts(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	item := &pipeline.Item{Instance: ci.Instance, Environment: &ci.Environment, Validation: &ci.Validation, Artifacts: arts, Log: log}
	_, err = s.Process(ctx, item)
	fmt.Fprintln(os.Stderr, "Process returned (the child should have been killed):", err)
	return 1
}

// TestKilledRolloutLeavesNoContainerAndResumes kills a process in the middle of a rollout
// (its container up, its model request in flight). The next run sweeps the orphan and rolls
// the instance out from scratch to the end.
func TestKilledRolloutLeavesNoContainerAndResumes(t *testing.T) {
	t.Parallel()
	cli := envbuildtest.Docker(t)
	item := fixtureItem(t, "pyflat")
	run := "rollout-kill-" + nonce()
	data, err := json.Marshal(childItemJSON{item.Instance, *item.Environment, *item.Validation})
	require.NoError(t, err)

	evCtx, stopEvents := context.WithCancel(t.Context())
	defer stopEvents()
	evs, evErrs := envbuildtest.ContainerEvents(evCtx, cli, "exec_start", map[string]string{sandbox.LabelRun: run})

	child := envbuildtest.StartChild(t, childRun+"="+run, childItem+"="+string(data))

	// Both shells of the workspace started: the rollout is under way.
	execs := 0
	deadline := time.After(5 * time.Minute)
	for execs < 2 {
		select {
		case ev := <-evs:
			if ev.Actor.Attributes[sandbox.LabelRole] == rollout.RoleRollout {
				execs++
			}
		case err := <-evErrs:
			t.Fatalf("watching engine events: %v", err)
		case <-child.Exited():
			t.Fatalf("child exited early: %v\n%s", child.Err(), child.Log())
		case <-deadline:
			t.Fatal("the child never started its rollout")
		}
	}
	child.Kill(t)
	require.NotEmpty(t, runContainers(t, run), "the killed rollout's container is an orphan until the next run")

	// The next run: sweep, then roll out from scratch.
	rt := newDockerRuntime(t, run, nil)
	n, err := rt.Sweep(t.Context())
	require.NoError(t, err)
	assert.GreaterOrEqual(t, n, 1)
	assert.Empty(t, runContainers(t, run), "the sweep removed the orphan")
	s, err := rollout.New(rollout.Config{Backend: rollout.BackendOracle}, rt, newSandboxGrader(t, run))
	require.NoError(t, err)
	out, err := s.Process(t.Context(), item)
	require.NoError(t, err)
	tr := readTrajectories(t, item, out)[0]
	assert.Equal(t, 0, tr.RolloutIndex)
	assert.Equal(t, rollout.ExitFinish, tr.ExitStatus)
	assert.True(t, tr.Resolved)
	assert.Empty(t, runContainers(t, run), "nothing of the run is left")
}
