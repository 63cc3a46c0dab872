package testlog_test

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"swemill/envbuild/envbuildtest"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"swemill/envbuild"
	"swemill/envbuild/sandbox"
	"swemill/pipeline"
	"swemill/repotest"
	"swemill/testlog"
)

// The golden logs under testdata/golden are real output: `go test ./testlog -run TestGolden
// -update` builds images of the suites in testdata/suites (Python with Debian's Django and
// SymPy added, and Go) on the base images, runs every case's command in the sandbox (no
// network), and writes what the command printed (stdout and stderr merged, as validate runs
// it) to <name>.log and its exit code to <name>.exit. The expectations in <name>.want.json
// are written by hand from what each suite does; -update never touches them. Cases read
// from another result stream than the output (stream set) capture that stream: the pytest
// plugin's records, written in the container and copied out.

var (
	update  = flag.Bool("update", false, "re-capture the golden logs by running the suites in Docker")
	capture = flag.String("capture", "", "re-capture only these golden cases (comma-separated names) by running them in Docker")
)

// goldenCase is one captured command.
type goldenCase struct {
	name   string // testdata/golden/<name>.log
	suite  string // testdata/suites/<suite>.txtar: "python", "go", "javascript", "rust", "java"
	dir    string // where the command runs, under the work tree
	cmd    string
	parser string
	// stream is the result stream captured (testlog.Streams); empty means the output.
	stream string
}

const pytestCmd = "python -m pytest --no-header -rA --tb=no -p no:cacheprovider"

// cargoCmd is the inferred Rust test command's start.
const cargoCmd = "cargo test --no-fail-fast"

