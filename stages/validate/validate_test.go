package validate_test

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"swemill/envbuild/sandbox"
	"swemill/pipeline"
	"swemill/stages/validate"
)

// expectation is what validating a fixture must give, from the fixture's own description.
type expectation struct {
	fixture    string
	parser     string
	testFiles  []string
	failToPass []string
	passToPass []string
	passToFail []string
	flaky      []string // flaky on both sides, passing 2 of 3 runs
}

var expectations = []expectation{
	{
		fixture: "pytextkit", parser: "pytest", testFiles: []string{"tests/test_slug.py"},
		failToPass: prefixed("tests/test_slug.py::",
			"TestSeparator::test_punctuation_with_sep",
			"test_slugify[Hello, World!-hello-world]",
			"test_slugify[[draft] Post #1-draft-post-1]",
			"test_titles_with_punctuation",
		),
		passToPass: prefixed("tests/test_slug.py::",
			"TestSeparator::test_custom_sep",
			"TestSeparator::test_default_sep",
			"test_slugify[  spaced   out  -spaced-out]",
			"test_slugify[Hello World-hello-world]",
			"test_titles",
		),
		passToFail: []string{"tests/test_slug.py::test_symbols_survive"},
		flaky:      []string{"tests/test_slug.py::test_slug_cache_is_warm"},
	},
	{
		fixture: "pyinventory", parser: "unittest", testFiles: []string{"tests/test_stock.py"},
		failToPass: []string{
			"test_remove_to_zero_forgets (tests.test_stock.StockTest)",
			"test_remove_too_many (tests.test_stock.StockTest)",
			"test_remove_unknown (tests.test_stock.StockTest)",
		},
		passToPass: []string{
			"test_add (tests.test_stock.StockTest)",
			"test_counts_by_name (tests.test_stock.StockTest)",
			"test_quantities (tests.test_stock.StockTest)",
			"test_remove (tests.test_stock.StockTest)",
		},
		flaky: []string{"test_restock_window (tests.test_stock.ClockTest)"},
	},
	{
		fixture: "gokit", parser: "gotest", testFiles: []string{"units/units_test.go"},
		failToPass: []string{"TestParseSize", "TestParseSize/3_kb", "TestParseSize/4mb"},
		passToPass: []string{
			"TestParseSize/10B", "TestParseSize/1MB", "TestParseSize/2KB",
			"TestParseSizeErrors", "TestParseSizeErrors/empty", "TestParseSizeErrors/no_number",
		},
		flaky: []string{"TestCacheWarm"},
	},
}

