package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"swemill/report"
	"swemill/runstore"
)

// reportOptions are the flags of `swemill report`.
type reportOptions struct {
	out, title string
	// images asks the Docker engine for the disk swemill's images use.
	images bool
}

func newReportCmd(a *app) *cobra.Command {
	var o reportOptions
	cmd := &cobra.Command{
		Use:     "report",
		Short:   "Write the run as one self-contained HTML page (funnel, repositories, timings, flaky tests, rollouts)",
		GroupID: groupLook,
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return cmdReport(cmd.Context(), a, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.out, "out", "report.html", "the HTML `FILE` to write")
	f.BoolVar(&o.images, "images", true, "ask the Docker engine for the disk its swemill images use")
	f.StringVar(&o.title, "title", "", "the page's title (default: the run directory's name)")
	_ = cmd.MarkFlagFilename("out", "html")
	return cmd
}

func cmdReport(ctx context.Context, a *app, o reportOptions) error {
	cfg, log, err := a.setup()
	if err != nil {
		return err
	}
	store, err := a.openStore(ctx, cfg, log, true)
	if err != nil {
		return err
	}
	defer store.Close()
	title := o.title
	if title == "" {
		title = "swemill run " + filepath.Base(store.Dir())
	}
	page, err := renderReport(ctx, store, wiringEnv{cfg: cfg, getenv: a.getenv, log: log}, title, o.images)
	if err != nil {
		return err
	}
	if err := writeFileAtomic(o.out, page); err != nil {
		return fmt.Errorf("writing the report: %w", err)
	}
	fmt.Fprintf(a.stdout, "report written to %s\n", o.out)
	return nil
}

// renderReport gathers a run's report (asking the Docker engine for image disk use when
// images is set) and renders it as HTML.
func renderReport(ctx context.Context, store *runstore.Store, env wiringEnv, title string, images bool) ([]byte, error) {
	var usage []report.LayerUsage
	if images {
		usage = imageUsage(ctx, env)
	}
	d, err := report.Gather(ctx, store, usage)
	if err != nil {
		return nil, err
	}
	d.Title = title
	var buf bytes.Buffer
	if err := report.Render(&buf, d); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// writeFileAtomic writes data to path through a temporary file and a rename.
func writeFileAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".swemill-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
