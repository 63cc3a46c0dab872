package validate

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"

	"swemill/pipeline"
)

// statusLetters are the one-letter forms of statuses in WriteTestTable.
var statusLetters = map[pipeline.TestStatus]string{
	pipeline.TestPassed:  "P",
	pipeline.TestFailed:  "F",
	pipeline.TestError:   "E",
	pipeline.TestSkipped: "s",
	pipeline.TestXFail:   "x",
	pipeline.TestXPass:   "X",
	"":                   "-",
}

// WriteTestTable prints a validation for people (`swemill show ID`): its runs (exit code,
// time, flags, log), then one line per test with its status in each run of each side and
// what validation made of it, FAIL_TO_PASS first, then PASS_TO_PASS, pass-to-fail, flaky,
// and the rest.
func WriteTestTable(w io.Writer, v pipeline.Validation) error {
	ew := &errWriter{w: w}
	fmt.Fprintf(ew, "log parser %s; ", v.LogParser)
	if len(v.TestFiles) > 0 {
		fmt.Fprintf(ew, "test files %s\n", strings.Join(v.TestFiles, ", "))
	} else {
		fmt.Fprintln(ew, "the whole suite")
	}
	flakyNames := map[string]bool{}
	for _, f := range v.Flaky {
		flakyNames[f.Name] = true
	}
	fmt.Fprintf(ew, "FAIL_TO_PASS %d, PASS_TO_PASS %d, pass-to-fail %d, flaky %d\n",
		len(v.FailToPass), len(v.PassToPass), len(v.PassToFail), len(flakyNames))
	if v.Rerun != nil {
		how := "selected by id"
		if !v.Rerun.ByID {
			how = "by their test files"
		}
		fmt.Fprintf(ew, "re-runs: the FAIL_TO_PASS tests alone, %d more times a side, %s: %s\n", v.Rerun.Runs, how, v.Rerun.Command)
	}
	for _, w := range v.Warnings {
		fmt.Fprintf(ew, "warning: %s\n", w)
	}
	fmt.Fprintln(ew, "\nruns:")
	tw := tabwriter.NewWriter(ew, 0, 0, 2, ' ', 0)
	for _, r := range v.Runs {
		var flags []string
		if r.TimedOut {
			flags = append(flags, "timed out")
		}
		if r.OOM {
			flags = append(flags, "out of memory")
		}
		if r.Rerun {
			flags = append(flags, "re-run")
		}
		if r.Seed != 0 {
			flags = append(flags, fmt.Sprintf("seed %d", r.Seed))
		}
		fmt.Fprintf(tw, "  %s-%d\texit %d\t%.1fs\t%d tests\t%s\t%s\n", r.Side, r.Index, r.ExitCode, r.Seconds,
			len(r.Results), strings.Join(flags, ", "), logRef(r.Log))
	}
	tw.Flush()

	verdicts := map[string]string{}
	for _, t := range v.FailToPass {
		verdicts[t] = "FAIL_TO_PASS"
	}
	for _, t := range v.PassToPass {
		verdicts[t] = "PASS_TO_PASS"
	}
	for _, t := range v.PassToFail {
		verdicts[t] = "pass-to-fail"
	}
	flaky := map[string][]string{}
	for _, f := range v.Flaky {
		flaky[f.Name] = append(flaky[f.Name], fmt.Sprintf("%s %.0f%% of %d", f.Side, 100*f.PassRate, f.Runs))
	}
	for t, notes := range flaky {
		verdicts[t] = "flaky (passed " + strings.Join(notes, ", ") + ")"
	}
	names := map[string]bool{}
	for _, r := range v.Runs {
		for t := range r.Results {
			names[t] = true
		}
	}
	for t := range verdicts {
		names[t] = true
	}
	rank := func(t string) int {
		switch verdicts[t] {
		case "FAIL_TO_PASS":
			return 0
		case "PASS_TO_PASS":
			return 1
		case "pass-to-fail":
			return 2
		case "":
			return 4
		}
		return 3 // flaky
	}
	sorted := make([]string, 0, len(names))
	for t := range names {
		sorted = append(sorted, t)
	}
	sort.Slice(sorted, func(a, b int) bool {
		ra, rb := rank(sorted[a]), rank(sorted[b])
		if ra != rb {
			return ra < rb
		}
		return sorted[a] < sorted[b]
	})

	// The tests the re-runs were about: the others were not selected, so are not shown
	// missing from them.
	rerun := map[string]bool{}
	for _, r := range v.Runs {
		if r.Rerun {
			for t := range r.Results {
				rerun[t] = true
			}
		}
	}
	if v.Rerun != nil {
		for _, t := range v.FailToPass {
			rerun[t] = true
		}
	}
	fmt.Fprintln(ew, "\ntests (P passed, F failed, E error, s skipped, x xfail, X xpass, - missing; re-runs after the space):")
	tw = tabwriter.NewWriter(ew, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  test\tbefore\tafter\tverdict")
	for _, t := range sorted {
		before, after := statusRow(v.Runs, SideBefore, t, rerun[t]), statusRow(v.Runs, SideAfter, t, rerun[t])
		verdict := verdicts[t]
		if verdict == "" {
			verdict = "-"
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", t, before, after, verdict)
	}
	tw.Flush()
	return ew.err
}

// statusRow is a test's statuses in the runs of a side, one letter each, the re-runs' (if
// withReruns) after a space.
func statusRow(runs []pipeline.TestRun, side, test string, withReruns bool) string {
	var b strings.Builder
	rerun := false
	for _, r := range runs {
		if r.Side != side || (r.Rerun && !withReruns) {
			continue
		}
		if r.Rerun && !rerun {
			rerun = true
			b.WriteByte(' ')
		}
		l, ok := statusLetters[r.Results[test]]
		if !ok {
			l = "?"
		}
		b.WriteString(l)
	}
	if b.Len() == 0 {
		return "."
	}
	return b.String()
}

func logRef(r pipeline.ArtifactRef) string {
	if r.Digest == "" {
		return "no log"
	}
	d := strings.TrimPrefix(r.Digest, "sha256:")
	if len(d) > 12 {
		d = d[:12]
	}
	return fmt.Sprintf("%s (%d bytes, sha256:%s)", r.Name, r.Size, d)
}

// errWriter keeps the first write error.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(p []byte) (int, error) {
	if e.err != nil {
		return len(p), nil
	}
	_, e.err = e.w.Write(p)
	return len(p), nil
}
