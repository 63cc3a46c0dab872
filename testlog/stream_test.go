package testlog_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"swemill/pipeline"
	"swemill/testlog"
)

func TestStreams(t *testing.T) {
	t.Parallel()
	assert.Equal(t, []string{testlog.StreamPytest, testlog.StreamOutput}, testlog.Streams(testlog.Pytest))
	for _, p := range []string{testlog.Unittest, testlog.Django, testlog.Sympy, testlog.GoTest} {
		assert.Equal(t, []string{testlog.StreamOutput}, testlog.Streams(p), p)
	}
	assert.Empty(t, testlog.Streams("nose"))
	_, err := testlog.ReadStream(testlog.GoTest, testlog.StreamPytest, strings.NewReader(""), 0)
	assert.ErrorIs(t, err, testlog.ErrUnknownStream)
	_, err = testlog.ReadStream("nose", testlog.StreamOutput, strings.NewReader(""), 0)
	var unknown *testlog.UnknownParserError
	assert.ErrorAs(t, err, &unknown)
}

// goSubtests writes the `go test -json` events of a package with one test of n subtests,
// every k-th of which fails, each printing pad bytes; it returns the stream and how many
// subtests fail.
func goSubtests(n, k, pad int) ([]byte, int) {
	var b bytes.Buffer
	b.WriteString(`{"Action":"start","Package":"m/p"}` + "\n")
	b.WriteString(`{"Action":"run","Package":"m/p","Test":"TestMany"}` + "\n")
	failed := 0
	line := strings.Repeat("x", pad)
	for i := range n {
		name := fmt.Sprintf("TestMany/case_%05d", i)
		fmt.Fprintf(&b, `{"Action":"run","Package":"m/p","Test":%q}`+"\n", name)
		fmt.Fprintf(&b, `{"Action":"output","Package":"m/p","Test":%q,"Output":"    %s\n"}`+"\n", name, line)
		verdict := "pass"
		if i%k == 0 {
			verdict = "fail"
			failed++
		}
		fmt.Fprintf(&b, `{"Action":%q,"Package":"m/p","Test":%q}`+"\n", verdict, name)
	}
	b.WriteString(`{"Action":"fail","Package":"m/p","Test":"TestMany"}` + "\n")
	b.WriteString(`{"Action":"fail","Package":"m/p"}` + "\n")
	return b.Bytes(), failed
}

// TestReadStreamWhole: a Go stream of several MiB is read whole, in small reads, with the
// exact counts its generator computed; one byte under its length as the limit makes it
// incomplete, and Check refuses it under any exit code.
func TestReadStreamWhole(t *testing.T) {
	t.Parallel()
	stream, failed := goSubtests(5000, 7, 900)
	require.Greater(t, len(stream), 4<<20)
	r, err := testlog.ReadStream(testlog.GoTest, testlog.StreamOutput, iotest.HalfReader(bytes.NewReader(stream)), int64(len(stream)))
	require.NoError(t, err)
	assert.Empty(t, r.Incomplete)
	passed, fails, other := r.Counts()
	assert.Equal(t, 5000-failed, passed)
	assert.Equal(t, failed+1, fails, "the failing subtests and their parent")
	assert.Zero(t, other)
	assert.NoError(t, r.Check(1))

	r, err = testlog.ReadStream(testlog.GoTest, testlog.StreamOutput, bytes.NewReader(stream), int64(len(stream)-1))
	require.NoError(t, err)
	assert.Contains(t, r.Incomplete, "holds more than its limit")
	var inc *testlog.IncompleteError
	for _, exit := range []int{0, 1} {
		assert.ErrorAs(t, r.Check(exit), &inc)
	}
	// The same cut in the text parsers.
	r, err = testlog.ReadStream(testlog.Unittest, testlog.StreamOutput, strings.NewReader("Ran 0 tests in 0.001s\n"), 5)
	require.NoError(t, err)
	assert.NotEmpty(t, r.Incomplete)
}

func pytestRecords(lines ...string) string { return strings.Join(lines, "\n") + "\n" }

const (
	recLoaded = `{"e": "loaded"}`
	recStart  = `{"e": "start", "pytest": "7.2.1"}`
)

