package difftext

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"swemill/gitexec"
	"swemill/repotest"
)

func TestIsTest(t *testing.T) {
	t.Parallel()
	tests := map[string]bool{
		"tests/test_calc.py":                       true,
		"pkg/tests/helpers.py":                     true,
		"sympy/core/tests/test_basic.py":           true,
		"test_calc.py":                             true,
		"calc_test.py":                             true,
		"conftest.py":                              true,
		"src/conftest.py":                          true,
		"django/contrib/admin/tests.py":            true,
		"net/http/server_test.go":                  true,
		"internal/foo/testdata/golden.txt":         true,
		"src/app.test.ts":                          true,
		"src/__tests__/app.js":                     true,
		"web/button.spec.tsx":                      true,
		"src/test/java/org/x/FooTest.java":         true,
		"lib/FooTest.java":                         true,
		"lib/TestFoo.java":                         true,
		"spec/models/user_spec.rb":                 true,
		"integration-tests/run.sh":                 true,
		"MyLib.Tests/Calc.cs":                      true,
		"testing/runner.py":                        true,
		"latest_release.py":                        false,
		"src/latest_test_results_viewer/README.md": false,
		"contest/main.go":                          false,
		"attestation.py":                           false,
		"testimony/app.py":                         false,
		"lib/Testament.java":                       false,
		"src/protest.js":                           false,
		"Test.java":                                false,
		"calc.py":                                  false,
		"docs/testing.rst":                         false,
	}
	for p, want := range tests {
		require.Equal(t, want, IsTest(p), p)
	}
}

func TestClassify(t *testing.T) {
	t.Parallel()
	require.Equal(t, Doc, Classify("CHANGELOG.md"))
	require.Equal(t, Doc, Classify("docs/usage.txt"))
	require.Equal(t, Doc, Classify("changelog.d/123.bugfix"))
	require.Equal(t, Code, Classify("requirements.txt"))
	require.Equal(t, Code, Classify("setup.cfg"))
	require.Equal(t, Test, Classify("tests/README.md"))
	require.Equal(t, Code, Classify("src/readme_parser.py"))
}

const handDiff = `diff --git a/calc.py b/calc.py
index 1111111..2222222 100644
--- a/calc.py
+++ b/calc.py
@@ -1,3 +1,3 @@
 def add(a, b):
--- a comment line that starts with dashes
+++ a comment line that starts with pluses
 diff --git a/not b/a header
diff --git a/tests/test_calc.py b/tests/test_calc.py
new file mode 100644
index 0000000..3333333
--- /dev/null
+++ b/tests/test_calc.py
@@ -0,0 +1,2 @@
+def test_add():
+    assert True
\ No newline at end of file
diff --git a/old name.py b/new name.py
similarity index 90%
rename from old name.py
rename to new name.py
index 4444444..5555555 100644
--- a/old name.py	
+++ b/new name.py	
@@ -1 +1 @@
-x = 1
+x = 2
diff --git a/logo.png b/logo.png
index 6666666..7777777 100644
Binary files a/logo.png and b/logo.png differ
diff --git a/gone.txt b/gone.txt
deleted file mode 100644
index 8888888..0000000
--- a/gone.txt
+++ /dev/null
@@ -1 +0,0 @@
-bye
diff --git "a/caf\303\251.py" "b/caf\303\251.py"
old mode 100644
new mode 100755
diff --git a/CHANGELOG.md b/CHANGELOG.md
index 9999999..aaaaaaa 100644
--- a/CHANGELOG.md
+++ b/CHANGELOG.md
@@ -1 +1,2 @@
 # Changes
+- fixed add
`

