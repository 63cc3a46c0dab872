package main

import (
	"fmt"
	"time"

	"swemill/envbuild"
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
	// RolloutTimeout is one rollout's wall clock (default 1h); with samples and parallel it
	// sets the derived timeouts.rollout.
	RolloutTimeout Duration `yaml:"rollout_timeout" json:"rollout_timeout,omitempty"`
	// MaxRetries, RetryDelay, MaxRetryDelay and RequestTimeout shape the retries of the
	// model server's 429s, 5xx answers and connection failures. Defaults 8, 1s, 1m, 10m.
	MaxRetries     int      `yaml:"max_retries" json:"max_retries,omitempty"`
	RetryDelay     Duration `yaml:"retry_delay" json:"retry_delay,omitempty"`
	MaxRetryDelay  Duration `yaml:"max_retry_delay" json:"max_retry_delay,omitempty"`
	RequestTimeout Duration `yaml:"request_timeout" json:"request_timeout,omitempty"`
	// MaxObservationChars cuts the middle of each tool result longer than it. Default 32768.
	MaxObservationChars int `yaml:"max_observation_chars" json:"max_observation_chars,omitempty"`
	// MaxFormatErrors ends a rollout (format_error) after this many replies in a row that had
	// to be corrected. Default 3.
	MaxFormatErrors int `yaml:"max_format_errors" json:"max_format_errors,omitempty"`
	// NoExample leaves out the worked example the text protocol puts around the first user
	// message.
	NoExample bool `yaml:"no_example" json:"no_example,omitempty"`
	// Prompts is a directory of prompt templates (relative to the configuration file): the
	// files it holds replace the built-in prompts one by one (see rollout.Config.Prompts).
	Prompts string `yaml:"prompts" json:"prompts,omitempty"`
	// Workspace is the template of the repository's path in the agent's workspace; default
	// /workspace/<repo>__<version> as OpenHands lays it out, "/testbed" for the image's own.
	Workspace string `yaml:"workspace" json:"workspace,omitempty"`
	// Disk bounds what an agent's workspace may write to its container; past it the
	// workspace is killed and the trajectory flagged workspace_disk_limit. Default
	// sandbox.disk; -1: none.
	Disk Size `yaml:"disk" json:"disk,omitempty"`
}

// validate's grader is rollout's: the same parser and the same test selection that made
// FAIL_TO_PASS and PASS_TO_PASS grade the rollouts, and both stages score by the grade
// package's rule.
var _ rollout.Grader = (*validate.Grader)(nil)

// gradeTimeout bounds the grading of one rollout: validate.run_timeout, since grading runs
// the same tests (default 15m).
func (c *Config) gradeTimeout() time.Duration {
	if c.Validate.RunTimeout > 0 {
		return time.Duration(c.Validate.RunTimeout)
	}
	return 15 * time.Minute
}

// rolloutShape is the part of the rollout stage's configuration its attempt time depends on.
func (c *Config) rolloutShape() rollout.Config {
	rc := c.Rollout
	return rollout.Config{Samples: rc.Samples, Parallel: rc.Parallel, RolloutTimeout: time.Duration(rc.RolloutTimeout)}
}

// rolloutAttemptTimeout is the time limit of one rollout attempt: timeouts.rollout when set,
// else what every sample of an instance needs, rollout.parallel at a time (see
// rollout.Config.AttemptTimeout; with the defaults, 1h25m per sample).
func (c *Config) rolloutAttemptTimeout() time.Duration {
	if d, ok := c.Timeouts[pipeline.StageRollout]; ok {
		return time.Duration(d)
	}
	return c.rolloutShape().AttemptTimeout(c.gradeTimeout())
}

