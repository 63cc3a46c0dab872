package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"swemill/pipeline"
	"swemill/runstore"
)

// ConfigFile is the configuration's name in a run directory.
const ConfigFile = "swemill.yaml"

// Config is the run configuration: swemill.yaml in the run directory (or --config), with
// flags on top. Secrets never live here; they come from the environment (GITHUB_TOKEN,
// HF_TOKEN, OPENAI_API_KEY).
type Config struct {
	// Database is empty for SQLite in the run directory, or a postgres:// URL shared by
	// workers on several machines.
	Database string `yaml:"database" json:"database,omitempty"`
	// ArtifactsDir holds logs and trajectories; empty means <run dir>/artifacts. Workers that
	// share a PostgreSQL database should share it too.
	ArtifactsDir string `yaml:"artifacts_dir" json:"artifacts_dir,omitempty"`
	// Repos are the repositories ("owner/name") to mine.
	Repos []string `yaml:"repos" json:"repos,omitempty"`
	// Stages are the stages `run` works; empty means all of them.
	Stages []string `yaml:"stages" json:"stages,omitempty"`
	// Workers, Timeouts and Attempts are per stage (see runstore.RunConfig). An unset
	// timeouts.rollout is derived from the rollout section (rolloutAttemptTimeout).
	Workers  map[string]int      `yaml:"workers" json:"workers,omitempty"`
	Timeouts map[string]Duration `yaml:"timeouts" json:"timeouts,omitempty"`
	Attempts map[string]int      `yaml:"attempts" json:"attempts,omitempty"`
	// SoftStop is how long work in flight may finish after SIGINT before it is handed back.
	SoftStop Duration `yaml:"soft_stop" json:"soft_stop,omitempty"`
	// MirrorDir holds one bare git mirror per repository, shared by mine and build;
	// default <run dir>/mirrors.
	MirrorDir string `yaml:"mirror_dir" json:"mirror_dir,omitempty"`
	// CacheDir keeps what outlives runs (debootstrap output, bare clones); default
	// $SWEMILL_CACHE, $XDG_CACHE_HOME/swemill or ~/.cache/swemill.
	CacheDir string `yaml:"cache_dir" json:"cache_dir,omitempty"`
	// DockerHost is the Docker engine's address; empty means DOCKER_HOST or the default socket.
	DockerHost string `yaml:"docker_host" json:"docker_host,omitempty"`
	// Mine configures the mine stage.
	Mine MineConfig `yaml:"mine" json:"mine,omitempty"`
	// Build configures the build stage.
	Build BuildConfig `yaml:"build" json:"build,omitempty"`
	// Sandbox limits every container that runs repository code or a model's commands
	// (validate, rollout, grading).
	Sandbox SandboxConfig `yaml:"sandbox" json:"sandbox,omitempty"`
	// Validate configures the validate stage.
	Validate ValidateConfig `yaml:"validate" json:"validate,omitempty"`
	// Rollout configures the rollout stage: the model and the agent.
	Rollout RolloutConfig `yaml:"rollout" json:"rollout,omitempty"`
	// Export says where `run` writes the dataset when the chain is done.
	Export ExportConfig `yaml:"export" json:"export,omitempty"`
	// Log sets the log level ("debug", "info", "warn", "error") and format ("auto": readable
	// on a terminal and JSON otherwise, "console" or "json").
	Log LogConfig `yaml:"log" json:"log,omitempty"`

	// baseDir resolves relative paths: the configuration file's directory. runDir is the run
	// directory.
	baseDir, runDir string
}

// resolve makes a path from the configuration absolute: relative paths are relative to the
// configuration file's directory (the run directory when there is no file).
func (c *Config) resolve(p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(c.baseDir, p)
}

func (c *Config) resolveAll(ps []string) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = c.resolve(p)
	}
	return out
}

// mirrorDir is where repositories' git mirrors live.
func (c *Config) mirrorDir() string {
	if c.MirrorDir != "" {
		return c.resolve(c.MirrorDir)
	}
	return filepath.Join(c.runDir, "mirrors")
}

// LogConfig is the log section.
type LogConfig struct {
	Level  string `yaml:"level" json:"level,omitempty"`
	Format string `yaml:"format" json:"format,omitempty"`
}

// Duration is a time.Duration written as "90s", "30m" or "2h".
type Duration time.Duration