// TestValidateFixtures validates the fixture repositories (pytest, unittest, Go) with the
// default configuration (3 runs a side, 5 re-runs a side of the FAIL_TO_PASS tests) and checks the exact lists, the flaky test, the runs
// and their logs, the stored Validation, and that no container is left.
func TestValidateFixtures(t *testing.T) {
	t.Parallel()
	sb := newSandbox(t, sandbox.Config{})
	labels := testLabels()
	stage := newStage(t, sb, validate.Config{Labels: labels})
	for _, e := range expectations {
		t.Run(e.fixture, func(t *testing.T) {
			t.Parallel()
			it := item(t, e.fixture)
			out, err := stage.Process(t.Context(), it)
			require.NoError(t, err)
			v, ok := out.Record.(pipeline.Validation)
			require.True(t, ok, "record is %T", out.Record)

			assert.Equal(t, e.parser, v.LogParser)
			assert.Equal(t, e.testFiles, v.TestFiles)
			assert.Equal(t, e.failToPass, v.FailToPass, "FAIL_TO_PASS")
			assert.Equal(t, e.passToPass, v.PassToPass, "PASS_TO_PASS")
			assert.Equal(t, e.passToFail, v.PassToFail, "pass-to-fail")
			var flaky []pipeline.FlakyTest
			for _, name := range e.flaky {
				for _, side := range []string{validate.SideBefore, validate.SideAfter} {
					flaky = append(flaky, pipeline.FlakyTest{Name: name, Side: side, PassRate: 2.0 / 3, Runs: 3})
				}
			}
			assert.Equal(t, flaky, v.Flaky, "the flaky test is reported on both sides and excluded")

			// Six full runs, then five re-runs a side of the FAIL_TO_PASS tests alone, in
			// order, each with its results, its seed and its log.
			full, reruns := 3, validate.DefaultReruns
			require.Len(t, v.Runs, 2*(full+reruns))
			require.NotNil(t, v.Rerun)
			assert.Equal(t, reruns, v.Rerun.Runs)
			assert.Equal(t, e.parser != "unittest", v.Rerun.ByID, "pytest and go test select by id: %s", v.Rerun.Command)
			seeds := map[uint32]bool{}
			for i, r := range v.Runs {
				side, index := validate.SideBefore, i
				if i >= full+reruns {
					side, index = validate.SideAfter, i-full-reruns
				}
				assert.Equal(t, side, r.Side)
				assert.Equal(t, index, r.Index)
				assert.Equal(t, index >= full, r.Rerun, "%s run %d", side, index)
				assert.NotZero(t, r.Seed)
				assert.False(t, seeds[r.Seed], "every run has its own seed")
				seeds[r.Seed] = true
				failing := false
				for _, st := range r.Results {
					failing = failing || st == pipeline.TestFailed || st == pipeline.TestError
				}
				assert.Equal(t, failing, r.ExitCode != 0, "%s run %d: exit code %d", side, r.Index, r.ExitCode)
				assert.False(t, r.TimedOut || r.OOM)
				assert.Equal(t, validate.LogArtifact(side, index), r.Log.Name)
				log := readArtifact(t, it, r.Log)
				assert.Contains(t, log, "swemill: apply test_patch: ok (git apply)")
				if side == validate.SideAfter {
					assert.Contains(t, log, "swemill: apply patch: ok (git apply)")
				} else {
					assert.NotContains(t, log, "apply patch:")
				}
				assert.Contains(t, log, "swemill: ----- test output -----")
				seed := strconv.FormatUint(uint64(r.Seed), 10)
				assert.Contains(t, log, "swemill: PYTHONHASHSEED="+seed)
				assert.NotContains(t, log, "-test.shuffle", "go test -shuffle is off by default")
				if r.Rerun {
					for _, f2p := range e.failToPass {
						st := r.Results[f2p]
						if side == validate.SideAfter {
							assert.Equal(t, pipeline.TestPassed, st, "%s in %s re-run %d", f2p, side, r.Index)
						} else {
							assert.NotEqual(t, pipeline.TestPassed, st, "%s in %s re-run %d", f2p, side, r.Index)
						}
					}
					if e.parser == "pytest" && side == validate.SideAfter {
						assert.Len(t, r.Results, len(e.failToPass), "only the selected tests ran")
					}
					continue
				}
				assert.NotEmpty(t, r.Results)
				// The flaky test fails exactly in the odd runs.
				want := r.Index%2 == 0
				assert.Equal(t, want, r.Results[e.flaky[0]] == pipeline.TestPassed, "%s run %d", side, r.Index)
			}
			// Every run's log and the Validation are artifacts; the stored Validation is the
			// record.
			assert.Len(t, out.Artifacts, 2*(full+reruns)+1)
			var stored pipeline.Validation
			for _, a := range out.Artifacts {
				if a.Name == validate.ValidationArtifact {
					require.NoError(t, json.Unmarshal([]byte(readArtifact(t, it, a)), &stored))
				}
			}
			assert.Equal(t, v, stored)

			var table bytes.Buffer
			require.NoError(t, validate.WriteTestTable(&table, v))
			for _, name := range e.failToPass {
				assert.Regexp(t, `(?m)^  `+regexpQuote(name)+` +[FE-]{3} [FE-]{5} +PPP PPPPP +FAIL_TO_PASS$`, table.String())
			}
			assert.Regexp(t, `(?m)^  `+regexpQuote(e.flaky[0])+` +PFP( FPFPF)? +PFP( FPFPF)? +flaky`, table.String())
			t.Logf("\n%s", table.String())

			assert.Empty(t, containersWith(t, map[string]string{labelTest: labels[labelTest], sandbox.LabelInstance: it.Instance.InstanceID}),
				"no container is left")
		})
	}
}