func rep(id, when, cat, outcome string) string {
	return fmt.Sprintf(`{"e": "report", "id": %q, "when": %q, "cat": %q, "outcome": %q}`, id, when, cat, outcome)
}

func finish(code int) string { return fmt.Sprintf(`{"e": "finish", "exitstatus": %d}`, code) }

func collected(n int) string { return fmt.Sprintf(`{"e": "collected", "n": %d}`, n) }

// testPhases are the reports of a test whose three phases had the given categories.
func testPhases(id, setup, call, teardown string) []string {
	out := []string{rep(id, "setup", setup, map[string]string{"": "passed", "error": "failed", "skipped": "skipped", "xfailed": "skipped"}[setup])}
	if call != "-" {
		out = append(out, rep(id, "call", call, map[string]string{"passed": "passed", "failed": "failed", "skipped": "skipped", "xfailed": "skipped", "xpassed": "passed"}[call]))
	}
	return append(out, rep(id, "teardown", teardown, map[string]string{"": "passed", "error": "failed"}[teardown]))
}

func TestPytestRecords(t *testing.T) {
	t.Parallel()
	all := func(parts ...[]string) []string {
		var out []string
		for _, p := range parts {
			out = append(out, p...)
		}
		return out
	}
	fiveTests := all(
		testPhases("t.py::test_pass", "", "passed", ""),
		testPhases("t.py::test_fail", "", "failed", ""),
		testPhases("t.py::test_teardown", "", "passed", "error"),
		testPhases("t.py::test_setup[a b-[1]]", "error", "-", ""),
		testPhases("t.py::C::test_xfail", "", "xfailed", ""),
	)
	want5 := map[string]pipeline.TestStatus{
		"t.py::test_pass": pipeline.TestPassed, "t.py::test_fail": pipeline.TestFailed,
		"t.py::test_teardown": pipeline.TestError, "t.py::test_setup[a b-[1]]": pipeline.TestError,
		"t.py::C::test_xfail": pipeline.TestXFail,
	}
	cases := []struct {
		name       string
		records    []string
		exit       int
		tests      map[string]pipeline.TestStatus
		suite      []string // substrings
		incomplete string   // substring; "" means complete
	}{
		{"a whole session", all([]string{recLoaded, recStart, collected(5)}, fiveTests, []string{finish(1)}), 1, want5, nil, ""},
		{"killed mid-session", all([]string{recLoaded, recStart, collected(5)}, fiveTests[:8]), 137,
			map[string]pipeline.TestStatus{"t.py::test_pass": pipeline.TestPassed, "t.py::test_fail": pipeline.TestFailed, "t.py::test_teardown": pipeline.TestPassed},
			nil, "never finished"},
		{"a test stopped the session", all([]string{recLoaded, recStart, collected(9)}, fiveTests, []string{finish(0)}), 0, want5, nil, "collected 9 tests and started 5"},
		{"interrupted", all([]string{recLoaded, recStart, collected(5)}, fiveTests, []string{finish(2)}), 2, want5, nil, "interrupted"},
		{"internal error", all([]string{recLoaded, recStart, collected(5)}, fiveTests, []string{finish(3)}), 3, want5, nil, "internal error"},
		{"collection error", []string{recLoaded, recStart, `{"e": "collect_error", "id": "t.py"}`, collected(3), finish(2)}, 2,
			map[string]pipeline.TestStatus{}, []string{"collecting t.py failed"}, ""},
		{"usage error", []string{recLoaded, recStart, collected(0), finish(4)}, 4, map[string]pipeline.TestStatus{}, []string{"usage error"}, ""},
		{"conftest fails to import", []string{recLoaded}, 4, map[string]pipeline.TestStatus{}, []string{"before its session started"}, ""},
		{"no tests", []string{recLoaded, recStart, collected(0), finish(5)}, 5, map[string]pipeline.TestStatus{}, nil, ""},
		{"cut mid-line", all([]string{recLoaded, recStart, collected(5)}, fiveTests, []string{`{"e": "fin`}), 1, want5, nil, "cut line"},
		{"a plugin's own category", []string{recLoaded, recStart, collected(1), rep("t.py::test_r", "setup", "", "passed"),
			rep("t.py::test_r", "call", "rerun", "rerun"), rep("t.py::test_r", "call", "passed", "passed"),
			rep("t.py::test_r", "teardown", "", "passed"), finish(0)}, 0, map[string]pipeline.TestStatus{"t.py::test_r": pipeline.TestPassed}, nil, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			text := pytestRecords(c.records...)
			if strings.HasSuffix(c.name, "mid-line") {
				text = strings.TrimSuffix(text, "\n")
			}
			r, err := testlog.ReadStream(testlog.Pytest, testlog.StreamPytest, strings.NewReader(text), 1<<20)
			require.NoError(t, err)
			assert.Equal(t, c.tests, r.Tests)
			require.Len(t, r.SuiteErrors, len(c.suite), "%q", r.SuiteErrors)
			for i, s := range c.suite {
				assert.Contains(t, r.SuiteErrors[i], s)
			}
			if c.incomplete == "" {
				assert.Empty(t, r.Incomplete)
				assert.NoError(t, r.Check(c.exit))
			} else {
				assert.Contains(t, r.Incomplete, c.incomplete)
				var inc *testlog.IncompleteError
				assert.ErrorAs(t, r.Check(c.exit), &inc)
			}
		})
	}
}

