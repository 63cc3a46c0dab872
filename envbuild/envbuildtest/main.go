package envbuildtest

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"swemill/envbuild"
	"swemill/envbuild/sandbox"
)

// Setup is what the TestMain of a package whose tests use Docker does around its tests (see
// Main). The zero value runs the tests and checks for leaked goroutines.
type Setup struct {
	// Child, when set, is what the test binary does when StartChild started it as a child
	// process (a process that a test kills mid-work); it returns the exit code.
	Child func() int
	// RunID, when set, is the run label (sandbox.LabelRun) of every container the tests
	// create: one left when the tests end fails the binary.
	RunID string
	// After, when set, runs once the tests have ended, before the checks (removing a work
	// directory, stopping a database).
	After func()
	// NoLeakCheck turns the goroutine check off; say why beside it.
	NoLeakCheck bool
}

// Main is the TestMain of a package whose tests use Docker: in a child process started by
// StartChild it runs s.Child; otherwise it runs the tests, then s.After, then, when the tests
// passed, the checks: no container of s.RunID is left, and no goroutine is leaked (goleak,
// with LeakOptions). It exits with the result.
func Main(m *testing.M, s Setup) {
	os.Exit(Run(m, s))
}

// Run is Main without the exit, for a TestMain that hands its testing.M to another runner
// (testscript.Main calls Run's Run method).
func Run(m interface{ Run() int }, s Setup) int {
	if os.Getenv(ChildEnv) != "" {
		if s.Child == nil {
			fmt.Fprintf(os.Stderr, "%s is set but this test package has no child\n", ChildEnv)
			return 2
		}
		return s.Child()
	}
	code := m.Run()
	if s.After != nil {
		s.After()
	}
	if s.RunID != "" {
		if left, err := leftContainers(s.RunID); err != nil || len(left) > 0 {
			fmt.Fprintf(os.Stderr, "containers left behind by this test process (run %s): %d, %v\n", s.RunID, len(left), err)
			code = 1
		}
	}
	if code == 0 && !s.NoLeakCheck {
		if err := goleak.Find(LeakOptions()...); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	return code
}

// LeakOptions lists the goroutines a Docker test package may leave when its tests end: the
// engine client's idle HTTP connections.
func LeakOptions() []goleak.Option {
	return []goleak.Option{
		goleak.IgnoreTopFunction("net/http.(*persistConn).writeLoop"),
		goleak.IgnoreTopFunction("net/http.(*persistConn).readLoop"),
		goleak.IgnoreTopFunction("internal/poll.runtime_pollWait"),
	}
}

// RunContainers lists the containers (running or not) of run that also carry labels.
func RunContainers(t testing.TB, run string, labels map[string]string) []Container {
	t.Helper()
	all := map[string]string{sandbox.LabelRun: run}
	for k, v := range labels {
		all[k] = v
	}
	list, err := Containers(context.Background(), Docker(t), true, all)
	require.NoError(t, err)
	return list
}

// leftContainers lists the containers of run (none without an engine: the tests that needed
// one were skipped or failed).
func leftContainers(run string) ([]Container, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cli, err := envbuild.Connect(ctx, "")
	if err != nil {
		return nil, nil
	}
	defer cli.Close()
	return Containers(ctx, cli, true, map[string]string{sandbox.LabelRun: run})
}
