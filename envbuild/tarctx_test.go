package envbuild

import (
	"archive/tar"
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Every entry of a build context is dated after the Unix epoch: Maven's resources plugin
// copies a file only when it is newer than its copy, a missing copy counting as dated 0, so
// a work tree dated 0 left target/classes without its resources and the build failed.
func TestContextTimesAfterEpoch(t *testing.T) {
	t.Parallel()
	src := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(src, "src/main/resources/a"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(src, "src/main/resources/a/x.properties"), []byte("k=v\n"), 0o644))
	var buf bytes.Buffer
	c := &contextWriter{tw: tar.NewWriter(&buf), uid: 1000, gid: 1000}
	require.NoError(t, c.dir("lib", 0o755))
	require.NoError(t, c.file("lib/f", 0o644, []byte("x")))
	require.NoError(t, c.tree(src, "testbed", nil))
	require.NoError(t, c.tw.Close())
	tr := tar.NewReader(&buf)
	n := 0
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err)
		n++
		assert.True(t, h.ModTime.Unix() > 0, "%s is dated %v", h.Name, h.ModTime)
		assert.True(t, h.ModTime.Equal(epoch), "%s is dated %v, not the fixed time", h.Name, h.ModTime)
	}
	assert.GreaterOrEqual(t, n, 4)
}
