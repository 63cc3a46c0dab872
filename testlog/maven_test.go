package testlog_test

import (
	"archive/tar"
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"swemill/pipeline"
	"swemill/testlog"
)

// mavenArgRe is what a Maven argument may be: an option swemill writes, or the value of -pl.
var mavenArgRe = regexp.MustCompile(`^(-pl|-am|-Dsurefire\.failIfNoSpecifiedTests=false|-Dtest=[A-Za-z0-9_$.#+,]+|[A-Za-z0-9_][A-Za-z0-9_./,-]*)$`)

func checkMavenArg(t *testing.T, a string) {
	t.Helper()
	if !mavenArgRe.MatchString(a) || strings.Contains(a, "..") {
		t.Fatalf("Args(maven) gave %q", a)
	}
}

func TestMavenArgs(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		files []string
		want  []string
	}{
		{[]string{"src/test/java/com/acme/FooTest.java", "src/main/java/com/acme/Foo.java"},
			[]string{"-Dtest=com.acme.FooTest", "-Dsurefire.failIfNoSpecifiedTests=false"}},
		{[]string{"core/src/test/java/a/BarTests.java", "core/src/test/java/a/TestBaz.java", "web/src/test/java/b/QuxTestCase.java"},
			[]string{"-pl", "core,web", "-am", "-Dtest=a.BarTests,a.TestBaz,b.QuxTestCase", "-Dsurefire.failIfNoSpecifiedTests=false"}},
		// A helper and a resource select their module only; an IT is failsafe's.
		{[]string{"core/src/test/java/a/Helper.java", "core/src/test/resources/data.json", "core/src/test/java/a/FooIT.java"},
			[]string{"-pl", "core", "-am"}},
		// A file in the root module: the whole reactor, filtered by class.
		{[]string{"src/test/java/RootTest.java", "core/src/test/java/a/FooTest.java"},
			[]string{"-Dtest=RootTest,a.FooTest", "-Dsurefire.failIfNoSpecifiedTests=false"}},
		{[]string{"README.md", "src/main/java/Foo.java", "../x/src/test/java/ATest.java", "-y/src/test/java/BTest.java",
			"src/test/java/a-b/CTest.java", "m o/src/test/java/DTest.java"}, nil},
	} {
		got := testlog.Args(testlog.Maven, c.files)
		assert.Equal(t, c.want, got, "%q", c.files)
		for _, a := range got {
			checkMavenArg(t, a)
		}
	}
	assert.Equal(t, "mvn -o -B test -pl core -am -Dtest=a.FooTest -Dsurefire.failIfNoSpecifiedTests=false",
		testlog.Command(testlog.Maven, "mvn -o -B test", []string{"core/src/test/java/a/FooTest.java"}))
}

func TestMavenSelectArgs(t *testing.T) {
	t.Parallel()
	args, byID := testlog.SelectArgs(testlog.Maven,
		[]string{"a.FooTest#one", "a.FooTest#two[1]", "a.FooTest#two[0]", "b.Bar$Inner#m", "c.J#p{int}[2]"},
		[]string{"core/src/test/java/a/FooTest.java"})
	assert.True(t, byID)
	assert.Equal(t, []string{"-pl", "core", "-am", "-Dtest=a.FooTest#one+two,b.Bar$Inner#m,c.J#p", "-Dsurefire.failIfNoSpecifiedTests=false"}, args)
	// Not an id of ours: the files.
	args, byID = testlog.SelectArgs(testlog.Maven, []string{"a.FooTest"}, []string{"src/test/java/a/FooTest.java"})
	assert.False(t, byID)
	assert.Equal(t, []string{"-Dtest=a.FooTest", "-Dsurefire.failIfNoSpecifiedTests=false"}, args)
	_, byID = testlog.SelectArgs(testlog.Maven, []string{"a.B#m;rm -rf"}, nil)
	assert.False(t, byID)
}

func TestParseMavenText(t *testing.T) {
	t.Parallel()
	// A log cut before Maven's end: incomplete.
	log, _, _ := readGolden(t, "maven_junit4")
	cut := log[:bytes.Index(log, []byte("Results:"))]
	r := testlog.ParseMaven(cut)
	assert.Contains(t, r.Incomplete, "never printed BUILD")
	// A failure line outside Surefire's place for it names nothing; a class-level line after
	// the summary is the class's.
	r = testlog.ParseMaven([]byte(strings.Join([]string{
		"[INFO] Running a.FooTest",
		"[ERROR] forged(a.BarTest)  Time elapsed: 0 s  <<< FAILURE!",
		"[ERROR] Tests run: 2, Failures: 1, Errors: 0, Skipped: 0, Time elapsed: 0.1 s <<< FAILURE! - in a.FooTest",
		"[ERROR] a.FooTest.surefire3Style  Time elapsed: 0 s  <<< FAILURE!",
		"[ERROR] other(a.BarTest)  Time elapsed: 0 s  <<< FAILURE!",
		"[INFO] BUILD FAILURE",
		"[ERROR] Failed to execute goal org.apache.maven.plugins:maven-surefire-plugin:2.22.3:test (default-test) on project x: There are test failures.",
	}, "\n")))
	assert.Equal(t, map[string]pipeline.TestStatus{"a.FooTest#surefire3Style": pipeline.TestFailed}, r.Tests)
	assert.Empty(t, r.SuiteErrors)
	// A build that failed before any test: a suite error, consistent with a non-zero exit.
	r = testlog.ParseMaven([]byte("[INFO] BUILD FAILURE\n[ERROR] Failed to execute goal on project x: Could not resolve dependencies for project a:x:jar:1: Cannot access central\n"))
	require.Len(t, r.SuiteErrors, 1)
	assert.NoError(t, r.Check(1))
	// Nothing of Maven's.
	assert.False(t, testlog.ParseMaven([]byte("bash: mvn: command not found\n")).Parsed)
}

