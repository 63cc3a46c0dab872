package runstore_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"swemill/pipeline"
	"swemill/pipeline/pipelinetest"
	"swemill/runstore"
)

// TestBuiltAndRecordImageRefs: Built lists the selected built instances with their
// environments; RecordImageRefs adds registry references to an instance's build output when
// it still names the image, and changes nothing else of the record.
func TestBuiltAndRecordImageRefs(t *testing.T) {
	t.Parallel()
	databases(t, func(t *testing.T, open func(t *testing.T) *runstore.Store) {
		s := open(t)
		_, err := s.Run(t.Context(), chainConfig(pipelinetest.Config{}, "o/a", "o/b"))
		require.NoError(t, err)

		_, err = s.Built(t.Context(), runstore.Selector{})
		require.ErrorIs(t, err, runstore.ErrImageSelector)
		_, err = s.Built(t.Context(), runstore.Selector{Failed: true})
		require.ErrorIs(t, err, runstore.ErrImageSelector)
		all, err := s.Built(t.Context(), runstore.Selector{All: true})
		require.NoError(t, err)
		st, err := s.Status(t.Context())
		require.NoError(t, err)
		require.Len(t, all, st.Stages[1].Counts[pipeline.StateDone], "every built instance, no other")
		ofA, err := s.Built(t.Context(), runstore.Selector{Repo: "o/a"})
		require.NoError(t, err)
		require.Less(t, len(ofA), len(all))
		for _, b := range ofA {
			require.Regexp(t, `^o__a-`, b.InstanceID)
			require.NotEmpty(t, b.Environment.ImageName)
		}

		before, err := s.StageRows(t.Context())
		require.NoError(t, err)
		b := ofA[0]
		ok, err := s.RecordImageRefs(t.Context(), b.InstanceID, "sha256:other", "r.example/x@sha256:1", "")
		require.NoError(t, err)
		require.False(t, ok, "an output that names another image is left alone")
		ok, err = s.RecordImageRefs(t.Context(), b.InstanceID, b.Environment.ImageID, "r.example/x@sha256:1", "r.example/e@sha256:2")
		require.NoError(t, err)
		require.True(t, ok)
		got, err := s.Built(t.Context(), runstore.Selector{Instances: []string{b.InstanceID}})
		require.NoError(t, err)
		require.Len(t, got, 1)
		want := b.Environment
		want.ImageRef, want.EnvImageRef = "r.example/x@sha256:1", "r.example/e@sha256:2"
		require.Equal(t, want, got[0].Environment)
		after, err := s.StageRows(t.Context())
		require.NoError(t, err)
		for id, rows := range before {
			for stage, row := range rows {
				if id == b.InstanceID && stage == pipeline.StageBuild {
					continue
				}
				require.Equal(t, row, after[id][stage], "%s %s changed", id, stage)
			}
		}
		problems, err := s.Verify(t.Context())
		require.NoError(t, err)
		require.Empty(t, problems)
	})
}
