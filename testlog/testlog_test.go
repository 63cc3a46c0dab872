package testlog_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"swemill/pipeline"
	"swemill/testlog"
)

func TestNamesAndLookup(t *testing.T) {
	t.Parallel()
	assert.Equal(t, []string{"cargo", "django", "gotest", "jest", "maven", "pytest", "sympy", "unittest"}, testlog.Names())
	for _, n := range testlog.Names() {
		p, ok := testlog.Lookup(n)
		assert.True(t, ok)
		assert.NotNil(t, p)
	}
	_, err := testlog.Parse("nose", nil)
	var unknown *testlog.UnknownParserError
	require.ErrorAs(t, err, &unknown)
	assert.Contains(t, err.Error(), `"nose"`)
}

func TestEmptyOutputIsNotParsed(t *testing.T) {
	t.Parallel()
	for _, n := range testlog.Names() {
		for _, log := range []string{"", "bash: python: command not found\n", "Killed\n"} {
			r, err := testlog.Parse(n, []byte(log))
			require.NoError(t, err)
			assert.False(t, r.Parsed, "%s on %q", n, log)
			assert.Empty(t, r.Tests)
			assert.ErrorIs(t, r.Check(127), testlog.ErrUnparsed, "unparsed output is never a pass")
			assert.ErrorIs(t, r.Check(0), testlog.ErrUnparsed, "not even under exit code 0")
		}
	}
}

func TestCheck(t *testing.T) {
	t.Parallel()
	pass := map[string]pipeline.TestStatus{"a": pipeline.TestPassed}
	failing := map[string]pipeline.TestStatus{"a": pipeline.TestPassed, "b": pipeline.TestFailed}
	cases := []struct {
		name     string
		r        testlog.Result
		exit     int
		mismatch bool
	}{
		{"passes under exit 0", testlog.Result{Parsed: true, Tests: pass}, 0, false},
		{"passes under exit 1", testlog.Result{Parsed: true, Tests: pass}, 1, true},
		{"passes under a crash", testlog.Result{Parsed: true, Tests: pass}, 139, true},
		{"passes and a suite error under exit 1", testlog.Result{Parsed: true, Tests: pass, SuiteErrors: []string{"x"}}, 1, false},
		{"a failure under exit 1", testlog.Result{Parsed: true, Tests: failing}, 1, false},
		{"a failure under exit 0", testlog.Result{Parsed: true, Tests: failing}, 0, true},
		{"a suite error under exit 0", testlog.Result{Parsed: true, SuiteErrors: []string{"x"}}, 0, true},
		{"nothing ran under exit 5", testlog.Result{Parsed: true}, 5, false},
		{"skips only under exit 0", testlog.Result{Parsed: true, Tests: map[string]pipeline.TestStatus{"s": pipeline.TestSkipped}}, 0, false},
		{"an xfail under exit 1", testlog.Result{Parsed: true, Tests: map[string]pipeline.TestStatus{"x": pipeline.TestXFail}}, 1, true},
	}
	for _, tc := range cases {
		err := tc.r.Check(tc.exit)
		var m *testlog.ExitMismatchError
		assert.Equal(t, tc.mismatch, errors.As(err, &m), "%s: %v", tc.name, err)
		if !tc.mismatch {
			assert.NoError(t, err, tc.name)
		}
	}
}

func TestWorse(t *testing.T) {
	t.Parallel()
	order := []pipeline.TestStatus{pipeline.TestPassed, pipeline.TestXFail, pipeline.TestSkipped, pipeline.TestXPass, pipeline.TestFailed, pipeline.TestError}
	for i, a := range order {
		assert.Equal(t, a, testlog.Worse("", a))
		assert.Equal(t, a, testlog.Worse(a, ""))
		for _, b := range order[i:] {
			assert.Equal(t, b, testlog.Worse(a, b), "%s vs %s", a, b)
			assert.Equal(t, b, testlog.Worse(b, a), "%s vs %s", b, a)
		}
	}
}

func TestArgs(t *testing.T) {
	t.Parallel()
	files := []string{
		"tests/test_api.py", "tests/conftest.py", "tests/__init__.py", "tests/data/expected.json",
		"tests/admin_views/tests.py", "tests/test_api.py", "docs/x.md", "../escape.py", "-rf.py",
	}
	assert.Equal(t, []string{"tests/test_api.py", "tests/admin_views/tests.py"}, testlog.Args("pytest", files))
	assert.Equal(t, []string{"tests/test_api.py", "tests/admin_views/tests.py"}, testlog.Args("unittest", files))
	assert.Equal(t, []string{"test_api", "conftest", "admin_views.tests"}, testlog.Args("django", files))
	assert.Equal(t, []string{"sympy/core/tests/test_basic.py"}, testlog.Args("sympy", []string{"sympy/core/tests/test_basic.py"}))
	assert.Equal(t, []string{"./mathx", ".", "./parse/lexer", "./internal/x"}, testlog.Args("gotest", []string{
		"mathx/mathx_test.go", "main_test.go", "parse/lexer/testdata/golden.txt", "mathx/abs_test.go",
		"testdata/root.txt", "internal/x/helper.go", "README.md",
	}))
	assert.Empty(t, testlog.Args("gotest", []string{"docs/notes.md"}))
	assert.Empty(t, testlog.Args("nose", files))
}