var goldenCases = []goldenCase{
	{"pytest_summary", "python", ".", pytestCmd + " pt/test_outcomes.py", testlogPytest, ""},
	{"pytest_verbose", "python", ".", pytestCmd + " -v pt/test_outcomes.py", testlogPytest, ""},
	{"pytest_long_tracebacks", "python", ".", "python -m pytest -rA -p no:cacheprovider pt/test_outcomes.py", testlogPytest, ""},
	{"pytest_collection_error", "python", ".", pytestCmd + " pt/test_collect_error.py pt/test_ok.py", testlogPytest, ""},
	{"pytest_no_tests", "python", ".", pytestCmd + " pt/test_empty.py", testlogPytest, ""},
	{"pytest_missing_file", "python", ".", pytestCmd + " pt/test_missing.py", testlogPytest, ""},
	{"pytest_all_pass", "python", ".", pytestCmd + " pt/test_ok.py", testlogPytest, ""},
	{"unittest_verbose", "python", ".", "python -m unittest -v ut/test_unit.py", testlogUnittest, ""},
	{"unittest_unbuffered", "python", ".", "PYTHONUNBUFFERED=1 python -m unittest -v ut/test_unit.py", testlogUnittest, ""},
	{"unittest_import_error", "python", ".", "python -m unittest -v ut/test_broken.py ut/test_ok.py", testlogUnittest, ""},
	{"unittest_all_pass", "python", ".", "python -m unittest -v ut/test_ok.py", testlogUnittest, ""},
	{"django_verbose", "python", "dj", "python runtests.py --verbosity 2 shelf.tests shelf.test_more", testlogDjango, ""},
	{"django_import_error", "python", "dj", "python runtests.py --verbosity 2 shelf.test_missing shelf.test_more", testlogDjango, ""},
	{"sympy_verbose", "python", "sym", "python bin/test -C --verbose symdemo/tests/test_demo.py symdemo/tests/test_other.py", testlogSympy, ""},
	{"sympy_all_pass", "python", "sym", "python bin/test -C --verbose symdemo/tests/test_other.py", testlogSympy, ""},
	{"gotest_all", "go", ".", "go test -json -count=1 ./...", testlogGoTest, ""},
	{"gotest_all_pass", "go", ".", "go test -json -count=1 ./okpkg ./notests", testlogGoTest, ""},
	{"gotest_build_failure", "go", ".", "go test -json -count=1 ./broken", testlogGoTest, ""},
	{"gotest_binary_died", "go", ".", "go test -json -count=1 ./_died", testlogGoTest, ""},
	{"pytest_plugin_outcomes", "python", ".", pytestCmd + " pt/test_outcomes.py", testlogPytest, testlog.StreamPytest},
	{"pytest_plugin_collection_error", "python", ".", pytestCmd + " pt/test_collect_error.py pt/test_ok.py", testlogPytest, testlog.StreamPytest},
	{"pytest_plugin_missing_file", "python", ".", pytestCmd + " pt/test_missing.py", testlogPytest, testlog.StreamPytest},
	{"pytest_plugin_no_tests", "python", ".", pytestCmd + " pt/test_empty.py", testlogPytest, testlog.StreamPytest},
	{"pytest_plugin_nested", "python", ".", pytestCmd + " pt/test_nested.py", testlogPytest, testlog.StreamPytest},
	{"pytest_plugin_exits", "python", ".", pytestCmd + " pt/test_exits.py", testlogPytest, testlog.StreamPytest},
	{"jest_outcomes", "javascript", ".", jestCmd + " --runTestsByPath __tests__/outcomes.test.js __tests__/shared.test.js __tests__/shared_fail.test.js", testlogJest, ""},
	{"jest_json_outcomes", "javascript", ".", jestCmd + " --runTestsByPath __tests__/outcomes.test.js __tests__/shared.test.js __tests__/shared_fail.test.js", testlogJest, testlog.StreamJest},
	{"jest_suite_errors", "javascript", ".", jestCmd + " --runTestsByPath __tests__/broken.test.js __tests__/syntax.test.js __tests__/ok.test.js", testlogJest, ""},
	{"jest_json_suite_errors", "javascript", ".", jestCmd + " --runTestsByPath __tests__/broken.test.js __tests__/syntax.test.js __tests__/ok.test.js", testlogJest, testlog.StreamJest},
	{"jest_all_pass", "javascript", ".", jestCmd + " --runTestsByPath __tests__/ok.test.js", testlogJest, ""},
	{"jest_json_all_pass", "javascript", ".", jestCmd + " --runTestsByPath __tests__/ok.test.js", testlogJest, testlog.StreamJest},
	{"jest_report_crash", "javascript", ".", jestCmd + " --runTestsByPath __tests__/circular.test.js __tests__/ok.test.js", testlogJest, ""},
	{"jest_json_selected", "javascript", ".", jestCmd + " -t '^(?:math div nested passes|top level passes)$' --runTestsByPath __tests__/outcomes.test.js", testlogJest, testlog.StreamJest},
	{"maven_junit4", "java", ".", mavenCmd + " -pl core", testlogMaven, ""},
	{"maven_surefire_junit4", "java", ".", mavenCmd + " -pl core", testlogMaven, testlog.StreamSurefire},
	{"maven_surefire_jupiter", "java", ".", mavenCmd + " -pl jupiter", testlogMaven, testlog.StreamSurefire},
	{"maven_compile_error", "java", ".", mavenCmd + " -pl broken", testlogMaven, ""},
	{"maven_surefire_crash", "java", ".", mavenCmd + " -pl crash", testlogMaven, testlog.StreamSurefire},
	{"maven_surefire_selected", "java", ".", mavenCmd + " -pl core,jupiter -Dtest=demo.CalcTest#passes+skippedIgnored,demo.PrintsTest,demo.jupiter.MathTest#passes -Dsurefire.failIfNoSpecifiedTests=false", testlogMaven, testlog.StreamSurefire},
	{"cargo_mixed", "rust", "mixed", cargoCmd, testlogCargo, ""},
	{"cargo_all_pass", "rust", "ok", cargoCmd, testlogCargo, ""},
	{"cargo_single_thread", "rust", "mixed", cargoCmd + " --lib -- --test-threads=1 --nocapture", testlogCargo, ""},
	{"cargo_selected", "rust", "mixed", cargoCmd + " --lib --test integ -- --exact tests::passes 'tests::should_panic_passes' integ_fails", testlogCargo, ""},
	{"cargo_workspace_targets", "rust", ".", cargoCmd + " --workspace --exclude broken --test api --test other", testlogCargo, ""},
	{"cargo_compile_error", "rust", "broken", cargoCmd, testlogCargo, ""},
	{"cargo_no_such_target", "rust", "ok", cargoCmd + " --test nope", testlogCargo, ""},
	{"cargo_binary_died", "rust", "died", cargoCmd, testlogCargo, ""},
	{"cargo_forged", "rust", "forged", cargoCmd + " --lib", testlogCargo, ""},
	{"cargo_foreign_names", "rust", "forged", cargoCmd + " --test uitest", testlogCargo, ""},
}