// checkRolloutTimeout refuses a timeouts.rollout that cannot fit one sample: its attempts
// would all end before any trajectory is stored. wireRollout checks it, so only a run that
// rolls out with the real stage is refused.
func (c *Config) checkRolloutTimeout() error {
	d, ok := c.Timeouts[pipeline.StageRollout]
	if !ok || d <= 0 {
		return nil
	}
	shape := c.rolloutShape()
	one := shape.SampleTimeout(c.gradeTimeout())
	if time.Duration(d) < one {
		return fmt.Errorf("timeouts.rollout: %s cannot fit one sample, which may take %s (rollout.rollout_timeout %s + grading %s (validate.run_timeout) + %s to start, take the patch and clean up): raise it to at least %s, or leave it unset to have %s (%d samples, %d at a time)",
			time.Duration(d), one, shape.SampleTimeout(0)-rollout.SampleOverhead, c.gradeTimeout(), rollout.SampleOverhead, one,
			shape.AttemptTimeout(c.gradeTimeout()), max(c.Rollout.Samples, 1), max(c.Rollout.Parallel, 1))
	}
	return nil
}

// rolloutRuntime is the Docker runtime of the agent's workspaces, in the sandbox of every
// container that runs repository code (the sandbox section's limits; rollout.disk, when
// set, instead of sandbox.disk).
func (env wiringEnv) rolloutRuntime(api sandbox.API) (*rollout.DockerRuntime, error) {
	sc := env.sandboxConfig()
	switch d := env.cfg.Rollout.Disk; {
	case d == -1:
		sc.DiskLimit = 0
	case d > 0:
		sc.DiskLimit = int64(d)
	}
	rt, err := rollout.NewDockerRuntime(api, rollout.DockerConfig{Sandbox: sc}, env.log.With().Str("stage", "rollout").Logger())
	if err != nil {
		return nil, usagef("rollout: %v", err)
	}
	return rt, nil
}

// rolloutConfig turns the rollout section into the stage's configuration; the API key comes
// from OPENAI_API_KEY.
func (env wiringEnv) rolloutConfig() rollout.Config {
	rc := env.cfg.Rollout
	return rollout.Config{
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
		MaxRetries:            rc.MaxRetries,
		RetryDelay:            time.Duration(rc.RetryDelay),
		MaxRetryDelay:         time.Duration(rc.MaxRetryDelay),
		RequestTimeout:        time.Duration(rc.RequestTimeout),
		Samples:               rc.Samples,
		Parallel:              rc.Parallel,
		MaxIterations:         rc.MaxIterations,
		ContextTokens:         rc.ContextTokens,
		CommandTimeout:        time.Duration(rc.CommandTimeout),
		NoChangeTimeout:       time.Duration(rc.NoChangeTimeout),
		RolloutTimeout:        time.Duration(rc.RolloutTimeout),
		MaxObservationChars:   rc.MaxObservationChars,
		MaxFormatErrors:       rc.MaxFormatErrors,
		NoExample:             rc.NoExample,
		Prompts:               env.cfg.resolve(rc.Prompts),
		Workspace:             rc.Workspace,
	}
}

func wireRollout(env wiringEnv, cli envbuild.Engine, sb *sandbox.Sandbox) (*rollout.Stage, error) {
	rc := env.cfg.Rollout
	if err := env.cfg.checkRolloutTimeout(); err != nil {
		return nil, usageError{err.Error()}
	}
	rt, err := env.rolloutRuntime(cli)
	if err != nil {
		return nil, err
	}
	shape, grade := env.cfg.rolloutShape(), env.cfg.gradeTimeout()
	if d := env.cfg.rolloutAttemptTimeout(); d < shape.AttemptTimeout(grade) {
		fit := int(d/shape.SampleTimeout(grade)) * max(rc.Parallel, 1)
		env.log.Warn().Dur("timeout", d).Dur("needed", shape.AttemptTimeout(grade)).
			Msgf("timeouts.rollout fits %d of the %d samples of an instance in one attempt: the others wait for its retries (stored samples are kept)",
				min(fit, max(rc.Samples, 1)), max(rc.Samples, 1))
	}
	st, err := rollout.New(env.rolloutConfig(), rt, &validate.Grader{Sandbox: sb, Options: validate.GradeOptions{Timeout: env.cfg.gradeTimeout(), ResultsLimit: int64(env.cfg.Validate.ResultsLimit)}})
	if err != nil {
		return nil, usagef("rollout: %v", err)
	}
	return st, nil
}
