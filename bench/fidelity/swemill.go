package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"time"

	"go.yaml.in/yaml/v3"
)

// runConfig is the part of swemill.yaml a fidelity run sets; everything else keeps swemill's
// defaults (validate: 3 runs per side).
type runConfig struct {
	Stages  []string       `yaml:"stages"`
	Workers map[string]int `yaml:"workers"`
	Log     struct {
		Level string `yaml:"level"`
	} `yaml:"log"`
	Mine struct {
		Source          string   `yaml:"source"`
		ImportFiles     []string `yaml:"import_files"`
		ImportMirrorDir string   `yaml:"import_mirror_dir"`
		Filter          struct {
			MaxFiles            int      `yaml:"max_files"`
			MaxLines            int      `yaml:"max_lines"`
			MaxTestLines        int      `yaml:"max_test_lines"`
			MinProblemStatement int      `yaml:"min_problem_statement"`
			Licenses            []string `yaml:"licenses"`
			ExcludeRepos        []string `yaml:"exclude_repos"`
		} `yaml:"filter"`
	} `yaml:"mine"`
	Build struct {
		Offline bool `yaml:"offline"`
	} `yaml:"build"`
	Rollout struct {
		Backend string `yaml:"backend"`
		Samples int    `yaml:"samples"`
	} `yaml:"rollout"`
}

// newRunConfig is the configuration of one language's run: the import source over tasks with
// every filter relaxed (any licence, no decontamination, no minimum problem statement, no
// size limit), the oracle rollout, and no package index but for Go, whose modules come from
// the proxy (PyPI, npm, crates.io and Maven Central are not reachable here).
func newRunConfig(language, tasks, mirrors string, parallel int) runConfig {
	var c runConfig
	c.Stages = []string{"mine", "build", "validate", "rollout"}
	c.Workers = map[string]int{"build": parallel, "validate": parallel, "rollout": parallel}
	c.Log.Level = "warn"
	c.Mine.Source = "import"
	c.Mine.ImportFiles = []string{tasks}
	c.Mine.ImportMirrorDir = mirrors
	f := &c.Mine.Filter
	f.MaxFiles, f.MaxLines, f.MaxTestLines, f.MinProblemStatement = -1, -1, -1, -1
	f.Licenses, f.ExcludeRepos = []string{"*"}, []string{}
	c.Build.Offline = language != "go"
	c.Rollout.Backend, c.Rollout.Samples = "oracle", 1
	return c
}

// writeRun prepares a run directory: the rows as tasks.jsonl and swemill.yaml.
func writeRun(dir string, rows []Row, cfg runConfig) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("creating run directory: %w", err)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	for _, r := range rows {
		if err := enc.Encode(r); err != nil {
			return fmt.Errorf("encoding row %s: %w", r.InstanceID, err)
		}
	}
	if err := os.WriteFile(cfg.Mine.ImportFiles[0], buf.Bytes(), 0o644); err != nil {
		return fmt.Errorf("writing tasks: %w", err)
	}
	y, err := yaml.Marshal(cfg)
	if err != nil {
		return fmt.Errorf("encoding configuration: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "swemill.yaml"), y, 0o644); err != nil {
		return fmt.Errorf("writing configuration: %w", err)
	}
	return nil
}

// swemill runs the swemill binary on one run directory.
type swemill struct {
	bin, dir string
}

// run works the run directory to the end, its output to log. Cancelling ctx sends SIGINT, so
// swemill hands its work in flight back before it exits.
func (s swemill) run(ctx context.Context, log io.Writer) error {
	cmd := exec.CommandContext(ctx, s.bin, "run", "--dir", s.dir, "--progress", "lines")
	cmd.Stdout, cmd.Stderr = log, log
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = time.Minute
	if err := cmd.Run(); err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return fmt.Errorf("running swemill on %s: exit code %d (%s)", s.dir, ee.ExitCode(), exitMeaning(ee.ExitCode()))
		}
		return fmt.Errorf("running swemill on %s: %w", s.dir, err)
	}
	return nil
}

// exitMeaning says what swemill's exit codes mean (README, Commands).
func exitMeaning(code int) string {
	switch code {
	case 1:
		return "error"
	case 2:
		return "bad command line or configuration"
	case 3:
		return "the run stopped with work left"
	case 4:
		return "another process works the run directory"
	case 130:
		return "interrupted"
	}
	return "unexpected"
}

