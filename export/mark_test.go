package export

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestMarkCurrent(t *testing.T) {
	run, out := t.TempDir(), t.TempDir()
	path := filepath.Join(run, MarkFile)
	m := Mark{Transition: 42, Out: out}
	require.False(t, m.Current(path), "no mark yet")
	require.NoError(t, m.Save(path))
	require.False(t, m.Current(path), "the dataset it names has no manifest")
	require.NoError(t, os.WriteFile(filepath.Join(out, ManifestName), []byte("{}"), 0o644))
	require.True(t, m.Current(path))
	require.False(t, Mark{Transition: 43, Out: out}.Current(path), "a later transition")
	require.False(t, Mark{Transition: 42, Out: t.TempDir()}.Current(path), "another directory")
	entries, err := os.ReadDir(run)
	require.NoError(t, err)
	require.Len(t, entries, 1, "no temporary file is left")
}
