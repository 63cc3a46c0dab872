package main

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// done is a stage state that finished well.
func done(seconds float64) stageState { return stageState{State: "done", Seconds: seconds} }

func TestCompareClassifiesEveryMiss(t *testing.T) {
	t.Parallel()
	p2p := []string{"t::p1", "t::p2", "t::p3"}
	cases := []Case{
		{InstanceID: "a__ok-1", Language: "python", FailToPass: []string{"t::f"}, PassToPass: p2p, PassToPassCount: 3},
		{InstanceID: "a__build-2", Language: "python", FailToPass: []string{"t::f"}, PassToPassCount: 0},
		{InstanceID: "a__labels-3", Language: "python", FailToPass: []string{"t::f1", "t::f2"}, PassToPass: p2p, PassToPassCount: 3},
		{InstanceID: "a__extra-4", Language: "go", FailToPass: []string{"TestA"}, PassToPassCount: 2},
		{InstanceID: "a__gone-5", Language: "go", FailToPass: []string{"TestA"}},
		{InstanceID: "a__valdrop-6", Language: "python", FailToPass: []string{"t::f"}},
	}
	outcomes := map[string]Outcome{
		"a__ok-1": {Recorded: true, Stages: map[string]stageState{"mine": done(0), "build": done(10), "validate": done(20), "rollout": done(5)},
			FailToPass: []string{"t::f"}, PassToPass: []string{"t::p3", "t::p1", "t::p2"}, Resolved: true},
		"a__build-2": {Recorded: true, Stages: map[string]stageState{"mine": done(0),
			"build": {State: "dropped", Reason: "install_failed", Detail: "# env image swemill/env-python:1\n+ pip install -e .\npip install -e . failed\nmore", Seconds: 30}}},
		"a__labels-3": {Recorded: true, Stages: map[string]stageState{"mine": done(0), "build": done(1), "validate": done(2),
			"rollout": done(3)}, FailToPass: []string{"t::f1", "t::x"}, PassToPass: []string{"t::p1"},
			Rollout: "oracle trajectory ended finish after 3 turns"},
		"a__extra-4": {Recorded: true, Stages: map[string]stageState{"mine": done(0), "build": done(1), "validate": done(2),
			"rollout": {State: "failed", Detail: "container gone"}}, FailToPass: []string{"TestA", "TestB"}, PassToPass: []string{"TestC", "TestD"}},
		"a__gone-5": {},
		"a__valdrop-6": {Recorded: true, Stages: map[string]stageState{"mine": done(0), "build": done(1),
			"validate": {State: "dropped", Reason: "results_incomplete", Detail: "before-0: the result file is truncated"}}},
	}
	r := compare(cases, outcomes)
	require.Equal(t, "fidelity: built 4/6, F2P exact 1/6, P2P count exact 2/6, oracle resolved 1/6", r.Summary)
	require.Equal(t, "labels: given 3 of 4 built (F2P wrong 2), declined 1 (results_incomplete)", r.Labels)

	type key struct{ id, check, class string }
	got := map[key]Miss{}
	for _, m := range r.Misses {
		got[key{m.Instance, m.Check, m.Class}] = m
	}
	want := []key{
		{"a__build-2", checkBuilt, "build/install_failed"},
		{"a__build-2", checkF2P, "build/install_failed"},
		{"a__build-2", checkP2PCount, "build/install_failed"},
		{"a__build-2", checkResolved, "build/install_failed"},
		{"a__labels-3", checkF2P, "label/missing_f2p"},
		{"a__labels-3", checkP2PCount, "label/p2p_count"},
		{"a__labels-3", checkResolved, "rollout/unresolved"},
		{"a__extra-4", checkF2P, "label/extra_f2p"},
		{"a__extra-4", checkResolved, "rollout/failed"},
		{"a__gone-5", checkBuilt, "mine/not_recorded"},
		{"a__gone-5", checkF2P, "mine/not_recorded"},
		{"a__gone-5", checkP2PCount, "mine/not_recorded"},
		{"a__gone-5", checkResolved, "mine/not_recorded"},
		{"a__valdrop-6", checkF2P, "validate/results_incomplete"},
		{"a__valdrop-6", checkP2PCount, "validate/results_incomplete"},
		{"a__valdrop-6", checkResolved, "validate/results_incomplete"},
	}
	require.Len(t, r.Misses, len(want))
	for _, k := range want {
		require.Contains(t, got, k)
	}
	require.Equal(t, "build dropped: install_failed: pip install -e . failed", got[want[0]].Cause)
	labels := got[key{"a__labels-3", checkF2P, "label/missing_f2p"}]
	require.Equal(t, []string{"t::f2"}, labels.Missing)
	require.Equal(t, []string{"t::x"}, labels.Extra)
	require.Equal(t, "FAIL_TO_PASS has 2 ids, the reference 2: 1 missing, 1 extra", labels.Cause)
	p2pMiss := got[key{"a__labels-3", checkP2PCount, "label/p2p_count"}]
	require.Equal(t, []string{"t::p2", "t::p3"}, p2pMiss.Missing)
	require.Equal(t, "PASS_TO_PASS has 1 ids, the reference 3: 2 missing, 0 extra", p2pMiss.Cause)
	require.Equal(t, "validate dropped: results_incomplete: before-0: the result file is truncated",
		got[key{"a__valdrop-6", checkF2P, "validate/results_incomplete"}].Cause)

	var out bytes.Buffer
	r.print(&out)
	require.Contains(t, out.String(), r.Summary+"\n")
	require.Contains(t, out.String(), "  miss a__gone-5 built,f2p_exact,p2p_count_exact,oracle_resolved [mine/not_recorded] not in swemill's record")
	require.Contains(t, out.String(), "  miss a__labels-3 f2p_exact [label/missing_f2p] FAIL_TO_PASS has 2 ids, the reference 2: 1 missing, 1 extra; missing [\"t::f2\"]; extra [\"t::x\"]\n")
	_, err := json.Marshal(r)
	require.NoError(t, err)
}

