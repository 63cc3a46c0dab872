package swebench_test

import (
	"encoding/base64"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"swemill/swebench"
	"swemill/testlog"
)

const testPatch = `diff --git a/tests/test_calc.py b/tests/test_calc.py
--- a/tests/test_calc.py
+++ b/tests/test_calc.py
@@ -1 +1,2 @@
 import calc
+#!/bin/bash
diff --git a/tests/test_new.py b/tests/test_new.py
new file mode 100644
--- /dev/null
+++ b/tests/test_new.py
@@ -0,0 +1 @@
+set -uxo pipefail
`

func TestEvalScript(t *testing.T) {
	script, err := swebench.EvalScript(swebench.Task{
		WorkDir: "/testbed", BaseCommit: "0123456789abcdef0123456789abcdef01234567", TestPatch: testPatch,
		Parser: testlog.Pytest, TestCmd: "python -m pytest -rA", TestFiles: []string{"tests/test_calc.py", "tests/test_new.py"},
		Env: map[string]string{"B": "2", "A": "it's"},
	})
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSuffix(script, "\n"), "\n")
	assert.Equal(t, []string{"#!/bin/bash", "set -uxo pipefail", "exec 2>&1", "cd /testbed", `export A='it'\''s'`, "export B=2"}, lines[:6])
	// The test patch travels base64-encoded: its lines that look like the script lines the
	// harness drops are not in the script.
	assert.Equal(t, 1, strings.Count(script, "\n#!/bin/bash\n")+strings.Count(script[:12], "#!/bin/bash\n"))
	assert.Equal(t, 1, strings.Count(script, "set -uxo pipefail"))
	start := strings.Index(script, "<<'SWEMILL_TEST_PATCH'\n") + len("<<'SWEMILL_TEST_PATCH'\n")
	end := strings.Index(script, "SWEMILL_TEST_PATCH\ngit apply")
	decoded, err := base64.StdEncoding.DecodeString(strings.ReplaceAll(script[start:end], "\n", ""))
	require.NoError(t, err)
	assert.Equal(t, testPatch, string(decoded))
	// The test command runs between the markers, on the test files; the reset runs before the
	// patch and after the tests, on every path the test patch touches.
	i := slices.Index(lines, "echo '>>>>> Start Test Output'")
	require.Positive(t, i)
	assert.Equal(t, "python -m pytest -rA tests/test_calc.py tests/test_new.py", lines[i+1])
	assert.Equal(t, "echo '>>>>> End Test Output'", lines[i+2])
	assert.Equal(t, "swemill_reset tests/test_calc.py tests/test_new.py", lines[i+3])
	assert.Equal(t, 2, strings.Count(script, "\nswemill_reset tests/test_calc.py tests/test_new.py\n"))

	// As the harness runs it: the exit code saved right after the test command.
	h := strings.Split(swebench.HarnessScript(script), "\n")
	j := slices.Index(h, "SWEBENCH_TEST_EXIT_CODE=$?")
	assert.Equal(t, lines[i+1], h[j-1])
	assert.Equal(t, "echo '>>>>> End Test Output'", h[j+1])

	goScript, err := swebench.EvalScript(swebench.Task{WorkDir: "/testbed", BaseCommit: "abc", TestPatch: testPatch, Parser: testlog.GoTest, TestCmd: "go test -json -count=1"})
	require.NoError(t, err)
	assert.Contains(t, goScript, "\ngo test -v -count=1 ./...\n", "go test -v, which parse_log_gotest reads, on every package")

	_, err = swebench.EvalScript(swebench.Task{WorkDir: "/testbed", BaseCommit: "abc", TestPatch: "not a diff\n", TestCmd: "pytest"})
	assert.Error(t, err)
}

func TestHarnessReading(t *testing.T) {
	out, ok := swebench.TestOutput("setup\n>>>>> Start Test Output\nPASSED a\n>>>>> End Test Output\nreset\n")
	require.True(t, ok)
	assert.Equal(t, "\nPASSED a\n", out)
	_, ok = swebench.TestOutput("no markers")
	assert.False(t, ok)
	sm := map[string]string{"p": "PASSED", "x": "XFAIL", "s": "SKIPPED", "f": "FAILED", "e": "ERROR"}
	for id, want := range map[string][3]bool{"p": {true, true, false}, "x": {true, true, false}, "s": {false, true, true}, "f": {false, false, true}, "e": {false, false, true}, "missing": {false, false, true}} {
		assert.Equal(t, want, [3]bool{swebench.Passed(sm, id), swebench.Maintained(sm, id), swebench.Failed(sm, id)}, id)
	}
}