func TestParseHandWritten(t *testing.T) {
	t.Parallel()
	d, err := Parse(handDiff)
	require.NoError(t, err)
	require.Equal(t, handDiff, d.String())
	type row struct {
		Old, New string
		Status   Status
		Binary   bool
		Add, Del int
	}
	var got []row
	for _, f := range d.Files {
		got = append(got, row{f.OldPath, f.NewPath, f.Status, f.Binary, f.Added, f.Deleted})
	}
	require.Equal(t, []row{
		{"calc.py", "calc.py", Modified, false, 1, 1},
		{"", "tests/test_calc.py", Added, false, 2, 0},
		{"old name.py", "new name.py", Renamed, false, 1, 1},
		{"logo.png", "logo.png", Modified, true, 0, 0},
		{"gone.txt", "", Deleted, false, 0, 1},
		{"café.py", "café.py", Modified, false, 0, 0},
		{"CHANGELOG.md", "CHANGELOG.md", Modified, false, 1, 0},
	}, got)

	s, err := SplitDiff(handDiff)
	require.NoError(t, err)
	require.Equal(t, []string{"tests/test_calc.py"}, s.TestFiles)
	require.Equal(t, []string{"calc.py", "new name.py", "logo.png", "gone.txt", "café.py"}, s.CodeFiles)
	require.Equal(t, []string{"CHANGELOG.md"}, s.DocFiles)
	require.Equal(t, []string{"logo.png"}, s.BinaryFiles)
	require.Equal(t, 2, s.TestLines)
	require.Equal(t, 2+2+1+1, s.CodeLines)
	require.False(t, s.BinaryOnly())
	require.True(t, strings.HasPrefix(s.TestPatch, "diff --git a/tests/test_calc.py"))
	require.Equal(t, len(handDiff), len(s.Patch)+len(s.TestPatch))
}

func TestParseErrors(t *testing.T) {
	t.Parallel()
	for name, text := range map[string]string{
		"short hunk":   "diff --git a/x b/x\n--- a/x\n+++ b/x\n@@ -1,2 +1,2 @@\n a\n",
		"bad header":   "diff --git a/x b/x\n--- a/x\n+++ b/x\n@@ -x +1 @@\n",
		"junk":         "diff --git a/x b/x\n--- a/x\n+++ b/x\n@@ -1 +1 @@\n-a\n+b\nnot a diff line\n",
		"long hunk":    "diff --git a/x b/x\n--- a/x\n+++ b/x\n@@ -1 +1 @@\n-a\n-b\n+c\n",
		"no path":      "diff --git \n",
		"unterminated": "diff --git \"a/x b/x\n",
	} {
		_, err := Parse(text)
		var se *SyntaxError
		require.True(t, errors.As(err, &se), "%s: %v", name, err)
	}
}

func TestParsePlainUnified(t *testing.T) {
	t.Parallel()
	text := "--- a/x.py\n+++ b/x.py\n@@ -1 +1 @@\n-a\n+b\n--- a/tests/test_x.py\n+++ b/tests/test_x.py\n@@ -1 +1 @@\n-a\n+b\n"
	s, err := SplitDiff(text)
	require.NoError(t, err)
	require.Equal(t, []string{"x.py"}, s.CodeFiles)
	require.Equal(t, []string{"tests/test_x.py"}, s.TestFiles)
}

// realRepo builds a repository whose second commit renames, deletes, adds binary and
// non-UTF-8 files, so the diffs below are git's own.
func realRepo(t *testing.T) *repotest.Repo {
	t.Helper()
	bin := "\x00\x01\x02PNG\x00\xff\xfe binary\x00"
	desc := "-- commit: base --\nmessage: base\n" +
		"-- calc.py --\ndef add(a, b):\n    return a - b\n" +
		"-- tests/test_calc.py --\ndef test_add():\n    assert add(1, 2) == 3\n" +
		"-- old_helpers.py --\n" + strings.Repeat("HELPER = 1\n", 20) +
		"-- latin1.txt --\ncaf\xe9 au lait\n" +
		"-- dir with space/a b.py --\nx = 1\n" +
		"-- logo.png --\n" + bin + "\n" +
		"-- gone.py --\nbye = 1\n" +
		"-- commit: fix --\nmessage: fix\n" +
		"-- calc.py --\ndef add(a, b):\n    return a + b\n" +
		"-- tests/test_calc.py --\ndef test_add():\n    assert add(1, 2) == 3\n    assert add(2, 2) == 4\n" +
		"-- delete: old_helpers.py --\n" +
		"-- new_helpers.py --\n" + strings.Repeat("HELPER = 1\n", 20) + "EXTRA = 2\n" +
		"-- latin1.txt --\ncaf\xe9 cr\xe8me\n" +
		"-- dir with space/a b.py --\nx = 2\n" +
		"-- logo.png --\n" + bin + "v2\x00\n" +
		"-- delete: gone.py --\n"
	r, err := repotest.Build(filepath.Join(t.TempDir(), "repo"), []byte(desc))
	require.NoError(t, err)
	return r
}

