package repotest

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

const desc = `A tiny repository.
-- commit: base --
message: Initial import
-- calc.py --
def add(a, b):
    return a - b
-- tests/test_calc.py --
from calc import add
def test_add():
    assert add(1, 2) == 3
-- commit: fix --
message: Fix add\n\nFixes #1
branch: fix-add
-- calc.py --
def add(a, b):
    return a + b
-- commit: merge --
parents: base fix
message: Merge pull request #2 from fix-add
-- commit: cleanup --
-- delete: tests/test_calc.py --
`

func TestBuildIsDeterministic(t *testing.T) {
	t.Parallel()
	a, err := Build(filepath.Join(t.TempDir(), "a"), []byte(desc))
	require.NoError(t, err)
	b, err := Build(filepath.Join(t.TempDir(), "b"), []byte(desc))
	require.NoError(t, err)
	require.Equal(t, a.Commits, b.Commits)
	require.Equal(t, []string{"base", "fix", "merge", "cleanup"}, a.Order)

	git := func(args ...string) string {
		out, err := exec.Command("git", append([]string{"-C", a.Dir}, args...)...).CombinedOutput()
		require.NoError(t, err, string(out))
		return strings.TrimSpace(string(out))
	}
	require.Equal(t, "def add(a, b):\n    return a + b", git("show", a.Commits["merge"]+":calc.py"))
	require.Equal(t, a.Commits["base"]+" "+a.Commits["fix"], git("log", "-1", "--format=%P", a.Commits["merge"]))
	require.Equal(t, a.Commits["fix"], git("rev-parse", "fix-add"))
	require.Equal(t, a.Commits["cleanup"], git("rev-parse", "HEAD"))
	require.Equal(t, "calc.py", git("ls-tree", "--name-only", "-r", "HEAD"))
	require.Equal(t, "Fix add\n\nFixes #1", git("log", "-1", "--format=%B", a.Commits["fix"]))
}

func TestBuildRejectsBadDescriptions(t *testing.T) {
	t.Parallel()
	for name, d := range map[string]string{
		"no commits":     "just a comment\n",
		"file first":     "-- a.txt --\nx\n-- commit: c --\n",
		"unknown parent": "-- commit: a --\nparent: nope\n",
		"bad header":     "-- commit: a --\nwhatever\n",
		"duplicate":      "-- commit: a --\n-- commit: a --\n",
	} {
		_, err := Build(filepath.Join(t.TempDir(), "r"), []byte(d))
		require.Error(t, err, name)
	}
}
