package main

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/rs/zerolog"
	"github.com/spf13/cobra"

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
	// SFT also writes the "sft" and "sft_native" configs (the text-protocol rendering and the
	// OpenAI chat form for chat templates).
	SFT bool `yaml:"sft" json:"sft,omitempty"`
	// Split names the split ("train" by default).
	Split string `yaml:"split" json:"split,omitempty"`
	// License is the card's licence identifier ("other" by default).
	License string `yaml:"license" json:"license,omitempty"`
	// Title is the card's title.
	Title string `yaml:"title" json:"title,omitempty"`
}

// exportOptions are the flags of `swemill export`; each overrides the configuration's
// export section when given.
type exportOptions struct {
	out, split, license string
	resolvedOnly, sft   bool
}

func newExportCmd(a *app) *cobra.Command {
	var o exportOptions
	cmd := &cobra.Command{
		Use:     "export",
		Short:   "Write the dataset: Parquet shards, card and manifest, laid out for the Hub",
		GroupID: groupPublish,
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return cmdExport(cmd.Context(), a, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.out, "out", "", "dataset directory to write (default: the configuration's export.out)")
	f.BoolVar(&o.resolvedOnly, "resolved-only", false, "keep only resolved trajectories (SFT data)")
	f.BoolVar(&o.sft, "sft", false, `also write the "sft" and "sft_native" configs: trajectories in the text protocol and in chat-template form`)
	f.StringVar(&o.split, "split", "", `split name (default "train")`)
	f.StringVar(&o.license, "license", "", `the card's licence identifier (default "other")`)
	_ = cmd.MarkFlagDirname("out")
	return cmd
}

func cmdExport(ctx context.Context, a *app, o exportOptions) error {
	cfg, log, err := a.setup()
	if err != nil {
		return err
	}
	ec := cfg.Export
	ec.Out = cfg.resolve(ec.Out)
	if o.out != "" {
		ec.Out = o.out
	}
	if ec.Out == "" {
		return usagef("export needs --out DIR (or export.out in the configuration)")
	}
	ec.ResolvedOnly = ec.ResolvedOnly || o.resolvedOnly
	ec.SFT = ec.SFT || o.sft
	if o.split != "" {
		ec.Split = o.split
	}
	if o.license != "" {
		ec.License = o.license
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
	if ec.SFT {
		fmt.Fprintf(a.stdout, "  sft rows: %d, sft_native rows: %d\n", rep.SFT, rep.SFTNative)
		if rep.SFTCleaned > 0 || rep.SFTExcluded > 0 {
			fmt.Fprintf(a.stdout, "  sft: %d trajectories cleaned (%d format-error messages removed), %d left out for a malformed turn\n",
				rep.SFTCleaned, rep.SFTMessagesRemoved, rep.SFTExcluded)
		}
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

// pushOptions are the flags of `swemill push`: where to push (hub's settings but the token)
// and what.
type pushOptions struct {
	hub  hub.Config
	from string
}

func newPushCmd(a *app) *cobra.Command {
	var o pushOptions
	cmd := &cobra.Command{
		Use:     "push --repo ORG/NAME",
		Short:   "Upload an exported dataset to the Hugging Face Hub (token in HF_TOKEN)",
		GroupID: groupPublish,
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return cmdPush(cmd.Context(), a, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.hub.Repo, "repo", "", "dataset repository `ORG/NAME` on the Hub (required)")
	f.StringVar(&o.from, "from", "", "dataset directory to push (default: the configuration's export.out)")
	f.StringVar(&o.hub.Revision, "revision", "main", "branch to commit to")
	f.BoolVar(&o.hub.CreatePR, "create-pr", false, "open a pull request instead of committing to the branch")
	f.BoolVar(&o.hub.Private, "private", false, "create the repository private (if push creates it)")
	f.StringVar(&o.hub.Endpoint, "hub-url", "", "the Hub's address (default $HF_ENDPOINT or https://huggingface.co)")
	_ = cmd.MarkFlagDirname("from")
	return cmd
}

func cmdPush(ctx context.Context, a *app, o pushOptions) error {
	hc, from := o.hub, o.from
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
