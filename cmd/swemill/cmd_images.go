package main

import (
	"github.com/spf13/cobra"
)

func newBaseCmd(a *app) *cobra.Command {
	base := &cobra.Command{
		Use:     "base",
		Short:   "Bootstrap the base images from Debian's packages (no registry needed)",
		GroupID: groupSetup,
		RunE:    groupUsage("usage: swemill base build (bootstraps the base images from Debian's packages)"),
	}
	base.AddCommand(&cobra.Command{
		Use:   "build",
		Short: "Bootstrap the base images from Debian's packages (no registry needed)",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return cmdBase(cmd.Context(), a)
		},
	})
	return base
}

// imagesOptions are the flags of `swemill images ls` (json) and `swemill images gc` (the
// others).
type imagesOptions struct {
	json bool
	// keepUnder is the size, as parseSize reads it, under which gc brings swemill's images.
	keepUnder string
	dryRun    bool
}

func newImagesCmd(a *app) *cobra.Command {
	images := &cobra.Command{
		Use:     "images",
		Short:   "List swemill's images by layer, or collect the least recently used",
		GroupID: groupSetup,
		RunE:    groupUsage("usage: swemill images ls [--json] | swemill images gc --keep-under SIZE [--dry-run]"),
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
	images.AddCommand(lsCmd, gcCmd)
	return images
}
