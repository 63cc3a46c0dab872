package envbuild_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"swemill/envbuild/envbuildtest"

	"github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"swemill/envbuild/sandbox"
)

// TestSandboxLimits checks the confinement of a sandboxed command.
func TestSandboxLimits(t *testing.T) {
	t.Parallel()
	img := envbuildtest.Bases(t)["python"]
	sb := newSandbox(t, sandbox.Config{PidsLimit: 64})
	out := runIn(t, sb, img, `id -u; grep -E '^(CapEff|NoNewPrivs)' /proc/self/status; ls /sys/class/net; stat -f -c %T /tmp; cat /sys/fs/cgroup/pids/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids.max;
python -c "import socket; socket.create_connection(('192.0.2.1', 80), timeout=2)" 2>/dev/null && echo NET-OK || echo NET-BLOCKED`)
	require.Equal(t, 0, out.ExitCode, "stderr: %s", out.Stderr)
	s := string(out.Stdout)
	assert.True(t, strings.HasPrefix(s, "1000\n"), "runs as the sandbox user: %q", s)
	assert.Contains(t, s, "CapEff:\t0000000000000000", "all capabilities dropped")
	assert.Contains(t, s, "NoNewPrivs:\t1")
	assert.Contains(t, s, "\nlo\n", "only loopback")
	assert.NotContains(t, s, "eth0")
	assert.Contains(t, s, "tmpfs\n")
	assert.Contains(t, s, "\n64\n", "pids limit")
	assert.Contains(t, s, "NET-BLOCKED")
}

func TestSandboxExitCodeAndOutputCap(t *testing.T) {
	t.Parallel()
	img := envbuildtest.Bases(t)["python"]
	sb := newSandbox(t, sandbox.Config{OutputLimit: 4096})
	out := runIn(t, sb, img, `echo to-stderr >&2; head -c 1000000 /dev/zero | tr '\0' 'a'; echo; echo END; exit 3`)
	assert.Equal(t, 3, out.ExitCode)
	assert.True(t, out.StdoutTruncated)
	assert.False(t, out.StderrTruncated)
	assert.Equal(t, "to-stderr\n", string(out.Stderr))
	assert.LessOrEqual(t, len(out.Stdout), 4096+64)
	assert.True(t, strings.HasPrefix(string(out.Stdout), "aaaa"))
	assert.True(t, strings.HasSuffix(string(out.Stdout), "a\nEND\n"), "the tail is kept")
	assert.Contains(t, string(out.Stdout), "bytes omitted")
}

// TestSandboxTimeoutKillsTree runs a command that outlives its timeout, with a background
// child: the container is killed, every process gone, and Remove leaves nothing.
func TestSandboxTimeoutKillsTree(t *testing.T) {
	t.Parallel()
	cli := envbuildtest.Docker(t)
	img := envbuildtest.Bases(t)["python"]
	sb := newSandbox(t, sandbox.Config{})
	c, err := sb.Create(t.Context(), sandbox.Spec{Image: img, Timeout: 2 * time.Second,
		Cmd: []string{"/bin/sh", "-c", "sleep 300 & echo started; sleep 300"}})
	require.NoError(t, err)
	res, err := c.Run(t.Context())
	require.NoError(t, err)
	assert.True(t, res.TimedOut)
	assert.Contains(t, string(res.Stdout), "started")
	ins, err := cli.ContainerInspect(t.Context(), c.ID)
	require.NoError(t, err)
	assert.False(t, ins.State.Running, "the container was killed")
	require.NoError(t, c.Remove(t.Context()))
	require.NoError(t, c.Remove(t.Context()), "Remove is idempotent")
	_, err = cli.ContainerInspect(t.Context(), c.ID)
	assert.True(t, errdefs.IsNotFound(err), "the container is gone: %v", err)
}

func TestSandboxOOM(t *testing.T) {
	t.Parallel()
	img := envbuildtest.Bases(t)["python"]
	sb := newSandbox(t, sandbox.Config{Memory: 64 << 20})
	out := runIn(t, sb, img, `python -c "b = bytearray(512 * 1024 * 1024); print(len(b))"`)
	assert.True(t, out.OOMKilled, "exit %d stderr %s", out.ExitCode, out.Stderr)
	assert.NotEqual(t, 0, out.ExitCode)
}

// TestSandboxCopyInAndOut copies a file in, lets the command transform it, and reads the
// result out of the stopped container.
func TestSandboxCopyInAndOut(t *testing.T) {
	t.Parallel()
	img := envbuildtest.Bases(t)["python"]
	sb := newSandbox(t, sandbox.Config{})
	c, err := sb.Create(t.Context(), sandbox.Spec{Image: img, WorkDir: "/testbed",
		Cmd: []string{"/bin/sh", "-c", "tr a-z A-Z < in/data.txt > out.txt"}})
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Remove(context.Background()) })
	require.NoError(t, c.CopyIn(t.Context(), "/testbed", map[string][]byte{"in/data.txt": []byte("payload\n")}))
	res, err := c.Run(t.Context())
	require.NoError(t, err)
	require.Equal(t, 0, res.ExitCode, "stderr: %s", res.Stderr)
	data, err := c.ReadFile(t.Context(), "/testbed/out.txt", 1<<20)
	require.NoError(t, err)
	assert.Equal(t, "PAYLOAD\n", string(data))
}

