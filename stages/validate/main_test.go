package validate_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
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
	"swemill/stages/validate"
)

// The Docker tests build the fixture repositories of ../../testdata/repos into instance
// images with envbuild (on the base images, from the debootstrap cache in envbuildtest.CacheDir(), as
// envbuild's tests do; the images are kept, so a second run finds them) and validate them
// in sandboxed containers labelled with this process's run id (runID), all of which must be
// gone when each test ends.

var (
	workDir string // this process's temporary directory
	runID   = fmt.Sprintf("validate-test-%d-%d", os.Getpid(), time.Now().UnixNano())
)

func TestMain(m *testing.M) {
	var err error
	workDir, err = os.MkdirTemp("", "swemill-validate-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	envbuildtest.Main(m, envbuildtest.Setup{RunID: runID, After: func() { os.RemoveAll(workDir) }})
}

// fixture is a fixture repository built into an instance.
type fixture struct {
	once sync.Once
	inst pipeline.Instance
	env  pipeline.Environment
	err  error
}

var (
	fixturesMu sync.Mutex
	fixtures   = map[string]*fixture{}
	builderMu  sync.Mutex
	builder    *envbuild.Builder
	buildSlots = make(chan struct{}, 2) // at most two image builds at once: 2 cores
)

// instance returns the instance of testdata/repos/<name>.txtar whose base commit is the
// "base" commit and whose patches are the diff from "base" to "fix" ("fix" is the pull
// request's head), split into code and tests by difftext as the miner does; its image is
// built once per test binary.
func instance(t testing.TB, name string) (pipeline.Instance, pipeline.Environment) {
	t.Helper()
	return instanceOf(t, name, nil)
}

// instanceOf is instance for the fixture repository that description describes (txtar, as
// in testdata/repos), or, when description is nil, for testdata/repos/<name>.txtar.
func instanceOf(t testing.TB, name string, description []byte) (pipeline.Instance, pipeline.Environment) {
	t.Helper()
	cli := envbuildtest.Docker(t)
	names := envbuildtest.Bases(t)
	fixturesMu.Lock()
	f, ok := fixtures[name]
	if !ok {
		f = &fixture{}
		fixtures[name] = f
	}
	fixturesMu.Unlock()
	f.once.Do(func() { f.err = buildFixture(cli, names, name, description, f) })
	require.NoError(t, f.err, "building fixture %s", name)
	return f.inst, f.env
}

func buildFixture(cli envbuild.Engine, names map[string]string, name string, description []byte, f *fixture) error {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	mirror := filepath.Join(workDir, "mirror")
	builderMu.Lock()
	if builder == nil {
		specs, err := filepath.Abs(filepath.Join("testdata", "specs"))
		if err != nil {
			builderMu.Unlock()
			return err
		}
		builder, err = envbuild.NewBuilder(cli, envbuild.Config{
			CacheDir: filepath.Join(workDir, "cache"), PythonBase: names["python"], GoBase: names["go"], Bases: names,
			Sources: envbuild.SourceConfig{MirrorDir: mirror}, SpecDir: specs, Offline: true, Version: "test",
			BuildNetwork: "none", BuildCPUs: 1, RunID: runID,
		}, zerolog.New(os.Stderr).Level(zerolog.WarnLevel))
		if err != nil {
			builderMu.Unlock()
			return err
		}
	}
	b := builder
	builderMu.Unlock()
	var repo *repotest.Repo
	var err error
	if description != nil {
		repo, err = repotest.Build(filepath.Join(mirror, "acme", name), description)
	} else {
		repo, err = repotest.BuildFile(filepath.Join(mirror, "acme", name), filepath.Join("..", "..", "testdata", "repos", name+".txtar"))
	}
	if err != nil {
		return err
	}
	diff, err := difftext.GitDiff(ctx, repo.Dir, repo.Commits["base"]+"..."+repo.Commits["fix"])
	if err != nil {
		return err
	}
	split, err := difftext.SplitDiff(diff)
	if err != nil {
		return err
	}
	f.inst = pipeline.Instance{
		InstanceID: "acme__" + name + "-2", Repo: "acme/" + name, PullNumber: 2,
		BaseCommit: repo.Commits["base"], Patch: split.Patch, TestPatch: split.TestPatch,
	}
	buildSlots <- struct{}{}
	defer func() { <-buildSlots }()
	res, err := b.Build(ctx, f.inst, zerolog.Nop())
	if err != nil {
		return fmt.Errorf("%w\n%s", err, res.Log)
	}
	f.env = res.Environment
	return nil
}

// item returns a fresh item of a fixture instance, with its own artifact store.
func item(t testing.TB, name string) *pipeline.Item {
	t.Helper()
	return itemOf(t, name, nil)
}

// itemOf is item for a fixture given by its description (see instanceOf).
func itemOf(t testing.TB, name string, description []byte) *pipeline.Item {
	t.Helper()
	inst, env := instanceOf(t, name, description)
	store, err := pipeline.OpenArtifacts(t.TempDir())
	require.NoError(t, err)
	return &pipeline.Item{
		Instance: inst, Environment: &env, Stage: pipeline.StageValidate, Generation: 1, Attempt: 1,
		Artifacts: store, Log: zerolog.New(zerolog.NewTestWriter(t)).With().Str("instance", inst.InstanceID).Logger(),
	}
}

// newSandbox returns a sandbox of this process's run, with cfg's limits.
func newSandbox(t testing.TB, cfg sandbox.Config) *sandbox.Sandbox {
	t.Helper()
	cfg.RunID = runID
	sb, err := sandbox.New(envbuildtest.Docker(t), cfg, zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel))
	require.NoError(t, err)
	return sb
}

func newStage(t testing.TB, sb *sandbox.Sandbox, cfg validate.Config) *validate.Stage {
	t.Helper()
	s, err := validate.New(sb, cfg)
	require.NoError(t, err)
	return s
}

// labelTest marks the containers of one test, so that it can check that it left none.
const labelTest = "swemill.test"

// testLabels returns labels unique to one test.
func testLabels() map[string]string {
	return map[string]string{labelTest: fmt.Sprintf("%d", testSeq.Add(1))}
}

var testSeq atomic.Int64

// containersWith lists the containers of this process's run that carry labels.
func containersWith(t testing.TB, labels map[string]string) []envbuildtest.Container {
	t.Helper()
	return envbuildtest.RunContainers(t, runID, labels)
}

// readArtifact reads a stored artifact as text.
func readArtifact(t testing.TB, it *pipeline.Item, ref pipeline.ArtifactRef) string {
	t.Helper()
	data, err := it.Artifacts.Read(ref)
	require.NoError(t, err)
	return string(data)
}

func runsOf(v pipeline.Validation, side string) []pipeline.TestRun {
	var out []pipeline.TestRun
	for _, r := range v.Runs {
		if r.Side == side {
			out = append(out, r)
		}
	}
	return out
}

func prefixed(prefix string, names ...string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = prefix + n
	}
	return out
}
