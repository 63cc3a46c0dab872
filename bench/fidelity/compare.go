package main

import (
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The checks made of every case, in the summary's order.
const (
	checkBuilt    = "built"
	checkF2P      = "f2p_exact"
	checkP2PCount = "p2p_count_exact"
	checkResolved = "oracle_resolved"
)

// neededStages are the stages that must be done before a check can pass.
var neededStages = map[string][]string{
	checkBuilt:    {"mine", "build"},
	checkF2P:      {"mine", "build", "validate"},
	checkP2PCount: {"mine", "build", "validate"},
	checkResolved: {"mine", "build", "validate", "rollout"},
}

// Miss is one check a case failed, with its cause.
type Miss struct {
	Instance string `json:"instance"`
	Check    string `json:"check"`
	// Class groups causes: "STAGE/REASON" when the chain stopped before the check could be
	// made (build/install_failed, validate/results_incomplete, mine/not_recorded), otherwise
	// label/missing_f2p, label/extra_f2p, label/p2p_count or rollout/unresolved.
	Class string `json:"class"`
	Cause string `json:"cause"`
	// Missing and Extra are the first ids the reference has and swemill has not, and the
	// other way round; the counts are of all of them.
	Missing      []string `json:"missing,omitempty"`
	Extra        []string `json:"extra,omitempty"`
	MissingCount int      `json:"missing_count,omitempty"`
	ExtraCount   int      `json:"extra_count,omitempty"`
}

// CaseResult is one case's measurement.
type CaseResult struct {
	Instance        string  `json:"instance"`
	Language        string  `json:"language"`
	Built           bool    `json:"built"`
	F2PExact        bool    `json:"f2p_exact"`
	P2PCountExact   bool    `json:"p2p_count_exact"`
	OracleResolved  bool    `json:"oracle_resolved"`
	F2P             int     `json:"f2p"`
	P2P             int     `json:"p2p"`
	BuildSeconds    float64 `json:"build_seconds,omitempty"`
	ValidateSeconds float64 `json:"validate_seconds,omitempty"`
}

// Throughput is how fast instances went through validate.
type Throughput struct {
	// Validated counts the instances validate finished (done, dropped or failed).
	Validated int `json:"validated"`
	// Minutes is the wall time from each run's start to its last validate result, summed
	// over the runs.
	Minutes   float64 `json:"minutes"`
	PerMinute float64 `json:"instances_per_minute"`
	// MeanBuildSeconds and MeanValidateSeconds are over the instances that reached the stage
	// and finished it (its last attempt's time).
	MeanBuildSeconds    float64 `json:"mean_build_seconds"`
	MeanValidateSeconds float64 `json:"mean_validate_seconds"`
}

// Report is the measurement: what <work>/fidelity.json holds.
type Report struct {
	Summary string `json:"summary"`
	Labels  string `json:"labels"`
	Counts
	Throughput Throughput `json:"throughput"`
	// Languages splits the figures above by the cases' language, in the order languages
	// first appear in the corpus.
	Languages []LanguageReport `json:"languages"`
	Misses    []Miss           `json:"misses"`
	Results   []CaseResult     `json:"results"`
	Runs      []RunInfo        `json:"runs"`
}

// Counts are a report's case counts.
type Counts struct {
	Cases          int `json:"cases"`
	Built          int `json:"built"`
	F2PExact       int `json:"f2p_exact"`
	P2PCountExact  int `json:"p2p_count_exact"`
	OracleResolved int `json:"oracle_resolved"`
	// Labelled counts the built cases validate gave labels (done); Wrong those of them whose
	// FAIL_TO_PASS differs from the reference: silently wrong labels, the figure that must be
	// 0. Declined counts the built cases validate refused to label for want of complete
	// results (results_incomplete): absent, not wrong.
	Labelled int `json:"labelled"`
	Wrong    int `json:"wrong"`
	Declined int `json:"declined"`
}

// LanguageReport is one language's share of a report.
type LanguageReport struct {
	Language string `json:"language"`
	Summary  string `json:"summary"`
	Counts
	Throughput Throughput `json:"throughput"`
}

// byLanguage measures each language's cases on their own, with the throughput of that
// language's run.
func byLanguage(runs []RunInfo, cases []Case, outcomes map[string]Outcome) []LanguageReport {
	var order []string
	groups := map[string][]Case{}
	for _, k := range cases {
		if _, ok := groups[k.Language]; !ok {
			order = append(order, k.Language)
		}
		groups[k.Language] = append(groups[k.Language], k)
	}
	out := make([]LanguageReport, 0, len(order))
	for _, lang := range order {
		r := compare(groups[lang], outcomes)
		var own []RunInfo
		for _, run := range runs {
			if run.Language == lang {
				own = append(own, run)
			}
		}
		t := throughput(own, groups[lang], outcomes)
		out = append(out, LanguageReport{
			Language: lang, Counts: r.Counts, Throughput: t,
			Summary: fmt.Sprintf("%s: built %d/%d, F2P exact %d/%d, P2P count exact %d/%d, oracle resolved %d/%d; F2P wrong %d, declined %d; mean build %.1fs, validate %.1fs",
				lang, r.Built, r.Cases, r.F2PExact, r.Cases, r.P2PCountExact, r.Cases, r.OracleResolved, r.Cases,
				r.Wrong, r.Declined, t.MeanBuildSeconds, t.MeanValidateSeconds),
		})
	}
	return out
}

// RunInfo is one language's swemill run.
type RunInfo struct {
	Language string    `json:"language"`
	Dir      string    `json:"dir"`
	Cases    int       `json:"cases"`
	Started  time.Time `json:"started"`
	Seconds  float64   `json:"seconds"`
}

// reasonIncomplete is validate's drop reason for a run whose results are not complete.
const reasonIncomplete = "results_incomplete"

// compare checks every case against swemill's outcome for it.
func compare(cases []Case, outcomes map[string]Outcome) Report {
	r := Report{Counts: Counts{Cases: len(cases)}, Misses: []Miss{}}
	for _, k := range cases {
		o := outcomes[k.InstanceID]
		res := CaseResult{Instance: k.InstanceID, Language: k.Language, F2P: len(o.FailToPass), P2P: len(o.PassToPass)}
		res.BuildSeconds = o.Stages["build"].Seconds
		res.ValidateSeconds = o.Stages["validate"].Seconds
		for _, check := range []string{checkBuilt, checkF2P, checkP2PCount, checkResolved} {
			m := checkCase(k, o, check)
			if m == nil {
				switch check {
				case checkBuilt:
					res.Built = true
				case checkF2P:
					res.F2PExact = true
				case checkP2PCount:
					res.P2PCountExact = true
				case checkResolved:
					res.OracleResolved = true
				}
				continue
			}
			m.Instance, m.Check = k.InstanceID, check
			r.Misses = append(r.Misses, *m)
		}
		r.Results = append(r.Results, res)
		if res.Built {
			switch v := o.Stages["validate"]; {
			case v.State == "done":
				r.Labelled++
				r.Wrong += b2i(!res.F2PExact)
			case v.State == "dropped" && v.Reason == reasonIncomplete:
				r.Declined++
			}
		}
		r.Built += b2i(res.Built)
		r.F2PExact += b2i(res.F2PExact)
		r.P2PCountExact += b2i(res.P2PCountExact)
		r.OracleResolved += b2i(res.OracleResolved)
	}
	r.Summary = fmt.Sprintf("fidelity: built %d/%d, F2P exact %d/%d, P2P count exact %d/%d, oracle resolved %d/%d",
		r.Built, r.Cases, r.F2PExact, r.Cases, r.P2PCountExact, r.Cases, r.OracleResolved, r.Cases)
	r.Labels = fmt.Sprintf("labels: given %d of %d built (F2P wrong %d), declined %d (%s)",
		r.Labelled, r.Built, r.Wrong, r.Declined, reasonIncomplete)
	return r
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// checkCase makes one check of a case; nil means it passed.
func checkCase(k Case, o Outcome, check string) *Miss {
	if m := stopped(o, neededStages[check]); m != nil {
		return m
	}
	switch check {
	case checkF2P:
		missing, extra := setDiff(k.FailToPass, o.FailToPass), setDiff(o.FailToPass, k.FailToPass)
		if len(missing) == 0 && len(extra) == 0 {
			return nil
		}
		m := labelMiss(missing, extra)
		m.Class = "label/extra_f2p"
		if len(missing) > 0 {
			m.Class = "label/missing_f2p"
		}
		m.Cause = fmt.Sprintf("FAIL_TO_PASS has %d ids, the reference %d: %d missing, %d extra",
			len(o.FailToPass), len(k.FailToPass), len(missing), len(extra))
		return m
	case checkP2PCount:
		if len(o.PassToPass) == k.PassToPassCount {
			return nil
		}
		m := &Miss{Class: "label/p2p_count"}
		if len(k.PassToPass) > 0 {
			m = labelMiss(setDiff(k.PassToPass, o.PassToPass), setDiff(o.PassToPass, k.PassToPass))
			m.Class = "label/p2p_count"
		}
		m.Cause = fmt.Sprintf("PASS_TO_PASS has %d ids, the reference %d", len(o.PassToPass), k.PassToPassCount)
		if len(k.PassToPass) > 0 {
			m.Cause += fmt.Sprintf(": %d missing, %d extra", m.MissingCount, m.ExtraCount)
		}
		return m
	case checkResolved:
		if o.Resolved {
			return nil
		}
		return &Miss{Class: "rollout/unresolved", Cause: o.Rollout}
	}
	return nil
}

// stopped reports the first of stages the instance did not finish, as a miss; nil when every
// one is done.
func stopped(o Outcome, stages []string) *Miss {
	if !o.Recorded {
		return &Miss{Class: "mine/not_recorded", Cause: "not in swemill's record (see swemill status for repository drops)"}
	}
	for _, stage := range stages {
		s, ok := o.Stages[stage]
		switch {
		case !ok:
			return &Miss{Class: stage + "/not_reached", Cause: stage + " never reached"}
		case s.State == "done":
			continue
		case s.State == "dropped":
			return &Miss{Class: stage + "/" + s.Reason, Cause: joinCause(stage+" dropped: "+s.Reason, s.Detail)}
		case s.State == "failed":
			return &Miss{Class: stage + "/failed", Cause: joinCause(stage+" failed", s.Detail)}
		default:
			return &Miss{Class: stage + "/" + s.State, Cause: joinCause(stage+" is "+s.State, s.Detail)}
		}
	}
	return nil
}

// joinCause appends the first telling line of detail to what: the first non-empty line that
// is not a section header ("# env image ...") or a shell trace ("+ go build ./..."), else the
// first non-empty line.
func joinCause(what, detail string) string {
	first := ""
	for line := range strings.Lines(detail) {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		if first == "" {
			first = line
		}
		if !strings.HasPrefix(line, "# ") && !strings.HasPrefix(line, "+ ") {
			return what + ": " + line
		}
	}
	if first == "" {
		return what
	}
	return what + ": " + first
}

// labelMiss records the first five missing and extra ids and their counts.
func labelMiss(missing, extra []string) *Miss {
	return &Miss{Missing: missing[:min(5, len(missing))], Extra: extra[:min(5, len(extra))],
		MissingCount: len(missing), ExtraCount: len(extra)}
}

// setDiff returns the ids of a that are not in b, sorted and without repeats.
func setDiff(a, b []string) []string {
	var out []string
	for _, id := range a {
		if !slices.Contains(b, id) && !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	slices.Sort(out)
	return out
}

// throughput measures validate's pace over the runs.
func throughput(runs []RunInfo, cases []Case, outcomes map[string]Outcome) Throughput {
	var t Throughput
	var builds, validates []float64
	for _, run := range runs {
		var last time.Time
		for _, k := range cases {
			if k.Language != run.Language {
				continue
			}
			o := outcomes[k.InstanceID]
			if b, ok := o.Stages["build"]; ok && finished(b.State) {
				builds = append(builds, b.Seconds)
			}
			v, ok := o.Stages["validate"]
			if !ok || !finished(v.State) {
				continue
			}
			t.Validated++
			validates = append(validates, v.Seconds)
			if v.UpdatedAt.After(last) {
				last = v.UpdatedAt
			}
		}
		if last.After(run.Started) {
			t.Minutes += last.Sub(run.Started).Minutes()
		}
	}
	if t.Minutes > 0 {
		t.PerMinute = float64(t.Validated) / t.Minutes
	}
	t.MeanBuildSeconds, t.MeanValidateSeconds = mean(builds), mean(validates)
	return t
}

func finished(state string) bool { return state == "done" || state == "dropped" || state == "failed" }

func mean(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	var s float64
	for _, x := range xs {
		s += x
	}
	return s / float64(len(xs))
}

// print writes the summary line, the misses and the throughput. The checks of one instance
// that missed for the same cause share a line.
func (r Report) print(w io.Writer) {
	fmt.Fprintln(w, r.Summary)
	fmt.Fprintln(w, r.Labels)
	for i := 0; i < len(r.Misses); {
		m, checks := r.Misses[i], []string{r.Misses[i].Check}
		for i++; i < len(r.Misses) && sameCause(m, r.Misses[i]); i++ {
			checks = append(checks, r.Misses[i].Check)
		}
		fmt.Fprintf(w, "  miss %s %s [%s] %s", m.Instance, strings.Join(checks, ","), m.Class, m.Cause)
		if m.MissingCount > 0 {
			fmt.Fprintf(w, "; missing %s", idList(m.Missing, m.MissingCount))
		}
		if m.ExtraCount > 0 {
			fmt.Fprintf(w, "; extra %s", idList(m.Extra, m.ExtraCount))
		}
		fmt.Fprintln(w)
	}
	t := r.Throughput
	rate := fmt.Sprintf("%d instances through validate in %.1f min (%.2f/min)", t.Validated, t.Minutes, t.PerMinute)
	if t.Minutes == 0 && t.Validated > 0 {
		rate = fmt.Sprintf("%d instances through validate (no rate: every result predates this run)", t.Validated)
	}
	fmt.Fprintf(w, "throughput: %s, mean build %.1fs, mean validate %.1fs per instance\n",
		rate, t.MeanBuildSeconds, t.MeanValidateSeconds)
	if len(r.Languages) > 1 {
		for _, l := range r.Languages {
			fmt.Fprintf(w, "  %s\n", l.Summary)
		}
	}
}

// sameCause says whether two misses are of one instance for one cause.
func sameCause(a, b Miss) bool {
	return a.Instance == b.Instance && a.Class == b.Class && a.Cause == b.Cause &&
		a.MissingCount == 0 && a.ExtraCount == 0 && b.MissingCount == 0 && b.ExtraCount == 0
}

// idList writes ids quoted (they may hold spaces and commas), with the count when some are
// left out.
func idList(ids []string, n int) string {
	q := make([]string, len(ids))
	for i, id := range ids {
		q[i] = strconv.Quote(id)
	}
	s := strings.Join(q, ", ")
	if n > len(ids) {
		s += fmt.Sprintf(", ... (%d in all)", n)
	}
	return "[" + s + "]"
}
