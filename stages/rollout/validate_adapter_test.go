package rollout_test

import (
	"context"
	"testing"

	"swemill/envbuild/envbuildtest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"swemill/envbuild/sandbox"
	"swemill/pipeline"
	"swemill/stages/rollout"
	"swemill/stages/validate"
)

// validateGrader adapts validate's grader to rollout.Grader: the wiring the CLI needs.
// (Only this test imports another stage; the packages themselves stay apart.)
type validateGrader struct{ g *validate.Grader }

func (v validateGrader) Grade(ctx context.Context, item *pipeline.Item, patch string) (rollout.Grade, error) {
	r, err := v.g.Grade(ctx, item, patch)
	if err != nil {
		return rollout.Grade{}, err
	}
	return rollout.Grade{Applied: r.Applied, Tests: r.Results, Problem: r.Problem, Log: r.Log}, nil
}

// TestOracleWithValidateGrader grades oracle rollouts with validate's real grader: the
// gold patch resolves, and the scores agree with validate's own.
func TestOracleWithValidateGrader(t *testing.T) {
	t.Parallel()
	for _, fixture := range []string{"pyflat", "gomod"} {
		t.Run(fixture, func(t *testing.T) {
			t.Parallel()
			item := fixtureItem(t, fixture)
			run := "rollout-vg-" + nonce()
			sb, err := sandbox.New(envbuildtest.Docker(t), sandbox.Config{RunID: run}, testLog(t))
			require.NoError(t, err)
			vg := &validate.Grader{Sandbox: sb}
			s, err := rollout.New(rollout.Config{Backend: rollout.BackendOracle}, newDockerRuntime(t, run, nil), validateGrader{vg})
			require.NoError(t, err)
			out, err := s.Process(t.Context(), item)
			require.NoError(t, err)
			tr := readTrajectories(t, item, out)[0]
			assert.True(t, tr.Resolved, "flags %v", tr.Flags)
			r, err := vg.Grade(t.Context(), item, tr.ModelPatch)
			require.NoError(t, err)
			f2p, f2pTotal, p2p, p2pTotal := r.Counts()
			assert.Equal(t, [5]any{r.Resolved, f2p, f2pTotal, p2p, p2pTotal},
				[5]any{tr.Resolved, tr.F2PPassed, tr.F2PTotal, tr.P2PPassed, tr.P2PTotal})
			assert.Empty(t, runContainers(t, run))
		})
	}
}