// output runs a read-only swemill command and returns its standard output.
func (s swemill) output(ctx context.Context, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, s.bin, slices.Concat([]string{args[0], "--dir", s.dir}, args[1:])...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("swemill %s: %w: %s", args[0], err, bytes.TrimSpace(stderr.Bytes()))
	}
	return out, nil
}

// stageState is an instance's state in one stage, as `swemill show --json` gives it.
type stageState struct {
	Stage     string          `json:"stage"`
	State     string          `json:"state"`
	Reason    string          `json:"reason"`
	Detail    string          `json:"detail"`
	Seconds   float64         `json:"seconds"`
	UpdatedAt time.Time       `json:"updated_at"`
	Output    json.RawMessage `json:"output"`
}

// Outcome is what swemill recorded for one instance.
type Outcome struct {
	// Recorded is false when the instance is not in the run's record at all.
	Recorded bool
	// Stages maps a stage name to the instance's state there; a stage it never reached is
	// absent.
	Stages map[string]stageState
	// FailToPass and PassToPass are validate's lists, when validate is done.
	FailToPass, PassToPass []string
	// Resolved is the oracle rollout's grade; Rollout summarises it.
	Resolved bool
	Rollout  string
}

// outcomes reads what swemill recorded for ids: `ls --json` for the instances that are in
// the record, `show --json` for each of them.
func (s swemill) outcomes(ctx context.Context, ids []string) (map[string]Outcome, error) {
	out, err := s.output(ctx, "ls", "--json")
	if err != nil {
		return nil, fmt.Errorf("listing instances: %w", err)
	}
	recorded := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 16<<20)
	for sc.Scan() {
		var row struct {
			InstanceID string `json:"instance_id"`
		}
		if err := json.Unmarshal(sc.Bytes(), &row); err != nil {
			return nil, fmt.Errorf("decoding swemill ls --json: %w", err)
		}
		recorded[row.InstanceID] = true
	}
	res := map[string]Outcome{}
	for _, id := range ids {
		if !recorded[id] {
			res[id] = Outcome{}
			continue
		}
		data, err := s.output(ctx, "show", "--json", id)
		if err != nil {
			return nil, fmt.Errorf("reading instance %s: %w", id, err)
		}
		o, err := decodeShow(data)
		if err != nil {
			return nil, fmt.Errorf("decoding swemill show --json %s: %w", id, err)
		}
		res[id] = o
	}
	return res, nil
}

// decodeShow reads the parts of `swemill show --json` that are measured.
func decodeShow(data []byte) (Outcome, error) {
	var d struct {
		Stages []stageState `json:"stages"`
	}
	if err := json.Unmarshal(data, &d); err != nil {
		return Outcome{}, err
	}
	o := Outcome{Recorded: true, Stages: map[string]stageState{}}
	for _, s := range d.Stages {
		o.Stages[s.Stage] = s
	}
	if v, ok := o.Stages["validate"]; ok && v.State == "done" && len(v.Output) > 0 {
		var val struct {
			FailToPass []string `json:"FAIL_TO_PASS"`
			PassToPass []string `json:"PASS_TO_PASS"`
		}
		if err := json.Unmarshal(v.Output, &val); err != nil {
			return Outcome{}, fmt.Errorf("validate's output: %w", err)
		}
		o.FailToPass, o.PassToPass = val.FailToPass, val.PassToPass
	}
	if r, ok := o.Stages["rollout"]; ok && r.State == "done" && len(r.Output) > 0 {
		var ro struct {
			Trajectories []struct {
				Resolved   bool   `json:"resolved"`
				ExitStatus string `json:"exit_status"`
				NumTurns   int    `json:"num_turns"`
			} `json:"trajectories"`
		}
		if err := json.Unmarshal(r.Output, &ro); err != nil {
			return Outcome{}, fmt.Errorf("rollout's output: %w", err)
		}
		if len(ro.Trajectories) > 0 {
			t := ro.Trajectories[0]
			o.Resolved = t.Resolved
			o.Rollout = fmt.Sprintf("oracle trajectory ended %s after %d turns", t.ExitStatus, t.NumTurns)
		} else {
			o.Rollout = "no trajectory recorded"
		}
	}
	return o, nil
}
