package main

import (
	"fmt"
	"path/filepath"

	"github.com/rs/zerolog"

	"swemill/envbuild/sandbox"
)

// SandboxConfig is the sandbox section: the limits of every container that runs repository
// code or a model's commands: validate's test runs, the rollout agent's workspaces and the
// grading of its patches. (Build containers have build.memory and build.cpus.) Zero values
// take sandbox.Config's defaults.
type SandboxConfig struct {
	// Memory is each container's memory limit, swap included. Default 2GiB; at least 16MiB.
	Memory Size `yaml:"memory" json:"memory,omitempty"`
	// CPUs is each container's CPU limit (1.5 is one and a half cores). Default 1.
	CPUs float64 `yaml:"cpus" json:"cpus,omitempty"`
	// Pids caps the processes of each container. Default 1024.
	Pids int64 `yaml:"pids" json:"pids,omitempty"`
	// Runtime is the OCI runtime the engine runs them with ("runsc" for gVisor, which must
	// be registered with the engine); empty means the engine's default.
	Runtime string `yaml:"runtime" json:"runtime,omitempty"`
	// TmpSize is the size of the tmpfs on /tmp. Default 1GiB.
	TmpSize Size `yaml:"tmp_size" json:"tmp_size,omitempty"`
	// Disk bounds what a test run (validate, grading) may write to its container's writable
	// layer, the work tree included: a watchdog kills the run past it (suite_disk_limit).
	// It bounds the agents' workspaces too, unless rollout.disk is set. Default 4GiB; -1
	// turns the watchdog off.
	Disk Size `yaml:"disk" json:"disk,omitempty"`
}

// defaultSandboxDisk is sandbox.disk's default.
const defaultSandboxDisk = 4 << 30

// deprecatedField is a deprecated validate field and the sandbox field that replaces it.
type deprecatedField struct {
	old, new       string
	oldSet, newSet bool
	same           bool
	oldText        string
	newText        string
}

func (c *Config) deprecatedSandboxFields() []deprecatedField {
	v, s := c.Validate, c.Sandbox
	size := func(n Size) string { return sandbox.FormatBytes(int64(n)) }
	return []deprecatedField{
		{"validate.memory", "sandbox.memory", v.Memory != 0, s.Memory != 0, v.Memory == s.Memory, size(v.Memory), size(s.Memory)},
		{"validate.cpus", "sandbox.cpus", v.CPUs != 0, s.CPUs != 0, v.CPUs == s.CPUs, fmt.Sprint(v.CPUs), fmt.Sprint(s.CPUs)},
		{"validate.pids", "sandbox.pids", v.Pids != 0, s.Pids != 0, v.Pids == s.Pids, fmt.Sprint(v.Pids), fmt.Sprint(s.Pids)},
		{"validate.runtime", "sandbox.runtime", v.Runtime != "", s.Runtime != "", v.Runtime == s.Runtime, fmt.Sprintf("%q", v.Runtime), fmt.Sprintf("%q", s.Runtime)},
	}
}

// checkSandbox refuses a deprecated validate field that says otherwise than its sandbox
// field, and values no container can have.
func (c *Config) checkSandbox() error {
	for _, f := range c.deprecatedSandboxFields() {
		if f.oldSet && f.newSet && !f.same {
			return fmt.Errorf("%s (deprecated) is %s but %s is %s: keep %s only", f.old, f.oldText, f.new, f.newText, f.new)
		}
	}
	s := c.sandboxLimits()
	switch {
	case s.Memory != 0 && s.Memory < 16<<20:
		return fmt.Errorf("sandbox.memory: %s is below 16MiB", sandbox.FormatBytes(int64(s.Memory)))
	case s.CPUs < 0:
		return fmt.Errorf("sandbox.cpus: %v is negative", s.CPUs)
	case s.Pids < 0:
		return fmt.Errorf("sandbox.pids: %d is negative", s.Pids)
	case s.TmpSize < 0:
		return fmt.Errorf("sandbox.tmp_size: %d is negative", s.TmpSize)
	case s.Disk < -1 || s.Disk > 0 && s.Disk < 16<<20:
		return fmt.Errorf("sandbox.disk: %s: want at least 16MiB, or -1 for no limit", sandbox.FormatBytes(int64(s.Disk)))
	case c.Rollout.Disk < -1 || c.Rollout.Disk > 0 && c.Rollout.Disk < 16<<20:
		return fmt.Errorf("rollout.disk: %s: want at least 16MiB, or -1 for no limit", sandbox.FormatBytes(int64(c.Rollout.Disk)))
	}
	if err := (sandbox.Config{RunID: "check", Runtime: s.Runtime}).Validate(); err != nil {
		return fmt.Errorf("sandbox.runtime: %q is not a runtime name", s.Runtime)
	}
	return nil
}

// sandboxLimits returns the sandbox section, with the deprecated validate.memory, cpus, pids and
// runtime in the fields it leaves unset.
func (c *Config) sandboxLimits() SandboxConfig {
	s, v := c.Sandbox, c.Validate
	if s.Memory == 0 {
		s.Memory = v.Memory
	}
	if s.CPUs == 0 {
		s.CPUs = v.CPUs
	}
	if s.Pids == 0 {
		s.Pids = v.Pids
	}
	if s.Runtime == "" {
		s.Runtime = v.Runtime
	}
	return s
}

// warnDeprecated logs each deprecated field the configuration uses.
func (c *Config) warnDeprecated(log zerolog.Logger) {
	for _, f := range c.deprecatedSandboxFields() {
		if f.oldSet {
			log.Warn().Str("field", f.old).Str("use", f.new).
				Msgf("%s is deprecated: set %s, which limits rollout and grading containers too", f.old, f.new)
		}
	}
}

// sandboxConfig is the sandbox of every container that runs repository code or a model's
// commands (validate, rollout workspaces, grading): the run's and the worker's labels and the
// sandbox section's limits.
func (env wiringEnv) sandboxConfig() sandbox.Config {
	s := env.cfg.sandboxLimits()
	disk := int64(s.Disk)
	switch disk {
	case 0:
		disk = defaultSandboxDisk
	case -1:
		disk = 0
	}
	return sandbox.Config{RunID: env.runID(), Worker: env.worker, UsageDir: filepath.Join(env.cacheDir(), "usage"),
		Memory: int64(s.Memory), CPUs: s.CPUs, PidsLimit: s.Pids, Runtime: s.Runtime, TmpfsBytes: int64(s.TmpSize),
		DiskLimit: disk}
}