func TestLabelMissKeepsTheFirstFive(t *testing.T) {
	t.Parallel()
	ref := []string{"a", "b", "c", "d", "e", "f", "g"}
	k := Case{InstanceID: "x-1", FailToPass: ref}
	o := Outcome{Recorded: true, Stages: map[string]stageState{"mine": done(0), "build": done(0), "validate": done(0)},
		FailToPass: []string{"z"}}
	m := checkCase(k, o, checkF2P)
	require.NotNil(t, m)
	require.Equal(t, []string{"a", "b", "c", "d", "e"}, m.Missing)
	require.Equal(t, 7, m.MissingCount)
	require.Equal(t, `["a", "b", "c", "d", "e", ... (7 in all)]`, idList(m.Missing, m.MissingCount))
}

func TestThroughput(t *testing.T) {
	t.Parallel()
	start := time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)
	at := func(min int, state string, s float64) stageState {
		return stageState{State: state, Seconds: s, UpdatedAt: start.Add(time.Duration(min) * time.Minute)}
	}
	cases := []Case{{InstanceID: "p-1", Language: "python", FailToPass: []string{"t"}}, {InstanceID: "p-2", Language: "python"}, {InstanceID: "g-1", Language: "go"}}
	outcomes := map[string]Outcome{
		"p-1": {Recorded: true, Stages: map[string]stageState{"mine": at(0, "done", 1), "build": at(1, "done", 60), "validate": at(3, "done", 100)}},
		"p-2": {Recorded: true, Stages: map[string]stageState{"mine": at(0, "done", 1), "build": at(1, "done", 20), "validate": at(4, "dropped", 50)}},
		"g-1": {Stages: map[string]stageState{"build": at(1, "dropped", 10)}},
	}
	runs := []RunInfo{{Language: "python", Started: start}, {Language: "go", Started: start}}
	tp := throughput(runs, cases, outcomes)
	require.Equal(t, 2, tp.Validated)
	require.InDelta(t, 4.0, tp.Minutes, 1e-9)
	require.InDelta(t, 0.5, tp.PerMinute, 1e-9)
	require.InDelta(t, 30.0, tp.MeanBuildSeconds, 1e-9)
	require.InDelta(t, 75.0, tp.MeanValidateSeconds, 1e-9)

	langs := byLanguage(runs, cases, outcomes)
	require.Len(t, langs, 2)
	py, gl := langs[0], langs[1]
	require.Equal(t, "python", py.Language)
	require.Equal(t, 2, py.Cases)
	require.Equal(t, 2, py.Built)
	require.Equal(t, 1, py.Labelled, "p-1 was labelled; p-2 was dropped for another reason than incomplete results")
	require.Equal(t, 1, py.Wrong, "p-1's FAIL_TO_PASS is empty where the reference has one id")
	require.Equal(t, 2, py.Throughput.Validated)
	require.InDelta(t, 75.0, py.Throughput.MeanValidateSeconds, 1e-9)
	require.Equal(t, "go", gl.Language)
	require.Equal(t, 0, gl.Built)
	require.Equal(t, 0, gl.Throughput.Validated)
	require.InDelta(t, 10.0, gl.Throughput.MeanBuildSeconds, 1e-9)
	require.Contains(t, gl.Summary, "go: built 0/1,")
}

func TestCorpusCheck(t *testing.T) {
	t.Parallel()
	good := Case{InstanceID: "o__n-1", Repo: "o/n", Language: "go", FixCommit: "0123456789012345678901234567890123456789",
		BaseCommit: "abcdefabcdefabcdefabcdefabcdefabcdefabcd", TestPaths: []string{"x_test.go"}}
	require.NoError(t, (&Corpus{Version: 1, Cases: []Case{good}}).check())
	for name, mutate := range map[string]func(*Case){
		"repo":     func(k *Case) { k.Repo = "n" },
		"language": func(k *Case) { k.Language = "cobol" },
		"commit":   func(k *Case) { k.FixCommit = "HEAD" },
		"tests":    func(k *Case) { k.TestPaths = nil },
		"p2p":      func(k *Case) { k.PassToPass = []string{"TestA"}; k.PassToPassCount = 2 },
	} {
		k := good
		mutate(&k)
		require.Error(t, (&Corpus{Version: 1, Cases: []Case{k}}).check(), name)
	}
	require.ErrorContains(t, (&Corpus{Version: 1, Cases: []Case{good, good}}).check(), "given twice")
	c := &Corpus{Version: 1, Cases: []Case{good}}
	_, err := c.selectCases([]string{"o__n-2"})
	require.ErrorContains(t, err, "o__n-2 is not in the corpus")
}

// TestShippedCorpus reads the corpus this directory ships: it passes its own checks, every
// language has at least five cases, and each case's labels are a usable task's (a non-empty
// FAIL_TO_PASS that shares no id with PASS_TO_PASS).
func TestShippedCorpus(t *testing.T) {
	t.Parallel()
	c, err := loadCorpus("corpus.json")
	require.NoError(t, err)
	per := map[string]int{}
	for _, k := range c.Cases {
		per[k.Language]++
		require.NotEmpty(t, k.FailToPass, k.InstanceID)
		for _, id := range k.PassToPass {
			require.NotContains(t, k.FailToPass, id, k.InstanceID)
		}
	}
	for _, lang := range languages {
		require.GreaterOrEqual(t, per[lang], 5, "%s cases in corpus.json", lang)
	}
}
