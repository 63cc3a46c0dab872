package main

import (
	"github.com/spf13/cobra"

	"swemill/runstore"
)

func newBaseCmd(a *app) *cobra.Command {
	base := &cobra.Command{
		Use:     "base",
		Short:   "Bootstrap the base images from Debian's packages (no registry needed)",
		GroupID: groupSetup,
		RunE:    groupUsage("usage: swemill base build (bootstraps the base images from Debian's packages)"),
	}
	var o baseOptions
	build := &cobra.Command{
		Use:     "build",
		Short:   "Bootstrap the base images from Debian's packages (no registry needed)",
		Example: "  swemill base build --push --registry registry.example:5000/swemill",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return cmdBase(cmd.Context(), a, o)
		},
	}
	build.Flags().BoolVar(&o.push, "push", false, "push the base images to the registry (--registry or build.registry)")
	build.Flags().StringVar(&o.registry, "registry", "", "registry `HOST[:PORT]/PREFIX` to push to (default: build.registry)")
	build.Flags().StringSliceVar(&o.langs, "lang", nil, "build only these languages' bases besides Python's (`go,javascript,rust,java`; default: build.languages, else all)")
	base.AddCommand(build)
	return base
}

// baseOptions are the flags of `swemill base build`.
type baseOptions struct {
	push     bool
	registry string
	langs    []string
}

// imagesOptions are the flags of `swemill images ls` (json) and `swemill images gc` (the
// others).
type imagesOptions struct {
	json bool
	// keepUnder is the size, as parseSize reads it, under which gc brings swemill's images.
	keepUnder string
	dryRun    bool
	// sel and registry are push's and pull's.
	sel      runstore.Selector
	registry string
}

func newImagesCmd(a *app) *cobra.Command {
	images := &cobra.Command{
		Use:     "images",
		Short:   "List, collect, push or pull swemill's images",
		GroupID: groupSetup,
		RunE: groupUsage("usage: swemill images ls [--json] | swemill images gc --keep-under SIZE [--dry-run] | " +
			"swemill images push|pull [--repo R | --instance ID | --all]"),
	}
	var ls, gc imagesOptions
	lsCmd := &cobra.Command{
		Use:   "ls",
		Short: "List swemill's images by layer, with the disk each adds",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return cmdImages(cmd.Context(), a, "ls", ls)
		},
	}
	lsCmd.Flags().BoolVar(&ls.json, "json", false, "print JSON")
	gcCmd := &cobra.Command{
		Use:     "gc --keep-under SIZE",
		Short:   "Remove least recently used instance images until swemill's images fit a size",
		Example: "  swemill images gc --keep-under 50GB --dry-run",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return cmdImages(cmd.Context(), a, "gc", gc)
		},
	}
	gcCmd.Flags().StringVar(&gc.keepUnder, "keep-under", "", "remove least recently used instance images until swemill's images use less than `SIZE` (e.g. 50GB)")
	gcCmd.Flags().BoolVar(&gc.dryRun, "dry-run", false, "say what would be removed, remove nothing")
	var push, pull imagesOptions
	pushCmd := &cobra.Command{
		Use:   "push [--repo R | --instance ID | --all]",
		Short: "Push the selected instances' images to the registry and record where they are",
		Long: `Push the images of the selected built instances that this engine holds to the registry
(--registry or build.registry), and record their references by digest with the instances,
so that workers on other engines pull them instead of rebuilding, and exports name them.`,
		Example: "  swemill images push --dir runs/nightly --all --registry registry.example:5000/swemill",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return cmdImagesMove(cmd.Context(), a, "push", push)
		},
	}
	pullCmd := &cobra.Command{
		Use:   "pull [--repo R | --instance ID | --all]",
		Short: "Pull the selected instances' images from the registry (pre-warm an engine)",
		Long: `Pull, by the digests their builds recorded, the images of the selected built instances that
this engine lacks, so that a run on this machine starts with them.`,
		Example: "  swemill images pull --dir runs/nightly --repo owner/name",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return cmdImagesMove(cmd.Context(), a, "pull", pull)
		},
	}
	for _, c := range []struct {
		cmd *cobra.Command
		o   *imagesOptions
	}{{pushCmd, &push}, {pullCmd, &pull}} {
		f := c.cmd.Flags()
		f.StringVar(&c.o.sel.Repo, "repo", "", "only instances of repository `owner/name`")
		f.StringArrayVar(&c.o.sel.Instances, "instance", nil, "the instance `ID` (repeatable)")
		f.BoolVar(&c.o.sel.All, "all", false, "every built instance")
	}
	pushCmd.Flags().StringVar(&push.registry, "registry", "", "registry `HOST[:PORT]/PREFIX` (default: build.registry)")
	images.AddCommand(lsCmd, gcCmd, pushCmd, pullCmd)
	return images
}
