package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"swemill/envbuild/envbuildtest"
	"swemill/envbuild/sandbox"
	"swemill/pipeline"
	"swemill/runstore"
	"swemill/stages/rollout"
)

// testEnv loads yaml as a run directory's swemill.yaml and returns the wiring environment
// of that run, with its cache in a temporary directory and its log in logBuf.
func testEnv(t *testing.T, yaml string, logBuf *bytes.Buffer) wiringEnv {
	t.Helper()
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, ConfigFile), []byte(yaml), 0o644))
	cfg, _, err := loadConfig("", dir)
	require.NoError(t, err)
	cache := t.TempDir()
	return wiringEnv{cfg: cfg, log: zerolog.New(logBuf), selected: pipeline.Stages,
		getenv: func(k string) string {
			if k == "SWEMILL_CACHE" {
				return cache
			}
			return ""
		}}
}

// TestRolloutContainersGetTheSandbox starts a rollout workspace through the wiring's runtime
// and a grading container through its test sandbox, and checks that the engine runs both
// with the sandbox section's limits.
func TestRolloutContainersGetTheSandbox(t *testing.T) {
	t.Parallel()
	cli := envbuildtest.Docker(t)
	img := envbuildtest.Bases(t)["python"]
	var logBuf bytes.Buffer
	env := testEnv(t, "sandbox: {memory: 300MiB, cpus: 0.5, pids: 77, tmp_size: 64MiB, runtime: runc}\n", &logBuf)
	env.worker = runstore.NewWorkerID("wire")
	ctx := t.Context()
	run := env.runID()
	t.Cleanup(func() {
		list, err := envbuildtest.Containers(context.Background(), cli, true, map[string]string{sandbox.LabelRun: run})
		require.NoError(t, err)
		assert.Empty(t, list, "containers of the run left behind")
	})

	check := func(what, id string) {
		t.Helper()
		ins, err := cli.ContainerInspect(ctx, id)
		require.NoError(t, err)
		h := ins.HostConfig
		assert.Equal(t, int64(300<<20), h.Memory, what)
		assert.Equal(t, int64(300<<20), h.MemorySwap, what+": no swap")
		assert.Equal(t, int64(5e8), h.NanoCPUs, what)
		require.NotNil(t, h.PidsLimit, what)
		assert.Equal(t, int64(77), *h.PidsLimit, what)
		assert.Equal(t, "runc", h.Runtime, what)
		assert.Equal(t, []string{"ALL"}, []string(h.CapDrop), what)
		assert.Empty(t, h.CapAdd, what)
		assert.Contains(t, h.SecurityOpt, "no-new-privileges", what)
		assert.Equal(t, "none", string(h.NetworkMode), what)
		assert.Contains(t, h.Tmpfs["/tmp"], "size=67108864", what)
		assert.False(t, ins.Config.NetworkDisabled, what+": network mode none, with loopback and /etc/hosts")
		assert.Equal(t, run, ins.Config.Labels[sandbox.LabelRun], what)
		assert.Equal(t, env.worker, ins.Config.Labels[sandbox.LabelWorker], what)
	}

	rt, err := env.rolloutRuntime(cli)
	require.NoError(t, err)
	ws, err := rt.Start(ctx, rollout.WorkspaceSpec{Image: img, WorkDir: "/testbed", Lifetime: 5 * time.Minute,
		Labels: map[string]string{sandbox.LabelInstance: "acme__sandbox-1", rollout.LabelSample: "0"}})
	require.NoError(t, err)
	defer ws.Close(context.WithoutCancel(ctx))
	list, err := envbuildtest.Containers(ctx, cli, false, map[string]string{sandbox.LabelRun: run, sandbox.LabelRole: rollout.RoleRollout})
	require.NoError(t, err)
	require.Len(t, list, 1)
	check("rollout workspace", list[0].ID)
	// The limits hold inside: the agent's shell sees no network but loopback.
	res, err := ws.Shell(ctx, rollout.ShellRequest{Command: "ls /sys/class/net", Timeout: time.Minute})
	require.NoError(t, err)
	assert.Equal(t, "lo", strings.TrimSpace(res.Output))
	require.NoError(t, ws.Close(ctx))

	sb, err := env.testSandbox(cli)
	require.NoError(t, err)
	c, err := sb.Create(ctx, sandbox.Spec{Image: img, Cmd: []string{"true"}, Labels: map[string]string{sandbox.LabelRole: "grade"}})
	require.NoError(t, err)
	check("grading container", c.ID)
	require.NoError(t, c.Remove(ctx))
	assert.NotContains(t, logBuf.String(), "deprecated")
}

