package envbuild_test

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"
	"github.com/stretchr/testify/require"

	"swemill/envbuild"
	"swemill/envbuild/envbuildtest"
	"swemill/pipeline"
	"swemill/repotest"
)

// dirBytes sums the sizes of the files under dir.
func dirBytes(b *testing.B, dir string) int64 {
	b.Helper()
	var n int64
	require.NoError(b, filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		if err == nil {
			n += info.Size()
		}
		return err
	}))
	return n
}

// BenchmarkRegistryBytesLater pushes later instances of a repository whose env image the
// registry already holds, and reports what each push added to the registry's storage (the
// bytes pushed, compressed as the registry keeps them) against the instance's checkout.
// Target: the instance layer only, no more than checkout + 20 MB.
func BenchmarkRegistryBytesLater(b *testing.B) {
	addr, storage := envbuildtest.RegistryStorage(b)
	specDir := b.TempDir()
	e := newTestEnv(b, func(c *envbuild.Config) { c.SpecDir = specDir; c.Registry = addr + "/bench" })
	r := benchRepo(b, e.mirror, b.N)
	nonceSpec(b, specDir, "acme/benchpy", inferFixture(b, r.Dir), nil)
	first, err := e.builder.Build(b.Context(), pipeline.Instance{InstanceID: "acme__benchpy-0", Repo: "acme/benchpy", BaseCommit: r.Commits["c0"]}, e.log)
	require.NoError(b, err, "%s", first.Log)
	removeImages(b, e.cli, first.Environment.ImageName, first.Environment.EnvImage)
	firstBytes := dirBytes(b, storage)
	var pushed, checkout, layer float64
	b.ResetTimer()
	for i := 1; i <= b.N; i++ {
		before := dirBytes(b, storage)
		res, err := e.builder.Build(b.Context(), pipeline.Instance{InstanceID: fmt.Sprintf("acme__benchpy-%d", i), Repo: "acme/benchpy", BaseCommit: r.Commits[fmt.Sprintf("c%d", i)]}, e.log)
		require.NoError(b, err, "%s", res.Log)
		b.StopTimer()
		removeImages(b, e.cli, res.Environment.ImageName)
		require.NotEmpty(b, res.Environment.ImageRef)
		pushed += float64(dirBytes(b, storage) - before)
		checkout += float64(res.CheckoutBytes)
		layer += float64(res.Environment.SizeBytes)
		b.StartTimer()
	}
	b.ReportMetric(float64(firstBytes)/1e6, "first-pushed-MB")
	b.ReportMetric(pushed/float64(b.N)/1e6, "pushed-MB/op")
	b.ReportMetric(layer/float64(b.N)/1e6, "instance-MB/op")
	b.ReportMetric(checkout/float64(b.N)/1e6, "checkout-MB/op")
	b.ReportMetric((pushed-checkout)/float64(b.N)/1e6, "over-checkout-MB/op")
}

// freshEngine measures how an engine that has none of insts' images gets them: by pull from
// the registry (a second engine with no image at all), and by rebuild from the recorded
// recipes (a third engine with the base images only, fresh clones). It reports seconds per
// instance for each, and for the first pull alone (which brings the base and env layers).
func freshEngine(b *testing.B, e *testEnv, insts []pipeline.Instance) {
	b.Helper()
	var envs []pipeline.Environment
	var checkout int64
	for _, inst := range insts {
		res, err := e.builder.Build(b.Context(), inst, e.log)
		require.NoError(b, err, "%s: %s", inst.InstanceID, res.Log)
		require.NotEmpty(b, res.Environment.ImageRef)
		removeImages(b, e.cli, res.Environment.ImageName, res.Environment.EnvImage)
		envs = append(envs, res.Environment)
		checkout += res.CheckoutBytes
	}
	for range b.N {
		b.StopTimer()
		_, pullEngine := envbuildtest.SecondEngine(b)
		_, buildEngine := envbuildtest.SecondEngine(b)
		baseOn(b, e, buildEngine)
		pullCfg := e.cfg
		pullCfg.CacheDir = b.TempDir()
		pullCfg.Registry = ""
		puller, err := envbuild.NewBuilder(pullEngine, pullCfg, e.log)
		require.NoError(b, err)
		buildCfg := pullCfg
		buildCfg.CacheDir = b.TempDir()
		builder, err := envbuild.NewBuilder(buildEngine, buildCfg, e.log)
		require.NoError(b, err)
		b.StartTimer()

		var first time.Duration
		start := time.Now()
		for i, env := range envs {
			rebuilt, err := puller.Restore(b.Context(), insts[i], env, e.log)
			require.NoError(b, err)
			require.False(b, rebuilt, "%s was pulled", insts[i].InstanceID)
			if i == 0 {
				first = time.Since(start)
			}
		}
		pull := time.Since(start)
		start = time.Now()
		for i, env := range envs {
			env.ImageRef = ""
			rebuilt, err := builder.Restore(b.Context(), insts[i], env, e.log)
			require.NoError(b, err)
			require.True(b, rebuilt, "%s was rebuilt", insts[i].InstanceID)
		}
		rebuild := time.Since(start)
		b.StopTimer()
		// An engine that has the env images already (a later instance of a known
		// environment) pulls the instance layers only.
		var layers time.Duration
		for i, env := range envs {
			// Removed by id with its digest references, the image leaves none of its layers
			// behind but those the env image, pulled next, brings back.
			_, err := pullEngine.ImageRemove(b.Context(), env.ImageID, image.RemoveOptions{Force: true, PruneChildren: true})
			require.NoError(b, err)
			_, err = envbuild.PullImage(b.Context(), pullEngine, env.EnvImageRef, "")
			require.NoError(b, err)
			start := time.Now()
			rebuilt, err := puller.Restore(b.Context(), insts[i], env, e.log)
			layers += time.Since(start)
			require.NoError(b, err)
			require.False(b, rebuilt)
		}
		n := float64(len(envs))
		b.ReportMetric(layers.Seconds()/n, "layer-pull-s/instance")
		b.ReportMetric(float64(checkout)/n/1e6, "checkout-MB/instance")
		b.ReportMetric(pull.Seconds()/n, "pull-s/instance")
		b.ReportMetric(first.Seconds(), "first-pull-s")
		b.ReportMetric(rebuild.Seconds()/n, "rebuild-s/instance")
		b.ReportMetric(n, "instances")
		b.StartTimer()
	}
}

