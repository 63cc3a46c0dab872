package main

import (
	"github.com/spf13/cobra"
)

// snapshotOptions are the flags of `swemill snapshot`.
type snapshotOptions struct {
	out   string
	repos []string
	// bundle stores each repository as one git bundle instead of a bare mirror.
	bundle bool
}

func newSnapshotCmd(a *app) *cobra.Command {
	var o snapshotOptions
	cmd := &cobra.Command{
		Use:     "snapshot --out DIR",
		Short:   "Record repositories from GitHub into an offline snapshot (mine.source: snapshot)",
		GroupID: groupSetup,
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return cmdSnapshot(cmd.Context(), a, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.out, "out", "", "snapshot `DIR` to write (required)")
	f.StringArrayVar(&o.repos, "repo", nil, "repository `owner/name` to record (repeatable; default: the configuration's repos)")
	f.BoolVar(&o.bundle, "bundle", false, "store each repository as one git bundle instead of a bare mirror")
	_ = cmd.MarkFlagDirname("out")
	return cmd
}
