package difftext

import (
	"path"
	"strings"
)

// Kind says what a file in a repository is for.
type Kind int

// File kinds. Docs go to the code half of a split (they are not tests) but do not count as a
// code change.
const (
	Code Kind = iota
	Test
	Doc
)

func (k Kind) String() string {
	switch k {
	case Test:
		return "test"
	case Doc:
		return "doc"
	default:
		return "code"
	}
}

// testDirs are directory names that hold tests in the ecosystems swemill mines. A path is a test
// when any of its directories is one of these (compared without case).
var testDirs = map[string]bool{
	"test": true, "tests": true, "testing": true, "__tests__": true, "__test__": true,
	"spec": true, "specs": true, "testdata": true, "test_data": true, "testcases": true,
	"unittest": true, "unittests": true, "unit_tests": true, "integration_tests": true,
	"functional_tests": true, "e2e": true, "test-data": true, "test-fixtures": true,
	"test_fixtures": true,
}

// docDirs hold documentation.
var docDirs = map[string]bool{
	"doc": true, "docs": true, "documentation": true, "changelog.d": true, "changes": true,
	"newsfragments": true, "release-notes": true, "releasenotes": true,
}

// docNames are file names (without extension, lower case) of project documentation.
var docNames = map[string]bool{
	"changelog": true, "changes": true, "history": true, "news": true, "authors": true,
	"contributors": true, "readme": true, "license": true, "licence": true, "copying": true,
	"notice": true, "code_of_conduct": true, "contributing": true, "security": true,
	"whatsnew": true, "maintainers": true, "codeowners": true,
}

// docExts are extensions of documentation files.
var docExts = map[string]bool{".md": true, ".rst": true, ".adoc": true, ".markdown": true}

// testSuffixes are file name endings (lower case) of tests, language by language.
var testSuffixes = []string{
	// Python
	"_test.py", "_tests.py",
	// Go
	"_test.go",
	// JavaScript and TypeScript
	".test.js", ".test.jsx", ".test.ts", ".test.tsx", ".test.mjs", ".test.cjs", ".test.mts", ".test.cts",
	".spec.js", ".spec.jsx", ".spec.ts", ".spec.tsx", ".spec.mjs", ".spec.cjs",
	// Ruby
	"_spec.rb", "_test.rb",
	// Elixir
	"_test.exs",
	// C and C++
	"_test.c", "_test.cc", "_test.cpp", "_unittest.cc", "_unittest.cpp", "_tests.cpp",
	// Rust (files of a tests/ directory are covered by the directory rule)
	"_test.rs", "_tests.rs",
	// Dart
	"_test.dart",
}

// testCamelSuffixes are case-sensitive endings of JVM, .NET, PHP and Swift test classes.
var testCamelSuffixes = []string{
	"Test.java", "Tests.java", "TestCase.java", "IT.java",
	"Test.kt", "Tests.kt", "Test.scala", "Spec.scala", "Test.groovy", "Spec.groovy",
	"Test.cs", "Tests.cs", "Test.php", "Tests.swift", "Test.swift",
}

// IsTest reports whether a repository path (slash-separated) holds tests. It follows the
// conventions of each language rather than looking for "test" anywhere in the path, so
// "latest_release.py" and "contest/main.go" are code.
func IsTest(p string) bool {
	p = strings.TrimPrefix(p, "./")
	dir, base := path.Split(p)
	for _, d := range strings.Split(strings.Trim(dir, "/"), "/") {
		ld := strings.ToLower(d)
		if testDirs[ld] {
			return true
		}
		// "integration-tests", "MyLib.Tests", "unit_test"...
		for _, sep := range []string{"_", "-", "."} {
			if strings.HasSuffix(ld, sep+"tests") || strings.HasSuffix(ld, sep+"test") ||
				strings.HasPrefix(ld, "tests"+sep) || strings.HasPrefix(ld, "test"+sep) {
				return true
			}
		}
	}
	lb := strings.ToLower(base)
	switch {
	case lb == "conftest.py", lb == "tests.py", lb == "pytest.ini":
		return true
	case lb == "tests.rs" || lb == "test.rs":
		// Rust: the file of a `#[cfg(test)] mod tests;` module (src/parse/tests.rs).
		return true
	case strings.HasPrefix(lb, "test_") && (strings.HasSuffix(lb, ".py") || strings.HasSuffix(lb, ".rb") ||
		strings.HasSuffix(lb, ".c") || strings.HasSuffix(lb, ".cc") || strings.HasSuffix(lb, ".cpp")):
		return true
	}
	for _, s := range testSuffixes {
		if strings.HasSuffix(lb, s) {
			return true
		}
	}
	for _, s := range testCamelSuffixes {
		if strings.HasSuffix(base, s) && len(base) > len(s) {
			return true
		}
	}
	// JUnit's other convention: TestFoo.java.
	if strings.HasPrefix(base, "Test") && len(base) > len("Test.java") && base[4] >= 'A' && base[4] <= 'Z' &&
		(strings.HasSuffix(base, ".java") || strings.HasSuffix(base, ".kt")) {
		return true
	}
	return false
}

// IsDoc reports whether a path holds documentation (docs/ directories, Markdown and
// reStructuredText files, changelogs, news fragments, licences).
func IsDoc(p string) bool {
	p = strings.TrimPrefix(p, "./")
	dir, base := path.Split(p)
	for _, d := range strings.Split(strings.Trim(dir, "/"), "/") {
		if docDirs[strings.ToLower(d)] {
			return true
		}
	}
	lb := strings.ToLower(base)
	ext := path.Ext(lb)
	if docExts[ext] {
		return true
	}
	return docNames[strings.TrimSuffix(lb, ext)]
}

// Classify returns the kind of a path: Test wins over Doc (a Markdown file under tests/ is a
// test fixture), Doc over Code.
func Classify(p string) Kind {
	switch {
	case IsTest(p):
		return Test
	case IsDoc(p):
		return Doc
	default:
		return Code
	}
}
