package validate_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"swemill/envbuild/sandbox"
	"swemill/pipeline"
	"swemill/stages/validate"
)

// validatedItem is a fixture's item with the Validation that TestValidateFixtures checks
// validate produces for it.
func validatedItem(t *testing.T, e expectation) *pipeline.Item {
	t.Helper()
	it := item(t, e.fixture)
	it.Validation = &pipeline.Validation{FailToPass: e.failToPass, PassToPass: e.passToPass, LogParser: e.parser, TestFiles: e.testFiles}
	return it
}

// TestGrade grades model patches in fresh containers: the gold patch resolves; a partial
// fix, a patch that also rewrites the tests, an empty patch and one that does not apply do
// not.
func TestGrade(t *testing.T) {
	t.Parallel()
	sb := newSandbox(t, sandbox.Config{})
	text, unit, gokit := expectations[0], expectations[1], expectations[2]
	cases := []struct {
		name     string
		e        expectation
		patch    func(gold string) string
		resolved bool
		applied  bool
		problem  string
		f2pOK    int
		log      string
	}{
		{name: "gold patch, pytest", e: text, patch: func(g string) string { return g }, resolved: true, applied: true, f2pOK: 4},
		{name: "gold patch, unittest", e: unit, patch: func(g string) string { return g }, resolved: true, applied: true, f2pOK: 3},
		{name: "gold patch, go", e: gokit, patch: func(g string) string { return g }, resolved: true, applied: true, f2pOK: 3},
		{
			name: "partial fix: lower-case units but no space", e: gokit, applied: true, f2pOK: 1,
			patch: func(g string) string {
				return strings.Replace(g, "+	unit := strings.ToUpper(strings.TrimSpace(s[i:]))", "+	unit := strings.ToUpper(s[i:])", 1)
			},
			log: "--- FAIL: TestParseSize/3_kb",
		},
		{
			name: "a patch that deletes the new tests instead of fixing the code", e: text, applied: true, f2pOK: 0,
			patch: func(string) string {
				return "diff --git a/tests/test_slug.py b/tests/test_slug.py\n--- a/tests/test_slug.py\n+++ b/tests/test_slug.py\n" +
					"@@ -29,5 +29,2 @@ def test_titles(sample_titles):\n \n \n-def test_symbols_survive():\n-    assert slugify(\"c++\") == \"c++\"\n-\n-\n def test_slug_cache_is_warm():\n"
			},
			log: "swemill: reset tests/test_slug.py",
		},
		{name: "empty patch", e: text, patch: func(string) string { return "" }, problem: validate.ProblemEmptyPatch},
		{
			name: "a patch that does not apply", e: text, problem: validate.ProblemPatch,
			patch: func(string) string {
				return "diff --git a/textkit/gone.py b/textkit/gone.py\n--- a/textkit/gone.py\n+++ b/textkit/gone.py\n@@ -1 +1 @@\n-x = 1\n+x = 2\n"
			},
			log: "swemill: apply model_patch: FAILED",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			it := validatedItem(t, tc.e)
			labels := testLabels()
			g, err := validate.Grade(t.Context(), sb, it, tc.patch(it.Instance.Patch), validate.GradeOptions{Labels: labels})
			require.NoError(t, err)
			assert.Equal(t, tc.resolved, g.Resolved, "problem %q %s\n%s", g.Problem, g.Detail, g.Log)
			assert.Equal(t, tc.applied, g.Applied)
			assert.Equal(t, tc.problem, g.Problem, g.Detail)
			f2pOK, f2pTotal, p2pOK, p2pTotal := g.Counts()
			assert.Equal(t, tc.f2pOK, f2pOK)
			assert.Equal(t, len(tc.e.failToPass), f2pTotal)
			assert.Equal(t, len(tc.e.passToPass), p2pTotal)
			if tc.resolved {
				assert.Equal(t, p2pTotal, p2pOK)
				assert.Empty(t, g.FailToPass.Failure)
			}
			if tc.problem != "" {
				assert.Zero(t, f2pOK+p2pOK, "a problem fails every test")
			}
			if tc.log != "" {
				assert.Contains(t, string(g.Log), tc.log)
			}
			assert.Empty(t, containersWith(t, labels), "no container is left")
		})
	}
}

// TestGradeNeedsTests: an item without a validation, and no tests given, cannot be graded.
func TestGradeNeedsTests(t *testing.T) {
	t.Parallel()
	it := item(t, "pytextkit")
	_, err := validate.Grade(t.Context(), newSandbox(t, sandbox.Config{}), it, it.Instance.Patch, validate.GradeOptions{})
	assert.ErrorContains(t, err, "no tests given and the item has no validation")
}
