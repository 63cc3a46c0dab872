package envbuildtest

import (
	"bytes"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// ChildEnv is set in the environment of a child process started by StartChild; Main then
// runs Setup.Child instead of the tests.
const ChildEnv = "SWEMILL_TEST_CHILD"

// Child is a child process of a test: the test binary itself (StartChild), doing what its
// package's Setup.Child does until the test kills it. Its methods are safe for concurrent
// use.
type Child struct {
	cmd    *exec.Cmd
	exited chan struct{}
	err    error // set before exited is closed

	mu  sync.Mutex
	log bytes.Buffer
}

// StartChild starts the test binary as a child process whose Main runs Setup.Child, with
// env added to this process's environment (how the test hands it what to do). The child is
// killed when the test ends, if the test has not killed it.
func StartChild(t testing.TB, env ...string) *Child {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(append(os.Environ(), ChildEnv+"=1"), env...)
	c := &Child{cmd: cmd, exited: make(chan struct{})}
	cmd.Stderr = (*childLog)(c)
	cmd.WaitDelay = 10 * time.Second
	require.NoError(t, cmd.Start())
	go func() {
		c.err = cmd.Wait()
		close(c.exited)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-c.exited
	})
	return c
}

// Exited is closed when the child has exited; Err then says how.
func (c *Child) Exited() <-chan struct{} { return c.exited }

// Err is the child's exit error (nil for status 0), once Exited is closed.
func (c *Child) Err() error {
	<-c.exited
	return c.err
}

// Log returns what the child has written to its standard error so far.
func (c *Child) Log() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.log.String()
}

// Kill kills the child with SIGKILL, as the OOM killer or `kill -9` does, and waits for it
// to exit.
func (c *Child) Kill(t testing.TB) {
	t.Helper()
	require.NoError(t, c.cmd.Process.Signal(syscall.SIGKILL))
	select {
	case <-c.exited:
	case <-time.After(time.Minute):
		t.Fatal("the killed child did not exit")
	}
}

// childLog collects a child's standard error.
type childLog Child

func (l *childLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.log.Write(p)
}
