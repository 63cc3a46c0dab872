package testlog_test

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
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
)

// The golden logs under testdata/golden are real output: `go test ./testlog -run TestGolden
// -update` builds images of the suites in testdata/suites (Python with Debian's Django and
// SymPy added, and Go) on the base images, runs every case's command in the sandbox (no
// network), and writes what the command printed (stdout and stderr merged, as validate runs
// it) to <name>.log and its exit code to <name>.exit. The expectations in <name>.want.json
// are written by hand from what each suite does; -update never touches them.

var update = flag.Bool("update", false, "re-capture the golden logs by running the suites in Docker")

// goldenCase is one captured command.
type goldenCase struct {
	name   string // testdata/golden/<name>.log
	suite  string // "python" or "go"
	dir    string // where the command runs, under the work tree
	cmd    string
	parser string
}

const pytestCmd = "python -m pytest --no-header -rA --tb=no -p no:cacheprovider"

var goldenCases = []goldenCase{
	{"pytest_summary", "python", ".", pytestCmd + " pt/test_outcomes.py", testlogPytest},
	{"pytest_verbose", "python", ".", pytestCmd + " -v pt/test_outcomes.py", testlogPytest},
	{"pytest_long_tracebacks", "python", ".", "python -m pytest -rA -p no:cacheprovider pt/test_outcomes.py", testlogPytest},
	{"pytest_collection_error", "python", ".", pytestCmd + " pt/test_collect_error.py pt/test_ok.py", testlogPytest},
	{"pytest_no_tests", "python", ".", pytestCmd + " pt/test_empty.py", testlogPytest},
	{"pytest_missing_file", "python", ".", pytestCmd + " pt/test_missing.py", testlogPytest},
	{"pytest_all_pass", "python", ".", pytestCmd + " pt/test_ok.py", testlogPytest},
	{"unittest_verbose", "python", ".", "python -m unittest -v ut/test_unit.py", testlogUnittest},
	{"unittest_unbuffered", "python", ".", "PYTHONUNBUFFERED=1 python -m unittest -v ut/test_unit.py", testlogUnittest},
	{"unittest_import_error", "python", ".", "python -m unittest -v ut/test_broken.py ut/test_ok.py", testlogUnittest},
	{"unittest_all_pass", "python", ".", "python -m unittest -v ut/test_ok.py", testlogUnittest},
	{"django_verbose", "python", "dj", "python runtests.py --verbosity 2 shelf.tests shelf.test_more", testlogDjango},
	{"django_import_error", "python", "dj", "python runtests.py --verbosity 2 shelf.test_missing shelf.test_more", testlogDjango},
	{"sympy_verbose", "python", "sym", "python bin/test -C --verbose symdemo/tests/test_demo.py symdemo/tests/test_other.py", testlogSympy},
	{"sympy_all_pass", "python", "sym", "python bin/test -C --verbose symdemo/tests/test_other.py", testlogSympy},
	{"gotest_all", "go", ".", "go test -json -count=1 ./...", testlogGoTest},
	{"gotest_all_pass", "go", ".", "go test -json -count=1 ./okpkg ./notests", testlogGoTest},
	{"gotest_build_failure", "go", ".", "go test -json -count=1 ./broken", testlogGoTest},
}

// Parser names, spelled out so a rename in the package shows up here.
const (
	testlogPytest   = "pytest"
	testlogUnittest = "unittest"
	testlogDjango   = "django"
	testlogSympy    = "sympy"
	testlogGoTest   = "gotest"
)

// pythonSpec is the recipe of the Python suites' image: the base image plus Debian's Django
// and SymPy.
const pythonSpec = `language: python
system_packages: [python3-django, python3-sympy]
test_cmd: python -m pytest
log_parser: pytest
`

// capture runs every golden case in Docker and rewrites its .log and .exit files.
func capture(t *testing.T) {
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
	b, err := envbuild.NewBuilder(cli, envbuild.Config{
		CacheDir: filepath.Join(dir, "cache"), PythonBase: names["python"], GoBase: names["go"],
		Sources: envbuild.SourceConfig{MirrorDir: mirror}, SpecDir: specDir, Version: "test", BuildCPUs: 1,
	}, log)
	require.NoError(t, err)
	images := map[string]string{}
	for _, suite := range []string{"python", "go"} {
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
		res, err := sb.Run(ctx, sandbox.Spec{
			Image: images[c.suite], Timeout: 10 * time.Minute,
			Cmd: []string{"/bin/bash", "-c", "cd /testbed/" + c.dir + " && " + c.cmd + " 2>&1"},
		}, "", nil)
		require.NoError(t, err, c.name)
		require.False(t, res.TimedOut || res.StdoutTruncated, "%s: timed out or too much output", c.name)
		base := filepath.Join("testdata", "golden", c.name)
		require.NoError(t, os.WriteFile(base+".log", res.Stdout, 0o644))
		require.NoError(t, os.WriteFile(base+".exit", []byte(strconv.Itoa(res.ExitCode)+"\n"), 0o644))
		t.Logf("captured %s: exit %d, %d bytes", c.name, res.ExitCode, len(res.Stdout))
	}
}
