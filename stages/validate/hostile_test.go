package validate_test

import (
	"context"
	"encoding/json"
	"os"
	"regexp"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"swemill/envbuild/envbuildtest"
	"swemill/envbuild/sandbox"
	"swemill/pipeline"
	"swemill/stages/validate"
)

// hostileLimits are the sandbox limits of the hostile suites: small, so that the fork bomb
// and the memory hog meet them quickly.
var hostileLimits = sandbox.Config{Memory: 512 << 20, PidsLimit: 256, OutputLimit: 1 << 20}

// diskLimits bound the work-tree filler's writable layer.
var diskLimits = sandbox.Config{DiskLimit: 256 << 20, DiskPoll: 200 * time.Millisecond}

// outcome is what Process gave for one instance.
type processed struct {
	it  *pipeline.Item
	out pipeline.Output
	err error
}

// validationOf reads the Validation artifact of an outcome (dropped instances have no
// record).
func validationOf(t *testing.T, p processed) pipeline.Validation {
	t.Helper()
	for _, a := range p.out.Artifacts {
		if a.Name == validate.ValidationArtifact {
			var v pipeline.Validation
			require.NoError(t, json.Unmarshal([]byte(readArtifact(t, p.it, a)), &v))
			return v
		}
	}
	t.Fatalf("no %s artifact among %v", validate.ValidationArtifact, p.out.Artifacts)
	return pipeline.Validation{}
}

func requireKept(t *testing.T, p processed) pipeline.Validation {
	t.Helper()
	require.NoError(t, p.err)
	v, ok := p.out.Record.(pipeline.Validation)
	require.True(t, ok)
	assert.Equal(t, []string{"tests/test_calc.py::test_mul"}, v.FailToPass)
	return v
}

func requireDropped(t *testing.T, p processed, reason string) pipeline.Validation {
	t.Helper()
	d, ok := pipeline.AsDrop(p.err)
	require.True(t, ok, "want a drop, got %v", p.err)
	assert.Equal(t, reason, d.Reason, "detail: %s", d.Detail)
	return validationOf(t, p)
}

// statusIn returns a test's status in every run of v.
func statusIn(v pipeline.Validation, test string) []pipeline.TestStatus {
	var out []pipeline.TestStatus
	for _, r := range v.Runs {
		out = append(out, r.Results[test])
	}
	return out
}

