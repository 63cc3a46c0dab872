// Package validate is the validate stage: it runs an instance's tests in fresh sandboxed
// containers of its image, before the fix (base commit + test_patch) and after it
// (+ patch), several times each, and finds the tests the fix makes pass (FAIL_TO_PASS) and
// those that pass throughout (PASS_TO_PASS), leaving out tests that do not behave the same
// in every run of a side (flaky). It also grades a model's patch the same way (Grade), and
// prints a validation's per-test table (WriteTestTable).
//
// What the tests do is data: a patch that does not apply, a suite that hangs or is killed
// for memory, output that cannot be read or that disagrees with the exit code, and an
// instance without a FAIL_TO_PASS test are drops with a reason. Only the engine's failures
// are errors, which the runner retries.
package validate

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sourcegraph/conc/pool"

	"swemill/difftext"
	"swemill/envbuild/sandbox"
	"swemill/pipeline"
	"swemill/testlog"
)

// Config configures the validate stage.
type Config struct {
	// Runs is how many times each side runs. Default 3; 1 turns flake detection off.
	Runs int
	// Parallel bounds how many runs of one instance go at once (each in its own container).
	// Default 2.
	Parallel int
	// RunTimeout is the wall-clock limit of one run: applying the patches and running the
	// tests. A run that exceeds it drops the instance (suite_timeout). Default 15 minutes.
	// The runner's timeout for the stage should allow ceil(2*Runs/Parallel) runs.
	RunTimeout time.Duration
	// ResultsLimit caps each result stream a run leaves (the test command's whole output,
	// the pytest plugin's records), in bytes: a longer stream makes the run's results
	// incomplete (results_incomplete). The log kept for people is capped far lower, by the
	// sandbox's OutputLimit, and labels never come from it. Default 256 MiB.
	ResultsLimit int64
	// Reruns is how many more times each side runs the FAIL_TO_PASS tests alone (selected by
	// id where the framework allows, testlog.SelectArgs), after the full runs found them: a
	// test whose outcome in any re-run differs from the full runs' is flaky and leaves the
	// labels. Default 5; negative turns the re-runs off.
	Reruns int
	// Jitter delays the start of each run by a random time up to it, so that runs of a side
	// sample different moments (a test that fails during one second in three). Default 2s;
	// negative turns it off.
	Jitter time.Duration
	// Shuffle runs go test with -shuffle set to each run's seed, so that tests that depend
	// on the order of a package's tests disagree across runs. Off by default: in a package
	// whose test binary stops at a panicking test, the tests it never reached are missing,
	// and shuffling draws a different set of them in every run (measured on
	// tidwall/gjson#253: 85 of 90 tests flaky, PASS_TO_PASS 66 -> 3).
	Shuffle bool
	// Labels are added to the labels of every container the stage starts.
	Labels map[string]string
}

// Defaults of Config.Reruns and Config.Jitter.
const (
	DefaultReruns = 5
	DefaultJitter = 2 * time.Second
)

// DefaultResultsLimit is Config.ResultsLimit's default.
const DefaultResultsLimit = 256 << 20

func (c Config) withDefaults() Config {
	if c.ResultsLimit == 0 {
		c.ResultsLimit = DefaultResultsLimit
	}
	if c.Runs == 0 {
		c.Runs = 3
	}
	if c.Parallel == 0 {
		c.Parallel = 2
	}
	if c.RunTimeout == 0 {
		c.RunTimeout = 15 * time.Minute
	}
	switch {
	case c.Reruns == 0:
		c.Reruns = DefaultReruns
	case c.Reruns < 0:
		c.Reruns = 0
	}
	switch {
	case c.Jitter == 0:
		c.Jitter = DefaultJitter
	case c.Jitter < 0:
		c.Jitter = 0
	}
	return c
}

