package runstore_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"swemill/pipeline"
	"swemill/pipeline/pipelinetest"
	"swemill/runstore"
)

// TestRerunChangesOnlySelected reruns build for two instances and checks, row by row, that
// no other instance changed, before and after the next run redoes them.
func TestRerunChangesOnlySelected(t *testing.T) {
	t.Parallel()
	databases(t, func(t *testing.T, open func(t *testing.T) *runstore.Store) {
		s := open(t)
		_, err := s.Run(t.Context(), chainConfig(pipelinetest.Config{}, "o/a", "o/b"))
		require.NoError(t, err)
		before, err := s.StageRows(t.Context())
		require.NoError(t, err)

		res, err := s.Rerun(t.Context(), pipeline.StageBuild, runstore.Selector{Instances: []string{"o__a-1", "o__b-2"}})
		require.NoError(t, err)
		require.Equal(t, []string{"o__a-1", "o__b-2"}, res.Rerun)
		require.Equal(t, 4, res.Invalidated)

		check := func(phase string) map[string]map[string]string {
			after, err := s.StageRows(t.Context())
			require.NoError(t, err)
			require.Len(t, after, len(before))
			for id, rows := range before {
				if id == "o__a-1" || id == "o__b-2" {
					require.Equal(t, rows[pipeline.StageMine], after[id][pipeline.StageMine], "%s: %s's mine row changed", phase, id)
					continue
				}
				require.Equal(t, rows, after[id], "%s: unselected %s changed", phase, id)
			}
			return after
		}
		after := check("after rerun")
		d, err := s.Show(t.Context(), "o__a-1")
		require.NoError(t, err)
		require.Equal(t, []pipeline.State{pipeline.StateDone, pipeline.StatePending, pipeline.StateStale, pipeline.StateStale},
			[]pipeline.State{d.Stages[0].State, d.Stages[1].State, d.Stages[2].State, d.Stages[3].State})
		require.EqualValues(t, 2, d.Stages[1].Generation)
		require.NotEqual(t, before["o__a-1"][pipeline.StageBuild], after["o__a-1"][pipeline.StageBuild])

		sum, err := s.Run(t.Context(), chainConfig(pipelinetest.Config{}, "o/a", "o/b"))
		require.NoError(t, err)
		require.Equal(t, wantChain, counts(sum.Status))
		check("after the next run")
		d, err = s.Show(t.Context(), "o__b-2")
		require.NoError(t, err)
		for _, st := range d.Stages[1:] {
			require.Equal(t, pipeline.StateDone, st.State, st.Stage)
			require.EqualValues(t, 2, st.Generation, st.Stage)
		}
		problems, err := s.Verify(t.Context())
		require.NoError(t, err)
		require.Empty(t, problems)
	})
}

func TestRerunNeedsASelector(t *testing.T) {
	t.Parallel()
	s := openStore(t, t.TempDir(), "")
	_, err := s.Rerun(t.Context(), pipeline.StageBuild, runstore.Selector{})
	require.ErrorIs(t, err, runstore.ErrNoSelector)
	_, err = s.Rerun(t.Context(), "polish", runstore.Selector{All: true})
	require.ErrorContains(t, err, `unknown stage "polish"`)
}
