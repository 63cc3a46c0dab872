package runstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"swemill/pipeline"
	"swemill/pipeline/pipelinetest"
	"swemill/report"
	"swemill/runstore"
)

// TestLanguageFunnels checks the funnel per language (lower case, "unknown" for a repository
// mining gave none), and that a store made before the language column (and before the stage
// rows carried their repository, language and summary) gets them filled from its records
// when it is opened again: the funnels, timings, flaky tests and rollout results read the
// same.
func TestLanguageFunnels(t *testing.T) {
	for _, db := range []string{"sqlite", "postgres"} {
		t.Run(db, func(t *testing.T) {
			t.Parallel()
			dir, url := t.TempDir(), ""
			if db == "postgres" {
				url = pipelinetest.Postgres(t)
			}
			languageFunnels(t, func() *runstore.Store { return openStore(t, dir, url) })
		})
	}
}

func languageFunnels(t *testing.T, open func() *runstore.Store) {
	{
		s := open()
		c := pipelinetest.Config{Languages: map[string]string{"o/a": "Rust"}}
		cfg := chainConfig(c, "o/a", "o/b")
		validate := cfg.Processors[pipeline.StageValidate]
		cfg.Processors[pipeline.StageValidate] = pipeline.ProcessorFunc(func(ctx context.Context, item *pipeline.Item) (pipeline.Output, error) {
			out, err := validate.Process(ctx, item)
			if v, ok := out.Record.(pipeline.Validation); ok && item.Instance.PullNumber%3 == 0 {
				v.Flaky = []pipeline.FlakyTest{{Name: "tests/test_x.py::test_old", Side: "after", PassRate: 0.75, Runs: 4}}
				out.Record = v
			}
			return out, err
		})
		_, err := s.Run(t.Context(), cfg)
		require.NoError(t, err)
		got, err := s.LanguageFunnels(t.Context())
		require.NoError(t, err)
		require.Len(t, got, 2)
		require.Equal(t, []string{"rust", "unknown"}, []string{got[0].Repo, got[1].Repo})
		for _, f := range got {
			// Each repository has half of wantChain's funnel.
			for stage, states := range wantChain {
				for state, n := range states {
					require.Equal(t, n/2, f.Stages[stage][state], "%s %s %s", f.Repo, stage, state)
				}
			}
		}
		require.Equal(t, 6, got[0].Stages[pipeline.StageValidate][pipeline.StateDone])

		before, err := report.Gather(t.Context(), s, nil)
		require.NoError(t, err)
		var flaky []string
		for _, f := range before.Flaky {
			flaky = append(flaky, f.InstanceID+" "+f.Name)
		}
		require.Equal(t, []string{"o__a-3 tests/test_x.py::test_old", "o__a-6 tests/test_x.py::test_old", "o__a-9 tests/test_x.py::test_old",
			"o__b-3 tests/test_x.py::test_old", "o__b-6 tests/test_x.py::test_old", "o__b-9 tests/test_x.py::test_old"}, flaky)
		require.NotEmpty(t, before.Models)

		require.NoError(t, s.RewindSchema(t.Context(), 1))
		again := open()
		after, err := again.LanguageFunnels(t.Context())
		require.NoError(t, err)
		require.Equal(t, got, after, "the migration fills the column from the stored records")
		reread, err := report.Gather(t.Context(), again, nil)
		require.NoError(t, err)
		for _, d := range []*report.Data{before, reread} {
			d.Generated = time.Time{}
		}
		// Sums of seconds may add up in another order (PostgreSQL reads another index).
		require.Len(t, reread.Timings, len(before.Timings))
		for i, bt := range before.Timings {
			rt := &reread.Timings[i]
			require.InDelta(t, bt.Total, rt.Total, 1e-9, bt.Stage)
			require.InDelta(t, bt.Mean, rt.Mean, 1e-9, bt.Stage)
			rt.Total, rt.Mean = bt.Total, bt.Mean
		}
		require.Equal(t, before, reread)
	}
}
