// Package grade scores a grading run: the tests an instance must pass (its FAIL_TO_PASS and
// PASS_TO_PASS) against what one run of them, on a model's patch, read. It owns SWE-bench's
// resolve rule, so that the validate stage, which runs the tests (validate.Grade), and the
// rollout stage, which labels each trajectory with the outcome, cannot disagree on it.
//
// The package runs nothing itself and knows no engine: a run's results come in as
// pipeline.TestStatus values read by a testlog parser.
package grade

import (
	"swemill/pipeline"
	"swemill/testlog"
)

// Run is what one grading run of an instance's tests read.
type Run struct {
	// Applied says the model patch and test_patch both applied, so the tests ran. A run
	// that did not apply passes no test.
	Applied bool
	// Tests maps the id of each test that ran (SWE-bench's forms, as in FAIL_TO_PASS) to its
	// status. A test missing from it did not pass.
	Tests map[string]pipeline.TestStatus
	// Problem, when set, says why the tests' results could not be read (the patch did not
	// apply, the run timed out, its output cannot be parsed...): no test passes then.
	Problem string
	// Log is the run's output, capped by whoever ran it.
	Log []byte
}

// Passed reports whether test id passed in r, SWE-bench's way: r applied, its results could
// be read, and the test's status is PASSED or XFAIL (testlog.IsPass). A missing test did not
// pass.
func (r Run) Passed(id string) bool {
	return r.Applied && r.Problem == "" && testlog.IsPass(r.Tests[id])
}

// TestsStatus splits a list of tests into those that passed and those that did not, as
// SWE-bench's tests_status does. Both lists keep the order of the list split, and neither is
// nil.
type TestsStatus struct {
	Success []string `json:"success"`
	Failure []string `json:"failure"`
}

// Score is how a run fared on an instance's tests.
type Score struct {
	// Resolved is SWE-bench's rule: the run applied, its results could be read, and every
	// FAIL_TO_PASS and every PASS_TO_PASS test passed (Run.Passed).
	Resolved   bool
	FailToPass TestsStatus
	PassToPass TestsStatus
}

// Counts returns how many FAIL_TO_PASS and PASS_TO_PASS tests passed, out of how many.
func (s Score) Counts() (f2pPassed, f2pTotal, p2pPassed, p2pTotal int) {
	return len(s.FailToPass.Success), len(s.FailToPass.Success) + len(s.FailToPass.Failure),
		len(s.PassToPass.Success), len(s.PassToPass.Success) + len(s.PassToPass.Failure)
}

// Resolve scores r against the tests an instance must pass: failToPass and passToPass
// (usually its validation's FAIL_TO_PASS and PASS_TO_PASS). The zero Run, a run that never
// happened, fails every test.
func Resolve(r Run, failToPass, passToPass []string) Score {
	split := func(ids []string) TestsStatus {
		s := TestsStatus{Success: []string{}, Failure: []string{}}
		for _, id := range ids {
			if r.Passed(id) {
				s.Success = append(s.Success, id)
			} else {
				s.Failure = append(s.Failure, id)
			}
		}
		return s
	}
	s := Score{FailToPass: split(failToPass), PassToPass: split(passToPass)}
	s.Resolved = r.Applied && r.Problem == "" && len(s.FailToPass.Failure) == 0 && len(s.PassToPass.Failure) == 0
	return s
}