// TestRolloutWorkspaceDiskLimit bounds an agent's workspace by rollout.disk (here with the
// test runs' sandbox.disk off): a command that writes past it has its workspace killed, and
// the workspace says why.
func TestRolloutWorkspaceDiskLimit(t *testing.T) {
	t.Parallel()
	cli := envbuildtest.Docker(t)
	img := envbuildtest.Bases(t)["python"]
	var logBuf bytes.Buffer
	env := testEnv(t, "sandbox: {disk: -1}\nrollout: {disk: 64MiB}\n", &logBuf)
	assert.Zero(t, env.sandboxConfig().DiskLimit, "sandbox.disk -1: test runs are not watched")
	ctx := t.Context()
	rt, err := env.rolloutRuntime(cli)
	require.NoError(t, err)
	ws, err := rt.Start(ctx, rollout.WorkspaceSpec{Image: img, WorkDir: "/testbed", Lifetime: 5 * time.Minute,
		Labels: map[string]string{sandbox.LabelInstance: "acme__disk-1", rollout.LabelSample: "0"}})
	require.NoError(t, err)
	defer ws.Close(context.WithoutCancel(ctx))
	_, err = ws.Shell(ctx, rollout.ShellRequest{Command: "for i in $(seq 1 400); do head -c 1048576 /dev/zero > /var/tmp/fill-$i; done; sleep 60",
		Timeout: 2 * time.Minute})
	require.ErrorIs(t, err, rollout.ErrWorkspaceGone)
	assert.Contains(t, err.Error(), "past the disk limit (64MiB)")
	used := ws.(interface{ DiskExceeded() int64 }).DiskExceeded()
	assert.Greater(t, used, int64(64<<20))
	assert.Less(t, used, int64(400<<20), "killed before the command wrote all it meant to")
	require.NoError(t, ws.Close(ctx))
}

// TestDeprecatedValidateLimits keeps validate.memory, cpus, pids and runtime working as
// aliases of the sandbox section, with a warning, and refuses both set differently.
func TestDeprecatedValidateLimits(t *testing.T) {
	t.Parallel()
	var logBuf bytes.Buffer
	env := testEnv(t, "validate: {memory: 1GiB, cpus: 2, pids: 99, runtime: runsc}\nsandbox: {pids: 99, tmp_size: 10MiB}\n", &logBuf)
	c := env.sandboxConfig()
	assert.Equal(t, int64(1<<30), c.Memory)
	assert.Equal(t, 2.0, c.CPUs)
	assert.Equal(t, int64(99), c.PidsLimit)
	assert.Equal(t, "runsc", c.Runtime)
	assert.Equal(t, int64(10<<20), c.TmpfsBytes)
	env.cfg.warnDeprecated(env.log)
	for _, f := range []string{"validate.memory", "validate.cpus", "validate.pids", "validate.runtime"} {
		assert.Contains(t, logBuf.String(), `"field":"`+f+`"`)
	}
	assert.Contains(t, logBuf.String(), "validate.memory is deprecated: set sandbox.memory")

	for yaml, want := range map[string]string{
		"validate: {memory: 1GiB}\nsandbox: {memory: 2GiB}\n":    "validate.memory (deprecated) is 1GiB but sandbox.memory is 2GiB: keep sandbox.memory only",
		"validate: {runtime: runsc}\nsandbox: {runtime: runc}\n": `validate.runtime (deprecated) is "runsc" but sandbox.runtime is "runc"`,
		"validate: {cpus: 1}\nsandbox: {cpus: 1.5}\n":            "validate.cpus (deprecated) is 1 but sandbox.cpus is 1.5",
		"sandbox: {memory: 1MiB}\n":                              "sandbox.memory: 1MiB is below 16MiB",
		"sandbox: {cpus: -1}\n":                                  "sandbox.cpus: -1 is negative",
		"sandbox: {runtime: \"run sc\"}\n":                       `sandbox.runtime: "run sc" is not a runtime name`,
		"sandbox: {swap: 1GiB}\n":                                `unknown field "swap"`,
		"sandbox: {disk: 1MiB}\n":                                "sandbox.disk: 1MiB: want at least 16MiB, or -1 for no limit",
		"rollout: {disk: 1MiB}\n":                                "rollout.disk: 1MiB: want at least 16MiB, or -1 for no limit",
	} {
		dir := t.TempDir()
		require.NoError(t, os.WriteFile(filepath.Join(dir, ConfigFile), []byte(yaml), 0o644))
		_, _, err := loadConfig("", dir)
		require.ErrorContains(t, err, want, yaml)
	}
}

