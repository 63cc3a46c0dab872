package main

import (
	"context"
	"time"

	"github.com/docker/docker/client"

	"swemill/envbuild/sandbox"
	"swemill/pipeline"
	"swemill/stages/rollout"
	"swemill/stages/validate"
)

// RolloutConfig is the rollout section: the served model and the agent's limits.
type RolloutConfig struct {
	// Backend is "openai" (any OpenAI-compatible server, e.g. vLLM) or "oracle" (the
	// built-in policy that applies the gold patch through the agent's tools: the harness
	// self-check and the offline demo's model).
	Backend string `yaml:"backend" json:"backend,omitempty"`
	// ModelURL is the server's API root ("http://localhost:8000/v1"); the API key comes from
	// OPENAI_API_KEY.
	ModelURL string `yaml:"model_url" json:"model_url,omitempty"`
	// Model is the served model's name ("Skywork/Skywork-SWE-32B").
	Model string `yaml:"model" json:"model,omitempty"`
	// Protocol is "text" (tools in the system prompt, <function=...> calls; what a plain
	// `vllm serve` needs) or "native" (tools and tool_calls).
	Protocol string `yaml:"protocol" json:"protocol,omitempty"`
	// Sampling parameters; sample k of an instance uses seed+k.
	Temperature     float64 `yaml:"temperature" json:"temperature,omitempty"`
	TopP            float64 `yaml:"top_p" json:"top_p,omitempty"`
	Seed            int64   `yaml:"seed" json:"seed,omitempty"`
	MaxOutputTokens int     `yaml:"max_output_tokens" json:"max_output_tokens,omitempty"`
	// MaxConcurrentRequests caps model requests in flight across all rollouts.
	MaxConcurrentRequests int `yaml:"max_concurrent_requests" json:"max_concurrent_requests,omitempty"`
	// Samples is how many trajectories each instance gets; Parallel how many run at once.
	Samples  int `yaml:"samples" json:"samples,omitempty"`
	Parallel int `yaml:"parallel" json:"parallel,omitempty"`
	// Agent limits.
	MaxIterations  int      `yaml:"max_iterations" json:"max_iterations,omitempty"`
	ContextTokens  int      `yaml:"context_tokens" json:"context_tokens,omitempty"`
	CommandTimeout Duration `yaml:"command_timeout" json:"command_timeout,omitempty"`
	// NoChangeTimeout: a command silent this long returns while it runs on (negative: off).
	NoChangeTimeout Duration `yaml:"no_change_timeout" json:"no_change_timeout,omitempty"`
	RolloutTimeout  Duration `yaml:"rollout_timeout" json:"rollout_timeout,omitempty"`
}

// gradeWithValidate grades rollouts with validate's test runner: the same parser and the
// same test selection that made FAIL_TO_PASS and PASS_TO_PASS.
func gradeWithValidate(sb *sandbox.Sandbox) rollout.Grader {
	g := &validate.Grader{Sandbox: sb}
	return rollout.GraderFunc(func(ctx context.Context, item *pipeline.Item, patch string) (rollout.Grade, error) {
		r, err := g.Grade(ctx, item, patch)
		if err != nil {
			return rollout.Grade{}, err
		}
		return rollout.Grade{Applied: r.Applied, Tests: r.Results, Problem: r.Problem, Log: r.Log}, nil
	})
}

func wireRollout(ctx context.Context, env wiringEnv, cli *client.Client, sb *sandbox.Sandbox) (*rollout.Stage, error) {
	rc := env.cfg.Rollout
	rt, err := rollout.NewDockerRuntime(cli, rollout.DockerConfig{Sandbox: env.sandboxConfig()}, env.log.With().Str("stage", "rollout").Logger())
	if err != nil {
		return nil, usagef("rollout: %v", err)
	}
	if _, err := rt.Sweep(ctx); err != nil {
		return nil, err
	}
	st, err := rollout.New(rollout.Config{
		Backend:               rc.Backend,
		Protocol:              rc.Protocol,
		Model:                 rc.Model,
		BaseURL:               rc.ModelURL,
		APIKey:                env.getenv("OPENAI_API_KEY"),
		Temperature:           rc.Temperature,
		TopP:                  rc.TopP,
		Seed:                  rc.Seed,
		MaxOutputTokens:       rc.MaxOutputTokens,
		MaxConcurrentRequests: rc.MaxConcurrentRequests,
		Samples:               rc.Samples,
		Parallel:              rc.Parallel,
		MaxIterations:         rc.MaxIterations,
		ContextTokens:         rc.ContextTokens,
		CommandTimeout:        time.Duration(rc.CommandTimeout),
		NoChangeTimeout:       time.Duration(rc.NoChangeTimeout),
		RolloutTimeout:        time.Duration(rc.RolloutTimeout),
	}, rt, gradeWithValidate(sb))
	if err != nil {
		return nil, usagef("rollout: %v", err)
	}
	return st, nil
}
