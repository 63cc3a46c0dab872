package validate

import (
	"context"
	"fmt"
	"strings"
	"time"

	"swemill/envbuild/sandbox"
	"swemill/grade"
	"swemill/pipeline"
)

// GradeOptions tunes Grade. The zero value grades item.Validation's tests within 15 minutes.
type GradeOptions struct {
	// FailToPass and PassToPass are the test ids to grade; when both are empty,
	// item.Validation's lists are graded.
	FailToPass, PassToPass []string
	// Timeout bounds the run. Default 15 minutes.
	Timeout time.Duration
	// ResultsLimit caps each result stream, as Config.ResultsLimit. Default 256 MiB.
	ResultsLimit int64
	// Labels are added to the container's labels.
	Labels map[string]string
}

// Grade problems (GradeResult.Problem): why a run's tests could not be read. Each leaves
// every graded test failed.
const (
	ProblemEmptyPatch = "empty_patch"
	// ProblemPatch says the model patch did not apply (git apply, then fuzzier tools).
	ProblemPatch = "model_patch_does_not_apply"
	// ProblemTestPatch says the test patch did not apply on top of the model patch, even
	// with the test files reset to the base commit.
	ProblemTestPatch = "test_patch_does_not_apply"
	ProblemTimeout   = "suite_timeout"
	ProblemOOM       = "suite_oom"
	// ProblemKilled says the test command was killed from outside the run (ReasonKilled).
	ProblemKilled   = ReasonKilled
	ProblemUnparsed = "unparseable_log"
	ProblemMismatch = "log_exit_mismatch"
	// ProblemIncomplete says the run's results were not complete (ReasonIncomplete).
	ProblemIncomplete = ReasonIncomplete
)

// GradeResult is how a model patch fared. Its Run holds whether both the model patch and
// test_patch applied, all the statuses read from the output (every test of the test files),
// the Problem that kept the tests from being read (one of the Problem constants; it fails
// every test) and the run's log (capped by the sandbox's output limit: the script's
// messages, how each patch applied, then the test output). Its Score is the grade package's
// verdict on the graded tests: Resolved, each list split, Counts.
type GradeResult struct {
	grade.Run
	grade.Score
	// Detail explains Problem; empty when the tests ran and were read.
	Detail        string
	ExitCode      int
	TimedOut, OOM bool
	Seconds       float64
}

// Grade runs an instance's tests on a model's patch, as SWE-bench's harness does, in a
// fresh sandboxed container of item.Environment's image: it applies modelPatch to the base
// commit, resets the files that test_patch touches to the base commit (so a model that
// edited the tests gets the real ones), applies test_patch, runs the recipe's test command
// on the test files as validation did, reads the output with the instance's parser, and
// reports each FAIL_TO_PASS and PASS_TO_PASS test. A patch that does not apply, a run that
// times out or is killed for memory, and output that cannot be read or contradicts the exit
// code, or are incomplete, are a Problem that fails every test, not an error; errors are the engine's (retry)
// or an item that cannot be graded (no environment, no tests to grade).
func Grade(ctx context.Context, sb *sandbox.Sandbox, item *pipeline.Item, modelPatch string, opts GradeOptions) (GradeResult, error) {
	var g GradeResult
	p, err := planFor(item)
	if err != nil {
		return g, fmt.Errorf("grading %s: %w", item.Instance.InstanceID, err)
	}
	f2p, p2p := opts.FailToPass, opts.PassToPass
	if len(f2p) == 0 && len(p2p) == 0 {
		if item.Validation == nil {
			return g, fmt.Errorf("grading %s: no tests given and the item has no validation", item.Instance.InstanceID)
		}
		f2p, p2p = item.Validation.FailToPass, item.Validation.PassToPass
	}
	if len(f2p)+len(p2p) == 0 {
		return g, fmt.Errorf("grading %s: no tests to grade", item.Instance.InstanceID)
	}
	if opts.Timeout == 0 {
		opts.Timeout = 15 * time.Minute
	}
	if opts.ResultsLimit == 0 {
		opts.ResultsLimit = DefaultResultsLimit
	}
	g.Tests = map[string]pipeline.TestStatus{}
	if strings.TrimSpace(modelPatch) == "" {
		g.Problem, g.Detail = ProblemEmptyPatch, "the model produced no patch"
		g.Score = grade.Resolve(g.Run, f2p, p2p)
		return g, nil
	}
	if !strings.HasSuffix(modelPatch, "\n") {
		modelPatch += "\n"
	}
	if !gateModelPatch(&g, modelPatch) {
		g.Score = grade.Resolve(g.Run, f2p, p2p)
		return g, nil
	}
	labels := map[string]string{sandbox.LabelRole: "grade", sandbox.LabelInstance: item.Instance.InstanceID}
	for k, v := range opts.Labels {
		labels[k] = v
	}
	r, err := run(ctx, sb, runSpec{
		image: p.image, workDir: p.workDir, command: p.command, parser: p.parser,
		patches: []patchFile{{"model_patch", modelPatch}, {"test_patch", item.Instance.TestPatch}},
		reset:   p.resetPaths, timeout: opts.Timeout, labels: labels, resultsLimit: opts.ResultsLimit,
		env: []string{"SWEMILL_RUN_SIDE=grade", "SWEMILL_RUN_INDEX=0"},
	})
	if err != nil {
		return g, fmt.Errorf("grading %s: %w", item.Instance.InstanceID, err)
	}
	g.Applied = r.applyFailed == ""
	g.ExitCode, g.TimedOut, g.OOM, g.Seconds = r.res.ExitCode, r.res.TimedOut, r.oomKilled(), r.res.Duration.Seconds()
	g.Log = r.log
	g.Tests = resultStatuses(r.parsed)
	if reason, detail := r.problem(); reason != "" {
		g.Problem, g.Detail = reason, detail
	}
	g.Score = grade.Resolve(g.Run, f2p, p2p)
	return g, nil
}

// Grader grades with a sandbox and options. Its Grade method has the shape of the rollout
// stage's grading interface, so the CLI hands a *Grader to the rollout stage as it is.
type Grader struct {
	Sandbox *sandbox.Sandbox
	Options GradeOptions
}

// Grade calls the package's Grade with g's sandbox and options and returns the run; the
// caller scores it (grade.Resolve) against the tests it holds the instance to.
func (g *Grader) Grade(ctx context.Context, item *pipeline.Item, modelPatch string) (grade.Run, error) {
	r, err := Grade(ctx, g.Sandbox, item, modelPatch, g.Options)
	if err != nil {
		return grade.Run{}, err
	}
	return r.Run, nil
}
