package gitexec_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"swemill/gitexec"
)

func newRepo(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	_, err := gitexec.Run(t.Context(), dir, "init", "-q")
	require.NoError(t, err)
	return dir
}

func TestRunOutputAndFailure(t *testing.T) {
	t.Parallel()
	dir := newRepo(t)
	out, err := gitexec.RunWith(t.Context(), dir, gitexec.Options{Stdin: "hello\n"}, "hash-object", "--stdin")
	require.NoError(t, err)
	assert.Equal(t, "ce013625030ba8dba906f756967f9e9ca394464a\n", out)

	_, err = gitexec.Run(t.Context(), dir, "rev-parse", "--verify", "no-such-branch")
	var ge *gitexec.Error
	require.ErrorAs(t, err, &ge)
	assert.Equal(t, 128, ge.ExitCode)
	assert.NoError(t, ge.Err)
	assert.Contains(t, ge.Stderr, "fatal")
	assert.Contains(t, err.Error(), "git rev-parse --verify no-such-branch: exit 128: fatal")
}

func TestRunCleansTheEnvironment(t *testing.T) {
	t.Parallel()
	env := gitexec.Environ([]string{"PATH=/usr/bin", "GIT_DIR=/elsewhere", "GIT_INDEX_FILE=/tmp/i",
		"GIT_CONFIG_COUNT=1", "GIT_CONFIG_KEY_0=core.pager", "GIT_CONFIG_VALUE_0=evil", "GIT_AUTHOR_NAME=a"})
	assert.Equal(t, []string{"PATH=/usr/bin", "GIT_AUTHOR_NAME=a", "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1",
		"GIT_TERMINAL_PROMPT=0", "GIT_ASKPASS=/bin/false", "LC_ALL=C"}, env)

	// What git sees: the variables set, and no prompt for a password.
	dir := newRepo(t)
	out, err := gitexec.Run(t.Context(), dir, "-c", "alias.printenv=!echo $GIT_ASKPASS $GIT_TERMINAL_PROMPT", "printenv")
	require.NoError(t, err)
	assert.Equal(t, "/bin/false 0\n", out)
}

func TestRunBoundsOutput(t *testing.T) {
	t.Parallel()
	dir := newRepo(t)
	_, err := gitexec.RunWith(t.Context(), dir, gitexec.Options{MaxOutput: 1000},
		"-c", "alias.flood=!yes swemill | head -c 1000000", "flood")
	require.ErrorIs(t, err, gitexec.ErrOutputTooLarge)
	var ge *gitexec.Error
	require.ErrorAs(t, err, &ge)
	assert.Equal(t, -1, ge.ExitCode)

	// Standard error keeps its beginning and its end.
	_, err = gitexec.Run(t.Context(), dir, "-c", "alias.noisy=!echo first >&2; yes middle | head -c 100000 >&2; echo last >&2; exit 3", "noisy")
	require.ErrorAs(t, err, &ge)
	assert.Equal(t, 3, ge.ExitCode)
	assert.True(t, strings.HasPrefix(ge.Stderr, "first"), ge.Stderr[:20])
	assert.True(t, strings.HasSuffix(ge.Stderr, "last"))
	assert.Contains(t, ge.Stderr, " ... ")
	assert.Less(t, len(ge.Stderr), 2100)
}

// A git killed by its context takes the processes it started along (its process group).
func TestRunKillsTheProcessGroup(t *testing.T) {
	t.Parallel()
	dir := newRepo(t)
	pidFile := filepath.Join(t.TempDir(), "pid")
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		_, err := gitexec.Run(ctx, dir, "-c", "alias.hang=!sleep 600 & echo $! > "+pidFile+"; wait", "hang")
		done <- err
	}()
	var pid int
	require.Eventually(t, func() bool {
		b, err := os.ReadFile(pidFile)
		if err != nil || !strings.HasSuffix(string(b), "\n") {
			return false
		}
		pid, err = strconv.Atoi(strings.TrimSpace(string(b)))
		return err == nil
	}, time.Minute, 10*time.Millisecond, "the alias never started")
	cancel()
	select {
	case err := <-done:
		require.ErrorIs(t, err, context.Canceled)
		var ge *gitexec.Error
		require.True(t, errors.As(err, &ge))
		assert.Equal(t, -1, ge.ExitCode)
	case <-time.After(time.Minute):
		t.Fatal("Run did not return after its context ended")
	}
	require.Eventually(t, func() bool { return gone(pid) }, time.Minute, 10*time.Millisecond, "the sleep git started outlived it")
}

// gone reports whether process pid has exited (or is a zombie waiting to be reaped).
func gone(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i >= 0 && i+2 < len(s) && s[i+2] == 'Z'
}

func TestErrorHidesURLUserInfo(t *testing.T) {
	t.Parallel()
	err := &gitexec.Error{Args: []string{"clone", "https://x-access-token:ghs_secret@github.com/o/r.git"}, ExitCode: 128,
		Stderr: "fatal: could not read from https://x-access-token:ghs_secret@github.com/o/r.git"}
	assert.NotContains(t, err.Error(), "ghs_secret")
	assert.Contains(t, err.Error(), "https://***@github.com/o/r.git")
}