// TestSandboxCancel cancels a running command: Run returns the cancellation and the
// container is killed.
func TestSandboxCancel(t *testing.T) {
	t.Parallel()
	cli := envbuildtest.Docker(t)
	img := envbuildtest.Bases(t)["python"]
	sb := newSandbox(t, sandbox.Config{})
	c, err := sb.Create(t.Context(), sandbox.Spec{Image: img, Cmd: []string{"sleep", "300"}})
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Remove(context.Background()) })

	// Cancel once the container runs: wait on the engine's start event.
	events, errs := cli.Events(t.Context(), eventsFor(c.ID, "start"))
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { _, err := c.Run(ctx); done <- err }()
	select {
	case <-events:
	case err := <-errs:
		t.Fatalf("watching events: %v", err)
	case <-time.After(time.Minute):
		t.Fatal("container did not start")
	}
	cancel()
	select {
	case err := <-done:
		assert.ErrorIs(t, err, context.Canceled)
	case <-time.After(time.Minute):
		t.Fatal("Run did not return after cancel")
	}
	ins, err := cli.ContainerInspect(t.Context(), c.ID)
	require.NoError(t, err)
	assert.False(t, ins.State.Running, "cancel kills the container")
}

func TestSandboxSweep(t *testing.T) {
	t.Parallel()
	cli := envbuildtest.Docker(t)
	img := envbuildtest.Bases(t)["python"]
	run := "sweep-" + nonce()
	sb := newSandbox(t, sandbox.Config{RunID: run})
	for range 2 {
		_, err := sb.Create(t.Context(), sandbox.Spec{Image: img, Cmd: []string{"true"}})
		require.NoError(t, err)
	}
	other := newSandbox(t, sandbox.Config{})
	keep, err := other.Create(t.Context(), sandbox.Spec{Image: img, Cmd: []string{"true"}})
	require.NoError(t, err)
	t.Cleanup(func() { _ = keep.Remove(context.Background()) })

	n, err := newSandbox(t, sandbox.Config{RunID: run}).Sweep(t.Context())
	require.NoError(t, err)
	assert.GreaterOrEqual(t, n, 2)
	left, err := cli.ContainerList(t.Context(), container.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("label", sandbox.LabelRun+"="+run))})
	require.NoError(t, err)
	assert.Empty(t, left)
	_, err = cli.ContainerInspect(t.Context(), keep.ID)
	assert.NoError(t, err, "another run's container is left alone")
}

// TestSandboxExec runs several commands in one long-lived container; state persists between
// them and a command over its timeout is killed with its children.
func TestSandboxExec(t *testing.T) {
	t.Parallel()
	img := envbuildtest.Bases(t)["python"]
	sb := newSandbox(t, sandbox.Config{})
	c, err := sb.Create(t.Context(), sandbox.Spec{Image: img, Cmd: []string{"sleep", "infinity"}})
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Remove(context.Background()) })
	require.NoError(t, c.Start(t.Context()))

	res, err := c.Exec(t.Context(), []string{"/bin/bash", "-c", "echo state > note.txt && id -u"}, nil, "/testbed", time.Minute)
	require.NoError(t, err)
	require.Equal(t, 0, res.ExitCode, "stderr: %s", res.Stderr)
	assert.Equal(t, "1000\n", string(res.Stdout))
	res, err = c.Exec(t.Context(), []string{"cat", "/testbed/note.txt"}, nil, "", time.Minute)
	require.NoError(t, err)
	assert.Equal(t, "state\n", string(res.Stdout), "files persist between commands")

	res, err = c.Exec(t.Context(), []string{"/bin/bash", "-c", "sleep 300 & echo child; sleep 300"}, nil, "", 2*time.Second)
	require.NoError(t, err)
	assert.True(t, res.TimedOut)
	assert.Equal(t, "child\n", string(res.Stdout))
	res, err = c.Exec(t.Context(), []string{"/bin/sh", "-c", "cat /proc/[0-9]*/comm 2>/dev/null | grep -c '^sleep$'"}, nil, "", time.Minute)
	require.NoError(t, err)
	assert.Equal(t, "1\n", string(res.Stdout), "only the container's own sleep is left; stderr %s exit %d", res.Stderr, res.ExitCode)
}

// TestSandboxLoopback: without a network, a command still has loopback and the name
// localhost, as test suites that start a server on localhost need, and nothing else.
func TestSandboxLoopback(t *testing.T) {
	t.Parallel()
	img := envbuildtest.Bases(t)["python"]
	sb := newSandbox(t, sandbox.Config{})
	out := runIn(t, sb, img, `python - <<'PY'
import socket
srv = socket.socket()
srv.bind(("localhost", 0))
srv.listen(1)
c = socket.create_connection(("localhost", srv.getsockname()[1]), timeout=5)
print("loopback ok")
try:
    socket.create_connection(("192.0.2.1", 80), timeout=3)
    print("outside reachable")
except OSError as e:
    print("outside unreachable")
PY`)
	require.Equal(t, 0, out.ExitCode, "stderr: %s", out.Stderr)
	assert.Contains(t, string(out.Stdout), "loopback ok")
	assert.Contains(t, string(out.Stdout), "outside unreachable")
}
