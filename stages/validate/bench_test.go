package validate_test

import (
	"bytes"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"swemill/envbuild/sandbox"
	"swemill/pipeline"
	"swemill/stages/validate"
)

// BenchmarkValidateVsDockerRun validates one instance (pytextkit: 3 runs a side, one at a
// time, no re-runs or jitter) and then runs the same six test commands by hand, one `docker run` each on the same
// image with the same limits, the patches on standard input. It reports both wall times and
// their ratio (target: overhead-x <= 1.2).
func BenchmarkValidateVsDockerRun(b *testing.B) {
	if _, err := exec.LookPath("docker"); err != nil {
		b.Fatalf("the by-hand side needs the docker command: %v", err)
	}
	labels := testLabels()
	stage := newStage(b, newSandbox(b, sandbox.Config{}), validate.Config{Runs: 3, Parallel: 1, Reruns: -1, Jitter: -1, Labels: labels})
	it := item(b, "pytextkit")
	cmd := "cd " + it.Environment.WorkDir + " && git apply - && " + it.Environment.Recipe.TestCmd + " tests/test_slug.py"
	byHand := func(patch string) {
		c := exec.Command("docker", "run", "--rm", "-i", "--network", "none", "--user", "1000:1000",
			"--cap-drop", "ALL", "--security-opt", "no-new-privileges", "--memory", "2g", "--memory-swap", "2g",
			"--cpus", "1", "--pids-limit", "1024", "--tmpfs", "/tmp:rw,exec,nosuid,nodev,size=1g",
			"--label", sandbox.LabelRun+"="+runID, "--label", labelTest+"="+labels[labelTest],
			it.Environment.ImageName, "/bin/bash", "-c", cmd)
		c.Stdin = strings.NewReader(patch)
		var out bytes.Buffer
		c.Stdout, c.Stderr = &out, &out
		err := c.Run()
		var ee *exec.ExitError
		if err != nil && !(errors.As(err, &ee) && ee.ExitCode() == 1) {
			b.Fatalf("docker run: %v\n%s", err, out.String())
		}
		if !strings.Contains(out.String(), "short test summary info") {
			b.Fatalf("docker run gave no test results:\n%s", out.String())
		}
	}
	var validating, manual time.Duration
	b.ResetTimer()
	for b.Loop() {
		start := time.Now()
		out, err := stage.Process(b.Context(), it)
		require.NoError(b, err)
		require.Len(b, out.Record.(pipeline.Validation).Runs, 6)
		validating += time.Since(start)

		start = time.Now()
		for range 3 {
			byHand(it.Instance.TestPatch)
		}
		for range 3 {
			byHand(it.Instance.TestPatch + it.Instance.Patch)
		}
		manual += time.Since(start)
	}
	b.ReportMetric(validating.Seconds()/float64(b.N), "validate-s/op")
	b.ReportMetric(manual.Seconds()/float64(b.N), "docker-run-s/op")
	b.ReportMetric(validating.Seconds()/manual.Seconds(), "overhead-x")
	require.Empty(b, containersWith(b, labels))
}

// BenchmarkInstancesPerMinute validates the three end-to-end fixtures (pytest, unittest,
// Go) with the default configuration (3 runs a side, 2 at once), two instances at a time as
// two runner workers would, and reports instances validated per minute.
func BenchmarkInstancesPerMinute(b *testing.B) {
	labels := testLabels()
	stage := newStage(b, newSandbox(b, sandbox.Config{}), validate.Config{Labels: labels})
	var items []*pipeline.Item
	for _, e := range expectations {
		items = append(items, item(b, e.fixture))
	}
	n := 0
	b.ResetTimer()
	start := time.Now()
	for b.Loop() {
		work := make(chan *pipeline.Item, len(items))
		for _, it := range items {
			work <- it
		}
		close(work)
		var wg sync.WaitGroup
		errs := make(chan error, len(items))
		for range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for it := range work {
					if _, err := stage.Process(b.Context(), it); err != nil {
						errs <- fmt.Errorf("%s: %w", it.Instance.InstanceID, err)
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			b.Fatal(err)
		}
		n += len(items)
	}
	b.ReportMetric(float64(n)/time.Since(start).Minutes(), "instances/min")
	require.Empty(b, containersWith(b, labels))
}

// BenchmarkFlakeReruns validates the three end-to-end fixtures (pytest, unittest, Go) one
// after another, with the default configuration (jitter, and 5 re-runs a side of the
// FAIL_TO_PASS tests) and with neither, and reports the seconds per instance of each and
// their ratio: what flake decorrelation costs.
func BenchmarkFlakeReruns(b *testing.B) {
	labels := testLabels()
	sb := newSandbox(b, sandbox.Config{})
	with := newStage(b, sb, validate.Config{Labels: labels})
	without := newStage(b, sb, validate.Config{Reruns: -1, Jitter: -1, Labels: labels})
	var items []*pipeline.Item
	for _, e := range expectations {
		items = append(items, item(b, e.fixture))
	}
	var withTime, withoutTime time.Duration
	n := 0
	b.ResetTimer()
	for b.Loop() {
		for _, it := range items {
			start := time.Now()
			_, err := without.Process(b.Context(), it)
			require.NoError(b, err)
			withoutTime += time.Since(start)
			start = time.Now()
			out, err := with.Process(b.Context(), it)
			require.NoError(b, err)
			withTime += time.Since(start)
			require.NotNil(b, out.Record.(pipeline.Validation).Rerun)
			n++
		}
	}
	b.ReportMetric(withTime.Seconds()/float64(n), "with-reruns-s/instance")
	b.ReportMetric(withoutTime.Seconds()/float64(n), "without-s/instance")
	b.ReportMetric(withTime.Seconds()/withoutTime.Seconds(), "cost-x")
	require.Empty(b, containersWith(b, labels))
}
