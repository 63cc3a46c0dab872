package main

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/rs/zerolog"

	"swemill/export"
	"swemill/hub"
	"swemill/runstore"
)

// ExportConfig is the export section: where and how `run` writes the dataset when the chain
// is done (and `swemill export`'s defaults).
type ExportConfig struct {
	// Out is the dataset directory; empty means `run` does not export.
	Out string `yaml:"out" json:"out,omitempty"`
	// ResolvedOnly keeps only resolved trajectories (SFT data).
	ResolvedOnly bool `yaml:"resolved_only" json:"resolved_only,omitempty"`
	// SFT also writes the "sft" config (the text-protocol rendering).
	SFT bool `yaml:"sft" json:"sft,omitempty"`
	// Split names the split ("train" by default).
	Split string `yaml:"split" json:"split,omitempty"`
	// License is the card's licence identifier ("other" by default).
	License string `yaml:"license" json:"license,omitempty"`
	// Title is the card's title.
	Title string `yaml:"title" json:"title,omitempty"`
}

func cmdExport(ctx context.Context, a *app, args []string) error {
	fs := a.flagSet("export")
	var out, split, license string
	var resolvedOnly, sft bool
	fs.StringVar(&out, "out", "", "dataset directory to write (default: the configuration's export.out)")
	fs.BoolVar(&resolvedOnly, "resolved-only", false, "keep only resolved trajectories (SFT data)")
	fs.BoolVar(&sft, "sft", false, `also write the "sft" config: trajectories in the text protocol`)
	fs.StringVar(&split, "split", "", `split name (default "train")`)
	fs.StringVar(&license, "license", "", `the card's licence identifier (default "other")`)
	pos, err := a.parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("export takes no arguments, got %q", pos)
	}
	cfg, log, err := a.setup()
	if err != nil {
		return err
	}
	ec := cfg.Export
	ec.Out = cfg.resolve(ec.Out)
	if out != "" {
		ec.Out = out
	}
	if ec.Out == "" {
		return usagef("export needs --out DIR (or export.out in the configuration)")
	}
	ec.ResolvedOnly = ec.ResolvedOnly || resolvedOnly
	ec.SFT = ec.SFT || sft
	if split != "" {
		ec.Split = split
	}
	if license != "" {
		ec.License = license
	}
	store, err := a.openStore(ctx, cfg, log, true)
	if err != nil {
		return err
	}
	defer store.Close()
	return a.export(ctx, store, cfg, ec, log)
}

// export writes the dataset and says what it wrote.
func (a *app) export(ctx context.Context, store *runstore.Store, cfg *Config, ec ExportConfig, log zerolog.Logger) error {
	rep, err := export.Export(ctx, export.FromStore(store, cfg.publicJSON()), export.Config{
		Dir: ec.Out, Split: ec.Split, ResolvedOnly: ec.ResolvedOnly, SFT: ec.SFT,
		License: ec.License, PrettyName: ec.Title, Log: log,
	})
	if err != nil {
		return fmt.Errorf("exporting to %s: %w", ec.Out, err)
	}
	fmt.Fprintf(a.stdout, "exported %d tasks and %d trajectories to %s\n", rep.Tasks, rep.Trajectories, ec.Out)
	if rep.SFT > 0 {
		fmt.Fprintf(a.stdout, "  sft rows: %d\n", rep.SFT)
	}
	for _, f := range rep.Files {
		fmt.Fprintf(a.stdout, "  %s\n", f.Path)
	}
	if rep.ProblemCount > 0 {
		fmt.Fprintf(a.stdout, "  %d rows left out or repaired: see %s/manifest.json\n", rep.ProblemCount, ec.Out)
	}
	return nil
}

// publicJSON is the configuration as it may be published (in a dataset card): what shaped
// the data (stages, filters, recipes' settings, sampling), without secrets or this machine's
// paths and addresses, so the same run elsewhere gives the same card.
func (c *Config) publicJSON() json.RawMessage {
	pub := *c
	pub.Database, pub.ArtifactsDir, pub.MirrorDir, pub.CacheDir, pub.DockerHost = "", "", "", "", ""
	pub.Export.Out = ""
	pub.Mine.SnapshotDir, pub.Mine.ImportFiles, pub.Mine.ImportMirrorDir, pub.Mine.ReposFile = "", nil, "", ""
	pub.Mine.ImportMirrors = nil
	pub.Build.SpecDir, pub.Build.Mirror, pub.Build.GitHubURL = "", "", ""
	pub.Rollout.ModelURL = ""
	pub.Log = LogConfig{}
	data, err := json.Marshal(pub)
	if err != nil {
		return nil
	}
	return data
}

func cmdPush(ctx context.Context, a *app, args []string) error {
	fs := a.flagSet("push")
	var hc hub.Config
	var from string
	fs.StringVar(&hc.Repo, "repo", "", "dataset repository `ORG/NAME` on the Hub (required)")
	fs.StringVar(&from, "from", "", "dataset directory to push (default: the configuration's export.out)")
	fs.StringVar(&hc.Revision, "revision", "main", "branch to commit to")
	fs.BoolVar(&hc.CreatePR, "create-pr", false, "open a pull request instead of committing to the branch")
	fs.BoolVar(&hc.Private, "private", false, "create the repository private (if push creates it)")
	fs.StringVar(&hc.Endpoint, "hub-url", "", "the Hub's address (default $HF_ENDPOINT or https://huggingface.co)")
	pos, err := a.parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("push takes no arguments, got %q", pos)
	}
	if hc.Repo == "" {
		return usagef("push needs --repo ORG/NAME")
	}
	cfg, log, err := a.setup()
	if err != nil {
		return err
	}
	if from == "" {
		from = cfg.resolve(cfg.Export.Out)
	}
	if from == "" {
		return usagef("push needs --from DIR (or export.out in the configuration)")
	}
	if hc.Endpoint == "" {
		hc.Endpoint = a.getenv("HF_ENDPOINT")
	}
	hc.Token = a.getenv("HF_TOKEN")
	if hc.Token == "" {
		return usagef("push needs a Hub token with write access in HF_TOKEN")
	}
	hc.Log = log
	res, err := hub.Push(ctx, from, hc)
	if err != nil {
		return fmt.Errorf("pushing %s to %s: %w", from, hc.Repo, err)
	}
	switch {
	case res.NoChange:
		fmt.Fprintf(a.stdout, "%s already has this dataset: nothing to push\n", hc.Repo)
	case res.PullRequestURL != "":
		fmt.Fprintf(a.stdout, "opened %s (%d files uploaded, %d already stored)\n", res.PullRequestURL, len(res.Uploaded), len(res.Stored))
	default:
		fmt.Fprintf(a.stdout, "committed %s (%d files uploaded, %d already stored, %d deleted)\n", res.CommitURL, len(res.Uploaded), len(res.Stored), len(res.Deleted))
	}
	return nil
}
