package main

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/rs/zerolog"
	"github.com/spf13/cobra"

	"swemill/envbuild/sandbox"
	"swemill/export"
	"swemill/pipeline"
	"swemill/runstore"
)

// stages is what a wiring provides for a run: the stage implementations, and how to release
// what they hold.
type stages struct {
	miner      pipeline.Miner
	processors map[string]pipeline.Processor
	// repos are repositories to mine beyond the configured ones (a search's, a snapshot's).
	repos []string
	// containers, when the stages run containers, is the sandbox whose run label the sweep
	// of gone workers' containers looks for.
	containers *sandbox.Sandbox
	close      func()
}

// wiringEnv is what a wiring may use to build the stages.
type wiringEnv struct {
	cfg    *Config
	getenv func(string) string
	log    zerolog.Logger
	// selected are the stages the run works; only those need building.
	selected []string
	// worker is this process's worker id (runstore.NewWorkerID), on every container it makes.
	worker string
}

// stageWiring builds the stages of a run. The production wiring is wireStages; tests use
// their own.
type stageWiring func(ctx context.Context, env wiringEnv) (stages, error)

// runOptions are the flags of `swemill run`, laid over the configuration by runRun.
type runOptions struct {
	app *app

	// stages is a comma-separated list of stages to work; empty keeps the configuration's.
	stages string
	// until, when set, drops the stages after it.
	until string
	// repos are repositories to mine beyond the configuration's.
	repos []string
	// workers and timeouts are per-stage worker counts and attempt time limits.
	workers, timeouts stageMap
	// progress is auto, bars, lines or none.
	progress string

	// The rollout's model; empty or 0 keeps the configuration's.
	modelURL, model, backend, protocol string
	samples                            int
	// registry sets build.registry.
	registry string
}