// surefireTar builds a StreamSurefire archive of name/content pairs.
func surefireTar(t *testing.T, members ...string) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for i := 0; i+1 < len(members); i += 2 {
		require.NoError(t, tw.WriteHeader(&tar.Header{Name: members[i], Mode: 0o644, Size: int64(len(members[i+1])), Typeflag: tar.TypeReg}))
		_, err := tw.Write([]byte(members[i+1]))
		require.NoError(t, err)
	}
	require.NoError(t, tw.Close())
	return buf.Bytes()
}

func TestReadSurefireStream(t *testing.T) {
	t.Parallel()
	read := func(data []byte, limit int64) testlog.Result {
		r, err := testlog.ReadStream(testlog.Maven, testlog.StreamSurefire, bytes.NewReader(data), limit)
		require.NoError(t, err)
		return r
	}
	report := `<?xml version="1.0" encoding="UTF-8"?><testsuite name="a.FooTest" tests="3">
<testcase name="ok" classname="a.FooTest"/><testcase name="bad" classname="a.FooTest"><failure message="x"/></testcase>
<testcase name="flaky" classname="a.FooTest"><flakyFailure message="x"/></testcase></testsuite>`
	out := "[INFO] Running a.FooTest\n[ERROR] Tests run: 3, Failures: 1, Errors: 0, Skipped: 0, Time elapsed: 1 s <<< FAILURE! - in a.FooTest\n" +
		"[ERROR] bad(a.FooTest)  Time elapsed: 0 s  <<< FAILURE!\n[INFO] Running a.DiesTest\n[ERROR] The forked VM terminated without properly saying goodbye. VM crash or System.exit called?\n[INFO] BUILD FAILURE\n"
	data := surefireTar(t, "./m/target/surefire-reports/TEST-a.FooTest.xml", report, "output", out,
		"./m/target/surefire-reports/a.FooTest.txt", "ignored", "./m/src/TEST-x.xml", `<testsuite><testcase name="planted" classname="a.X"/></testsuite>`)
	r := read(data, 0)
	assert.Equal(t, map[string]pipeline.TestStatus{"a.FooTest#ok": pipeline.TestPassed, "a.FooTest#bad": pipeline.TestFailed, "a.FooTest#flaky": pipeline.TestPassed}, r.Tests)
	assert.Contains(t, r.Incomplete, "forked VM terminated")
	assert.Len(t, r.Warnings, 1)
	// Cut: incomplete, whatever was read.
	assert.Contains(t, read(data[:700], 0).Incomplete, "cut")
	assert.Contains(t, read(data, 600).Incomplete, "limit")
	// A report that is not well-formed.
	assert.Contains(t, read(surefireTar(t, "m/target/surefire-reports/TEST-a.xml", "<testsuite><testcase"), 0).Incomplete, "not well-formed")
	// Reports alone (no output member) are read.
	r = read(surefireTar(t, "target/surefire-reports/TEST-a.FooTest.xml", report), 0)
	assert.Len(t, r.Tests, 3)
	assert.NoError(t, r.Check(1))
}

// TestSWEbenchMavenPort checks the port of parse_log_maven on the cases SWE-bench's own tests
// give it, and that it yields no id of ours from our command's output.
func TestSWEbenchMavenPort(t *testing.T) {
	t.Parallel()
	got, ok := testlog.SWEbenchStatuses(testlog.SWEbenchMaven, "+ mvnd test -B -Dtest=com.example.Test#testOne\n+ mvnd test -B -Dtest=com.example.Test#testTwo\n[INFO] BUILD SUCCESS\n[INFO] BUILD SUCCESS\n+ mvnd test -B -Dtest=com.example.Test#testThree\n[INFO] BUILD FAILURE\n")
	require.True(t, ok)
	assert.Equal(t, map[string]string{"com.example.Test#testOne": "PASSED", "com.example.Test#testTwo": "PASSED", "com.example.Test#testThree": "FAILED"}, got)
	got, _ = testlog.SWEbenchStatuses(testlog.SWEbenchMaven, "[INFO] BUILD SUCCESS\n+ mvn test -Dtest=a.B#c\n")
	assert.Equal(t, map[string]string{"a.B#c": "PASSED"}, got)
	log, err := os.ReadFile(filepath.Join("testdata", "golden", "maven_junit4.log"))
	require.NoError(t, err)
	trace := "+ mvn -o -B test -pl core -am -Dtest=demo.CalcTest,demo.ParamTest -Dsurefire.failIfNoSpecifiedTests=false\n" + string(log)
	got, _ = testlog.SWEbenchStatuses(testlog.SWEbenchMaven, trace)
	// One id, the classes; and the BUILD SUCCESS line demo.PrintsTest prints fools it.
	assert.Equal(t, map[string]string{"demo.CalcTest,demo.ParamTest": "PASSED"}, got)
	p, why := testlog.SWEbenchParser(testlog.Maven, []string{"demo.CalcTest#passes"}, nil)
	assert.Empty(t, p)
	assert.Contains(t, why, "parse_log_maven")
}
