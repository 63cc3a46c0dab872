package sandbox

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// localShell runs the shell protocol over a bash process of this machine, as a Workspace
// runs it over an exec stream: the protocol does not depend on the container.
func localShell(t *testing.T, limit int) *shell {
	t.Helper()
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Fatalf("the shell protocol tests need bash: %v", err)
	}
	cmd := exec.Command(bash, "--noprofile", "--norc")
	cmd.Dir = t.TempDir()
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	sh := newShell(stdin, limit)
	cmd.Stdout = sh
	require.NoError(t, cmd.Start())
	exited := make(chan struct{})
	go func() {
		err := cmd.Wait()
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			err = nil // the status is the test's to check
		}
		sh.closeOutput(err)
		close(exited)
	}()
	t.Cleanup(func() {
		_ = stdin.Close()
		_ = cmd.Process.Kill()
		<-exited
		_ = os.RemoveAll(sh.dir)
	})
	require.NoError(t, sh.init(t.Context(), 30*time.Second))
	return sh
}

// run sends command and waits for its end.
func run(t *testing.T, sh *shell, command string) (string, Marker) {
	t.Helper()
	require.NoError(t, sh.send(command))
	out, m, timedOut, err := sh.wait(t.Context(), 30*time.Second)
	require.NoError(t, err, command)
	require.False(t, timedOut, command)
	text, _ := out.Text()
	return text, m
}

// TestShellProtocol drives the persistent shell's protocol: state that lasts between
// commands, merged output, statuses, no input, capped output, quiet returns, timeouts and
// the shell's exit.
func TestShellProtocol(t *testing.T) {
	t.Parallel()
	sh := localShell(t, 4096)
	assert.Greater(t, sh.pid, 1, "the first marker carries the shell's pid")

	dir := t.TempDir()
	out, m := run(t, sh, "cd "+dir+" && export FOO=bar")
	assert.Equal(t, "", out)
	assert.Equal(t, 0, m.Status)
	assert.Equal(t, dir, m.Cwd)
	out, m = run(t, sh, "echo $FOO; pwd; echo err >&2")
	assert.Equal(t, "bar\n"+dir+"\nerr\n", out)
	assert.Equal(t, dir, m.Cwd)

	// Commands cannot read the protocol's input, and a syntax error does not hang the shell.
	out, _ = run(t, sh, "cat; echo after-cat")
	assert.Equal(t, "after-cat\n", out)
	out, m = run(t, sh, `echo "unterminated`)
	assert.NotEqual(t, 0, m.Status)
	assert.Contains(t, out, "unexpected EOF")
	out, m = run(t, sh, "echo still $FOO; false")
	assert.Equal(t, "still bar\n", out)
	assert.Equal(t, 1, m.Status)

	// Long output keeps its head and tail.
	require.NoError(t, sh.send(`head -c 100000 /dev/zero | tr '\0' a; echo; echo END`))
	o, _, _, err := sh.wait(t.Context(), 30*time.Second)
	require.NoError(t, err)
	text, truncated := o.Text()
	assert.True(t, truncated)
	assert.Positive(t, o.Dropped)
	assert.LessOrEqual(t, len(text), 4096+100)
	assert.True(t, strings.HasPrefix(text, "aaaa"))
	assert.True(t, strings.HasSuffix(text, "a\nEND\n"), "tail kept: %q", text[len(text)-20:])
	assert.Contains(t, text, "bytes of output left out")

	// A quiet command returns what it printed so far and goes on; a later wait has the rest.
	require.NoError(t, sh.send("echo one; sleep 1; echo two"))
	o, _, st, err := sh.waitUntil(t.Context(), time.Now().Add(30*time.Second), 300*time.Millisecond)
	require.NoError(t, err)
	assert.Equal(t, WaitQuiet, st)
	assert.Equal(t, "one\n", string(o.Head))
	o, m, st, err = sh.waitUntil(t.Context(), time.Now().Add(30*time.Second), 0)
	require.NoError(t, err)
	assert.Equal(t, WaitDone, st)
	assert.Equal(t, "two\n", string(o.Head))
	assert.Equal(t, 0, m.Status)

	// A wait that times out leaves the command running; its end comes with the next wait.
	require.NoError(t, sh.send("sleep 1; echo done"))
	_, _, timedOut, err := sh.wait(t.Context(), 100*time.Millisecond)
	require.NoError(t, err)
	assert.True(t, timedOut)
	o, m, timedOut, err = sh.wait(t.Context(), 30*time.Second)
	require.NoError(t, err)
	assert.False(t, timedOut)
	assert.Equal(t, "done\n", string(o.Head))
	assert.Equal(t, 0, m.Status)

	// exit ends the shell: the output so far, then ErrShellExited.
	require.NoError(t, sh.send("echo bye; exit 7"))
	o, _, _, err = sh.wait(t.Context(), 30*time.Second)
	assert.ErrorIs(t, err, ErrShellExited)
	assert.Equal(t, "bye\n", string(o.Head))
}

