package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"swemill/envbuild/envbuildtest"
	"swemill/pipeline"
	"swemill/repotest"
	"swemill/runstore"
)

func TestDecisiveRun(t *testing.T) {
	t.Parallel()
	runs := []pipeline.TestRun{
		{Side: "after", Index: 1}, {Side: "before", Index: 0}, {Side: "after", Index: 0, OOM: true},
		{Side: "before", Index: 1, TimedOut: true}, {Side: "before", Index: 2},
	}
	for _, tc := range []struct {
		reason, detail string
		side           string
		index          int
	}{
		{"test_patch_does_not_apply", "before run 2: error: patch failed", "before", 2},
		{"suite_timeout", "before run 1: the tests ran out of time", "before", 1},
		{"suite_timeout", "", "before", 1},
		{"suite_oom", "", "after", 0},
		{"no_fail_to_pass", "no test fails before the fix and passes after it", "after", 1},
		{"unparseable_log", "after run 7: no such run", "after", 1},
	} {
		r, ok := decisiveRun(runs, tc.reason, tc.detail)
		require.True(t, ok)
		require.Equal(t, tc.side+"-"+fmt.Sprint(tc.index), fmt.Sprintf("%s-%d", r.Side, r.Index), "%s %q", tc.reason, tc.detail)
	}
	_, ok := decisiveRun(nil, "no_fail_to_pass", "")
	require.False(t, ok)
}

func TestLastLines(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	for i := range 100 {
		fmt.Fprintf(&b, "line %d\r\n", i)
	}
	b.WriteString("Downloading 10%\rDownloading 100%\n" + strings.Repeat("x", 1000) + "\n\n\n")
	got := lastLines([]byte(b.String()), 5)
	require.Equal(t, []string{"line 97", "line 98", "line 99", "Downloading 100%", strings.Repeat("x", maxShownLine) + " [...]"}, got)
	require.Empty(t, lastLines([]byte("\n\n"), 5))
}

// TestShowFailedBuild builds, with the real stages, an imported instance whose install fails
// (testdata/repos/pybroken) from a mirror given in mine.import_mirrors, and checks what the
// user sees: run ends with the command that retries it, show prints the tail of the build log
// and names it, recipe explains why there is no stored recipe.
func TestShowFailedBuild(t *testing.T) {
	t.Parallel()
	envbuildtest.Docker(t) // skipped, loudly, only when no engine answers and CI is unset
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Minute)
	defer cancel()
	root := t.TempDir()
	repo, err := repotest.BuildFile(filepath.Join(root, "src", "pybroken"), filepath.Join("..", "..", "testdata", "repos", "pybroken.txtar"))
	require.NoError(t, err)
	out, err := exec.CommandContext(ctx, "git", "clone", "-q", "--bare", repo.Dir, filepath.Join(root, "elsewhere", "pybroken.git")).CombinedOutput()
	require.NoError(t, err, "%s", out)
	dir := filepath.Join(root, "run")
	require.NoError(t, os.MkdirAll(dir, 0o755))
	row, err := json.Marshal(map[string]string{
		"instance_id": "acme__pybroken-1", "repo": "acme/pybroken", "base_commit": repo.Commits["base"],
		"patch":             "diff --git a/broken/value.py b/broken/value.py\nnew file mode 100644\n--- /dev/null\n+++ b/broken/value.py\n@@ -0,0 +1 @@\n+VALUE = 1\n",
		"test_patch":        "diff --git a/tests/test_value.py b/tests/test_value.py\nnew file mode 100644\n--- /dev/null\n+++ b/tests/test_value.py\n@@ -0,0 +1,2 @@\n+def test_value():\n+    from broken.value import VALUE\n",
		"problem_statement": "VALUE is missing from the broken package, which every caller needs.",
	})
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "tasks.jsonl"), append(row, '\n'), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, ConfigFile), []byte(`mine:
  source: import
  import_files: [tasks.jsonl]
  import_mirrors: {acme/pybroken: ../elsewhere/pybroken.git}
build: {offline: true}
`), 0o644))
	swemill := func(args ...string) (int, string, string) {
		var stdout, stderr strings.Builder
		code := run(ctx, args, strings.NewReader(""), &stdout, &stderr, os.Getenv, wireStages)
		return code, stdout.String(), stderr.String()
	}
	code, stdout, stderr := swemill("base", "build", "--dir", dir)
	require.Equal(t, exitOK, code, "%s%s", stdout, stderr)
	code, stdout, stderr = swemill("run", "--dir", dir, "--until", "build", "--progress", "none", "--log-level", "warn")
	require.Equal(t, exitOK, code, "%s%s", stdout, stderr)
	require.Regexp(t, `(?m)^  swemill rerun build --dir \S+/run --dropped install_failed +# 1 instance dropped \(install_failed\)`, stdout)

	code, stdout, stderr = swemill("show", "acme__pybroken-1", "--dir", dir)
	require.Equal(t, exitOK, code, stderr)
	require.Regexp(t, `(?m)^build dropped \(install_failed\): (all \d+|the last 40) lines of build.log \(generation 1, \S+/run/artifacts/sha256/[0-9a-f]{2}/[0-9a-f]{62}\):$`, stdout)
	tail := stdout[strings.Index(stdout, "lines of build.log"):]
	require.Contains(t, tail, "SWEMILL-FIXTURE-INSTALL-FAILURE", "the failing step's own output is shown")

	code, stdout, _ = swemill("show", "acme__pybroken-1", "--dir", dir, "--json")
	require.Equal(t, exitOK, code)
	var d runstore.InstanceDetail
	require.NoError(t, json.Unmarshal([]byte(stdout), &d), "show --json stays one JSON document")
	require.NotContains(t, stdout, "lines of build.log")

	code, _, stderr = swemill("recipe", "acme__pybroken-1", "--dir", dir)
	require.Equal(t, exitError, code)
	require.Contains(t, stderr, "has no stored recipe: its build is dropped (install_failed)")
	code, stdout, stderr = swemill("recipe", "--repo", repo.Dir, "--name", "acme/pybroken", "--dir", dir)
	require.Equal(t, exitOK, code, stderr)
	require.Contains(t, stdout, "build.offline: true")
	require.Regexp(t, `(?m)^install:\n  - python -m pip install .*-e \.$`, stdout)
}
