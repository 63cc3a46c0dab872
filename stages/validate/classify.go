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

// classify reads complete sets of runs (every run of both sides): a test counts only if it
// has the same outcome in every run of its side; the others are flaky, with their pass rate
// on the side where they wavered, and are left out of every list.
func classify(runs []pipeline.TestRun) verdict {
	bySide := map[string][]pipeline.TestRun{}
	names := map[string]bool{}
	for _, r := range runs {
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
