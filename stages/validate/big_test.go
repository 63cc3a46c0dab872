package validate_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"swemill/envbuild/sandbox"
	"swemill/pipeline"
	"swemill/stages/validate"
)

// bigSuite is a generated fixture repository with a large test suite, and the labels its
// generator knows it must get: computed here from the rule the tests encode, never from a
// parser's output.
type bigSuite struct {
	description            []byte
	failToPass, passToPass []string
}

// buggy and fixed are the classify functions of the big suites, before and after the fix:
// the bug answers -1 for multiples of 7.
func buggy(i int) int {
	if i%7 == 0 {
		return -1
	}
	return i % 3
}

func fixed(i int) int { return i % 3 }

// bigGoSuite is a Go module whose fix adds a test of n subtests, each logging a line of
// pad bytes, so that `go test -json` prints several MiB.
func bigGoSuite(n, pad int) bigSuite {
	var s bigSuite
	s.description = fmt.Appendf(nil, `A Go module whose fix comes with a test of %d subtests.

-- commit: base --
message: Add classify
date: 2024-03-01T10:00:00Z
-- go.mod --
module example.com/big

go 1.22
-- classify.go --
package big

// Classify returns i's class.
func Classify(i int) int {
	if i%%7 == 0 {
		return -1
	}
	return i %% 3
}
-- classify_test.go --
package big

import "testing"

func TestOne(t *testing.T) {
	if Classify(1) != 1 {
		t.Fatal("Classify(1) != 1")
	}
}
-- commit: fix --
message: Multiples of seven are classified too (#2)
date: 2024-03-02T10:00:00Z
-- classify.go --
package big

// Classify returns i's class.
func Classify(i int) int {
	return i %% 3
}
-- classify_test.go --
package big

import (
	"fmt"
	"strings"
	"testing"
)

func TestOne(t *testing.T) {
	if Classify(1) != 1 {
		t.Fatal("Classify(1) != 1")
	}
}

func TestMany(t *testing.T) {
	pad := strings.Repeat("x", %d)
	for i := 0; i < %d; i++ {
		t.Run(fmt.Sprintf("case_%%05d", i), func(t *testing.T) {
			t.Log(pad)
			if got := Classify(i); got != i%%3 {
				t.Fatalf("Classify(%%d) = %%d", i, got)
			}
		})
	}
}
`, n, pad, n)
	s.passToPass = append(s.passToPass, "TestOne")
	s.failToPass = append(s.failToPass, "TestMany")
	s.label(n, "TestMany/case_%05d")
	return s
}

// bigPytestSuite is a Python project whose fix adds a module of n parametrised cases.
func bigPytestSuite(n int) bigSuite {
	var s bigSuite
	s.description = fmt.Appendf(nil, `A Python project whose fix comes with %d parametrised cases.

-- commit: base --
message: Add classify
date: 2024-03-01T10:00:00Z
-- classify.py --
def classify(i):
    if i %% 7 == 0:
        return -1
    return i %% 3
-- tests/test_one.py --
from classify import classify


def test_one():
    assert classify(1) == 1
-- commit: fix --
message: Multiples of seven are classified too (#2)
date: 2024-03-02T10:00:00Z
-- classify.py --
def classify(i):
    return i %% 3
-- tests/test_many.py --
import pytest

from classify import classify


@pytest.mark.parametrize("i", range(%d))
def test_case(i):
    assert classify(i) == i %% 3
`, n, n)
	s.label(n, "tests/test_many.py::test_case[%d]")
	return s
}

// label adds case i of n (its id from format) to FAIL_TO_PASS when the buggy and the fixed
// code disagree on it, else to PASS_TO_PASS, and sorts both lists.
func (s *bigSuite) label(n int, format string) {
	for i := range n {
		id := fmt.Sprintf(format, i)
		if buggy(i) != fixed(i) {
			s.failToPass = append(s.failToPass, id)
		} else {
			s.passToPass = append(s.passToPass, id)
		}
	}
	slices.Sort(s.failToPass)
	slices.Sort(s.passToPass)
}

// bigLimits are the sandbox limits of the big suites: the default memory, and a log for
// people of 256 KiB, far below their output.
var bigLimits = sandbox.Config{OutputLimit: 256 << 10}

// TestBigSuites: suites whose output is far larger than the log kept for people get exact
// labels, because results come from the whole result stream; cutting that stream on purpose
// (a limit below its size) makes the instance results_incomplete, never a label.
func TestBigSuites(t *testing.T) {
	t.Parallel()
	sb := newSandbox(t, bigLimits)
	goSuite := bigGoSuite(5000, 900)
	pySuite := bigPytestSuite(20000)
	for _, c := range []struct {
		name  string
		suite bigSuite
	}{{"go_big", goSuite}, {"py_big", pySuite}} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			st := newStage(t, sb, validate.Config{Runs: 1, RunTimeout: 10 * time.Minute, Labels: testLabels()})
			it := itemOf(t, c.name, c.suite.description)
			out, err := st.Process(t.Context(), it)
			require.NoError(t, err)
			v := out.Record.(pipeline.Validation)
			assert.Equal(t, len(c.suite.failToPass), len(v.FailToPass))
			assert.Equal(t, c.suite.failToPass, v.FailToPass, "FAIL_TO_PASS is exact")
			assert.Equal(t, len(c.suite.passToPass), len(v.PassToPass))
			assert.Equal(t, c.suite.passToPass, v.PassToPass, "PASS_TO_PASS is exact")
			for _, r := range v.Runs {
				assert.Empty(t, r.Incomplete)
				log := readArtifact(t, it, r.Log)
				assert.Less(t, len(log), bigLimits.OutputLimit+64<<10, "the log for people stays capped")
				assert.Contains(t, log, "is shown cut to its head and tail", "the output is bigger than the log")
			}
		})
	}
	t.Run("a cut stream is incomplete", func(t *testing.T) {
		t.Parallel()
		st := newStage(t, sb, validate.Config{Runs: 1, RunTimeout: 10 * time.Minute, ResultsLimit: 1 << 20, Labels: testLabels()})
		it := itemOf(t, "go_big", goSuite.description)
		out, err := st.Process(t.Context(), it)
		v := requireDropped(t, processed{it: it, out: out, err: err}, validate.ReasonIncomplete)
		d, _ := pipeline.AsDrop(err)
		assert.Contains(t, d.Detail, "holds more than its limit of 1048576 bytes")
		require.NotEmpty(t, v.Runs)
		assert.True(t, strings.Contains(v.Runs[0].Incomplete, "limit"), v.Runs[0].Incomplete)
		assert.Empty(t, v.FailToPass, "no label from a cut stream")
		assert.Empty(t, v.PassToPass)
	})
}
