package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"swemill/difftext"
	"swemill/envbuild"
	"swemill/envbuild/envbuildtest"
	"swemill/envbuild/sandbox"
	"swemill/pipeline"
	"swemill/repotest"
	"swemill/runstore"
	"swemill/stages/validate"
)

// TestOracleWithValidateGrader rolls out the oracle through the wired rollout stage, whose
// grader is validate's: the gold patch resolves, and the trajectory's scores are the ones
// validate.Grade gives the same patch.
func TestOracleWithValidateGrader(t *testing.T) {
	t.Parallel()
	cli := envbuildtest.Docker(t)
	bases := envbuildtest.Bases(t)
	env := testEnv(t, "rollout: {backend: oracle}\n", &bytes.Buffer{})
	env.log = zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.InfoLevel)
	env.worker = runstore.NewWorkerID("wire")
	run := env.runID()
	containers := func(t *testing.T) []envbuildtest.Container {
		list, err := envbuildtest.Containers(context.Background(), cli, true, map[string]string{sandbox.LabelRun: run})
		require.NoError(t, err)
		return list
	}
	sb, err := env.testSandbox(cli)
	require.NoError(t, err)
	st, err := wireRollout(env, cli, sb)
	require.NoError(t, err)
	defer st.Close()

	for _, tc := range []struct {
		fixture  string
		f2p, p2p []string
	}{
		{"pyflat", []string{"tests/test_ops.py::test_divide_by_zero"}, []string{"tests/test_ops.py::test_add", "tests/test_ops.py::test_divide"}},
		{"gomod", []string{"TestAbsNegative"}, []string{"TestAbsPositive"}},
	} {
		t.Run(tc.fixture, func(t *testing.T) {
			item := validatedFixture(t, cli, bases, tc.fixture, tc.f2p, tc.p2p)
			out, err := st.Process(t.Context(), item)
			require.NoError(t, err)
			rec, ok := out.Record.(pipeline.Rollouts)
			require.True(t, ok, "record is %T", out.Record)
			require.Len(t, rec.Trajectories, 1)
			data, err := item.Artifacts.Read(rec.Trajectories[0].Trajectory)
			require.NoError(t, err)
			var tr pipeline.Trajectory
			require.NoError(t, json.Unmarshal(data, &tr))
			assert.True(t, tr.Resolved, "flags %v", tr.Flags)

			g, err := validate.Grade(t.Context(), sb, item, tr.ModelPatch, validate.GradeOptions{Timeout: env.cfg.gradeTimeout()})
			require.NoError(t, err)
			f2p, f2pTotal, p2p, p2pTotal := g.Counts()
			assert.Equal(t, [5]any{g.Resolved, f2p, f2pTotal, p2p, p2pTotal},
				[5]any{tr.Resolved, tr.F2PPassed, tr.F2PTotal, tr.P2PPassed, tr.P2PTotal})
			assert.Empty(t, containers(t), "containers of the run left behind")
		})
	}
}

// validatedFixture builds the instance image of testdata/repos/<name>.txtar at its "base"
// commit (the pull request's), with the fix commit's diff split into the gold patch and the
// test patch as the miner does, and returns it as an item validate kept with the given
// FAIL_TO_PASS and PASS_TO_PASS.
func validatedFixture(t *testing.T, cli envbuild.Engine, bases map[string]string, name string, f2p, p2p []string) *pipeline.Item {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Minute)
	defer cancel()
	dir := t.TempDir()
	mirror := filepath.Join(dir, "mirror")
	repo, err := repotest.BuildFile(filepath.Join(mirror, "acme", name), filepath.Join("..", "..", "testdata", "repos", name+".txtar"))
	require.NoError(t, err)
	diff, err := difftext.GitDiff(ctx, repo.Dir, repo.Commits["base"], repo.Commits["fix"])
	require.NoError(t, err)
	split, err := difftext.SplitDiff(diff)
	require.NoError(t, err)
	inst := pipeline.Instance{InstanceID: "acme__" + name + "-wire", Repo: "acme/" + name, PullNumber: 1,
		BaseCommit: repo.Commits["base"], Patch: split.Patch, TestPatch: split.TestPatch,
		ProblemStatement: fmt.Sprintf("The tests of acme/%s fail.", name)}
	b, err := envbuild.NewBuilder(cli, envbuild.Config{CacheDir: filepath.Join(dir, "cache"), PythonBase: bases["python"],
		GoBase: bases["go"], Bases: bases, Sources: envbuild.SourceConfig{MirrorDir: mirror}, Offline: true, Version: "test",
		BuildNetwork: "none", BuildCPUs: 1}, zerolog.New(os.Stderr).Level(zerolog.WarnLevel))
	require.NoError(t, err)
	res, err := b.Build(ctx, inst, zerolog.Nop())
	require.NoError(t, err, "building %s\n%s", name, res.Log)
	inst.Language = res.Environment.Recipe.Language
	arts, err := pipeline.OpenArtifacts(t.TempDir())
	require.NoError(t, err)
	return &pipeline.Item{Instance: inst, Environment: &res.Environment,
		Validation: &pipeline.Validation{FailToPass: f2p, PassToPass: p2p, LogParser: res.Environment.Recipe.LogParser, TestFiles: split.TestFiles},
		Stage:      pipeline.StageRollout, Generation: 1, Attempt: 1, Artifacts: arts,
		Log: zerolog.New(zerolog.NewTestWriter(t)).With().Str("instance", inst.InstanceID).Logger()}
}

// TestRolloutPromptsConfig: rollout.prompts is a directory relative to the configuration
// file, and rollout.workspace a template; a template that does not parse or execute stops the
// run at start-up with the file and line named.
func TestRolloutPromptsConfig(t *testing.T) {
	t.Parallel()
	env := testEnv(t, "rollout: {backend: oracle, prompts: team, workspace: \"/src/{{.InstanceID}}\"}\n", &bytes.Buffer{})
	dir := filepath.Join(env.cfg.baseDir, "team")
	require.NoError(t, os.Mkdir(dir, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "system.tmpl"), []byte("Team system prompt for {{.Repo}}.\n"), 0o644))
	rc := env.rolloutConfig()
	assert.Equal(t, dir, rc.Prompts)
	assert.Equal(t, "/src/{{.InstanceID}}", rc.Workspace)
	st, err := wireRollout(env, nil, nil)
	require.NoError(t, err)
	st.Close()

	require.NoError(t, os.WriteFile(filepath.Join(dir, "instruction.tmpl"), []byte("Fix {{.Repo}}.\nIt is in {{.Workspace.Path}}.\n"), 0o644))
	_, err = wireRollout(env, nil, nil)
	var ue usageError
	require.ErrorAs(t, err, &ue, "a configuration error")
	assert.Contains(t, err.Error(), "rollout: Config.Prompts: template: "+filepath.Join(dir, "instruction.tmpl")+":2:")
	assert.Contains(t, err.Error(), "can't evaluate field Path")
}
