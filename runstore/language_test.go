package runstore_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"swemill/pipeline"
	"swemill/pipeline/pipelinetest"
	"swemill/runstore"
)

// TestLanguageFunnels checks the funnel per language (lower case, "unknown" for a repository
// mining gave none), and that a store made before the language column gets it filled from
// its records when it is opened again.
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
		_, err := s.Run(t.Context(), chainConfig(c, "o/a", "o/b"))
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

		require.NoError(t, s.RewindSchema(t.Context(), 1))
		again := open()
		after, err := again.LanguageFunnels(t.Context())
		require.NoError(t, err)
		require.Equal(t, got, after, "the migration fills the column from the stored records")
	}
}