func regexpQuote(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`\.+*?()|[]{}^$`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// TestSingleRun validates with one run a side, one at a time, no re-runs: no flake detection,
// so the flaky test (which passes in run 0) counts as passing throughout.
func TestSingleRun(t *testing.T) {
	t.Parallel()
	labels := testLabels()
	stage := newStage(t, newSandbox(t, sandbox.Config{}), validate.Config{Runs: 1, Parallel: 1, Reruns: -1, Labels: labels})
	it := item(t, "pytextkit")
	out, err := stage.Process(t.Context(), it)
	require.NoError(t, err)
	assert.Empty(t, containersWith(t, labels))
	v := out.Record.(pipeline.Validation)
	assert.Len(t, v.Runs, 2)
	assert.Empty(t, v.Flaky)
	assert.Contains(t, v.PassToPass, "tests/test_slug.py::test_slug_cache_is_warm")
	assert.Len(t, v.FailToPass, 4)
}

// TestDrops covers instances that are not tasks: each is a drop with its reason, its runs'
// logs and Validation kept as artifacts, and no container left.
func TestDrops(t *testing.T) {
	t.Parallel()
	sb := newSandbox(t, sandbox.Config{})
	cases := []struct {
		name   string
		mutate func(*pipeline.Item)
		reason string
		detail string
	}{
		{
			name: "no fail-to-pass test: the patch is a no-op",
			mutate: func(it *pipeline.Item) {
				it.Instance.Patch = "diff --git a/README.md b/README.md\n--- a/README.md\n+++ b/README.md\n@@ -1 +1,2 @@\n # textkit\n+More.\n"
			},
			reason: "no_fail_to_pass", detail: "no test fails before the fix",
		},
		{
			name: "the patch does not apply",
			mutate: func(it *pipeline.Item) {
				it.Instance.Patch = strings.Replace(it.Instance.Patch, `"""Lower-case text and join its words with sep."""`, `"""Not what the file says."""`, 1)
				it.Instance.Patch = strings.Replace(it.Instance.Patch, `words = re.split(r"\s+", text.strip().lower())`, `words = text.split()`, 1)
			},
			reason: "patch_does_not_apply", detail: "apply patch: FAILED",
		},
		{
			name: "the test patch does not apply",
			mutate: func(it *pipeline.Item) {
				it.Instance.TestPatch = strings.ReplaceAll(it.Instance.TestPatch, "tests/test_slug.py", "tests/test_slugs.py")
			},
			reason: "test_patch_does_not_apply", detail: "apply test_patch: FAILED",
		},
		{
			name:   "the test command is not there",
			mutate: func(it *pipeline.Item) { it.Environment.Recipe.TestCmd = "no-such-runner --verbose" },
			reason: "unparseable_log", detail: "no-such-runner: command not found",
		},
		{
			name: "the output claims passes under a failing exit code",
			mutate: func(it *pipeline.Item) {
				it.Environment.Recipe.TestCmd = "python -m pytest --no-header -rA --tb=no -p no:cacheprovider -k 'test_titles and not punctuation' tests/test_slug.py; exit 3; :"
			},
			reason: "log_exit_mismatch", detail: "exit code 3 but the output reports 1 passing tests and no failure",
		},
		{
			name: "no test runs on either side",
			mutate: func(it *pipeline.Item) {
				it.Environment.Recipe.TestCmd = "python -m pytest --no-header -rA --tb=no -p no:cacheprovider -k no_such_test"
			},
			reason: "no_tests_ran", detail: "no test reported a result in any run",
		},
		{
			name:   "the log parser is unknown",
			mutate: func(it *pipeline.Item) { it.Environment.Recipe.LogParser = "nose" },
			reason: "unknown_log_parser",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			labels := testLabels()
			stage := newStage(t, sb, validate.Config{Runs: 2, Labels: labels})
			it := item(t, "pytextkit")
			env := *it.Environment
			it.Environment = &env
			tc.mutate(it)
			out, err := stage.Process(t.Context(), it)
			d, ok := pipeline.AsDrop(err)
			require.True(t, ok, "want a drop, got %v", err)
			assert.Equal(t, tc.reason, d.Reason, "detail: %s", d.Detail)
			assert.Contains(t, d.Detail, tc.detail)
			assert.Nil(t, out.Record)
			if tc.reason != "unknown_log_parser" {
				require.NotEmpty(t, out.Artifacts, "the logs of the runs are kept")
				var v pipeline.Validation
				for _, a := range out.Artifacts {
					if a.Name == validate.ValidationArtifact {
						require.NoError(t, json.Unmarshal([]byte(readArtifact(t, it, a)), &v))
					}
				}
				require.NotEmpty(t, v.Runs, "the Validation artifact lists the runs")
			}
			assert.Empty(t, containersWith(t, labels), "no container is left")
		})
	}
}

// TestFuzzyApply gives a patch whose context no longer matches exactly: whitespace changed in
// the nearest context line (git apply with less context and whitespace ignored takes it),
// then the nearest context line changed outright (only patch --fuzz takes it, ignoring the
// context).
func TestFuzzyApply(t *testing.T) {
	t.Parallel()
	sb := newSandbox(t, sandbox.Config{})
	cases := []struct{ name, old, new, method string }{
		{"whitespace", `def slugify(text, sep="-"):`, `def  slugify(text,  sep="-"):`, "git apply -C1 --ignore-whitespace"},
		{"changed context", `def slugify(text, sep="-"):`, `def slugify(text, separator="-"):`, "patch --fuzz=3"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			it := item(t, "pytextkit")
			require.Contains(t, it.Instance.Patch, tc.old)
			it.Instance.Patch = strings.Replace(it.Instance.Patch, tc.old, tc.new, 1)
			labels := testLabels()
			out, err := newStage(t, sb, validate.Config{Runs: 1, Reruns: -1, Labels: labels}).Process(t.Context(), it)
			assert.Empty(t, containersWith(t, labels))
			require.NoError(t, err)
			v := out.Record.(pipeline.Validation)
			assert.Len(t, v.FailToPass, 4)
			after := runsOf(v, validate.SideAfter)
			require.Len(t, after, 1)
			assert.Contains(t, readArtifact(t, it, after[0].Log), "swemill: apply patch: ok ("+tc.method+")")
		})
	}
}