// TestSelectArgs: pytest node ids and go test -run selections by id, and the fall-backs
// to the test files where an id cannot be passed as written.
func TestSelectArgs(t *testing.T) {
	t.Parallel()
	files := []string{"tests/test_a.py"}
	args, byID := testlog.SelectArgs("pytest", []string{"tests/test_a.py::test_x[a b]", "tests/test_a.py::C::test_y", "tests/test_a.py::test_x[a b]"}, files)
	assert.True(t, byID)
	assert.Equal(t, []string{"tests/test_a.py::test_x[a b]", "tests/test_a.py::C::test_y"}, args)
	for name, ids := range map[string][]string{
		"escaped":    {`tests/test_a.py::test_\xff`},
		"file-level": {"tests/test_a.py"},
		"option":     {"-k"},
		"too long":   {"tests/test_a.py::" + strings.Repeat("x", testlog.MaxSelectBytes)},
	} {
		args, byID := testlog.SelectArgs("pytest", ids, files)
		assert.False(t, byID, name)
		assert.Equal(t, files, args, name)
	}
	args, byID = testlog.SelectArgs("gotest", []string{"TestParse/empty", "TestParse/nested/deep", "TestLex", "Test.Odd"}, []string{"parse/parse_test.go", "lex_test.go"})
	assert.True(t, byID)
	assert.Equal(t, []string{"-run", `^(TestParse|TestLex|Test\.Odd)$`, "./parse", "."}, args)
	args, _ = testlog.SelectArgs("gotest", []string{"TestLex"}, nil)
	assert.Equal(t, []string{"-run", "^(TestLex)$", "./..."}, args)
	args, byID = testlog.SelectArgs("unittest", []string{"test_x (m.C)"}, files)
	assert.False(t, byID)
	assert.Equal(t, files, args)
}

// TestPytestNodeIDs reads summary lines whose ids hold spaces, brackets and " - ".
func TestPytestNodeIDs(t *testing.T) {
	t.Parallel()
	log := "============================= test session starts ==============================\n" +
		"=========================== short test summary info ============================\n" +
		"FAILED t.py::test_a[x - y] - assert [1] - [2]\n" +
		"FAILED t.py::test_b[[a]] b]] - boom\n" +
		"PASSED dir with space/t.py::C::test_c[ ]\n" +
		"XPASS t.py::test_d reason with spaces\n" +
		"XFAIL t.py::test_e - reason: pytest 8 form\n" +
		"SKIPPED [1] t.py::test_f - pytest 8 names skipped tests in verbose mode\n" +
		"SKIPPED [2] t.py:12: the location form\n" +
		"PASSED pkg/mod.py::pkg.mod.func\n" +
		"ERROR t.py - ImportError: cannot import name 'x' from 'm' (m::n)\n" +
		"==================== 2 failed, 1 passed, 1 error in 0.01s =====================\n"
	r := testlog.ParsePytest([]byte(log))
	assert.True(t, r.Parsed)
	assert.Equal(t, map[string]pipeline.TestStatus{
		"t.py::test_a[x - y]":               pipeline.TestFailed,
		"t.py::test_b[[a]] b]]":             pipeline.TestFailed,
		"dir with space/t.py::C::test_c[ ]": pipeline.TestPassed,
		"t.py::test_d":                      pipeline.TestXPass,
		"t.py::test_e":                      pipeline.TestXFail,
		"t.py::test_f":                      pipeline.TestSkipped,
		"pkg/mod.py::pkg.mod.func":          pipeline.TestPassed,
	}, r.Tests)
	assert.Equal(t, []string{"collecting t.py failed"}, r.SuiteErrors)
}

// TestPytestXdist reads pytest-xdist's verbose lines.
func TestPytestXdist(t *testing.T) {
	t.Parallel()
	log := "============================= test session starts ==============================\n" +
		"[gw1] [ 50%] PASSED t.py::test_a[1 2] \n" +
		"[gw0] [100%] FAILED t.py::test_b\n" +
		"============================== 1 failed, 1 passed in 0.50s ===============================\n"
	r := testlog.ParsePytest([]byte(log))
	assert.True(t, r.Parsed)
	assert.Equal(t, pipeline.TestPassed, r.Tests["t.py::test_a[1 2]"])
	assert.Equal(t, pipeline.TestFailed, r.Tests["t.py::test_b"])
}

