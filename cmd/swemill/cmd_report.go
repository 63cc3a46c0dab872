package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"

	"swemill/report"
	"swemill/runstore"
)

func cmdReport(ctx context.Context, a *app, args []string) error {
	fs := a.flagSet("report")
	out := fs.String("out", "report.html", "the HTML `FILE` to write")
	images := fs.Bool("images", true, "ask the Docker engine for the disk its swemill images use")
	title := fs.String("title", "", "the page's title (default: the run directory's name)")
	pos, err := a.parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("report takes no arguments, got %q", pos)
	}
	cfg, log, err := a.setup()
	if err != nil {
		return err
	}
	store, err := a.openStore(ctx, cfg, log, true)
	if err != nil {
		return err
	}
	defer store.Close()
	if *title == "" {
		*title = "swemill run " + filepath.Base(store.Dir())
	}
	page, err := renderReport(ctx, store, wiringEnv{cfg: cfg, getenv: a.getenv, log: log}, *title, *images)
	if err != nil {
		return err
	}
	if err := writeFileAtomic(*out, page); err != nil {
		return fmt.Errorf("writing the report: %w", err)
	}
	fmt.Fprintf(a.stdout, "report written to %s\n", *out)
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
