package rollout_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"swemill/envbuild/envbuildtest"

	"github.com/containerd/errdefs"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"swemill/envbuild/sandbox"
	"swemill/stages/rollout"
)

func newDockerRuntime(t testing.TB, run string, mutate func(*rollout.DockerConfig)) *rollout.DockerRuntime {
	t.Helper()
	cfg := rollout.DockerConfig{Sandbox: sandbox.Config{RunID: run}}
	if mutate != nil {
		mutate(&cfg)
	}
	rt, err := rollout.NewDockerRuntime(envbuildtest.Docker(t), cfg, testLog(t))
	require.NoError(t, err)
	return rt
}

// runContainers lists the containers of a run.
func runContainers(t testing.TB, run string) []envbuildtest.Container {
	t.Helper()
	return envbuildtest.RunContainers(t, run, nil)
}

func shell(t *testing.T, ws rollout.Workspace, cmd string, timeout time.Duration) rollout.ShellResult {
	t.Helper()
	res, err := ws.Shell(t.Context(), rollout.ShellRequest{Command: cmd, Timeout: timeout})
	require.NoError(t, err, "command %q", cmd)
	return res
}

// TestDockerWorkspace drives a workspace's persistent shell and file operations in a real
// container of a fixture image.
func TestDockerWorkspace(t *testing.T) {
	t.Parallel()
	item := fixtureItem(t, "pyflat")
	run := "rollout-ws-" + nonce()
	rt := newDockerRuntime(t, run, func(c *rollout.DockerConfig) { c.OutputLimit, c.MaxFileBytes = 4096, 1<<20 })
	ws, err := rt.Start(t.Context(), rollout.WorkspaceSpec{Image: item.Environment.ImageName, WorkDir: "/testbed",
		Lifetime: 10 * time.Minute, Labels: map[string]string{sandbox.LabelInstance: item.Instance.InstanceID}})
	require.NoError(t, err)
	t.Cleanup(func() { _ = ws.Close(context.Background()) })
	minute := time.Minute

	// The shell keeps its directory and variables; the python on PATH is reported.
	res := shell(t, ws, "cd calc && export FOO=bar", minute)
	assert.Equal(t, 0, res.ExitCode)
	assert.Equal(t, "/testbed/calc", res.Cwd)
	assert.Equal(t, "/opt/venv/bin/python", res.PythonPath)
	res = shell(t, ws, "echo $FOO; pwd; echo err >&2", minute)
	assert.Equal(t, "bar\n/testbed/calc\nerr\n", res.Output)

	// A syntax error does not hang the shell.
	res = shell(t, ws, `echo "unterminated`, minute)
	assert.NotEqual(t, 0, res.ExitCode)
	assert.Contains(t, res.Output, "unexpected EOF")
	res = shell(t, ws, "echo still $FOO; false", minute)
	assert.Equal(t, "still bar\n", res.Output)
	assert.Equal(t, 1, res.ExitCode)

	// A command past the call's timeout is left running, as OpenHands leaves it; C-c then
	// stops it with its children, and the shell and its state stay.
	res = shell(t, ws, "echo started; sleep 300 | cat; echo never", time.Second)
	assert.True(t, res.TimedOut)
	assert.True(t, res.Running)
	assert.Equal(t, -1, res.ExitCode)
	assert.Equal(t, "started\n", res.Output)
	res = shell(t, ws, "", time.Second)
	assert.True(t, res.TimedOut, "the next call has a timeout of its own")
	assert.Equal(t, "", res.Output)
	res, err = ws.Shell(t.Context(), rollout.ShellRequest{Interrupt: true, Timeout: minute})
	require.NoError(t, err)
	assert.True(t, res.Interrupted)
	assert.NotContains(t, res.Output, "never", "the rest of the command line is abandoned")
	assert.False(t, res.Restarted)
	res = shell(t, ws, "echo $FOO; ps -e -o comm= 2>/dev/null | grep -c sleep || ls /proc | grep -c '^[0-9]'", minute)
	assert.True(t, strings.HasPrefix(res.Output, "bar\n"), "state kept after a timeout: %q", res.Output)

	// A builtin loop is interrupted too.
	res = shell(t, ws, "while :; do :; done; echo never", time.Second)
	assert.True(t, res.Running)
	res, err = ws.Shell(t.Context(), rollout.ShellRequest{Interrupt: true, Timeout: minute})
	require.NoError(t, err)
	assert.False(t, res.Restarted)
	assert.NotContains(t, res.Output, "never")

	// A command that ignores the interrupt is stopped with the shell: a new one starts in
	// the work directory.
	res = shell(t, ws, "trap '' INT; while :; do :; done", time.Second)
	assert.True(t, res.Running)
	res, err = ws.Shell(t.Context(), rollout.ShellRequest{Interrupt: true, Timeout: minute})
	require.NoError(t, err)
	assert.True(t, res.Restarted)
	res = shell(t, ws, "pwd; echo ${FOO:-unset}", minute)
	assert.Equal(t, "/testbed\nunset\n", res.Output)

	// A command reads what the agent sends it, waits for more as at a terminal, and ends at
	// Ctrl-D.
	feed := func(req rollout.ShellRequest) rollout.ShellResult {
		t.Helper()
		req.Timeout, req.NoChange = minute, 2*time.Second
		res, err := ws.Shell(t.Context(), req)
		require.NoError(t, err, "request %+v", req)
		return res
	}
	res = feed(rollout.ShellRequest{Command: `read -r -p "name? " x; echo "hello $x"; cat; echo after-cat`})
	require.True(t, res.Running)
	res = feed(rollout.ShellRequest{Command: "world", Input: true})
	assert.True(t, res.Running, "cat waits for more")
	assert.Equal(t, "hello world\n", res.Output)
	res = feed(rollout.ShellRequest{Command: "line for cat", Input: true})
	assert.Equal(t, "line for cat\n", res.Output)
	res = feed(rollout.ShellRequest{EOF: true})
	assert.False(t, res.Running)
	assert.Equal(t, 0, res.ExitCode)
	assert.Equal(t, "after-cat\n", res.Output)
	_, err = ws.Shell(t.Context(), rollout.ShellRequest{Command: "x", Input: true, Timeout: minute})
	assert.ErrorIs(t, err, rollout.ErrNothingRunning)

	// exit ends the shell: its code is reported and a new shell takes over.
	res = shell(t, ws, "echo bye; exit 7", minute)
	assert.True(t, res.Restarted)
	assert.Equal(t, 7, res.ExitCode)
	assert.Equal(t, "bye\n", res.Output)
	assert.Equal(t, "/testbed", shell(t, ws, "pwd", minute).Cwd)

	// A command silent for the no-change timeout returns and goes on; an empty request waits
	// for more of its output, a new command is refused meanwhile, and it ends in its shell.
	quiet := func(req rollout.ShellRequest) rollout.ShellResult {
		t.Helper()
		if req.Timeout == 0 {
			req.Timeout = minute
		}
		req.NoChange = 2 * time.Second
		res, err := ws.Shell(t.Context(), req)
		require.NoError(t, err, "request %+v", req)
		return res
	}
	_, err = ws.Shell(t.Context(), rollout.ShellRequest{Timeout: minute, NoChange: 2 * time.Second})
	assert.ErrorIs(t, err, rollout.ErrNothingRunning)
	res = quiet(rollout.ShellRequest{Command: "cd calc; echo one; sleep 4; echo two; sleep 4; echo three; export LATER=yes"})
	assert.True(t, res.Running)
	assert.Equal(t, -1, res.ExitCode)
	assert.Equal(t, "one\n", res.Output)
	other, err := ws.Shell(t.Context(), rollout.ShellRequest{Command: "echo other", Timeout: minute})
	assert.ErrorIs(t, err, rollout.ErrStillRunning)
	assert.True(t, other.Running)
	rest, waits := "", 0
	for res.Running && waits < 10 {
		res = quiet(rollout.ShellRequest{})
		rest += res.Output
		waits++
	}
	assert.Equal(t, "two\nthree\n", rest, "each wait returns what came since the last")
	assert.GreaterOrEqual(t, waits, 2, "silences of 4 s return after 2 s")
	assert.Equal(t, 0, res.ExitCode)
	assert.Equal(t, "/testbed/calc", res.Cwd, "the command ran in the agent's shell")
	assert.Equal(t, "yes\n", shell(t, ws, "echo $LATER; cd /testbed", minute).Output)

	// C-c interrupts a running command: the rest of its line is abandoned, the shell stays.
	res = quiet(rollout.ShellRequest{Command: "echo waiting; sleep 300; echo never"})
	require.True(t, res.Running)
	res = quiet(rollout.ShellRequest{Interrupt: true})
	assert.True(t, res.Interrupted)
	assert.False(t, res.Running)
	assert.False(t, res.Restarted)
	assert.Equal(t, 130, res.ExitCode)
	assert.NotContains(t, res.Output, "never")
	_, err = ws.Shell(t.Context(), rollout.ShellRequest{Interrupt: true, Timeout: minute})
	assert.ErrorIs(t, err, rollout.ErrNothingRunning)
	assert.Equal(t, "yes\n", shell(t, ws, "echo $LATER", minute).Output, "the shell and its state stay")

	// Long output keeps its head and tail.
	res = shell(t, ws, `head -c 100000 /dev/zero | tr '\0' a; echo; echo END`, minute)
	assert.True(t, res.Truncated)
	assert.LessOrEqual(t, len(res.Output), 4096+100)
	assert.True(t, strings.HasPrefix(res.Output, "aaaa"))
	assert.True(t, strings.HasSuffix(res.Output, "a\nEND\n"), "tail kept: %q", res.Output[len(res.Output)-20:])
	assert.Contains(t, res.Output, "bytes of output left out")

	// Files.
	ctx := t.Context()
	info, err := ws.Stat(ctx, "/testbed/calc")
	require.NoError(t, err)
	assert.Equal(t, rollout.FileInfo{Exists: true, IsDir: true}, info)
	info, err = ws.Stat(ctx, "/testbed/nope")
	require.NoError(t, err)
	assert.False(t, info.Exists)
	data, err := ws.ReadFile(ctx, "/testbed/calc/ops.py")
	require.NoError(t, err)
	assert.Contains(t, string(data), "def divide(a, b):\n    return a / b\n")
	_, err = ws.ReadFile(ctx, "/testbed/calc")
	assert.ErrorIs(t, err, rollout.ErrIsDir)
	_, err = ws.ReadFile(ctx, "/testbed/missing.py")
	assert.ErrorIs(t, err, rollout.ErrNotExist)
	_, err = ws.ReadFile(ctx, "/etc/shadow")
	var fe *rollout.FileError
	assert.ErrorAs(t, err, &fe, "the agent's permissions apply")
	content := "it's \"quoted\"\n\ttab\n"
	require.NoError(t, ws.WriteFile(ctx, "/testbed/notes it's.txt", []byte(content)))
	data, err = ws.ReadFile(ctx, "/testbed/notes it's.txt")
	require.NoError(t, err)
	assert.Equal(t, content, string(data))
	assert.ErrorAs(t, ws.WriteFile(ctx, "/testbed/no/such/dir.txt", []byte("x")), &fe)
	binary := "\x00\x01\xff'\\n\n\x7f end"
	require.NoError(t, ws.WriteFile(ctx, "/tmp/blob.bin", []byte(binary)))
	data, err = ws.ReadFile(ctx, "/tmp/blob.bin")
	require.NoError(t, err)
	assert.Equal(t, binary, string(data), "bytes survive both ways, NUL included")
	assert.ErrorAs(t, ws.WriteFile(ctx, "/tmp/big.txt", []byte(strings.Repeat("x", 2<<20))), &fe)
	shell(t, ws, `head -c 2000000 /dev/zero | tr '\0' x > /tmp/big.txt`, minute)
	_, err = ws.ReadFile(ctx, "/tmp/big.txt")
	assert.ErrorAs(t, err, &fe, "past the size limit")
	list, err := ws.ListDir(ctx, "/testbed", 2)
	require.NoError(t, err)
	assert.Equal(t, "/testbed/\n/testbed/.git/\n/testbed/README.md\n/testbed/calc/\n/testbed/calc/__init__.py\n/testbed/calc/ops.py\n/testbed/notes it's.txt\n/testbed/pyproject.toml\n/testbed/tests/\n/testbed/tests/test_ops.py\n", list)

	// The diff holds every change of the work tree, new files included.
	ops, err := ws.ReadFile(ctx, "/testbed/calc/ops.py")
	require.NoError(t, err)
	require.NoError(t, ws.WriteFile(ctx, "/testbed/calc/ops.py", append(ops, "# changed\n"...)))
	diff, err := ws.Diff(ctx, item.Instance.BaseCommit)
	require.NoError(t, err)
	assert.Contains(t, diff, "diff --git a/calc/ops.py b/calc/ops.py\n")
	assert.Contains(t, diff, "+# changed\n")
	assert.Contains(t, diff, "diff --git a/notes it's.txt b/notes it's.txt\nnew file mode 100644\n")

	// A container that stops under the agent is reported as gone.
	require.NoError(t, envbuildtest.Docker(t).ContainerKill(ctx, runContainers(t, run)[0].ID, "KILL"))
	_, err = ws.Shell(ctx, rollout.ShellRequest{Command: "true", Timeout: minute})
	if err == nil {
		_, err = ws.Shell(ctx, rollout.ShellRequest{Command: "true", Timeout: minute})
	}
	assert.True(t, errors.Is(err, rollout.ErrWorkspaceGone), "got %v", err)

	require.NoError(t, ws.Close(ctx))
	require.NoError(t, ws.Close(ctx), "Close is idempotent")
	assert.Empty(t, runContainers(t, run), "the container is removed")
	_, err = envbuildtest.Docker(t).ContainerInspect(ctx, "nope-"+run)
	assert.True(t, errdefs.IsNotFound(err))
}