// Validate reports the first field that is not usable.
func (c Config) Validate() error {
	switch {
	case c.Runs < 0 || c.Runs > 20:
		return fmt.Errorf("Config.Runs: %d: want 1 to 20 (0 means 3)", c.Runs)
	case c.Parallel < 0 || c.Parallel > 64:
		return fmt.Errorf("Config.Parallel: %d: want 1 to 64 (0 means 2)", c.Parallel)
	case c.RunTimeout < 0 || (c.RunTimeout > 0 && c.RunTimeout < time.Second):
		return fmt.Errorf("Config.RunTimeout: %s: want at least 1s (0 means 15m)", c.RunTimeout)
	case c.Reruns > 50:
		return fmt.Errorf("Config.Reruns: %d: want at most 50 (0 means %d, negative none)", c.Reruns, DefaultReruns)
	case c.Jitter > time.Minute:
		return fmt.Errorf("Config.Jitter: %s: want at most 1m (0 means %s, negative none)", c.Jitter, DefaultJitter)
	case c.ResultsLimit < 0 || (c.ResultsLimit > 0 && c.ResultsLimit < 1<<20):
		return fmt.Errorf("Config.ResultsLimit: %d: want at least 1 MiB (0 means 256 MiB)", c.ResultsLimit)
	}
	return nil
}

// Stage is the validate stage. It is safe for concurrent use; each Process call waits for
// the containers it starts, and removes them, before it returns.
type Stage struct {
	sb  *sandbox.Sandbox
	cfg Config
}

var _ pipeline.Processor = (*Stage)(nil)

