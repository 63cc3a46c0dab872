package validate

import (
	"sort"

	"swemill/pipeline"
	"swemill/testlog"
)

// Sides of validation (pipeline.TestRun.Side).
const (
	SideBefore = "before" // base commit + test_patch
	SideAfter  = "after"  // base commit + test_patch + patch
)

// outcome is a test's outcome in one run, as FAIL_TO_PASS and PASS_TO_PASS see it.
type outcome int

const (
	outcomeFail  outcome = iota // FAILED, ERROR, or missing from the run
	outcomePass                 // PASSED or XFAIL
	outcomeOther                // SKIPPED or XPASS: neither
)

func outcomeOf(s pipeline.TestStatus) outcome {
	switch {
	case testlog.IsPass(s):
		return outcomePass
	case s == "" || testlog.IsFail(s):
		return outcomeFail
	}
	return outcomeOther
}

// verdict is what classify concluded.
type verdict struct {
	failToPass, passToPass, passToFail []string
	flaky                              []pipeline.FlakyTest
	// tests counts the distinct tests seen; stable those that behaved the same in every
	// run of both sides.
	tests, stable int
}

// classify reads complete sets of full runs (every run of both sides; re-runs are left
// out): a test counts only if it has the same outcome in every run of its side; the others
// are flaky, with their pass rate on the side where they wavered, and are left out of every
// list.
func classify(runs []pipeline.TestRun) verdict {
	bySide := map[string][]pipeline.TestRun{}
	names := map[string]bool{}
	for _, r := range runs {
		if r.Rerun {
			continue // only the FAIL_TO_PASS tests: confirm reads them
		}
		bySide[r.Side] = append(bySide[r.Side], r)
		for t := range r.Results {
			names[t] = true
		}
	}
	sorted := make([]string, 0, len(names))
	for t := range names {
		sorted = append(sorted, t)
	}
	sort.Strings(sorted)
	var v verdict
	v.tests = len(sorted)
	for _, t := range sorted {
		stable := true
		outs := map[string]outcome{}
		for _, side := range []string{SideBefore, SideAfter} {
			rs := bySide[side]
			passes := 0
			first, same := outcome(-1), true
			for i, r := range rs {
				o := outcomeOf(r.Results[t])
				if o == outcomePass {
					passes++
				}
				if i == 0 {
					first = o
				} else if o != first {
					same = false
				}
			}
			if !same {
				stable = false
				v.flaky = append(v.flaky, pipeline.FlakyTest{Name: t, Side: side, PassRate: float64(passes) / float64(len(rs)), Runs: len(rs)})
			}
			outs[side] = first
		}
		if !stable {
			continue
		}
		v.stable++
		before, after := outs[SideBefore], outs[SideAfter]
		switch {
		case before == outcomeFail && after == outcomePass:
			v.failToPass = append(v.failToPass, t)
		case before == outcomePass && after == outcomePass:
			v.passToPass = append(v.passToPass, t)
		case before == outcomePass && after == outcomeFail:
			v.passToFail = append(v.passToFail, t)
		}
	}
	return v
}

// confirmation is what the re-runs made of the FAIL_TO_PASS tests.
type confirmation struct {
	// failToPass are the tests every re-run agreed with; flaky those one re-run did not,
	// with their pass rate over every run of the side that reported them.
	failToPass []string
	flaky      []pipeline.FlakyTest
	// unselected are tests that some re-run after the fix did not report at all: the
	// selection missed them, so those re-runs say nothing of them.
	unselected []string
}

// confirm checks each of failToPass (which the full runs among runs found) against the
// re-runs among runs: before the fix it must fail (or be missing, as in the full runs) in
// every re-run, after the fix pass in every re-run that reports it.
func confirm(runs []pipeline.TestRun, failToPass []string) confirmation {
	var c confirmation
	for _, t := range failToPass {
		agrees, missing := true, false
		var flaky []pipeline.FlakyTest
		for _, side := range []string{SideBefore, SideAfter} {
			want := outcomeFail
			if side == SideAfter {
				want = outcomePass
			}
			n, passes, same := 0, 0, true
			for _, r := range runs {
				if r.Side != side {
					continue
				}
				st, ok := r.Results[t]
				if r.Rerun && !ok && side == SideAfter {
					missing = true
					continue
				}
				n++
				o := outcomeOf(st)
				if o == outcomePass {
					passes++
				}
				if o != want {
					same = false
				}
			}
			if !same {
				agrees = false
				flaky = append(flaky, pipeline.FlakyTest{Name: t, Side: side, PassRate: float64(passes) / float64(n), Runs: n})
			}
		}
		switch {
		case !agrees:
			c.flaky = append(c.flaky, flaky...)
		default:
			c.failToPass = append(c.failToPass, t)
			if missing {
				c.unselected = append(c.unselected, t)
			}
		}
	}
	return c
}

// sortFlaky orders flaky tests by name, then side (before first).
func sortFlaky(f []pipeline.FlakyTest) {
	sort.SliceStable(f, func(a, b int) bool {
		if f[a].Name != f[b].Name {
			return f[a].Name < f[b].Name
		}
		return f[a].Side == SideBefore && f[b].Side != SideBefore
	})
}