// TestHostileSuites validates hostile test suites, each a fixture repository, all at once
// and alongside an ordinary instance, as the runner's workers would: each is contained and
// reported, the ordinary instance comes out exactly as it does alone, and no container is
// left.
func TestHostileSuites(t *testing.T) {
	t.Parallel()
	sb := newSandbox(t, hostileLimits)
	labels := testLabels()
	twice := newStage(t, sb, validate.Config{Runs: 2, RunTimeout: 5 * time.Minute, Reruns: -1, Labels: labels})
	stages := map[string]*validate.Stage{
		"hostile_loop":     newStage(t, sb, validate.Config{Runs: 2, RunTimeout: 20 * time.Second, Reruns: -1, Labels: labels}),
		"hostile_forkbomb": twice,
		"hostile_memory":   twice,
		"hostile_output":   newStage(t, sb, validate.Config{Runs: 1, RunTimeout: 5 * time.Minute, Reruns: -1, Labels: labels}),
		"hostile_network":  twice,
		"hostile_outside":  twice,
		"hostile_socket":   twice,
		"hostile_killed":   twice,
		"hostile_disk":     newStage(t, newSandbox(t, diskLimits), validate.Config{Runs: 2, RunTimeout: 5 * time.Minute, Reruns: -1, Labels: labels}),
		"pytextkit":        newStage(t, newSandbox(t, sandbox.Config{}), validate.Config{Labels: labels}),
	}
	items := map[string]*pipeline.Item{}
	for name := range stages {
		items[name] = item(t, name)
	}
	results := map[string]processed{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	stopKiller := killFromOutside(t, items["hostile_killed"].Instance.InstanceID)
	for name, st := range stages {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out, err := st.Process(t.Context(), items[name])
			mu.Lock()
			results[name] = processed{it: items[name], out: out, err: err}
			mu.Unlock()
		}()
	}
	wg.Wait()
	stopKiller()

	t.Run("an infinite loop times out", func(t *testing.T) {
		v := requireDropped(t, results["hostile_loop"], "suite_timeout")
		require.NotEmpty(t, v.Runs)
		assert.True(t, v.Runs[0].TimedOut)
		assert.Less(t, len(v.Runs), 4, "the runs left were not started or were stopped")
	})
	t.Run("a fork bomb meets the pids limit", func(t *testing.T) {
		p := results["hostile_forkbomb"]
		v := requireKept(t, p)
		assert.Contains(t, v.PassToPass, "tests/test_hostile.py::test_fork_bomb", "fork was refused in every run")
		re := regexp.MustCompile(`swemill-hostile: fork refused after ([0-9]+) children`)
		for _, r := range v.Runs {
			m := re.FindStringSubmatch(readArtifact(t, p.it, r.Log))
			require.NotNil(t, m, "the bomb reports how far it got")
			n, _ := strconv.Atoi(m[1])
			assert.Less(t, n, int(hostileLimits.PidsLimit), "the pids limit stopped it")
		}
	})
	t.Run("a kill from outside is suite_killed, not out of memory", func(t *testing.T) {
		v := requireDropped(t, results["hostile_killed"], validate.ReasonKilled)
		require.NotEmpty(t, v.Runs)
		assert.Equal(t, 137, v.Runs[0].ExitCode)
		assert.False(t, v.Runs[0].OOM)
		assert.False(t, v.Runs[0].TimedOut)
	})
	t.Run("a work-tree filler is stopped at the disk limit", func(t *testing.T) {
		p := results["hostile_disk"]
		v := requireDropped(t, p, validate.ReasonDiskLimit)
		require.NotEmpty(t, v.Runs)
		for _, r := range v.Runs {
			assert.NotContains(t, readArtifact(t, p.it, r.Log), "was not stopped")
		}
		d, _ := pipeline.AsDrop(p.err)
		m := regexp.MustCompile(`wrote ([0-9.]+)MiB`).FindStringSubmatch(d.Detail)
		require.NotNil(t, m, "the drop says how much the run wrote: %s", d.Detail)
		used, _ := strconv.ParseFloat(m[1], 64)
		assert.Greater(t, used, float64(diskLimits.DiskLimit>>20))
		assert.Less(t, used, float64(diskLimits.DiskLimit>>20)+1024, "stopped within a second's writing of the limit")
	})
	t.Run("a memory hog is killed", func(t *testing.T) {
		v := requireDropped(t, results["hostile_memory"], "suite_oom")
		require.NotEmpty(t, v.Runs)
		assert.True(t, v.Runs[0].OOM)
	})
	t.Run("a gigabyte of output is capped in the log, not in the results", func(t *testing.T) {
		p := results["hostile_output"]
		v := requireKept(t, p)
		assert.Contains(t, v.PassToPass, "tests/test_hostile.py::test_floods_output")
		for _, r := range v.Runs {
			assert.Less(t, r.Log.Size, int64(hostileLimits.OutputLimit+64<<10), "the log is capped")
			assert.Equal(t, "pytest.jsonl", r.Stream, "results come from the plugin's records")
			assert.Len(t, r.Results, 3)
			log := readArtifact(t, p.it, r.Log)
			assert.Contains(t, log, "is shown cut to its head and tail; results were read from the whole pytest.jsonl stream")
			assert.Regexp(t, `\[\.\.\. [0-9]{10} bytes omitted \.\.\.\]`, log, "about a gigabyte left out")
		}
	})
	t.Run("no network", func(t *testing.T) {
		p := results["hostile_network"]
		v := requireKept(t, p)
		for _, test := range []string{"tests/test_hostile.py::test_phones_home", "tests/test_hostile.py::test_resolves_names"} {
			assert.Equal(t, []pipeline.TestStatus{"FAILED", "FAILED", "FAILED", "FAILED"}, statusIn(v, test), test)
		}
		for _, r := range v.Runs {
			assert.Contains(t, readArtifact(t, p.it, r.Log), "FAILED tests/test_hostile.py::test_phones_home - OSError: [Errno 101] Network")
		}
	})
	t.Run("writes outside the work tree stay in their container", func(t *testing.T) {
		v := requireKept(t, results["hostile_outside"])
		assert.Contains(t, v.PassToPass, "tests/test_hostile.py::test_writes_outside_work_tree",
			"no run saw another's marks, and none could write into the system")
		for _, p := range []string{"/etc/swemill-hostile", "/usr/lib/swemill-hostile", "/swemill-hostile", "/var/tmp/swemill-hostile-mark"} {
			_, err := os.Stat(p)
			assert.True(t, os.IsNotExist(err), "%s on the host", p)
		}
	})
	t.Run("no Docker socket", func(t *testing.T) {
		p := results["hostile_socket"]
		v := requireKept(t, p)
		assert.Equal(t, []pipeline.TestStatus{"FAILED", "FAILED", "FAILED", "FAILED"}, statusIn(v, "tests/test_hostile.py::test_talks_to_docker"))
		for _, r := range v.Runs {
			assert.Contains(t, readArtifact(t, p.it, r.Log), "FAILED tests/test_hostile.py::test_talks_to_docker - FileNotFoundError")
		}
	})
	t.Run("an ordinary instance alongside is unaffected", func(t *testing.T) {
		p := results["pytextkit"]
		require.NoError(t, p.err)
		v := p.out.Record.(pipeline.Validation)
		e := expectations[0]
		assert.Equal(t, e.failToPass, v.FailToPass)
		assert.Equal(t, e.passToPass, v.PassToPass)
		assert.Equal(t, e.passToFail, v.PassToFail)
		assert.Len(t, v.Flaky, 2)
	})
	assert.Empty(t, containersWith(t, labels), "no container is left")
}

// killFromOutside plays what kills a run from outside swemill (an operator, the host): it
// SIGKILLs every running validate container of the instance until stopped.
func killFromOutside(t *testing.T, instanceID string) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	cli := envbuildtest.Docker(t)
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			list, _ := envbuildtest.Containers(ctx, cli, false, map[string]string{sandbox.LabelRun: runID, sandbox.LabelInstance: instanceID})
			for _, c := range list {
				_ = cli.ContainerKill(ctx, c.ID, "KILL")
			}
			select {
			case <-ctx.Done():
			case <-time.After(300 * time.Millisecond):
			}
		}
	}()
	return func() { cancel(); <-done }
}