// baseOn puts e's base images on engine through the registry (the bases a rebuild needs).
func baseOn(b *testing.B, e *testEnv, engine *client.Client) {
	b.Helper()
	host := envbuildtest.Registry(b)
	names := []string{e.cfg.PythonBase, e.cfg.GoBase}
	for _, name := range e.cfg.Bases {
		if !slices.Contains(names, name) {
			names = append(names, name)
		}
	}
	for _, name := range names {
		ref, err := envbuild.PushImage(b.Context(), e.cli, name, envbuild.RemoteName(host+"/bases", name))
		require.NoError(b, err)
		_, err = envbuild.PullImage(b.Context(), engine, ref, name)
		require.NoError(b, err)
	}
}

// BenchmarkFreshEngineDemo: the demo's instances (testdata/demo: every language) on a fresh
// engine, by pull against by rebuild.
func BenchmarkFreshEngineDemo(b *testing.B) {
	addr := envbuildtest.Registry(b)
	e := newTestEnv(b, func(c *envbuild.Config) { c.Registry = addr + "/bench" })
	var want struct {
		Repositories []struct {
			Repo  string
			Pulls []struct {
				InstanceID string `json:"instance_id"`
				BaseCommit string `json:"base_commit"`
				Build      string
			}
		}
	}
	data, err := os.ReadFile("../testdata/demo/expected.json")
	require.NoError(b, err)
	require.NoError(b, json.Unmarshal(data, &want))
	var insts []pipeline.Instance
	for _, r := range want.Repositories {
		owner, name, _ := strings.Cut(r.Repo, "/")
		bundle, err := filepath.Abs(filepath.Join("../testdata/demo", owner, name, "repo.bundle"))
		require.NoError(b, err)
		require.NoError(b, os.MkdirAll(filepath.Join(e.mirror, owner), 0o755))
		require.NoError(b, os.Symlink(bundle, filepath.Join(e.mirror, owner, name+".bundle")))
		for _, p := range r.Pulls {
			if p.Build == "kept" {
				insts = append(insts, pipeline.Instance{InstanceID: p.InstanceID, Repo: r.Repo, BaseCommit: p.BaseCommit})
			}
		}
	}
	require.NotEmpty(b, insts)
	freshEngine(b, e, insts)
}

// BenchmarkFreshEngineLarge: one large instance (a 60 MB checkout) on a fresh engine, by
// pull against by rebuild.
func BenchmarkFreshEngineLarge(b *testing.B) {
	addr := envbuildtest.Registry(b)
	specDir := b.TempDir()
	e := newTestEnv(b, func(c *envbuild.Config) { c.SpecDir = specDir; c.Registry = addr + "/bench" })
	var sb strings.Builder
	sb.WriteString("-- commit: c0 --\n-- pyproject.toml --\n[build-system]\nrequires = [\"setuptools\"]\nbuild-backend = \"setuptools.build_meta\"\n\n[project]\nname = \"bigpy\"\nversion = \"0.1.0\"\n\n[tool.setuptools]\npackages = [\"bigpy\"]\n")
	sb.WriteString("-- bigpy/__init__.py --\n")
	for m := range 600 {
		fmt.Fprintf(&sb, "-- bigpy/data%03d.py --\n", m)
		for l := range 1250 { // about 100 KB a module, each line different
			fmt.Fprintf(&sb, "VALUE_%d_%d = %q\n", m, l, fmt.Sprintf("%x", sha256.Sum256(fmt.Appendf(nil, "%d/%d", m, l)))[:60])
		}
	}
	r, err := repotest.Build(filepath.Join(e.mirror, "acme", "bigpy"), []byte(sb.String()))
	require.NoError(b, err)
	nonceSpec(b, specDir, "acme/bigpy", inferFixture(b, r.Dir), nil)
	freshEngine(b, e, []pipeline.Instance{{InstanceID: "acme__bigpy-1", Repo: "acme/bigpy", BaseCommit: r.Commits["c0"]}})
}
