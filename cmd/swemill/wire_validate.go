package main

import (
	"encoding/json"
	"fmt"
	"io"
	"time"

	"swemill/envbuild/sandbox"
	"swemill/pipeline"
	"swemill/runstore"
	"swemill/stages/validate"
)

// ValidateConfig is the validate section.
type ValidateConfig struct {
	// Runs is how many times each side (before and after the fix) runs; a test counts only if
	// it behaves the same in every run of its side. Default 3.
	Runs int `yaml:"runs" json:"runs,omitempty"`
	// Parallel bounds the runs of one instance that go at once. Default 2.
	Parallel int `yaml:"parallel" json:"parallel,omitempty"`
	// RunTimeout limits one test run. Default 15m.
	RunTimeout Duration `yaml:"run_timeout" json:"run_timeout,omitempty"`
	// Reruns is how many more times each side runs the FAIL_TO_PASS tests alone, after the
	// full runs found them; a test that disagrees once is flaky. Default 5; -1: none.
	Reruns int `yaml:"reruns" json:"reruns,omitempty"`
	// Jitter delays each run's start by a random time up to it. Default 2s; -1s: none.
	Jitter Duration `yaml:"jitter" json:"jitter,omitempty"`
	// Shuffle runs go test with -shuffle set to each run's seed. Default off.
	Shuffle bool `yaml:"shuffle" json:"shuffle,omitempty"`
	// Memory, CPUs, Pids and Runtime are deprecated aliases of the sandbox section's fields
	// (which limit rollout and grading containers too): used where sandbox leaves the field
	// unset, with a warning; a configuration that sets both differently is refused.
	Memory  Size    `yaml:"memory" json:"memory,omitempty"`
	CPUs    float64 `yaml:"cpus" json:"cpus,omitempty"`
	Pids    int64   `yaml:"pids" json:"pids,omitempty"`
	Runtime string  `yaml:"runtime" json:"runtime,omitempty"`
	// ResultsLimit caps each result stream of a test run (the whole test output, the pytest
	// plugin's records); a run past it is results_incomplete. Default 256MiB.
	ResultsLimit Size `yaml:"results_limit" json:"results_limit,omitempty"`
}

// testSandbox is the sandbox that runs repository tests (validate and grading), with the
// sandbox section's limits, as the rollout workspaces.
func (env wiringEnv) testSandbox(api sandbox.API) (*sandbox.Sandbox, error) {
	env.cfg.warnDeprecated(env.log)
	sb, err := sandbox.New(api, env.sandboxConfig(), env.log.With().Str("component", "sandbox").Logger())
	if err != nil {
		return nil, usagef("sandbox: %v", err)
	}
	return sb, nil
}

// validateConfig turns the validate section into the stage's configuration.
func (env wiringEnv) validateConfig() validate.Config {
	v := env.cfg.Validate
	return validate.Config{Runs: v.Runs, Parallel: v.Parallel, RunTimeout: time.Duration(v.RunTimeout),
		Reruns: v.Reruns, Jitter: time.Duration(v.Jitter), Shuffle: v.Shuffle, ResultsLimit: int64(v.ResultsLimit)}
}

func wireValidate(env wiringEnv, sb *sandbox.Sandbox) (pipeline.Processor, error) {
	st, err := validate.New(sb, env.validateConfig())
	if err != nil {
		return nil, usagef("validate: %v", err)
	}
	return st, nil
}

// writeValidation prints an instance's per-test results across validation runs, from the
// validate stage's output or, for a dropped instance, its stored validation.json.
func writeValidation(w io.Writer, store *runstore.Store, d *runstore.InstanceDetail) error {
	var raw []byte
	for _, s := range d.Stages {
		if s.Stage == pipeline.StageValidate && s.State == pipeline.StateDone && len(s.Output) > 0 {
			raw = s.Output
		}
	}
	if raw == nil {
		for _, a := range d.Artifacts {
			if a.Stage == pipeline.StageValidate && a.Name == validate.ValidationArtifact {
				data, err := store.Artifacts().Read(a.ArtifactRef)
				if err != nil {
					return err
				}
				raw = data
			}
		}
	}
	if raw == nil {
		return nil
	}
	var v pipeline.Validation
	if err := json.Unmarshal(raw, &v); err != nil {
		return fmt.Errorf("decoding the validation of %s: %w", d.Instance.InstanceID, err)
	}
	fmt.Fprintln(w, "\ntests:")
	return validate.WriteTestTable(w, v)
}
