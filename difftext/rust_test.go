package difftext

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestClassifyRust(t *testing.T) {
	for p, want := range map[string]Kind{
		"tests/parse.rs":                 Test,
		"tests/common/mod.rs":            Test,
		"crates/core/tests/api.rs":       Test,
		"src/parse/tests.rs":             Test,
		"src/tests.rs":                   Test,
		"src/test.rs":                    Test,
		"src/lexer_test.rs":              Test,
		"src/lib.rs":                     Code,
		"src/testing_utils.rs":           Code,
		"src/latest.rs":                  Code,
		"benches/bench.rs":               Code,
		"examples/demo.rs":               Code,
		"build.rs":                       Code,
		"Cargo.toml":                     Code,
		"crates/core/src/contest/mod.rs": Code,
		"CHANGELOG.md":                   Doc,
	} {
		assert.Equal(t, want, Classify(p), p)
	}
}

func TestSplitRustTestOnlyFile(t *testing.T) {
	const diff = `diff --git a/src/lib.rs b/src/lib.rs
--- a/src/lib.rs
+++ b/src/lib.rs
@@ -1,3 +1,4 @@
 //! The crate.
+mod checks;
 pub fn one() -> i32 { 1 }
 
diff --git a/src/checks.rs b/src/checks.rs
new file mode 100644
--- /dev/null
+++ b/src/checks.rs
@@ -0,0 +1,6 @@
+// Checks of the crate.
+
+#![cfg(test)]
+
+#[test]
+fn one() { assert_eq!(crate::one(), 1); }
diff --git a/src/util.rs b/src/util.rs
new file mode 100644
--- /dev/null
+++ b/src/util.rs
@@ -0,0 +1,3 @@
+pub fn two() -> i32 { 2 }
+#![cfg(test)]
+fn x() {}
diff --git a/src/later.rs b/src/later.rs
--- a/src/later.rs
+++ b/src/later.rs
@@ -10,3 +10,4 @@
 #![cfg(test)]
+fn y() {}
 fn z() {}
 
`
	s, err := SplitDiff(diff)
	require.NoError(t, err)
	assert.Equal(t, []string{"src/checks.rs"}, s.TestFiles)
	assert.Equal(t, []string{"src/lib.rs", "src/util.rs", "src/later.rs"}, s.CodeFiles,
		"an attribute after an item, or in a hunk that does not start the file, says nothing")
}
