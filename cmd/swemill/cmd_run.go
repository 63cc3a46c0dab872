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

func cmdRun(ctx context.Context, a *app, args []string) error {
	fs := a.flagSet("run")
	var stageList, until, progress string
	var repos stringList
	workers, timeouts := stageMap{}, stageMap{}
	fs.StringVar(&stageList, "stages", "", "comma-separated stages to work (default: all, or the configuration's)")
	fs.StringVar(&until, "until", "", "work the chain up to and including `STAGE`")
	fs.Var(&repos, "repo", "repository `owner/name` to mine (repeatable; adds to the configuration's repos)")
	fs.Var(workers, "workers", "items a stage works at once, as `STAGE=N` (repeatable)")
	fs.Var(timeouts, "timeout", "time limit of one attempt of one item, as `STAGE=DURATION` (repeatable)")
	fs.StringVar(&progress, "progress", "auto", "auto (bars on a terminal, lines otherwise), bars, lines or none")
	var modelURL, model, backend, protocol string
	var samples int
	fs.StringVar(&modelURL, "model-url", "", "rollout: an OpenAI-compatible server's API root, e.g. http://localhost:8000/v1 (key in OPENAI_API_KEY)")
	fs.StringVar(&model, "model", "", "rollout: the served model's name")
	fs.StringVar(&backend, "backend", "", `rollout: "openai" (a served model) or "oracle" (the gold patch through the agent's tools)`)
	fs.StringVar(&protocol, "protocol", "", `rollout: "text" (tools in the prompt) or "native" (tool_calls)`)
	fs.IntVar(&samples, "samples", 0, "rollout: trajectories per instance")
	pos, err := a.parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("run takes no arguments, got %q", pos)
	}
	cfg, log, err := a.setup()
	if err != nil {
		return err
	}
	if stageList != "" {
		cfg.Stages = strings.Split(stageList, ",")
	}
	if until != "" {
		i := pipeline.StageIndex(until)
		if i < 0 {
			return usagef("--until: unknown stage %q (stages are %s)", until, strings.Join(pipeline.Stages, ", "))
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
			return usagef("--until %s leaves no stage to run", until)
		}
	}
	if modelURL != "" {
		cfg.Rollout.ModelURL = modelURL
		if backend == "" {
			cfg.Rollout.Backend = "openai"
		}
	}
	if model != "" {
		cfg.Rollout.Model = model
	}
	if backend != "" {
		cfg.Rollout.Backend = backend
	}
	if protocol != "" {
		cfg.Rollout.Protocol = protocol
	}
	if samples != 0 {
		cfg.Rollout.Samples = samples
	}
	for _, r := range repos {
		if !slices.Contains(cfg.Repos, r) {
			cfg.Repos = append(cfg.Repos, r)
		}
	}
	if err := applyStageInts(workers, "workers", &cfg.Workers); err != nil {
		return err
	}
	for s, v := range timeouts {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return usagef("--timeout %s=%s: not a positive duration", s, v)
		}
		if cfg.Timeouts == nil {
			cfg.Timeouts = map[string]Duration{}
		}
		cfg.Timeouts[s] = Duration(d)
	}
	if err := cfg.validate(); err != nil {
		return usageError{err.Error()}
	}
	rc := cfg.runConfig()
	selected := rc.Stages
	if len(selected) == 0 {
		selected = pipeline.Stages
	}

	worker := runstore.NewWorkerID("")
	rc.WorkerID = worker
	st, err := a.wire(ctx, wiringEnv{cfg: cfg, getenv: a.getenv, log: log, selected: selected, worker: worker})
	if err != nil {
		return err
	}
	if st.close != nil {
		defer st.close()
	}
	rc.Miner, rc.Processors = st.miner, st.processors
	for _, r := range st.repos {
		if !slices.Contains(rc.Repos, r) {
			rc.Repos = append(rc.Repos, r)
		}
	}
	if err := rc.Validate(); err != nil {
		return usageError{err.Error()}
	}
	store, err := a.openStore(ctx, cfg, log, false)
	if err != nil {
		return err
	}
	defer store.Close()
	if st.containers != nil {
		stop, err := sweepGone(ctx, store, worker, st.containers, sweepPeriod, log)
		if err != nil {
			return err
		}
		defer stop()
	}

	show, err := a.progress(progress, selected)
	if err != nil {
		return err
	}
	rc.Progress = show.update
	sum, err := store.Run(ctx, rc)
	show.stop()
	if err != nil {
		var busy *runstore.BusyError
		if errors.As(err, &busy) {
			return err
		}
		return fmt.Errorf("running: %w", err)
	}
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
