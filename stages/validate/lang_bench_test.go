package validate_test

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"swemill/envbuild"
	"swemill/envbuild/envbuildtest"
	"swemill/envbuild/sandbox"
	"swemill/pipeline"
	"swemill/stages/validate"
)

// languageFixtures are the fixture repositories (testdata/repos) that stand for each
// language in BenchmarkLanguages.
var languageFixtures = []struct{ lang, fixture string }{
	{"python", "pytextkit"},
	{"go", "gokit"},
	{"javascript", "jskit"},
	{"rust", "rustunits"},
	{"java", "javacalc"},
}

// BenchmarkLanguages builds and validates one fixture instance per language and reports the
// seconds of each, per instance: the build from the language's base image (env and
// instance layers made anew: every iteration builds under a work directory of its own, so no
// image of an earlier one is found), and the validation with the default configuration
// (3 runs a side, the FAIL_TO_PASS re-runs). The images an iteration makes are removed.
func BenchmarkLanguages(b *testing.B) {
	cli := envbuildtest.Docker(b)
	names := envbuildtest.Bases(b)
	for _, lf := range languageFixtures {
		b.Run(lf.lang, func(b *testing.B) {
			labels := testLabels()
			stage := newStage(b, newSandbox(b, sandbox.Config{}), validate.Config{Labels: labels})
			inst, _ := instance(b, lf.fixture) // the fixture's repository is in the mirror
			var build, val time.Duration
			n := 0
			for b.Loop() {
				n++
				work := filepath.Join("/bench", lf.lang, time.Now().Format("150405.000000000"))
				builder, err := envbuild.NewBuilder(cli, envbuild.Config{
					CacheDir: filepath.Join(workDir, "cache"), PythonBase: names["python"], GoBase: names["go"], Bases: names,
					Sources: envbuild.SourceConfig{MirrorDir: filepath.Join(workDir, "mirror")}, SpecDir: specDir(b),
					Offline: true, Version: "test", BuildNetwork: "none", BuildCPUs: 1, RunID: runID, WorkDir: work,
				}, zerolog.Nop())
				require.NoError(b, err)
				start := time.Now()
				res, err := builder.Build(b.Context(), inst, zerolog.Nop())
				require.NoError(b, err, "building %s:\n%s", lf.fixture, res.Log)
				build += time.Since(start)
				env := res.Environment
				store, err := pipeline.OpenArtifacts(b.TempDir())
				require.NoError(b, err)
				it := &pipeline.Item{Instance: inst, Environment: &env, Stage: pipeline.StageValidate, Generation: 1, Attempt: 1,
					Artifacts: store, Log: zerolog.Nop()}
				start = time.Now()
				out, err := stage.Process(b.Context(), it)
				require.NoError(b, err)
				val += time.Since(start)
				v := out.Record.(pipeline.Validation)
				require.NotEmpty(b, v.FailToPass, "%s validates", lf.fixture)
				for _, id := range []string{env.ImageName, env.EnvImage} {
					require.NoError(b, envbuildtest.RemoveImage(b.Context(), cli, id))
				}
			}
			b.ReportMetric(build.Seconds()/float64(n), "build-s/instance")
			b.ReportMetric(val.Seconds()/float64(n), "validate-s/instance")
			require.Empty(b, containersWith(b, labels))
		})
	}
}

// specDir is the fixtures' recipe specs directory.
func specDir(tb testing.TB) string {
	tb.Helper()
	dir, err := filepath.Abs(filepath.Join("testdata", "specs"))
	require.NoError(tb, err)
	return dir
}
