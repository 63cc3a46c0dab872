package rollout_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"swemill/envbuild/envbuildtest"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"swemill/difftext"
	"swemill/envbuild"
	"swemill/envbuild/sandbox"
	"swemill/pipeline"
	"swemill/repotest"
	"swemill/stages/rollout"
)

var update = flag.Bool("update", false, "rewrite the golden files")

func TestMain(m *testing.M) {
	envbuildtest.Main(m, envbuildtest.Setup{Child: runChild})
}

// golden compares got with testdata/<name>, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	p := filepath.Join("testdata", name)
	if *update {
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, got, 0o644))
		return
	}
	want, err := os.ReadFile(p)
	require.NoError(t, err, "missing golden file; run with -update")
	if !bytes.Equal(want, got) {
		t.Errorf("%s differs from the golden file (run with -update and review the diff):\n%s", p, firstDiff(string(want), string(got)))
	}
}

func firstDiff(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := 0; i < len(al) || i < len(bl); i++ {
		var x, y string
		if i < len(al) {
			x = al[i]
		}
		if i < len(bl) {
			y = bl[i]
		}
		if x != y {
			return fmt.Sprintf("line %d:\n- %s\n+ %s", i+1, x, y)
		}
	}
	return ""
}

// requestsJSON renders request bodies as one indented JSON array with sorted keys, so the
// golden file shows every field of every request.
func requestsJSON(t *testing.T, bodies [][]byte) []byte {
	t.Helper()
	var all []any
	for _, b := range bodies {
		var v any
		require.NoError(t, json.Unmarshal(b, &v))
		all = append(all, v)
	}
	return indentJSON(t, all)
}

// indentJSON encodes v as the golden files hold JSON: indented, HTML left unescaped.
func indentJSON(t *testing.T, v any) []byte {
	t.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	require.NoError(t, enc.Encode(v))
	return buf.Bytes()
}

// toolObservations returns the results of a trajectory's tool calls, of the tool called
// name ("" for every tool).
func toolObservations(tr pipeline.Trajectory, name string) []string {
	obs := []string{}
	for _, m := range tr.Messages {
		if m.Role == "tool" && (name == "" || m.Name == name) {
			obs = append(obs, m.Content)
		}
	}
	return obs
}

func testLog(t testing.TB) zerolog.Logger {
	return zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.InfoLevel)
}

func newItem(t testing.TB, inst pipeline.Instance, env pipeline.Environment, val pipeline.Validation) *pipeline.Item {
	t.Helper()
	arts, err := pipeline.OpenArtifacts(t.TempDir())
	require.NoError(t, err)
	return &pipeline.Item{Instance: inst, Environment: &env, Validation: &val, Stage: pipeline.StageRollout,
		Generation: 1, Attempt: 1, Artifacts: arts, Log: testLog(t).With().Str("instance", inst.InstanceID).Logger()}
}

// readTrajectories loads the trajectories an Output recorded.
func readTrajectories(t testing.TB, item *pipeline.Item, out pipeline.Output) []pipeline.Trajectory {
	t.Helper()
	rec, ok := out.Record.(pipeline.Rollouts)
	require.True(t, ok, "record is %T", out.Record)
	var trajs []pipeline.Trajectory
	for _, ref := range rec.Trajectories {
		data, err := item.Artifacts.Read(ref.Trajectory)
		require.NoError(t, err)
		var tr pipeline.Trajectory
		require.NoError(t, json.Unmarshal(data, &tr))
		require.Equal(t, ref.TrajectoryID, tr.TrajectoryID)
		require.Equal(t, ref.ExitStatus, tr.ExitStatus)
		require.Equal(t, ref.Resolved, tr.Resolved)
		trajs = append(trajs, tr)
	}
	return trajs
}

// ---- Docker ----

// fixtureSpec says what validate found for a fixture repository at its "base" commit.
type fixtureSpec struct {
	f2p, p2p []string
}