// Parser names, spelled out so a rename in the package shows up here.
const (
	testlogPytest   = "pytest"
	testlogUnittest = "unittest"
	testlogDjango   = "django"
	testlogSympy    = "sympy"
	testlogGoTest   = "gotest"
	testlogMaven    = "maven"
	testlogJest     = "jest"
	testlogCargo    = "cargo"
)

// jestCmd is the test command inference gives a Jest project offline (Debian's Jest).
const jestCmd = "jest " + testlog.JestResultsFlags

// javascriptSpec is the recipe of the JavaScript suite's image: what offline inference makes
// (nothing to install; Debian's Jest).
const javascriptSpec = `language: javascript
test_cmd: jest
log_parser: jest
`

const mavenCmd = "mvn -o -B test"

// javaSpec is the recipe of the Java suite's image: the offline recipe inference makes,
// warmed up on the modules whose tests build and keep their JVM.
const javaSpec = `language: java
install:
  - swemill-debian-maven -B test -Dmaven.test.failure.ignore=true -DfailIfNoTests=false -pl core,jupiter
  - swemill-debian-maven -B -q clean
test_cmd: mvn -o -B test
log_parser: maven
`

// surefireRun runs cmd as validate does for the maven parser: old reports removed first,
// then the reports and the output collected into $SWEMILL_RESULTS/surefire.tar.
func surefireRun(cmd string) string {
	return "export SWEMILL_RESULTS=/var/tmp/swemill/results && mkdir -p $SWEMILL_RESULTS && " + testlog.SurefireClean +
		" && { " + cmd + " > $SWEMILL_RESULTS/output 2>&1; rc=$?; " + testlog.SurefireCollect + "; exit $rc; }"
}

// pythonSpec is the recipe of the Python suites' image: the base image plus Debian's Django
// and SymPy.
const pythonSpec = `language: python
system_packages: [python3-django, python3-sympy]
test_cmd: python -m pytest
log_parser: pytest
`

// pluginEnv loads the pytest plugin from /var/tmp/swemill/py, as validate does.
const pluginEnv = "mkdir -p /var/tmp/swemill/results && export PYTHONPATH=/var/tmp/swemill/py PYTEST_PLUGINS=" +
	testlog.PytestPluginModule + " SWEMILL_PYTEST_RESULTS=/var/tmp/swemill/results/" + testlog.StreamPytest + " && "