// newRunCmd returns `swemill run`; it parses the flags into runOptions and calls runF with
// them (runRun, or a test's function).
func newRunCmd(a *app, runF func(context.Context, *runOptions) error) *cobra.Command {
	o := &runOptions{app: a, workers: stageMap{}, timeouts: stageMap{}}
	cmd := &cobra.Command{
		Use:     "run",
		Short:   "Mine, build, validate and roll out: work the chain until nothing is left",
		GroupID: groupWork,
		Long: `Run works the run directory's chain of stages until nothing is left: it mines the
repositories, builds their instances' images, validates their tests and rolls out
trajectories, then prints the funnel, and writes the dataset when export.out is set.
Ctrl-C hands the work in flight back; the next run goes on from there.`,
		Example: `  swemill run --dir runs/nightly
  swemill run --dir runs/nightly --until build --repo owner/name
  swemill run --dir runs/nightly --stages validate,rollout --workers validate=4`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runF(cmd.Context(), o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.stages, "stages", "", "comma-separated stages to work (default: all, or the configuration's)")
	f.StringVar(&o.until, "until", "", "work the chain up to and including `STAGE`")
	f.StringArrayVar(&o.repos, "repo", nil, "repository `owner/name` to mine (repeatable; adds to the configuration's repos)")
	f.Var(o.workers, "workers", "items a stage works at once, as `STAGE=N` (repeatable)")
	f.Var(o.timeouts, "timeout", "time limit of one attempt of one item, as `STAGE=DURATION` (repeatable)")
	f.StringVar(&o.progress, "progress", "auto", "auto (bars on a terminal, lines otherwise), bars, lines or none")
	f.StringVar(&o.modelURL, "model-url", "", "rollout: an OpenAI-compatible server's API root, e.g. http://localhost:8000/v1 (key in OPENAI_API_KEY)")
	f.StringVar(&o.model, "model", "", "rollout: the served model's name")
	f.StringVar(&o.backend, "backend", "", `rollout: "openai" (a served model) or "oracle" (the gold patch through the agent's tools)`)
	f.StringVar(&o.protocol, "protocol", "", `rollout: "text" (tools in the prompt) or "native" (tool_calls)`)
	f.IntVar(&o.samples, "samples", 0, "rollout: trajectories per instance")
	f.StringVar(&o.registry, "registry", "", "build: push env and instance images to registry `HOST[:PORT]/PREFIX` (sets build.registry)")
	completeStages(cmd, "until")
	completeWords(cmd, "progress", "auto", "bars", "lines", "none")
	completeWords(cmd, "backend", "openai", "oracle")
	completeWords(cmd, "protocol", "text", "native")
	return cmd
}

// runRun works the chain: it lays the flags over the configuration, wires the stages, runs
// them on the run's record and says how it went.
func runRun(ctx context.Context, o *runOptions) error {
	a := o.app
	cfg, log, err := o.config()
	if err != nil {
		return err
	}
	rc := cfg.runConfig()
	selected := rc.Stages
	if len(selected) == 0 {
		selected = pipeline.Stages
	}
	rc.WorkerID = runstore.NewWorkerID("")
	st, err := o.wire(ctx, cfg, log, selected, &rc)
	if err != nil {
		return err
	}
	if st.close != nil {
		defer st.close()
	}
	store, err := a.openStore(ctx, cfg, log, false)
	if err != nil {
		return err
	}
	defer store.Close()
	if st.containers != nil {
		stop, err := sweepGone(ctx, store, rc.WorkerID, st.containers, sweepPeriod, log)
		if err != nil {
			return err
		}
		defer stop()
	}
	sum, err := o.work(ctx, store, rc, selected)
	if err != nil {
		return err
	}
	return o.conclude(ctx, store, cfg, log, sum)
}

// config loads the configuration and lays the flags over it.
func (o *runOptions) config() (*Config, zerolog.Logger, error) {
	cfg, log, err := o.app.setup()
	if err != nil {
		return nil, log, err
	}
	if err := o.applyStages(cfg); err != nil {
		return nil, log, err
	}
	o.applyRollout(cfg)
	if o.registry != "" {
		cfg.Build.Registry = o.registry
	}
	for _, r := range o.repos {
		if !slices.Contains(cfg.Repos, r) {
			cfg.Repos = append(cfg.Repos, r)
		}
	}
	if err := o.applyLimits(cfg); err != nil {
		return nil, log, err
	}
	if err := cfg.validate(); err != nil {
		return nil, log, usageError{err.Error()}
	}
	return cfg, log, nil
}

// applyStages sets the stages to work from --stages and --until.
func (o *runOptions) applyStages(cfg *Config) error {
	if o.stages != "" {
		cfg.Stages = strings.Split(o.stages, ",")
	}
	if o.until == "" {
		return nil
	}
	i := pipeline.StageIndex(o.until)
	if i < 0 {
		return usagef("--until: unknown stage %q (stages are %s)", o.until, strings.Join(pipeline.Stages, ", "))
	}
	base := cfg.Stages
	if len(base) == 0 {
		base = pipeline.Stages
	}
	var keep []string
	for _, s := range base {
		if j := pipeline.StageIndex(s); j >= 0 && j <= i {
			keep = append(keep, s)
		}
	}
	cfg.Stages = keep
	if len(keep) == 0 {
		return usagef("--until %s leaves no stage to run", o.until)
	}
	return nil
}

// applyRollout sets the rollout's model from the flags; a model URL alone means the
// openai backend.
func (o *runOptions) applyRollout(cfg *Config) {
	if o.modelURL != "" {
		cfg.Rollout.ModelURL = o.modelURL
		if o.backend == "" {
			cfg.Rollout.Backend = "openai"
		}
	}
	if o.model != "" {
		cfg.Rollout.Model = o.model
	}
	if o.backend != "" {
		cfg.Rollout.Backend = o.backend
	}
	if o.protocol != "" {
		cfg.Rollout.Protocol = o.protocol
	}
	if o.samples != 0 {
		cfg.Rollout.Samples = o.samples
	}
}

// applyLimits sets the per-stage worker counts and time limits from --workers and --timeout.
func (o *runOptions) applyLimits(cfg *Config) error {
	if err := applyStageInts(o.workers, "workers", &cfg.Workers); err != nil {
		return err
	}
	for s, v := range o.timeouts {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return usagef("--timeout %s=%s: not a positive duration", s, v)
		}
		if cfg.Timeouts == nil {
			cfg.Timeouts = map[string]Duration{}
		}
		cfg.Timeouts[s] = Duration(d)
	}
	return nil
}

