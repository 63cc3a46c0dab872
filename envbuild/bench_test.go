package envbuild_test

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"swemill/envbuild"
	"swemill/pipeline"
	"swemill/repotest"
)

// benchRepo writes a Python repository of about 1.2 MB (120 modules) with n commits after
// the first, each changing one module, as acme/benchpy in mirror.
func benchRepo(b *testing.B, mirror string, n int) *repotest.Repo {
	b.Helper()
	var sb strings.Builder
	sb.WriteString("-- commit: c0 --\n-- pyproject.toml --\n[build-system]\nrequires = [\"setuptools\"]\nbuild-backend = \"setuptools.build_meta\"\n\n[project]\nname = \"benchpy\"\nversion = \"0.1.0\"\n\n[tool.setuptools]\npackages = [\"benchpy\"]\n")
	sb.WriteString("-- benchpy/__init__.py --\n")
	body := strings.Repeat("# padding line to give modules a realistic size.............................\n", 130)
	for m := range 120 {
		fmt.Fprintf(&sb, "-- benchpy/mod%03d.py --\n%s\ndef f%d(x):\n    return x + %d\n", m, body, m, m)
	}
	sb.WriteString("-- tests/test_mods.py --\nfrom benchpy import mod000\n\n\ndef test_f0():\n    assert mod000.f0(1) == 1\n")
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&sb, "-- commit: c%d --\nmessage: Change module %d (#%d)\n-- benchpy/mod%03d.py --\n%s\ndef f%d(x):\n    return x + %d  # changed %d\n",
			i, i%120, i, i%120, body, i%120, i%120, i)
	}
	r, err := repotest.Build(filepath.Join(mirror, "acme", "benchpy"), []byte(sb.String()))
	require.NoError(b, err)
	return r
}

func benchEnv(b *testing.B, n int) (*testEnv, *repotest.Repo, string) {
	specDir := b.TempDir()
	e := newTestEnv(b, func(c *envbuild.Config) { c.SpecDir = specDir })
	r := benchRepo(b, e.mirror, n)
	nonceSpec(b, specDir, "acme/benchpy", inferFixture(b, r.Dir), nil)
	return e, r, specDir
}

// BenchmarkFirstInstance builds the first instance of a repository: env layer and instance
// layer (a fresh recipe each iteration).
func BenchmarkFirstInstance(b *testing.B) {
	e, r, specDir := benchEnv(b, 0)
	var layer, env, checkout float64
	for i := range b.N {
		b.StopTimer()
		nonceSpec(b, specDir, "acme/benchpy", inferFixture(b, r.Dir), nil)
		b.StartTimer()
		res, err := e.builder.Build(b.Context(), pipeline.Instance{InstanceID: fmt.Sprintf("acme__benchpy-first%d", i), Repo: "acme/benchpy", BaseCommit: r.Commits["c0"]}, e.log)
		require.NoError(b, err, "%s", res.Log)
		b.StopTimer()
		removeImages(b, e.cli, res.Environment.ImageName, res.Environment.EnvImage)
		require.False(b, res.EnvCacheHit)
		envInfo, err := e.cli.ImageInspect(b.Context(), res.Environment.EnvImage)
		require.NoError(b, err)
		baseInfo, err := e.cli.ImageInspect(b.Context(), res.Environment.BaseImage)
		require.NoError(b, err)
		layer += float64(res.Environment.SizeBytes)
		env += float64(envInfo.Size - baseInfo.Size)
		checkout += float64(res.CheckoutBytes)
		b.StartTimer()
	}
	b.ReportMetric(layer/float64(b.N)/1e6, "instance-MB/op")
	b.ReportMetric(env/float64(b.N)/1e6, "env-MB/op")
	b.ReportMetric(checkout/float64(b.N)/1e6, "checkout-MB/op")
}

// BenchmarkLaterInstance builds later instances of a repository whose env image exists:
// only the instance layer is built. Targets: at most 10 s and checkout size + 20 MB each.
func BenchmarkLaterInstance(b *testing.B) {
	e, r, _ := benchEnv(b, b.N)
	first, err := e.builder.Build(b.Context(), pipeline.Instance{InstanceID: "acme__benchpy-0", Repo: "acme/benchpy", BaseCommit: r.Commits["c0"]}, e.log)
	require.NoError(b, err, "%s", first.Log)
	removeImages(b, e.cli, first.Environment.ImageName, first.Environment.EnvImage)
	var layer, checkout, excess float64
	b.ResetTimer()
	for i := 1; i <= b.N; i++ {
		res, err := e.builder.Build(b.Context(), pipeline.Instance{InstanceID: fmt.Sprintf("acme__benchpy-%d", i), Repo: "acme/benchpy", BaseCommit: r.Commits[fmt.Sprintf("c%d", i)]}, e.log)
		require.NoError(b, err, "%s", res.Log)
		b.StopTimer()
		removeImages(b, e.cli, res.Environment.ImageName)
		require.True(b, res.EnvCacheHit)
		require.False(b, res.Environment.CacheHit)
		layer += float64(res.Environment.SizeBytes)
		checkout += float64(res.CheckoutBytes)
		excess += float64(res.Environment.SizeBytes - res.CheckoutBytes)
		b.StartTimer()
	}
	b.ReportMetric(layer/float64(b.N)/1e6, "instance-MB/op")
	b.ReportMetric(checkout/float64(b.N)/1e6, "checkout-MB/op")
	b.ReportMetric(excess/float64(b.N)/1e6, "over-checkout-MB/op")
}