// TestOlderFormats covers output forms of versions the base images do not carry, so they
// cannot be captured: unittest before Python 3.11 (ids without the method name, class
// fixtures on a test line) and Go before 1.24 (build failures as plain text).
func TestOlderFormats(t *testing.T) {
	t.Parallel()
	ut := "test_a (pkg.tests.TestX) ... ok\n" +
		"test_b (pkg.tests.TestX) ... FAIL\n" +
		"setUpClass (pkg.tests.TestY) ... ERROR\n" +
		"test_c (unittest.loader._FailedTest) ... ERROR\n" +
		"\n----------------------------------------------------------------------\n" +
		"Ran 3 tests in 0.001s\n\nFAILED (failures=1, errors=2)\n"
	r := testlog.ParseUnittest([]byte(ut))
	assert.Equal(t, map[string]pipeline.TestStatus{
		"test_a (pkg.tests.TestX)": pipeline.TestPassed,
		"test_b (pkg.tests.TestX)": pipeline.TestFailed,
	}, r.Tests)
	assert.Equal(t, []string{"setUpClass of pkg.tests.TestY failed", "failed to import test module test_c"}, r.SuiteErrors)

	g := "# example.com/m/p [example.com/m/p.test]\n" +
		"p/p_test.go:3:2: undefined: X\n" +
		"FAIL\texample.com/m/p [build failed]\n" +
		`{"Action":"pass","Package":"example.com/m/q","Test":"TestQ"}` + "\n"
	r = testlog.ParseGoTest([]byte(g))
	assert.Equal(t, map[string]pipeline.TestStatus{"TestQ": pipeline.TestPassed}, r.Tests)
	assert.Equal(t, []string{"build failed: example.com/m/p"}, r.SuiteErrors)
}

// TestGoTestInterrupted: a test binary that dies mid-test (killed, timed out, os.Exit in a
// test) leaves tests without a verdict: nothing can be said of them, so the results are
// incomplete, and Check never lets them be graded.
func TestGoTestInterrupted(t *testing.T) {
	t.Parallel()
	log := `{"Action":"start","Package":"m/p"}
{"Action":"run","Package":"m/p","Test":"TestA"}
{"Action":"pass","Package":"m/p","Test":"TestA"}
{"Action":"run","Package":"m/p","Test":"TestB"}
{"Action":"run","Package":"m/p","Test":"TestB/sub"}
{"Action":"output","Package":"m/p","Output":"signal: killed\n"}
{"Action":"fail","Package":"m/p"}
`
	r := testlog.ParseGoTest([]byte(log))
	assert.Equal(t, map[string]pipeline.TestStatus{"TestA": pipeline.TestPassed}, r.Tests, "no verdict is made up")
	assert.Contains(t, r.Incomplete, "m/p: TestB, TestB/sub")
	var inc *testlog.IncompleteError
	for _, exit := range []int{0, 1, 2} {
		assert.ErrorAs(t, r.Check(exit), &inc)
	}
	// The same package failing after all its tests passed failed outside them (os.Exit in
	// TestMain, a leak check): complete, with a suite error.
	log = `{"Action":"run","Package":"m/p","Test":"TestA"}
{"Action":"pass","Package":"m/p","Test":"TestA"}
{"Action":"fail","Package":"m/p"}
`
	r = testlog.ParseGoTest([]byte(log))
	assert.Equal(t, []string{"m/p: failed outside its tests"}, r.SuiteErrors)
	assert.Empty(t, r.Incomplete)
	assert.NoError(t, r.Check(1))
	// A package that started and never ended, and a stream cut mid-line.
	r = testlog.ParseGoTest([]byte(`{"Action":"start","Package":"m/p"}
{"Action":"run","Package":"m/p","Test":"TestA"}
{"Action":"pass","Package":"m/p","Test":"TestA"}
`))
	assert.Contains(t, r.Incomplete, "packages started and never ended: m/p")
	r = testlog.ParseGoTest([]byte(`{"Action":"run","Package":"m/p","Test":"TestA"}
{"Action":"pass","Package":"m/p","Test":"TestA"}
{"Action":"pass","Package":"m/p"}
{"Action":"run","Pack`))
	assert.Contains(t, r.Incomplete, "cut line")
}

// TestPytestForgedSummary: a test that prints a summary of its own, shown in the PASSES
// section of the report, does not add results; only pytest's last summary counts.
func TestPytestForgedSummary(t *testing.T) {
	t.Parallel()
	log := "============================= test session starts ==============================\n" +
		"==================================== PASSES ====================================\n" +
		"----------------------------- Captured stdout call -----------------------------\n" +
		"=========================== short test summary info ============================\n" +
		"PASSED t.py::test_that_does_not_exist\n" +
		"PASSED t.py::test_b\n" +
		"=========================== short test summary info ============================\n" +
		"PASSED t.py::test_a\n" +
		"FAILED t.py::test_b - assert 0\n" +
		"========================= 1 failed, 1 passed in 0.01s ==========================\n"
	r := testlog.ParsePytest([]byte(log))
	assert.Equal(t, map[string]pipeline.TestStatus{"t.py::test_a": pipeline.TestPassed, "t.py::test_b": pipeline.TestFailed}, r.Tests)
}
