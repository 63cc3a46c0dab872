package main

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"swemill/pipeline"
	"swemill/runstore"
)

// TestStatusShowsSecurityDrops: `swemill status` prints a line per security drop reason,
// with its count and stages, apart from the other drop reasons; none prints nothing.
func TestStatusShowsSecurityDrops(t *testing.T) {
	t.Parallel()
	st := runstore.Status{Stages: []runstore.StageStatus{
		{Stage: pipeline.StageMine, Counts: map[pipeline.State]int{pipeline.StateDropped: 7}, Drops: []runstore.ReasonCount{
			{Reason: "no_linked_issue", Count: 6}, {Reason: pipeline.ReasonUnsafePatch, Count: 1}}},
		{Stage: pipeline.StageValidate, Counts: map[pipeline.State]int{pipeline.StateDropped: 2}, Drops: []runstore.ReasonCount{
			{Reason: pipeline.ReasonUnsafePatch, Count: 2}}},
	}}
	var b strings.Builder
	printStatus(&b, st)
	out := b.String()
	require.Contains(t, out, "security drops")
	require.Regexp(t, `(?m)^  SECURITY  unsafe_patch +3 \(mine 1, validate 2\)$`, out)
	require.Less(t, strings.Index(out, "drop reasons:"), strings.Index(out, "security drops"))

	b.Reset()
	st.Stages[0].Drops, st.Stages[1].Drops = st.Stages[0].Drops[:1], nil
	printStatus(&b, st)
	require.NotContains(t, b.String(), "security")
}
