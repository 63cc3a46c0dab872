package envbuild_test

import (
	"archive/tar"
	"bytes"
	"io"
	"strings"
	"testing"

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
