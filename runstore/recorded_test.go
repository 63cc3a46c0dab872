package runstore_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"swemill/pipeline"
	"swemill/pipeline/pipelinetest"
	"swemill/runstore"
)

// TestRecordedArtifactsReachRetries fails the first rollout attempt of every instance after
// it stored one of its two pieces of work: the artifacts of the failed attempt are recorded,
// and the retry finds them in Item.Recorded (its own generation's only) and redoes only the
// missing piece.
func TestRecordedArtifactsReachRetries(t *testing.T) {
	t.Parallel()
	databases(t, func(t *testing.T, open func(t *testing.T) *runstore.Store) {
		s := open(t)
		cfg := chainConfig(pipelinetest.Config{PRs: 3}, "o/a")
		var mu sync.Mutex
		seen := map[string][][]string{} // instance -> recorded names per attempt
		cfg.Processors[pipeline.StageRollout] = pipeline.ProcessorFunc(func(ctx context.Context, item *pipeline.Item) (pipeline.Output, error) {
			var names []string
			for _, a := range item.Recorded {
				names = append(names, a.Name)
			}
			mu.Lock()
			seen[item.Instance.InstanceID] = append(seen[item.Instance.InstanceID], names)
			mu.Unlock()
			var out pipeline.Output
			for _, part := range []string{"part-0", "part-1"} {
				found := false
				for _, a := range item.Recorded {
					if a.Name == part {
						found = true
						out.Artifacts = append(out.Artifacts, a)
					}
				}
				if found {
					continue
				}
				if item.Attempt == 1 && part == "part-1" {
					return out, errors.New("the model server went away")
				}
				a, err := item.Artifacts.Put(part, []byte(fmt.Sprintf("%s of %s", part, item.Instance.InstanceID)))
				if err != nil {
					return out, err
				}
				out.Artifacts = append(out.Artifacts, a)
			}
			out.Record = pipeline.Rollouts{}
			return out, nil
		})
		sum, err := s.Run(t.Context(), cfg)
		require.NoError(t, err)
		require.True(t, sum.Complete)
		require.Equal(t, 3, counts(sum.Status)[pipeline.StageRollout][pipeline.StateDone])
		for _, id := range []string{"o__a-1", "o__a-2", "o__a-3"} {
			require.Equal(t, [][]string{nil, {"part-0"}}, seen[id], id)
			d, err := s.Show(t.Context(), id)
			require.NoError(t, err)
			var names []string
			for _, a := range d.Artifacts {
				if a.Stage == pipeline.StageRollout {
					names = append(names, a.Name)
				}
			}
			require.Equal(t, []string{"part-0", "part-1"}, names, id)
		}
	})
}