// wire builds the selected stages and hands them, with the repositories they add, to rc.
// The caller releases the stages (their close) when the error is nil.
func (o *runOptions) wire(ctx context.Context, cfg *Config, log zerolog.Logger, selected []string, rc *runstore.RunConfig) (stages, error) {
	a := o.app
	st, err := a.wire(ctx, wiringEnv{cfg: cfg, getenv: a.getenv, log: log, selected: selected, worker: rc.WorkerID})
	if err != nil {
		return stages{}, err
	}
	rc.Miner, rc.Processors = st.miner, st.processors
	for _, r := range st.repos {
		if !slices.Contains(rc.Repos, r) {
			rc.Repos = append(rc.Repos, r)
		}
	}
	if err := rc.Validate(); err != nil {
		if st.close != nil {
			st.close()
		}
		return stages{}, usageError{err.Error()}
	}
	return st, nil
}

// work runs the chain on the store, showing its progress as --progress says.
func (o *runOptions) work(ctx context.Context, store *runstore.Store, rc runstore.RunConfig, selected []string) (runstore.RunSummary, error) {
	show, err := o.app.progress(o.progress, selected)
	if err != nil {
		return runstore.RunSummary{}, err
	}
	rc.Progress = show.update
	sum, err := store.Run(ctx, rc)
	show.stop()
	if err != nil {
		var busy *runstore.BusyError
		if errors.As(err, &busy) {
			return sum, err
		}
		return sum, fmt.Errorf("running: %w", err)
	}
	return sum, nil
}

// conclude says how the run went: the funnel, whether it is complete, and the commands that
// retry what a change of configuration can cure; a complete run then exports the dataset.
func (o *runOptions) conclude(ctx context.Context, store *runstore.Store, cfg *Config, log zerolog.Logger, sum runstore.RunSummary) error {
	a := o.app
	printStatus(a.stdout, sum.Status)
	// Read even after Ctrl-C: the hints are part of what an interrupted run says.
	repoProblems, err := store.RepoProblems(context.WithoutCancel(ctx))
	if err != nil {
		return err
	}
	if !sum.Complete {
		printRetryHints(a.stdout, sum.Status, repoProblems, a.runFlags())
		if ctx.Err() != nil {
			return fmt.Errorf("run %d stopped: work in flight was handed back; run again to go on", sum.RunID)
		}
		return errIncomplete
	}
	fmt.Fprintf(a.stdout, "\nrun %d complete (%s)\n", sum.RunID, storeWhere(a.dir, cfg))
	err = a.exportAfterRun(ctx, store, cfg, log)
	// The run ends with the commands that retry what a change of configuration can cure.
	printRetryHints(a.stdout, sum.Status, repoProblems, a.runFlags())
	return err
}

// exportAfterRun writes the dataset to export.out, when it is set, after a complete run.
func (a *app) exportAfterRun(ctx context.Context, store *runstore.Store, cfg *Config, log zerolog.Logger) error {
	if cfg.Export.Out == "" {
		return nil
	}
	// A scheduled run that found nothing new leaves the last export as it is.
	mark, err := store.LastTransition(ctx)
	if err != nil {
		return err
	}
	markFile := filepath.Join(store.Dir(), export.MarkFile)
	want := export.Mark{Transition: mark, Out: cfg.resolve(cfg.Export.Out)}
	if want.Current(markFile) {
		fmt.Fprintf(a.stdout, "nothing new since the last export to %s\n", cfg.Export.Out)
		return nil
	}
	ec := cfg.Export
	ec.Out = cfg.resolve(ec.Out)
	if err := a.export(ctx, store, cfg, ec, log); err != nil {
		return err
	}
	return want.Save(markFile)
}

func applyStageInts(m stageMap, field string, dst *map[string]int) error {
	for s, v := range m {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return usagef("--%s %s=%s: not a whole number of at least 1", field, s, v)
		}
		if *dst == nil {
			*dst = map[string]int{}
		}
		(*dst)[s] = n
	}
	return nil
}

// storeWhere says where the run's record is, without a database password.
func storeWhere(dir string, cfg *Config) string {
	if cfg.Database != "" {
		return "record in " + runstore.RedactURL(cfg.Database)
	}
	return "record in " + dir + "/" + runstore.DatabaseFile
}
