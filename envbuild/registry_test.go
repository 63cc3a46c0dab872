package envbuild_test

import (
	"archive/tar"
	"bytes"
	"io"
	"regexp"
	"strings"
	"testing"

	"github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/image"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"swemill/envbuild"
	"swemill/envbuild/envbuildtest"
)

// importTiny imports a one-file image as name and returns its id.
func importTiny(t *testing.T, name, content string) string {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	require.NoError(t, tw.WriteHeader(&tar.Header{Name: "hello.txt", Mode: 0o644, Size: int64(len(content))}))
	_, err := tw.Write([]byte(content))
	require.NoError(t, err)
	require.NoError(t, tw.Close())
	api := envbuildtest.Docker(t)
	rc, err := api.ImageImport(t.Context(), image.ImportSource{Source: &buf, SourceName: "-"}, name, image.ImportOptions{})
	require.NoError(t, err)
	_, _ = io.Copy(io.Discard, rc)
	rc.Close()
	info, err := api.ImageInspect(t.Context(), name)
	require.NoError(t, err)
	t.Cleanup(func() {
		_, _ = api.ImageRemove(t.Context(), info.ID, image.RemoveOptions{Force: true, PruneChildren: true})
	})
	return info.ID
}

// TestPushAndPullByDigest pushes an image to a real registry on loopback, removes it from the
// engine and pulls it back by the digest the push returned: the same image, under its name.
// A second push of the same image gives the same digest.
func TestPushAndPullByDigest(t *testing.T) {
	t.Parallel()
	api := envbuildtest.Docker(t)
	host := envbuildtest.Registry(t)
	name := "swemill/registry-test:push"
	id := importTiny(t, name, "pushed through a registry\n")

	ref := host + "/swemill/tiny:1"
	byDigest, err := envbuild.PushImage(t.Context(), api, name, ref)
	require.NoError(t, err)
	assert.Regexp(t, `^`+host+`/swemill/tiny@sha256:[0-9a-f]{64}$`, byDigest)
	again, err := envbuild.PushImage(t.Context(), api, name, ref)
	require.NoError(t, err)
	assert.Equal(t, byDigest, again, "the same image has the same digest")

	for _, n := range []string{name, ref} {
		_, err := api.ImageRemove(t.Context(), n, image.RemoveOptions{Force: true})
		require.NoError(t, err)
	}
	_, err = api.ImageInspect(t.Context(), id)
	require.Error(t, err, "the image is gone from the engine")

	pulled, err := envbuild.PullImage(t.Context(), api, byDigest, name)
	require.NoError(t, err)
	assert.Equal(t, id, pulled, "the pulled image is the pushed one")
	info, err := api.ImageInspect(t.Context(), name)
	require.NoError(t, err)
	assert.Equal(t, id, info.ID)

	_, err = envbuild.PullImage(t.Context(), api, host+"/swemill/tiny@sha256:"+strings.Repeat("0", 64), "")
	assert.Error(t, err, "a digest the registry lacks")
	_, err = envbuild.PushImage(t.Context(), api, name, "swemill/tiny:1")
	assert.ErrorContains(t, err, "names no registry host")
}

// TestBuildPushesAndRestorePulls: with a registry configured, the build pushes the env and
// instance images and records their digests; an engine that lost the instance image gets it
// back by pull, the very image (same id), with no rebuild; a reference the registry does not
// have falls back to rebuilding from the stored recipe.
func TestBuildPushesAndRestorePulls(t *testing.T) {
	t.Parallel()
	host := envbuildtest.Registry(t)
	specDir := t.TempDir()
	e := newTestEnv(t, func(c *envbuild.Config) { c.SpecDir = specDir; c.Registry = host + "/swemill-test" })
	r := fixture(t, e.mirror, "pyflat")
	nonceSpec(t, specDir, "acme/pyflat", inferFixture(t, r.Dir), nil)
	inst := instanceOf("acme/pyflat", "reg-"+strings.ReplaceAll(nonce(), "-", ""), r.Commits["base"])

	res, err := e.builder.Build(t.Context(), inst, e.log)
	require.NoError(t, err, "build log:\n%s", res.Log)
	env := res.Environment
	remote := envbuild.RemoteName(host+"/swemill-test", env.ImageName)
	removeImages(t, e.cli, env.ImageName, remote, env.EnvImage, envbuild.RemoteName(host+"/swemill-test", env.EnvImage))
	repo, _, _ := strings.Cut(remote, ":"+strings.SplitN(env.ImageName, ":", 2)[1])
	assert.Regexp(t, `^`+regexp.QuoteMeta(repo)+`@sha256:[0-9a-f]{64}$`, env.ImageRef)
	assert.Regexp(t, `^`+regexp.QuoteMeta(host)+`/swemill-test/env-python@sha256:[0-9a-f]{64}$`, env.EnvImageRef)

	// A cache hit records the same references.
	again, err := e.builder.Build(t.Context(), inst, e.log)
	require.NoError(t, err)
	assert.True(t, again.Environment.CacheHit)
	assert.Equal(t, env.ImageRef, again.Environment.ImageRef)

	gone := func() {
		t.Helper()
		for _, n := range []string{env.ImageName, remote} {
			_, err := e.cli.ImageRemove(t.Context(), n, image.RemoveOptions{})
			require.NoError(t, err)
		}
		_, err := e.cli.ImageInspect(t.Context(), env.ImageName)
		require.True(t, errdefs.IsNotFound(err), "the instance image is gone: %v", err)
	}
	gone()
	rebuilt, err := e.builder.Restore(t.Context(), inst, env, e.log)
	require.NoError(t, err)
	assert.False(t, rebuilt, "pulled, not rebuilt")
	info, err := e.cli.ImageInspect(t.Context(), env.ImageName)
	require.NoError(t, err)
	assert.Equal(t, env.ImageID, info.ID, "the pulled image is the one the build made")
	assert.Contains(t, info.RepoDigests, env.ImageRef)

	// A registry that lacks the image: Restore rebuilds from the stored recipe.
	_, err = e.cli.ImageRemove(t.Context(), env.ImageName, image.RemoveOptions{})
	require.NoError(t, err)
	missing := env
	missing.ImageRef = repo + "@sha256:" + strings.Repeat("1", 64)
	rebuilt, err = e.builder.Restore(t.Context(), inst, missing, e.log)
	require.NoError(t, err)
	assert.True(t, rebuilt, "the registry does not have it: rebuilt")
	_, err = e.cli.ImageInspect(t.Context(), env.ImageName)
	require.NoError(t, err)

	// A pulled image that is not the recorded one is refused and removed.
	_, err = e.cli.ImageRemove(t.Context(), env.ImageName, image.RemoveOptions{})
	require.NoError(t, err)
	other := env
	other.ImageID = "sha256:" + strings.Repeat("2", 64)
	_, err = e.builder.Restore(t.Context(), inst, other, e.log)
	require.ErrorContains(t, err, "but the build recorded "+other.ImageID)
	_, err = e.cli.ImageInspect(t.Context(), env.ImageName)
	require.True(t, errdefs.IsNotFound(err), "the wrong image is not left under the instance's name: %v", err)
}