// captureCases runs golden cases in Docker (every case, or those named in only) and
// rewrites their .log and .exit files.
func captureCases(t *testing.T, only map[string]bool) {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Minute)
	defer cancel()
	log := zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.InfoLevel)
	cli, err := envbuild.Connect(ctx, "")
	require.NoError(t, err, "-update needs a Docker engine")
	defer cli.Close()
	bases, err := envbuild.BuildBases(ctx, cli, envbuild.BaseConfig{CacheDir: envbuildtest.CacheDir(), GoRoot: envbuildtest.GoRoot(), Version: "test"}, log)
	require.NoError(t, err)
	names := map[string]string{}
	for _, b := range bases {
		names[b.Language] = b.Name
	}
	dir := t.TempDir()
	mirror, specDir := filepath.Join(dir, "mirror"), filepath.Join(dir, "specs")
	p := envbuild.SpecPath(specDir, "acme/logsuite-python")
	require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
	require.NoError(t, os.WriteFile(p, []byte(pythonSpec), 0o644))
	p = envbuild.SpecPath(specDir, "acme/logsuite-java")
	require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
	require.NoError(t, os.WriteFile(p, []byte(javaSpec), 0o644))
	p = envbuild.SpecPath(specDir, "acme/logsuite-javascript")
	require.NoError(t, os.WriteFile(p, []byte(javascriptSpec), 0o644))
	b, err := envbuild.NewBuilder(cli, envbuild.Config{
		CacheDir: filepath.Join(dir, "cache"), PythonBase: names["python"], GoBase: names["go"], Bases: names,
		Sources: envbuild.SourceConfig{MirrorDir: mirror}, SpecDir: specDir, Version: "test", BuildCPUs: 1,
	}, log)
	require.NoError(t, err)
	images := map[string]string{}
	var suites []string
	for _, c := range goldenCases {
		if (len(only) == 0 || only[c.name]) && !slices.Contains(suites, c.suite) {
			suites = append(suites, c.suite)
		}
	}
	for _, suite := range suites {
		repo := "acme/logsuite-" + suite
		r, err := repotest.BuildFile(filepath.Join(mirror, filepath.FromSlash(repo)), filepath.Join("testdata", "suites", suite+".txtar"))
		require.NoError(t, err)
		res, err := b.Build(ctx, pipeline.Instance{InstanceID: "acme__logsuite-" + suite + "-1", Repo: repo, BaseCommit: r.Commits["suites"]}, log)
		require.NoError(t, err, "build log:\n%s", res.Log)
		images[suite] = res.Environment.ImageName
	}
	sb, err := sandbox.New(cli, sandbox.Config{RunID: fmt.Sprintf("testlog-capture-%d", os.Getpid()), OutputLimit: 8 << 20}, log)
	require.NoError(t, err)
	for _, c := range goldenCases {
		if len(only) > 0 && !only[c.name] {
			continue
		}
		pre, files := "", map[string][]byte(nil)
		if c.stream == testlog.StreamPytest {
			pre, files = pluginEnv, map[string][]byte{"swemill/py/" + testlog.PytestPluginModule + ".py": testlog.PytestPlugin}
		}
		cmd := pre + "cd /testbed/" + c.dir + " && " + c.cmd + " 2>&1"
		if c.stream == testlog.StreamSurefire {
			cmd = "cd /testbed/" + c.dir + " && " + surefireRun(c.cmd)
		}
		if c.parser == testlogJest {
			// Jest writes its JSON report into $SWEMILL_RESULTS, as validate runs it.
			cmd = "export SWEMILL_RESULTS=/var/tmp/swemill/results && mkdir -p $SWEMILL_RESULTS && " + cmd
		}
		out, exit := captureOne(ctx, t, sb, images[c.suite], cmd, files, c.stream)
		base := filepath.Join("testdata", "golden", c.name)
		require.NoError(t, os.WriteFile(base+".log", out, 0o644))
		require.NoError(t, os.WriteFile(base+".exit", []byte(strconv.Itoa(exit)+"\n"), 0o644))
		t.Logf("captured %s: exit %d, %d bytes", c.name, exit, len(out))
	}
}

// captureOne runs cmd in a container of image with files under /var/tmp, and returns what
// it printed (stream "") or the named result stream, and its exit code.
func captureOne(ctx context.Context, t *testing.T, sb *sandbox.Sandbox, image, cmd string, files map[string][]byte, stream string) ([]byte, int) {
	c, err := sb.Create(ctx, sandbox.Spec{Image: image, Timeout: 10 * time.Minute, Cmd: []string{"/bin/bash", "-c", cmd}})
	require.NoError(t, err)
	defer c.Remove(ctx)
	if len(files) > 0 {
		require.NoError(t, c.CopyIn(ctx, "/var/tmp", files))
	}
	res, err := c.Run(ctx)
	require.NoError(t, err)
	require.False(t, res.TimedOut || res.StdoutTruncated, "%s: timed out or too much output", cmd)
	if stream == "" {
		return res.Stdout, res.ExitCode
	}
	var data []byte
	require.NoError(t, c.ReadFiles(ctx, "/var/tmp/swemill/results/"+stream, func(_ string, _ int64, r io.Reader) error {
		data, err = io.ReadAll(r)
		return err
	}))
	return data, res.ExitCode
}