// TestShellInput feeds a running command through the shell's input FIFO: with no other
// writer a command gets end-of-file at once; with one it reads what is written, waits for
// more while the writer stays open, and ends when the writer closes it (Ctrl-D). A command
// removing the FIFO does not break the next one.
func TestShellInput(t *testing.T) {
	t.Parallel()
	sh := localShell(t, 4096)
	out, m := run(t, sh, `read -r x; echo "read=$? x=$x"`)
	assert.Equal(t, "read=1 x=\n", out)
	assert.Equal(t, 0, m.Status)

	// A writer opened before the command (as the rollout's tool shell does).
	w, err := os.OpenFile(sh.dir+"/in", os.O_RDWR, 0)
	require.NoError(t, err)
	require.NoError(t, sh.send(`read -r x; echo "got $x"; cat; echo "cat ended"`))
	o, _, st, err := sh.waitUntil(t.Context(), time.Now().Add(30*time.Second), 300*time.Millisecond)
	require.NoError(t, err)
	assert.Equal(t, WaitQuiet, st, "the command waits for input: %q", o.Head)
	_, err = w.WriteString("hello\nline two\n")
	require.NoError(t, err)
	o, _, st, err = sh.waitUntil(t.Context(), time.Now().Add(30*time.Second), 300*time.Millisecond)
	require.NoError(t, err)
	assert.Equal(t, WaitQuiet, st, "cat waits for more while the writer is open")
	assert.Equal(t, "got hello\nline two\n", string(o.Head))
	require.NoError(t, w.Close())
	o, m, st, err = sh.waitUntil(t.Context(), time.Now().Add(30*time.Second), 0)
	require.NoError(t, err)
	assert.Equal(t, WaitDone, st)
	assert.Equal(t, "cat ended\n", string(o.Head))
	assert.Equal(t, 0, m.Status)

	// Poll hands out what is there without waiting, and says when the command has ended.
	require.NoError(t, sh.send("echo early; sleep 0.3; echo late"))
	_, _, done := sh.poll()
	assert.False(t, done, "the command has not ended yet")
	got := ""
	require.Eventually(t, func() bool {
		o, mk, done := sh.poll()
		got += string(o.Head)
		if done {
			m = mk
		}
		return done
	}, 30*time.Second, 20*time.Millisecond)
	assert.Equal(t, "early\nlate\n", got)
	assert.Equal(t, 0, m.Status)

	out, _ = run(t, sh, `rm -rf "$__swemill_d"; echo removed`)
	assert.Equal(t, "removed\n", out)
	out, m = run(t, sh, `cat; echo "status $?"`)
	assert.Equal(t, "status 0\n", out)
	assert.Equal(t, 0, m.Status)
}

// TestEscapePrintf writes bytes through printf %b, as the rollout's editor writes files, and
// reads them back unchanged.
func TestEscapePrintf(t *testing.T) {
	t.Parallel()
	sh := localShell(t, 4096)
	dir := t.TempDir()
	for i, s := range []string{
		"plain text\n",
		"it's \"quoted\"\n\ttab\\n and a backslash\\",
		"\x00\x01\xff'\\n\n\x7f end",
		"%s %b %% \\0101 \\c not the end",
		"",
	} {
		p := filepath.Join(dir, "f")
		_, m := run(t, sh, "printf '%b' '"+EscapePrintf(s)+"' > "+p)
		require.Equal(t, 0, m.Status, "case %d", i)
		got, err := os.ReadFile(p)
		require.NoError(t, err)
		assert.Equal(t, s, string(got), "case %d", i)
		assert.NotContains(t, EscapePrintf(s), "\n", "case %d: one line", i)
	}
}