// TestTextIncomplete: the frameworks' text without its closing line, or reporting fewer
// tests than it says it ran, is incomplete.
func TestTextIncomplete(t *testing.T) {
	t.Parallel()
	cases := []struct {
		parser, log, incomplete string
	}{
		{testlog.Unittest, "test_a (m.T.test_a) ... ok\ntest_b (m.T.test_b) ... ", "closing"},
		{testlog.Unittest, "test_a (m.T.test_a) ... ok\n\n---\nRan 2 tests in 0.1s\n\nOK\n", "ran 2 tests and the output reports 1"},
		{testlog.Unittest, "test_a (m.T.test_a) ... ok\ntest_b (m.T.test_b) ... ok\n\n---\nRan 2 tests in 0.1s\n\nOK\n", ""},
		{testlog.Django, "test_a (m.T.test_a) ... ok\n", "closing"},
		{testlog.Sympy, "sympy/t.py[2] \ntest_a ok\n", "closing"},
		{testlog.Pytest, "============================= test session starts ==============================\nt.py::test_a PASSED [ 50%]\n", "closing summary"},
		{testlog.Pytest, "============================= test session starts ==============================\n" +
			"=========================== short test summary info ============================\nPASSED t.py::test_a\n" +
			"============================== 1 passed in 0.01s ===============================\n", ""},
	}
	for _, c := range cases {
		r, err := testlog.Parse(c.parser, []byte(c.log))
		require.NoError(t, err)
		if c.incomplete == "" {
			assert.Empty(t, r.Incomplete, "%s: %q", c.parser, c.log)
		} else {
			assert.Contains(t, r.Incomplete, c.incomplete, "%s: %q", c.parser, c.log)
		}
	}
}

// FuzzPytestRecords: the plugin's records are untrusted too (a test can write to the file);
// reading them never panics, reports only known statuses, and is deterministic.
func FuzzPytestRecords(f *testing.F) {
	f.Add([]byte(pytestRecords(append([]string{recLoaded, recStart, collected(2)}, append(testPhases("t.py::a", "", "passed", ""), finish(0))...)...)))
	f.Add([]byte(pytestRecords(recLoaded, recStart, `{"e": "report", "id": "", "when": "call", "cat": "passed"}`, `{"e":"collected","n":-4}`)))
	f.Add([]byte(`{"e": "finish", "exitstatus": "x"}` + "\n{\n"))
	for _, c := range goldenCases {
		if c.stream == testlog.StreamPytest {
			data, err := os.ReadFile(filepath.Join("testdata", "golden", c.name+".log"))
			if err != nil {
				f.Fatal(err)
			}
			f.Add(data)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		read := func() testlog.Result {
			r, err := testlog.ReadStream(testlog.Pytest, testlog.StreamPytest, bytes.NewReader(data), 1<<20)
			if err != nil {
				t.Fatal(err)
			}
			return r
		}
		r := read()
		for id, s := range r.Tests {
			if id == "" || !validStatus[s] {
				t.Fatalf("test %q has status %q", id, s)
			}
		}
		if again := read(); !reflect.DeepEqual(r, again) {
			t.Fatalf("two reads differ:\n%+v\n%+v", r, again)
		}
	})
}