// New returns the validate stage, running containers through sb. The sandbox's limits
// (memory, CPUs, pids, output cap) apply to every run; its OutputLimit caps each run's log.
func New(sb *sandbox.Sandbox, cfg Config) (*Stage, error) {
	if sb == nil {
		return nil, errors.New("validate: a sandbox is required")
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Stage{sb: sb, cfg: cfg.withDefaults()}, nil
}

// Artifact names.
const (
	// ValidationArtifact holds the Validation as JSON, stored for dropped instances too
	// (whose stage record is not kept), so their runs can be shown.
	ValidationArtifact = "validate/validation.json"
)

// LogArtifact names the log of a run: "validate/before-0.log".
func LogArtifact(side string, index int) string {
	return "validate/" + side + "-" + strconv.Itoa(index) + ".log"
}

// LabelSide is on validate's containers, besides the sandbox's labels and
// sandbox.LabelInstance: "before" or "after" the fix.
const LabelSide = "swemill.side"

// errAborted cancels the runs still going once one run has decided the instance's fate.
var errAborted = errors.New("another run already decided the outcome")

// plan is what the runs of an instance share.
type plan struct {
	image, workDir, parser string
	command                string
	testFiles              []string
	resetPaths             []string
	// fixedHashSeed says the recipe sets PYTHONHASHSEED itself; runs keep its value.
	fixedHashSeed bool
}

// planFor reads an item into a plan, or says why it cannot be validated.
func planFor(item *pipeline.Item) (plan, error) {
	var p plan
	env := item.Environment
	if env == nil || env.ImageName == "" {
		return p, errors.New("validating: the item has no environment (build must come first)")
	}
	p.image, p.workDir, p.parser = env.ImageName, env.WorkDir, env.Recipe.LogParser
	_, p.fixedHashSeed = env.Recipe.Env["PYTHONHASHSEED"]
	if p.workDir == "" {
		p.workDir = "/testbed"
	}
	if _, ok := testlog.Lookup(p.parser); !ok {
		return p, pipeline.Drop("unknown_log_parser", "log parser %q (known: %s)", p.parser, strings.Join(testlog.Names(), ", "))
	}
	if strings.TrimSpace(env.Recipe.TestCmd) == "" {
		return p, pipeline.Drop("no_test_command", "the recipe has no test command")
	}
	if strings.TrimSpace(item.Instance.TestPatch) == "" {
		return p, pipeline.Drop("no_test_patch", "the instance has no test patch")
	}
	if err := gate("test patch", item.Instance.TestPatch); err != nil {
		return p, err
	}
	d, err := difftext.Parse(item.Instance.TestPatch)
	if err != nil {
		return p, pipeline.Drop("bad_test_patch", "reading the test patch: %v", err)
	}
	for _, f := range d.Files {
		p.resetPaths = append(p.resetPaths, f.Paths()...)
		if f.NewPath == "" {
			continue // deleted
		}
		if len(testlog.Args(p.parser, []string{f.NewPath})) > 0 {
			p.testFiles = append(p.testFiles, f.NewPath)
		}
	}
	p.command = testlog.Command(p.parser, env.Recipe.TestCmd, p.testFiles)
	return p, nil
}

// Process validates one instance. Its Output carries the pipeline.Validation and, as
// artifacts, every run's log and the Validation as JSON (ValidationArtifact), which a drop
// keeps too.
//
// The full runs of the two sides alternate (before 0, after 0, before 1...), each started
// after a random delay up to Config.Jitter and with its own seed (seedOf: PYTHONHASHSEED,
// and with Config.Shuffle `go test -shuffle`), so that the runs of a side do not share a
// moment, a hash order or (with Shuffle) a test order. When they find FAIL_TO_PASS tests, those tests run alone Config.Reruns
// more times on each side, and any that disagrees with the full runs is flaky.
func (s *Stage) Process(ctx context.Context, item *pipeline.Item) (pipeline.Output, error) {
	var out pipeline.Output
	p, err := planFor(item)
	if err != nil {
		return out, err
	}
	if strings.TrimSpace(item.Instance.Patch) == "" {
		return out, pipeline.Drop("no_patch", "the instance has no code patch")
	}
	if err := gate("patch", item.Instance.Patch); err != nil {
		return out, err
	}
	if item.Artifacts == nil {
		return out, fmt.Errorf("validating %s: the item has no artifact store", item.Instance.InstanceID)
	}
	log := item.Log
	v := pipeline.Validation{LogParser: p.parser, TestFiles: p.testFiles}

	var jobs []runJob
	for i := range s.cfg.Runs {
		for _, side := range []string{SideBefore, SideAfter} {
			jobs = append(jobs, runJob{side: side, index: i, command: p.command})
		}
	}
	ph, err := s.runPhase(ctx, item, p, jobs, &out)
	if err != nil {
		return out, err
	}
	runs, fate := ph.runs, ph.fate
	if fate == nil {
		vd := classify(runs)
		v.FailToPass, v.PassToPass, v.PassToFail, v.Flaky = vd.failToPass, vd.passToPass, vd.passToFail, vd.flaky
		switch {
		case len(v.FailToPass) > 0:
		case vd.tests == 0:
			// Not the data's verdict: nothing ran, so the test command or the environment is
			// broken (a module that does not resolve, a missing interpreter), and says so in
			// the runs' logs.
			last := runs[len(runs)-1]
			fate = pipeline.Drop(ReasonNoTestsRan, "no test reported a result in any run: the test command or the environment is broken (%s run %d exited with code %d; swemill show prints its log)",
				last.Side, last.Index, last.ExitCode)
		case vd.stable == 0:
			fate = pipeline.Drop("all_flaky", "all %d tests behaved differently across runs", vd.tests)
		default:
			fate = pipeline.Drop("no_fail_to_pass", "no test fails before the fix and passes after it (%d tests, %d pass throughout, %d flaky)",
				vd.tests, len(v.PassToPass), vd.tests-vd.stable)
		}
	}
	if fate == nil && s.cfg.Reruns > 0 {
		args, byID := testlog.SelectArgs(p.parser, v.FailToPass, p.testFiles)
		if len(args) == 0 && p.parser == testlog.GoTest {
			args = []string{"./..."}
		}
		v.Rerun = &pipeline.Rerun{Runs: s.cfg.Reruns, Command: testlog.CommandWith(item.Environment.Recipe.TestCmd, args), ByID: byID}
		if !byID {
			v.Warnings = append(v.Warnings, "the FAIL_TO_PASS tests could not be selected by id, so their re-runs ran the test files")
		}
		jobs = jobs[:0]
		for k := range s.cfg.Reruns {
			for _, side := range []string{SideBefore, SideAfter} {
				jobs = append(jobs, runJob{side: side, index: s.cfg.Runs + k, command: v.Rerun.Command, rerun: true})
			}
		}
		ph, err := s.runPhase(ctx, item, p, jobs, &out)
		if err != nil {
			return out, err
		}
		runs, fate = append(runs, ph.runs...), ph.fate
		if fate == nil {
			c := confirm(runs, v.FailToPass)
			v.FailToPass, v.Flaky = c.failToPass, append(v.Flaky, c.flaky...)
			sortFlaky(v.Flaky)
			if len(c.unselected) > 0 {
				v.Warnings = append(v.Warnings, fmt.Sprintf("%d FAIL_TO_PASS tests reported no result when re-run alone after the fix (%s); their labels rest on the full runs",
					len(c.unselected), strings.Join(firstN(c.unselected, 5), ", ")))
			}
			if len(v.FailToPass) == 0 {
				fate = pipeline.Drop(ReasonFlakyFailToPass, "every FAIL_TO_PASS test (%d) disagreed with the full runs when re-run alone", len(c.flaky))
			}
		}
	}
	sortRuns(runs)
	v.Runs = runs
	if err := s.keep(item, v, &out); err != nil {
		return out, err
	}
	if fate != nil {
		return out, fate
	}
	out.Record = v
	log.Debug().Int("fail_to_pass", len(v.FailToPass)).Int("pass_to_pass", len(v.PassToPass)).
		Int("flaky", len(v.Flaky)).Msg("validated")
	return out, nil
}

// ReasonFlakyFailToPass drops an instance all of whose FAIL_TO_PASS tests, re-run alone,
// disagreed with the full runs.
const ReasonFlakyFailToPass = "fail_to_pass_flaky"

// runJob is one run of a phase.
type runJob struct {
	side    string
	index   int
	command string
	rerun   bool
}

// phase is what a set of runs left.
type phase struct {
	runs []pipeline.TestRun
	// fate is the first problem run's drop; the runs still going were stopped.
	fate *pipeline.DropError
}

// runPhase runs jobs, Config.Parallel at once, each in its own container after its jitter,
// storing each run's log in out. Only the engine's failures (and ctx's) are errors.
func (s *Stage) runPhase(ctx context.Context, item *pipeline.Item, p plan, jobs []runJob, out *pipeline.Output) (phase, error) {
	var ph phase
	runCtx, abort := context.WithCancelCause(ctx)
	defer abort(nil)
	var (
		mu       sync.Mutex
		infraErr error
	)
	wp := pool.New().WithMaxGoroutines(s.cfg.Parallel)
	for _, j := range jobs {
		patches := []patchFile{{"test_patch", item.Instance.TestPatch}}
		if j.side == SideAfter {
			patches = append(patches, patchFile{"patch", item.Instance.Patch})
		}
		wp.Go(func() {
			if !sleepCtx(runCtx, jitter(s.cfg.Jitter)) {
				return
			}
			seed := seedOf(item.Instance.InstanceID, j.side, j.index)
			spec := runSpec{
				image: p.image, workDir: p.workDir, command: j.command, parser: p.parser,
				patches: patches, timeout: s.cfg.RunTimeout, resultsLimit: s.cfg.ResultsLimit,
				env:    []string{"SWEMILL_RUN_SIDE=" + j.side, "SWEMILL_RUN_INDEX=" + strconv.Itoa(j.index)},
				labels: s.labels(item, j.side), seed: seed, hashSeed: !p.fixedHashSeed, shuffle: s.cfg.Shuffle,
			}
			r, err := run(runCtx, s.sb, spec)
			if err != nil {
				if errors.Is(context.Cause(runCtx), errAborted) && ctx.Err() == nil {
					return // killed because another run decided
				}
				mu.Lock()
				if infraErr == nil {
					infraErr = fmt.Errorf("running %s run %d of %s: %w", j.side, j.index, item.Instance.InstanceID, err)
				}
				mu.Unlock()
				abort(err)
				return
			}
			tr := pipeline.TestRun{
				Side: j.side, Index: j.index, Rerun: j.rerun, Seed: seed, ExitCode: r.res.ExitCode, Seconds: r.res.Duration.Seconds(),
				TimedOut: r.res.TimedOut, OOM: r.oomKilled(), Results: resultStatuses(r.parsed),
				Stream: r.stream, Incomplete: r.parsed.Incomplete, Warnings: r.parsed.Warnings,
			}
			ref, perr := item.Artifacts.Put(LogArtifact(j.side, j.index), r.log)
			mu.Lock()
			defer mu.Unlock()
			if perr != nil {
				if infraErr == nil {
					infraErr = fmt.Errorf("storing the log of %s run %d: %w", j.side, j.index, perr)
				}
				abort(perr)
				return
			}
			tr.Log = ref
			ph.runs = append(ph.runs, tr)
			out.Artifacts = append(out.Artifacts, ref)
			ev := item.Log.Debug().Str("side", j.side).Int("run", j.index).Bool("rerun", j.rerun).Int("exit_code", tr.ExitCode).
				Float64("seconds", tr.Seconds).Int("tests", len(tr.Results))
			if reason, detail := r.problem(); reason != "" {
				ev = ev.Str("problem", reason)
				if ph.fate == nil {
					what := ""
					if j.rerun {
						what = "a re-run of the FAIL_TO_PASS tests: "
					}
					ph.fate = pipeline.Drop(reason, "%s run %d: %s%s", j.side, j.index, what, detail)
					abort(errAborted)
				}
			}
			ev.Msg("run done")
		})
	}
	wp.Wait()
	if infraErr != nil {
		return ph, infraErr
	}
	if err := ctx.Err(); err != nil {
		return ph, fmt.Errorf("validating %s: %w", item.Instance.InstanceID, context.Cause(ctx))
	}
	return ph, nil
}

// sortRuns orders runs by side (before first), then index.
func sortRuns(runs []pipeline.TestRun) {
	sort.Slice(runs, func(a, b int) bool {
		if runs[a].Side != runs[b].Side {
			return runs[a].Side == SideBefore
		}
		return runs[a].Index < runs[b].Index
	})
}

// seedOf is the seed of a run: PYTHONHASHSEED, and `go test -shuffle`'s. It is derived
// from the instance, side and index, so the same validation runs with the same seeds
// (a hash-order or test-order failure is reproducible), while no two runs of an instance
// share one. Never 0 (which turns Python's hash randomization off).
func seedOf(instance, side string, index int) uint32 {
	sum := sha256.Sum256(fmt.Appendf(nil, "%s\x00%s\x00%d", instance, side, index))
	if s := binary.BigEndian.Uint32(sum[:4]); s != 0 {
		return s
	}
	return 1
}

// jitter returns a random delay in [0, max).
func jitter(max time.Duration) time.Duration {
	if max <= 0 {
		return 0
	}
	return rand.N(max)
}

// sleepCtx waits d, or until ctx ends; it says whether d passed.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// firstN returns at most the first n of s.
func firstN(s []string, n int) []string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// labels returns the labels of a run's container.
func (s *Stage) labels(item *pipeline.Item, side string) map[string]string {
	l := map[string]string{}
	for k, v := range s.cfg.Labels {
		l[k] = v
	}
	l[sandbox.LabelRole], l[sandbox.LabelInstance], l[LabelSide] = "validate", item.Instance.InstanceID, side
	return l
}

// keep stores the Validation as an artifact.
func (s *Stage) keep(item *pipeline.Item, v pipeline.Validation, out *pipeline.Output) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding the validation of %s: %w", item.Instance.InstanceID, err)
	}
	ref, err := item.Artifacts.Put(ValidationArtifact, append(data, '\n'))
	if err != nil {
		return fmt.Errorf("storing the validation of %s: %w", item.Instance.InstanceID, err)
	}
	out.Artifacts = append(out.Artifacts, ref)
	return nil
}
