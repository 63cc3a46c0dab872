// Command fidelity measures swemill on real repositories: it turns every case of the corpus
// (a real fix commit with the test outcomes a reference run observed) into a SWE-bench row
// computed from the repository's git mirror, runs swemill on the rows through its command
// line (one run per language), and compares what swemill recorded with the corpus: built,
// FAIL_TO_PASS exact, PASS_TO_PASS count exact, oracle resolved. It prints one summary line,
// each miss with its cause, and the throughput, and writes the same to <work>/fidelity.json.
// It is what `make fidelity MIRRORS=DIR` runs.
//
// The exit code is 0 when the measurement completed, whatever the figures; 1 when it could
// not measure (a bad corpus, a missing mirror, swemill failing); 2 for a bad command line.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// options are the command line's.
type options struct {
	mirrors, corpus, swemill, work string
	cases                          []string
	keep                           bool
	parallel                       int
}

// run parses the command line, measures, and decides the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("fidelity", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	var cases string
	fs.StringVar(&o.mirrors, "mirrors", "", "`DIR` of bare git mirrors, OWNER/NAME.git (required)")
	fs.StringVar(&o.corpus, "corpus", "bench/fidelity/corpus.json", "the corpus `FILE`")
	fs.StringVar(&o.swemill, "swemill", "bin/swemill", "the swemill `BINARY` to measure")
	fs.StringVar(&o.work, "work", "fidelity-run", "work `DIR`: run directories and fidelity.json (emptied first unless -keep)")
	fs.StringVar(&cases, "cases", "", "comma-separated instance `IDS` to measure (default: every case)")
	fs.BoolVar(&o.keep, "keep", false, "reuse the work directory: swemill resumes its runs, images and results are kept")
	fs.IntVar(&o.parallel, "parallel", 1, "build, validate and rollout workers of each run (`N` >= 1; validate runs 2 test containers per instance)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if cases != "" {
		o.cases = strings.Split(cases, ",")
	}
	if o.mirrors == "" || o.parallel < 1 || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "fidelity: needs -mirrors DIR, -parallel of at least 1 and no arguments")
		return 2
	}
	if err := measure(ctx, o, stdout, stderr); err != nil {
		fmt.Fprintf(stderr, "fidelity: %v\n", err)
		return 1
	}
	return 0
}

// workMarker marks a directory as a fidelity work directory, which a new measurement may
// empty.
const workMarker = ".fidelity-work"

// measure does the measurement: rows, runs, outcomes, comparison, report.
func measure(ctx context.Context, o options, stdout, logw io.Writer) error {
	c, err := loadCorpus(o.corpus)
	if err != nil {
		return err
	}
	cases, err := c.selectCases(o.cases)
	if err != nil {
		return err
	}
	for _, p := range []*string{&o.mirrors, &o.swemill, &o.work} {
		if *p, err = filepath.Abs(*p); err != nil {
			return fmt.Errorf("resolving %s: %w", *p, err)
		}
	}
	if _, err := os.Stat(o.swemill); err != nil {
		return fmt.Errorf("finding swemill: %w", err)
	}
	if err := prepareWork(o.work, o.keep); err != nil {
		return err
	}
	outcomes := map[string]Outcome{}
	var runs []RunInfo
	for _, lang := range languages {
		var group []Case
		var rows []Row
		for _, k := range cases {
			if k.Language != lang {
				continue
			}
			mirror, err := mirrorPath(o.mirrors, k.Repo)
			if err != nil {
				return err
			}
			row, err := buildRow(ctx, mirror, k)
			if err != nil {
				return err
			}
			group, rows = append(group, k), append(rows, row)
		}
		if len(group) == 0 {
			continue
		}
		dir := filepath.Join(o.work, lang)
		if err := writeRun(dir, rows, newRunConfig(lang, filepath.Join(dir, "tasks.jsonl"), o.mirrors, o.parallel)); err != nil {
			return err
		}
		info, err := runGroup(ctx, swemill{bin: o.swemill, dir: dir}, filepath.Join(o.work, lang+".log"), logw)
		info.Language, info.Cases = lang, len(group)
		runs = append(runs, info)
		if err != nil {
			return err
		}
		ids := make([]string, len(group))
		for i, k := range group {
			ids[i] = k.InstanceID
		}
		got, err := swemill{bin: o.swemill, dir: dir}.outcomes(ctx, ids)
		if err != nil {
			return err
		}
		for id, out := range got {
			outcomes[id] = out
		}
	}
	rep := compare(cases, outcomes)
	rep.Throughput = throughput(runs, cases, outcomes)
	rep.Languages = byLanguage(runs, cases, outcomes)
	rep.Runs = runs
	rep.print(stdout)
	data, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding the report: %w", err)
	}
	if err := os.WriteFile(filepath.Join(o.work, "fidelity.json"), append(data, '\n'), 0o644); err != nil {
		return fmt.Errorf("writing the report: %w", err)
	}
	fmt.Fprintf(stdout, "report: %s\n", filepath.Join(o.work, "fidelity.json"))
	return nil
}

// prepareWork makes the work directory: emptied (only if it is one fidelity made, or empty)
// unless keep.
func prepareWork(dir string, keep bool) error {
	entries, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("reading work directory: %w", err)
	}
	if len(entries) > 0 && !keep {
		if _, err := os.Stat(filepath.Join(dir, workMarker)); err != nil {
			return fmt.Errorf("emptying work directory %s: it has files but no %s; remove it or give another -work", dir, workMarker)
		}
		if err := os.RemoveAll(dir); err != nil {
			return fmt.Errorf("emptying work directory: %w", err)
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("creating work directory: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, workMarker), nil, 0o644); err != nil {
		return fmt.Errorf("marking work directory: %w", err)
	}
	return nil
}

// runGroup runs swemill on one language's run directory, its output to logFile and logw.
func runGroup(ctx context.Context, s swemill, logFile string, logw io.Writer) (RunInfo, error) {
	info := RunInfo{Dir: s.dir, Started: time.Now()}
	f, err := os.Create(logFile)
	if err != nil {
		return info, fmt.Errorf("creating swemill's log: %w", err)
	}
	defer f.Close()
	fmt.Fprintf(logw, "fidelity: swemill run --dir %s (log: %s)\n", s.dir, logFile)
	err = s.run(ctx, io.MultiWriter(f, logw))
	info.Seconds = time.Since(info.Started).Seconds()
	return info, err
}