var fixtureSpecs = map[string]fixtureSpec{
	"pyflat": {f2p: []string{"tests/test_ops.py::test_divide_by_zero"}, p2p: []string{"tests/test_ops.py::test_add", "tests/test_ops.py::test_divide"}},
	"pysrc":  {f2p: []string{"tests/test_shout.py::test_shout_strips"}, p2p: []string{"tests/test_shout.py::test_shout"}},
	"gomod":  {f2p: []string{"TestAbsNegative"}, p2p: []string{"TestAbsPositive"}},
}

type builtFixture struct {
	inst pipeline.Instance
	env  pipeline.Environment
	val  pipeline.Validation
	err  error
}

var (
	fixturesMu sync.Mutex
	fixtures   = map[string]*builtFixture{}
	buildMu    sync.Mutex // builds one image at a time: 2 cores
)

// fixtureItem returns a validated item of testdata/repos/<name>.txtar at its "base" commit
// (the pull request's base), with the image built by envbuild. The gold patch and test
// patch are the fix commit's diff, split by difftext as the miner does.
func fixtureItem(t testing.TB, name string) *pipeline.Item {
	t.Helper()
	cli := envbuildtest.Docker(t)
	names := envbuildtest.Bases(t)
	fixturesMu.Lock()
	f, ok := fixtures[name]
	if !ok {
		f = &builtFixture{}
		fixtures[name] = f
	}
	fixturesMu.Unlock()
	buildMu.Lock()
	if f.inst.InstanceID == "" && f.err == nil {
		f.err = buildFixture(cli, names, name, f)
	}
	buildMu.Unlock()
	require.NoError(t, f.err, "building fixture %s", name)
	return newItem(t, f.inst, f.env, f.val)
}

