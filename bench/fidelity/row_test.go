package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"swemill/repotest"
)

const fixture = `A fix that touches code, docs and two test files, one of them under a name with a space.
-- commit: base --
message: Initial import
date: 2024-03-01T10:00:00+02:00
-- calc.py --
def add(a, b):
    return a - b
-- docs/notes.md --
notes
-- tests/test_calc.py --
from calc import add
-- tests/data set.txt --
1
-- commit: fix --
message: Fix add (#7)\n\nadd subtracted.\n
date: 2024-03-02T10:00:00+02:00
-- calc.py --
def add(a, b):
    return a + b
-- docs/notes.md --
notes, fixed
-- tests/test_calc.py --
from calc import add
def test_add():
    assert add(1, 2) == 3
-- tests/data set.txt --
2
`

func fixtureRepo(t *testing.T) (*repotest.Repo, string) {
	t.Helper()
	r, err := repotest.Build(filepath.Join(t.TempDir(), "work"), []byte(fixture))
	require.NoError(t, err)
	mirror := filepath.Join(t.TempDir(), "mirrors", "acme", "calc.git")
	out, err := exec.Command("git", "clone", "-q", "--mirror", r.Dir, mirror).CombinedOutput()
	require.NoError(t, err, string(out))
	return r, mirror
}

func TestBuildRowSplitsTheFixCommit(t *testing.T) {
	t.Parallel()
	r, mirror := fixtureRepo(t)
	k := Case{InstanceID: "acme__calc-7", Repo: "acme/calc", Language: "python",
		BaseCommit: r.Commits["base"], FixCommit: r.Commits["fix"],
		TestPaths: []string{"tests/test_calc.py", "tests/data set.txt"}}
	row, err := buildRow(t.Context(), mirror, k)
	require.NoError(t, err)

	require.Equal(t, "acme__calc-7", row.InstanceID)
	require.Equal(t, "acme/calc", row.Repo)
	require.Equal(t, r.Commits["base"], row.BaseCommit)
	require.Equal(t, r.Commits["base"], row.EnvironmentSetupCommit)
	require.Equal(t, "Fix add (#7)\n\nadd subtracted.", row.ProblemStatement)
	require.Equal(t, "2024-03-02T08:00:00Z", row.CreatedAt)
	require.Empty(t, row.HintsText)
	require.Empty(t, row.Version)

	require.Equal(t, []string{"calc.py", "docs/notes.md"}, diffFiles(row.Patch))
	require.Equal(t, []string{"tests/data set.txt", "tests/test_calc.py"}, diffFiles(row.TestPatch))
	require.Regexp(t, `(?m)^index [0-9a-f]{40}\.\.[0-9a-f]{40} 100644$`, row.Patch, "full index lines")

	// Both halves apply to the base commit, and together they give the fix commit's tree.
	wt := filepath.Join(t.TempDir(), "wt")
	git := func(args ...string) string {
		cmd := exec.Command("git", append([]string{"-C", wt}, args...)...)
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, string(out))
		return strings.TrimSpace(string(out))
	}
	out, err := exec.Command("git", "clone", "-q", mirror, wt).CombinedOutput()
	require.NoError(t, err, string(out))
	git("checkout", "-q", r.Commits["base"])
	for name, p := range map[string]string{"patch": row.Patch, "test_patch": row.TestPatch} {
		f := filepath.Join(t.TempDir(), name)
		require.NoError(t, os.WriteFile(f, []byte(p), 0o644))
		git("apply", f)
	}
	git("add", "-A")
	require.Equal(t, git("rev-parse", r.Commits["fix"]+"^{tree}"), git("write-tree"))
}

func TestBuildRowRefusesAWrongCase(t *testing.T) {
	t.Parallel()
	r, mirror := fixtureRepo(t)
	base := Case{InstanceID: "acme__calc-7", Repo: "acme/calc", BaseCommit: r.Commits["base"], FixCommit: r.Commits["fix"],
		TestPaths: []string{"tests/test_calc.py"}}

	notParent := base
	notParent.BaseCommit = r.Commits["fix"]
	_, err := buildRow(t.Context(), mirror, notParent)
	require.ErrorContains(t, err, "is not the fix commit's first parent")

	unchanged := base
	unchanged.TestPaths = []string{"tests/test_other.py"}
	_, err = buildRow(t.Context(), mirror, unchanged)
	require.ErrorContains(t, err, "test path tests/test_other.py is not changed")

	unknown := base
	unknown.FixCommit = strings.Repeat("a", 40)
	_, err = buildRow(t.Context(), mirror, unknown)
	require.ErrorContains(t, err, "reading the parent of acme__calc-7's fix commit")
}

func TestMirrorPath(t *testing.T) {
	t.Parallel()
	_, mirror := fixtureRepo(t)
	dir := filepath.Dir(filepath.Dir(mirror))
	got, err := mirrorPath(dir, "acme/calc")
	require.NoError(t, err)
	require.Equal(t, mirror, got)
	_, err = mirrorPath(dir, "acme/other")
	require.ErrorContains(t, err, "no acme/other.git in")
}

// diffFiles lists the b/ paths of a diff's headers, sorted as git writes them.
func diffFiles(diff string) []string {
	var out []string
	for line := range strings.Lines(diff) {
		if rest, ok := strings.CutPrefix(line, "+++ b/"); ok {
			out = append(out, strings.TrimSpace(rest))
		}
	}
	return out
}