// TestRolloutTimeoutDerived derives the rollout stage's attempt timeout from the samples,
// their parallelism, the rollout and grading limits, and refuses an explicit one that cannot
// fit one sample.
func TestRolloutTimeoutDerived(t *testing.T) {
	t.Parallel()
	load := func(yaml string) *Config {
		dir := t.TempDir()
		require.NoError(t, os.WriteFile(filepath.Join(dir, ConfigFile), []byte(yaml), 0o644))
		c, _, err := loadConfig("", dir)
		require.NoError(t, err)
		return c
	}
	for yaml, want := range map[string]time.Duration{
		"":                                     time.Hour + 25*time.Minute,
		"rollout: {samples: 4}\n":              4 * (time.Hour + 25*time.Minute),
		"rollout: {samples: 5, parallel: 2}\n": 3 * (time.Hour + 25*time.Minute),
		"rollout: {samples: 8, parallel: 8, rollout_timeout: 20m}\nvalidate: {run_timeout: 5m}\n": 35 * time.Minute,
		"timeouts: {rollout: 3h}\n": 3 * time.Hour,
	} {
		c := load(yaml)
		assert.Equal(t, want, c.runConfig().Timeouts[pipeline.StageRollout], yaml)
		assert.NoError(t, c.checkRolloutTimeout(), yaml)
	}
	// An explicit timeout that fits one sample but not all is allowed (retries go on).
	require.NoError(t, load("rollout: {samples: 3}\ntimeouts: {rollout: 90m}\n").checkRolloutTimeout())
	err := load("rollout: {samples: 3, rollout_timeout: 1h}\ntimeouts: {rollout: 1h}\n").checkRolloutTimeout()
	require.Error(t, err)
	assert.Equal(t, "timeouts.rollout: 1h0m0s cannot fit one sample, which may take 1h25m0s (rollout.rollout_timeout 1h0m0s + "+
		"grading 15m0s (validate.run_timeout) + 10m0s to start, take the patch and clean up): raise it to at least 1h25m0s, "+
		"or leave it unset to have 4h15m0s (3 samples, 1 at a time)", err.Error())
	// The other stages keep the runner's default.
	_, ok := load("").runConfig().Timeouts[pipeline.StageBuild]
	assert.False(t, ok)
}

// TestIgnoredMineFieldsWarn keeps configurations that set mine.follow_mentions or
// mine.closed_events loading (a scheduled run must not stop on them) and says they do nothing.
func TestIgnoredMineFieldsWarn(t *testing.T) {
	t.Parallel()
	var logBuf bytes.Buffer
	env := testEnv(t, "mine: {follow_mentions: true, closed_events: true}\n", &logBuf)
	env.cfg.warnIgnoredMine(env.log)
	for _, f := range []string{"mine.follow_mentions", "mine.closed_events"} {
		assert.Contains(t, logBuf.String(), `"field":"`+f+`"`)
	}
	assert.Contains(t, logBuf.String(), "mine.closed_events does nothing")
}
