package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"

	"swemill/report"
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
	var usage []report.LayerUsage
	if *images {
		usage = imageUsage(ctx, wiringEnv{cfg: cfg, getenv: a.getenv, log: log})
	}
	d, err := report.Gather(ctx, store, usage)
	if err != nil {
		return err
	}
	d.Title = *title
	if d.Title == "" {
		d.Title = "swemill run " + filepath.Base(store.Dir())
	}
	var buf bytes.Buffer
	if err := report.Render(&buf, d); err != nil {
		return err
	}
	if err := writeFileAtomic(*out, buf.Bytes()); err != nil {
		return fmt.Errorf("writing the report: %w", err)
	}
	fmt.Fprintf(a.stdout, "report written to %s\n", *out)
	return nil
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
