package mine

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"swemill/difftext"
	"swemill/pipeline"
)

// Hostile halves that git apply --check accepts or that only the gate can judge.
const (
	symlinkTestPatch = "diff --git a/tests/fixture.txt b/tests/fixture.txt\nnew file mode 120000\nindex 0000000..3594e94\n--- /dev/null\n+++ b/tests/fixture.txt\n@@ -0,0 +1 @@\n+/etc/passwd\n\\ No newline at end of file\n"
	traversalPatch   = "diff --git a/../../../tmp/pwned b/../../../tmp/pwned\nnew file mode 100644\nindex 0000000..3b18e51\n--- /dev/null\n+++ b/../../../tmp/pwned\n@@ -0,0 +1 @@\n+hello\n"
	gitHookPatch     = "diff --git a/.Git/hooks/post-checkout b/.Git/hooks/post-checkout\nnew file mode 100755\nindex 0000000..3b18e51\n--- /dev/null\n+++ b/.Git/hooks/post-checkout\n@@ -0,0 +1 @@\n+hello\n"
)

// TestImportDropsUnsafePatches: imported rows whose halves the gate refuses are dropped
// unsafe_patch (a security reason), whether the symlink rides in the test patch, the path
// climbs out in the patch, or a hook is planted under .git; the good rows are kept.
func TestImportDropsUnsafePatches(t *testing.T) {
	t.Parallel()
	rows := importRows(t)[:2]
	good := rows[0]
	hostile := func(id, field, extra string) map[string]any {
		r := map[string]any{}
		for k, v := range good {
			r[k] = v
		}
		r["instance_id"] = id
		r[field] = r[field].(string) + extra
		return r
	}
	rows = append(rows,
		hostile("octo__calc-2001", "test_patch", symlinkTestPatch),
		hostile("octo__calc-2002", "patch", traversalPatch),
		hostile("octo__calc-2003", "patch", gitHookPatch),
	)
	path := filepath.Join(t.TempDir(), "tasks.jsonl")
	var b strings.Builder
	for _, r := range rows {
		line, err := json.Marshal(r)
		require.NoError(t, err)
		b.Write(line)
		b.WriteString("\n")
	}
	require.NoError(t, os.WriteFile(path, []byte(b.String()), 0o644))

	cfg := importConfig(t, path)
	m, err := New(cfg)
	require.NoError(t, err)
	ms, _, _ := mineAll(t, m, (&env{cfg: cfg}).job("octo/calc", ""))
	got := map[string]string{}
	details := map[string]string{}
	for _, mi := range ms {
		got[mi.Instance.InstanceID] = "kept"
		if mi.Drop != nil {
			got[mi.Instance.InstanceID] = mi.Drop.Reason
			details[mi.Instance.InstanceID] = mi.Drop.Detail
		}
	}
	require.Equal(t, map[string]string{
		"octo__calc-2": "kept", "octo__calc-1002": "kept",
		"octo__calc-2001": DropUnsafePatch, "octo__calc-2002": DropUnsafePatch, "octo__calc-2003": DropUnsafePatch,
	}, got)
	require.True(t, pipeline.IsSecurityReason(DropUnsafePatch))
	require.Contains(t, details["octo__calc-2001"], `test_patch: unsafe patch: symlink "tests/fixture.txt"`)
	require.Contains(t, details["octo__calc-2002"], `patch: unsafe patch: outside_tree "../../../tmp/pwned"`)
	require.Contains(t, details["octo__calc-2003"], `git_dir ".Git/hooks/post-checkout"`)
}

// TestCheckHalvesGateFirst: the gate runs before git apply --check, which would accept the
// symlink, and it sees what only the repository knows.
func TestCheckHalvesGateFirst(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	repo := calcFixture(t)
	base := repo.Commits["init"]
	diff, err := difftext.GitDiff(ctx, repo.Dir, base+"..."+repo.Commits["pr2-test"])
	require.NoError(t, err)
	s, err := difftext.SplitDiff(diff)
	require.NoError(t, err)

	require.NoError(t, difftext.CheckApplies(ctx, repo.Dir, base, s.Patch, s.TestPatch+symlinkTestPatch), "git alone lets the symlink through")
	reason, detail, err := checkHalves(ctx, repo.Dir, base, s.Patch, s.TestPatch+symlinkTestPatch)
	require.NoError(t, err)
	require.Equal(t, DropUnsafePatch, reason, detail)

	reason, _, err = checkHalves(ctx, repo.Dir, base, s.Patch, s.TestPatch)
	require.NoError(t, err)
	require.Empty(t, reason)

	reason, detail, err = checkHalves(ctx, repo.Dir, base, s.Patch+"trailing garbage\n", s.TestPatch)
	require.NoError(t, err)
	require.Equal(t, DropDiffUnreadable, reason, detail)
}