func buildFixture(cli envbuild.Engine, names map[string]string, name string, f *builtFixture) error {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	dir, err := os.MkdirTemp("", "rollout-fixture-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	mirror := filepath.Join(dir, "mirror")
	repo, err := repotest.BuildFile(filepath.Join(mirror, "acme", name), filepath.Join("..", "..", "testdata", "repos", name+".txtar"))
	if err != nil {
		return err
	}
	diff, err := difftext.GitDiff(ctx, repo.Dir, repo.Commits["base"], repo.Commits["fix"])
	if err != nil {
		return err
	}
	split, err := difftext.SplitDiff(diff)
	if err != nil {
		return err
	}
	spec := fixtureSpecs[name]
	f.inst = pipeline.Instance{InstanceID: "acme__" + name + "-rollout", Repo: "acme/" + name, Version: fixtureVersion, PullNumber: 1,
		BaseCommit: repo.Commits["base"], Patch: split.Patch, TestPatch: split.TestPatch,
		ProblemStatement: problemStatements[name], Language: "python"}
	b, err := envbuild.NewBuilder(cli, envbuild.Config{CacheDir: filepath.Join(dir, "cache"), PythonBase: names["python"],
		GoBase: names["go"], Bases: names, Sources: envbuild.SourceConfig{MirrorDir: mirror}, Offline: true, Version: "test",
		BuildNetwork: "none", BuildCPUs: 1}, zerolog.New(os.Stderr).Level(zerolog.WarnLevel))
	if err != nil {
		return err
	}
	res, err := b.Build(ctx, f.inst, zerolog.Nop())
	if err != nil {
		return fmt.Errorf("%w\n%s", err, res.Log)
	}
	f.env = res.Environment
	f.inst.Language = f.env.Recipe.Language
	f.val = pipeline.Validation{FailToPass: spec.f2p, PassToPass: spec.p2p, LogParser: f.env.Recipe.LogParser, TestFiles: split.TestFiles}
	return nil
}

// fixtureVersion is the version of every fixture instance.
const fixtureVersion = "0.1"

// fixtureWorkspace is where the agent finds a fixture's repository with the default
// rollout.Config.Workspace.
func fixtureWorkspace(name string) string { return "/workspace/acme__" + name + "__" + fixtureVersion }

var problemStatements = map[string]string{
	"pyflat": "divide() raises ZeroDivisionError when dividing by zero\n\nCalling `calc.divide(1, 0)` crashes. It should return None instead.",
	"pysrc":  "shout() keeps surrounding whitespace\n\n`shout(\"  hi \")` returns `\"  HI !\"`; it should return `\"HI!\"`.",
	"gomod":  "Abs returns negative numbers\n\n`mathx.Abs(-3)` returns -3 instead of 3.",
}

// sandboxGrader grades in a fresh sandboxed container of the instance image: it resets the
// test files, applies test_patch and the model patch, runs the recipe's test command on the
// test files and reads the results (pytest -rA lines, go test -json events). It stands in
// for validate's grader.
type sandboxGrader struct {
	sb *sandbox.Sandbox
}

func newSandboxGrader(t testing.TB, run string) *sandboxGrader {
	t.Helper()
	sb, err := sandbox.New(envbuildtest.Docker(t), sandbox.Config{RunID: run}, testLog(t))
	require.NoError(t, err)
	return &sandboxGrader{sb: sb}
}

var (
	pytestLine = regexp.MustCompile(`(?m)^(PASSED|FAILED|ERROR|SKIPPED|XFAIL|XPASS) (\S+)`)
	goEvent    = regexp.MustCompile(`"Action":"(pass|fail|skip)","Package":"[^"]*","Test":"([^"]+)"`)
)

func (g *sandboxGrader) Grade(ctx context.Context, item *pipeline.Item, patch string) (rollout.Grade, error) {
	env, val := item.Environment, item.Validation
	var args []string
	for _, f := range val.TestFiles {
		if val.LogParser == "gotest" {
			args = append(args, "./"+filepath.Dir(f))
		} else {
			args = append(args, f)
		}
	}
	script := "cd " + env.WorkDir + "\ngit checkout -q -- " + strings.Join(val.TestFiles, " ") + " 2>/dev/null\n" +
		"git apply /var/tmp/grade/test.patch && git apply /var/tmp/grade/model.patch || { echo SWEMILL-NOT-APPLIED; exit 0; }\n" +
		env.Recipe.TestCmd + " " + strings.Join(args, " ")
	res, err := g.sb.Run(ctx, sandbox.Spec{Image: env.ImageName, Cmd: []string{"/bin/bash", "-c", script}, WorkDir: env.WorkDir,
		Timeout: 5 * time.Minute, Labels: map[string]string{sandbox.LabelRole: "grade"}}, "/var/tmp",
		map[string][]byte{"grade/test.patch": []byte(item.Instance.TestPatch), "grade/model.patch": []byte(patch)})
	if err != nil {
		return rollout.Grade{}, err
	}
	out := append(append([]byte(nil), res.Stdout...), res.Stderr...)
	gr := rollout.Grade{Log: out, Tests: map[string]pipeline.TestStatus{}}
	if bytes.Contains(res.Stdout, []byte("SWEMILL-NOT-APPLIED")) {
		return gr, nil
	}
	gr.Applied = true
	if val.LogParser == "gotest" {
		for _, m := range goEvent.FindAllSubmatch(res.Stdout, -1) {
			gr.Tests[string(m[2])] = map[string]pipeline.TestStatus{"pass": pipeline.TestPassed, "fail": pipeline.TestFailed, "skip": pipeline.TestSkipped}[string(m[1])]
		}
	} else {
		for _, m := range pytestLine.FindAllSubmatch(res.Stdout, -1) {
			gr.Tests[string(m[2])] = pipeline.TestStatus(m[1])
		}
	}
	return gr, nil
}

func nonce() string {
	return fmt.Sprintf("%d-%d", os.Getpid(), time.Now().UnixNano())
}
