package main

import (
	"context"
	"slices"

	"swemill/pipeline"
)

// wireStages builds the production stages that a run selected. Stages this build does not
// provide yet are left out, and the run refuses to start when it selects one of them.
func wireStages(ctx context.Context, env wiringEnv) (stages, error) {
	st := stages{processors: map[string]pipeline.Processor{}}
	if slices.Contains(env.selected, pipeline.StageMine) {
		m, repos, err := wireMine(ctx, env)
		if err != nil {
			return st, err
		}
		st.miner, st.repos = m, repos
	}
	return st, nil
}