func TestGitDiffSplitsAndApplies(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	r := realRepo(t)
	base, fix := r.Commits["base"], r.Commits["fix"]

	diff, err := GitDiff(ctx, r.Dir, base, fix)
	require.NoError(t, err)
	require.True(t, utf8.ValidString(diff), "non-UTF-8 text must come out as a binary patch")

	s, err := SplitDiff(diff)
	require.NoError(t, err)
	byPath := map[string]File{}
	for _, f := range s.Files {
		byPath[f.Path()] = f
	}
	require.Equal(t, Renamed, byPath["new_helpers.py"].Status)
	require.Equal(t, "old_helpers.py", byPath["new_helpers.py"].OldPath)
	require.Equal(t, Deleted, byPath["gone.py"].Status)
	require.True(t, byPath["logo.png"].Binary)
	require.True(t, byPath["latin1.txt"].Binary)
	require.Equal(t, Modified, byPath["dir with space/a b.py"].Status)
	require.Equal(t, []string{"tests/test_calc.py"}, s.TestFiles)
	require.ElementsMatch(t, []string{"calc.py", "new_helpers.py", "latin1.txt", "dir with space/a b.py", "logo.png", "gone.py"}, s.CodeFiles)

	// Each half applies on its own to the base, and both together rebuild the fix's tree.
	require.NoError(t, CheckApplies(ctx, r.Dir, base, s.Patch))
	require.NoError(t, CheckApplies(ctx, r.Dir, base, s.TestPatch))
	require.NoError(t, CheckApplies(ctx, r.Dir, base, s.Patch+s.TestPatch))

	// The code half does not apply to the fix itself (it is already there).
	err = CheckApplies(ctx, r.Dir, fix, s.Patch)
	var ae *ApplyError
	require.ErrorAs(t, err, &ae)
	require.Equal(t, fix, ae.Commit)
	require.Equal(t, 0, ae.Index)
	require.NotEmpty(t, ae.Output)
	// With several patches, the error names the first refused one.
	err = CheckApplies(ctx, r.Dir, fix, "", s.TestPatch)
	require.ErrorAs(t, err, &ae)
	require.Equal(t, 1, ae.Index)
}

func TestGitDiffRebuildsTree(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	r := realRepo(t)
	base, fix := r.Commits["base"], r.Commits["fix"]
	diff, err := GitDiff(ctx, r.Dir, base, fix)
	require.NoError(t, err)
	// Apply to a temporary index and compare its tree with the fix's: the round trip is exact,
	// bytes of the non-UTF-8 file included.
	idx := filepath.Join(t.TempDir(), "index")
	env := []string{"GIT_INDEX_FILE=" + idx}
	_, err = gitexec.RunWith(ctx, r.Dir, gitexec.Options{Env: env}, "read-tree", base)
	require.NoError(t, err)
	_, err = gitexec.RunWith(ctx, r.Dir, gitexec.Options{Env: env, Stdin: diff}, "apply", "--cached", "-")
	require.NoError(t, err)
	tree, err := gitexec.RunWith(ctx, r.Dir, gitexec.Options{Env: env}, "write-tree")
	require.NoError(t, err)
	want, err := gitexec.Run(ctx, r.Dir, "rev-parse", fix+"^{tree}")
	require.NoError(t, err)
	require.Equal(t, strings.TrimSpace(want), strings.TrimSpace(tree))
}

func TestCheckAppliesEmptyPatch(t *testing.T) {
	t.Parallel()
	require.NoError(t, CheckApplies(t.Context(), t.TempDir(), "HEAD", ""))
}

func TestAttributePattern(t *testing.T) {
	t.Parallel()
	require.Equal(t, "/a/b.txt", attributePattern("a/b.txt"))
	require.Equal(t, `/x\*y`, attributePattern("x*y"))
	require.Equal(t, `"/a b"`, attributePattern("a b"))
	require.Equal(t, `"/caf\303\251 x"`, attributePattern("café x"))
}
