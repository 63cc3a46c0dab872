package main

import (
	"context"
	"slices"

	"swemill/envbuild"
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
	if !slices.ContainsFunc(env.selected, func(s string) bool { return s != pipeline.StageMine }) {
		return st, nil
	}
	// The other stages run repository code in containers.
	cli, err := env.docker(ctx)
	if err != nil {
		return st, err
	}
	st.close = func() { cli.Close() }
	sb, err := env.testSandbox(cli)
	if err != nil {
		st.close()
		return st, err
	}
	// The run removes the containers of its gone workers with it (see sweepGone).
	st.containers = sb
	// Validate and rollout rebuild, from the stored recipe, an instance image that is gone.
	builder, err := newBuilder(env, cli)
	if err != nil {
		st.close()
		return st, err
	}
	if slices.Contains(env.selected, pipeline.StageBuild) {
		p, err := wireBuild(ctx, env, cli, builder)
		if err != nil {
			st.close()
			return st, err
		}
		st.processors[pipeline.StageBuild] = p
	}
	if slices.Contains(env.selected, pipeline.StageValidate) {
		p, err := wireValidate(env, sb)
		if err != nil {
			st.close()
			return st, err
		}
		st.processors[pipeline.StageValidate] = envbuild.WithImages(p, builder)
	}
	if slices.Contains(env.selected, pipeline.StageRollout) {
		r, err := wireRollout(env, cli, sb)
		if err != nil {
			st.close()
			return st, err
		}
		closeDocker := st.close
		st.processors[pipeline.StageRollout] = envbuild.WithImages(r, builder)
		st.close = func() { r.Close(); closeDocker() }
	}
	return st, nil
}