// TestDockerWorkspaceElsewhere starts a workspace whose repository is at another path than
// the image's work directory: the agent's shell starts in a copy owned by its user, git
// sees the base commit and no change, /testbed links to the copy (so the image's
// PYTHONPATH, which names /testbed/src, imports the agent's edits), and the diff is the
// copy's. A path that is taken in the image, or inside the work directory, is refused.
func TestDockerWorkspaceElsewhere(t *testing.T) {
	t.Parallel()
	item := fixtureItem(t, "pysrc")
	run := "rollout-wse-" + nonce()
	rt := newDockerRuntime(t, run, nil)
	t.Cleanup(func() { assert.Empty(t, runContainers(t, run), "containers of the run left behind") })
	dir := fixtureWorkspace("pysrc")
	ws, err := rt.Start(t.Context(), rollout.WorkspaceSpec{Image: item.Environment.ImageName, WorkDir: "/testbed", Path: dir,
		Lifetime: 10 * time.Minute, Labels: map[string]string{sandbox.LabelInstance: item.Instance.InstanceID}})
	require.NoError(t, err)
	t.Cleanup(func() { _ = ws.Close(context.Background()) })
	ctx, minute := t.Context(), time.Minute

	res := shell(t, ws, "pwd; readlink /testbed; stat -c %u .; git status --short; git log -1 --format=%H", minute)
	assert.Equal(t, dir+"\n"+dir+"\n1000\n"+item.Instance.BaseCommit+"\n", res.Output)
	assert.Equal(t, dir, res.Cwd)

	init := dir + "/src/strutil/__init__.py"
	require.NoError(t, ws.WriteFile(ctx, init, []byte("def shout(s):\n    return s.strip().upper() + \"!\"\n")))
	res = shell(t, ws, `cd /tmp && python -c 'import strutil; print(strutil.__file__, repr(strutil.shout(" hi ")))'`, minute)
	assert.Equal(t, "/testbed/src/strutil/__init__.py 'HI!'\n", res.Output, "the image's PYTHONPATH reaches the copy")
	data, err := ws.ReadFile(ctx, "/testbed/src/strutil/__init__.py")
	require.NoError(t, err)
	assert.Contains(t, string(data), "s.strip()", "the work directory's paths reach the copy")

	list, err := ws.ListDir(ctx, dir, 1)
	require.NoError(t, err)
	assert.Equal(t, dir+"/\n"+dir+"/.git/\n"+dir+"/pyproject.toml\n"+dir+"/src/\n"+dir+"/tests/\n", list)
	diff, err := ws.Diff(ctx, item.Instance.BaseCommit)
	require.NoError(t, err)
	assert.Contains(t, diff, "diff --git a/src/strutil/__init__.py b/src/strutil/__init__.py\n")
	assert.Contains(t, diff, "+    return s.strip().upper() + \"!\"\n")

	// A shell that ends is replaced by one in the workspace's directory.
	res = shell(t, ws, "cd /; exit 3", minute)
	assert.True(t, res.Restarted)
	assert.Equal(t, dir, shell(t, ws, "pwd", minute).Cwd)
	require.NoError(t, ws.Close(ctx))

	for _, bad := range []struct{ path, want string }{
		{"/usr/lib", "/usr/lib exists in the image and is not an empty directory"},
		{"/testbed/inner", "inside one another"},
	} {
		_, err := rt.Start(ctx, rollout.WorkspaceSpec{Image: item.Environment.ImageName, WorkDir: "/testbed", Path: bad.path, Lifetime: time.Minute})
		assert.ErrorContains(t, err, bad.want)
	}
}
