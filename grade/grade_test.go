package grade_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"swemill/grade"
	"swemill/pipeline"
)

// counts is a Score's Counts and Resolved, for comparing in one assertion.
type counts struct {
	f2pPassed, f2pTotal, p2pPassed, p2pTotal int
	resolved                                 bool
}

func countsOf(s grade.Score) counts {
	var c counts
	c.f2pPassed, c.f2pTotal, c.p2pPassed, c.p2pTotal = s.Counts()
	c.resolved = s.Resolved
	return c
}

// TestResolve: a test passes when PASSED or XFAIL; a missing one fails; a run with a
// problem, or that did not apply, fails every test.
func TestResolve(t *testing.T) {
	t.Parallel()
	f2p, p2p := []string{"a", "b"}, []string{"c", "d"}
	r := grade.Run{Applied: true, Tests: map[string]pipeline.TestStatus{"a": "PASSED", "b": "XFAIL", "c": "PASSED", "d": "PASSED"}}
	s := grade.Resolve(r, f2p, p2p)
	assert.Equal(t, counts{2, 2, 2, 2, true}, countsOf(s))
	assert.Equal(t, grade.TestsStatus{Success: []string{"a", "b"}, Failure: []string{}}, s.FailToPass)

	r.Tests["b"] = "SKIPPED"
	delete(r.Tests, "d")
	s = grade.Resolve(r, f2p, p2p)
	assert.Equal(t, counts{1, 2, 1, 2, false}, countsOf(s))
	assert.Equal(t, grade.TestsStatus{Success: []string{"a"}, Failure: []string{"b"}}, s.FailToPass)
	assert.Equal(t, grade.TestsStatus{Success: []string{"c"}, Failure: []string{"d"}}, s.PassToPass)

	r.Problem = "suite_timeout"
	s = grade.Resolve(r, f2p, p2p)
	assert.Equal(t, counts{0, 2, 0, 2, false}, countsOf(s))
	assert.Equal(t, grade.TestsStatus{Success: []string{}, Failure: []string{"a", "b"}}, s.FailToPass)

	r.Applied, r.Problem = false, ""
	assert.Equal(t, counts{0, 2, 0, 2, false}, countsOf(grade.Resolve(r, f2p, p2p)))
	assert.Equal(t, counts{0, 2, 0, 2, false}, countsOf(grade.Resolve(grade.Run{}, f2p, p2p)), "a run that never happened")
}

// TestResolveEmptyLists: the lists are never nil, and a run that applied and was read
// resolves an empty selection (validate.Grade refuses one before running anything).
func TestResolveEmptyLists(t *testing.T) {
	t.Parallel()
	s := grade.Resolve(grade.Run{Applied: true}, nil, nil)
	assert.Equal(t, grade.Score{Resolved: true, FailToPass: grade.TestsStatus{Success: []string{}, Failure: []string{}},
		PassToPass: grade.TestsStatus{Success: []string{}, Failure: []string{}}}, s)
	assert.False(t, grade.Resolve(grade.Run{}, nil, nil).Resolved)
	assert.False(t, grade.Resolve(grade.Run{Applied: true, Problem: "unparseable_log"}, nil, nil).Resolved)
}

func TestPassed(t *testing.T) {
	t.Parallel()
	r := grade.Run{Applied: true, Tests: map[string]pipeline.TestStatus{
		"p": pipeline.TestPassed, "x": pipeline.TestXFail, "f": pipeline.TestFailed, "e": pipeline.TestError, "s": pipeline.TestSkipped}}
	for id, want := range map[string]bool{"p": true, "x": true, "f": false, "e": false, "s": false, "missing": false} {
		assert.Equal(t, want, r.Passed(id), id)
	}
}
