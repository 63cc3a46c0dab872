package testlog_test

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"swemill/pipeline"
	"swemill/testlog"
)

func TestCanonicalID(t *testing.T) {
	t.Parallel()
	cases := []struct{ raw, want string }{
		{"tests/test_x.py::test_a[Ünïcode two words]", "tests/test_x.py::test_a[Ünïcode two words]"},
		{`t.py::test[\xdcn]`, `t.py::test[\xdcn]`}, // pytest's own escapes stay as they are
		{"t.py::test[a\nb]", `t.py::test[a\nb]`},
		{"t.py::test[\x1b[31mred\x1b[0m]", `t.py::test[\x1b[31mred\x1b[0m]`},
		{"t.py::test[\xff\xfe]", `t.py::test[\xff\xfe]`},
		{"TestX/tab\there", `TestX/tab\there`},
		{"a\u0085b\u2028c\x7f", `a\u0085b\u2028c\x7f`},
	}
	for _, c := range cases {
		got, escaped := testlog.CanonicalID(c.raw)
		assert.Equal(t, c.want, got, "%q", c.raw)
		assert.Equal(t, c.raw != c.want, escaped, "%q", c.raw)
	}
}

// TestRawIDsReachLabels: an id with bytes that are not UTF-8, a newline or a colour code
// reaches the results whole, escaped the same way from the pytest plugin's records and from
// Go's event stream, and reading the same output again (as grading does) finds it.
func TestRawIDsReachLabels(t *testing.T) {
	t.Parallel()
	raw := "t.py::test_x[\xff\n\x1b[1m]"
	id, _ := testlog.CanonicalID(raw)
	records := pytestRecords(recLoaded, recStart, collected(1),
		fmt.Sprintf(`{"e": "report", "idx": %q, "when": "setup", "cat": "", "outcome": "passed"}`, hex.EncodeToString([]byte(raw))),
		fmt.Sprintf(`{"e": "report", "idx": %q, "when": "call", "cat": "failed", "outcome": "failed"}`, hex.EncodeToString([]byte(raw))),
		finish(1))
	for range 2 {
		r, err := testlog.ReadStream(testlog.Pytest, testlog.StreamPytest, strings.NewReader(records), 0)
		require.NoError(t, err)
		assert.Equal(t, map[string]pipeline.TestStatus{id: pipeline.TestFailed}, r.Tests)
		require.Len(t, r.Warnings, 1)
		assert.Contains(t, r.Warnings[0], "stored as")
		assert.NoError(t, r.Check(1))
	}
	name, _ := json.Marshal("TestX/a\x1b[1m\nb")
	stream := fmt.Sprintf(`{"Action":"run","Package":"m","Test":%s}
{"Action":"pass","Package":"m","Test":%s}
{"Action":"pass","Package":"m"}
`, name, name)
	r := testlog.ParseGoTest([]byte(stream))
	assert.Equal(t, map[string]pipeline.TestStatus{`TestX/a\x1b[1m\nb`: pipeline.TestPassed}, r.Tests)
}

// FuzzCanonicalID: a stored id is one line of valid UTF-8 without control characters,
// storing it again changes nothing, clean text is kept as it is, and an id that reaches the
// plugin's records as raw bytes comes out stored the same way every time.
func FuzzCanonicalID(f *testing.F) {
	for _, s := range []string{"t.py::a", "x\xff", "a\nb", "\x1b[0m", "é", "\u2029", `\x00`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		id, escaped := testlog.CanonicalID(raw)
		if !utf8.ValidString(id) {
			t.Fatalf("%q: stored %q is not UTF-8", raw, id)
		}
		for _, r := range id {
			if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' {
				t.Fatalf("%q: stored %q holds %U", raw, id, r)
			}
		}
		if again, esc := testlog.CanonicalID(id); again != id || esc {
			t.Fatalf("%q: storing %q again gave %q", raw, id, again)
		}
		if !escaped && id != raw {
			t.Fatalf("%q changed to %q without escaping", raw, id)
		}
		if raw == "" {
			return
		}
		records := pytestRecords(recLoaded, recStart, collected(1),
			fmt.Sprintf(`{"e": "report", "idx": %q, "when": "call", "cat": "passed", "outcome": "passed"}`, hex.EncodeToString([]byte(raw))),
			finish(0))
		r, err := testlog.ReadStream(testlog.Pytest, testlog.StreamPytest, strings.NewReader(records), 0)
		if err != nil {
			t.Fatal(err)
		}
		if r.Tests[id] != pipeline.TestPassed || len(r.Tests) != 1 {
			t.Fatalf("%q: want %q passed, got %v", raw, id, r.Tests)
		}
	})
}

func TestCommand(t *testing.T) {
	assert.Equal(t, "python -m pytest tests/test_a.py 'tests/it'\\''s.py' 'a b.py'",
		testlog.CommandWith(" python -m pytest ", []string{"tests/test_a.py", "tests/it's.py", "a b.py"}))
	assert.Equal(t, "go test -json ./...", testlog.Command(testlog.GoTest, "go test -json", nil))
	assert.Equal(t, "python -m pytest -rA tests/test_a.py", testlog.Command(testlog.Pytest, "python -m pytest -rA", []string{"tests/test_a.py", "tests/conftest.py"}))
}