// MarshalJSON writes the duration as text ("30m0s").
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalYAML implements yaml.Unmarshaler.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %q is not a duration (like 90s, 30m or 2h)", n.Line, n.Value)
	}
	*d = Duration(v)
	return nil
}

// loadConfig reads the configuration: path if given (it must exist), else swemill.yaml in
// dir if there is one, else defaults.
func loadConfig(path, dir string) (*Config, string, error) {
	explicit := path != ""
	if !explicit {
		path = filepath.Join(dir, ConfigFile)
	}
	absDir, _ := filepath.Abs(dir)
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) && !explicit {
		return &Config{baseDir: absDir, runDir: absDir}, "", nil
	}
	if err != nil {
		return nil, path, fmt.Errorf("reading configuration: %w", err)
	}
	c := Config{runDir: absDir}
	c.baseDir, _ = filepath.Abs(filepath.Dir(path))
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
		return nil, path, fmt.Errorf("%s: %s", path, yamlMessage(err))
	}
	if err := c.validate(); err != nil {
		return nil, path, fmt.Errorf("%s: %w", path, err)
	}
	return &c, path, nil
}

var yamlFieldRE = regexp.MustCompile(`field (\S+) not found in type \S+`)

// yamlMessage rewords yaml.v3's errors for people: the unknown field named, Go types left out.
func yamlMessage(err error) string {
	var te *yaml.TypeError
	if errors.As(err, &te) {
		msgs := make([]string, len(te.Errors))
		for i, m := range te.Errors {
			m = yamlFieldRE.ReplaceAllString(m, `unknown field "$1"`)
			msgs[i] = strings.Replace(m, "cannot unmarshal !!", "wrong type: !!", 1)
		}
		return strings.Join(msgs, "; ")
	}
	return strings.TrimPrefix(err.Error(), "yaml: ")
}

func (c *Config) validate() error {
	for _, s := range c.Stages {
		if pipeline.StageIndex(s) < 0 {
			return fmt.Errorf("stages: unknown stage %q (stages are %s)", s, strings.Join(pipeline.Stages, ", "))
		}
	}
	for field, m := range map[string]map[string]int{"workers": c.Workers, "attempts": c.Attempts} {
		for s, n := range m {
			if pipeline.StageIndex(s) < 0 {
				return fmt.Errorf("%s: unknown stage %q", field, s)
			}
			if n < 1 {
				return fmt.Errorf("%s.%s: must be at least 1, got %d", field, s, n)
			}
		}
	}
	for s, d := range c.Timeouts {
		if pipeline.StageIndex(s) < 0 {
			return fmt.Errorf("timeouts: unknown stage %q", s)
		}
		if d <= 0 {
			return fmt.Errorf("timeouts.%s: must be positive", s)
		}
	}
	if err := c.checkSandbox(); err != nil {
		return err
	}
	for _, r := range c.Repos {
		if !isRepoName(r) {
			return fmt.Errorf("repos: %q is not owner/name", r)
		}
	}
	for r := range c.Mine.ImportMirrors {
		if !isRepoName(r) {
			return fmt.Errorf("mine.import_mirrors: %q is not owner/name", r)
		}
	}
	switch c.Log.Level {
	case "", "debug", "info", "warn", "error":
	default:
		return fmt.Errorf("log.level: %q is not one of debug, info, warn, error", c.Log.Level)
	}
	switch c.Log.Format {
	case "", "auto", "console", "json":
	default:
		return fmt.Errorf("log.format: %q is not one of auto, console, json", c.Log.Format)
	}
	return nil
}

// isRepoName reports whether r looks like owner/name.
func isRepoName(r string) bool {
	owner, name, ok := strings.Cut(r, "/")
	return ok && owner != "" && name != "" && !strings.Contains(name, "/")
}

// runConfig turns the configuration into the runner's.
func (c *Config) runConfig() runstore.RunConfig {
	rc := runstore.RunConfig{
		Stages:          c.Stages,
		Repos:           c.Repos,
		Workers:         c.Workers,
		Attempts:        c.Attempts,
		SoftStopTimeout: time.Duration(c.SoftStop),
	}
	rc.Timeouts = map[string]time.Duration{pipeline.StageRollout: c.rolloutAttemptTimeout()}
	for s, d := range c.Timeouts {
		rc.Timeouts[s] = time.Duration(d)
	}
	return rc
}
