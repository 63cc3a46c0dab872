// Command bench runs swemill's benchmarks and reports their figures: one table on stdout and
// bench/results.json (one key per figure: "Benchmark unit"), so runs can be compared over
// time. It is what `make bench` runs.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// suites are the benchmarks that make the report: package, benchmark pattern and -benchtime.
var suites = []struct{ pkg, pattern, benchtime string }{
	{"./runstore/", ".", "3x"},
	{"./stages/mine/", ".", "1x"},
	{"./envbuild/", "Instance", "3x"},
	{"./envbuild/", "RegistryBytes", "3x"},
	{"./envbuild/", "FreshEngine", "1x"},
	{"./stages/validate/", ".", "1x"},
	{"./stages/rollout/", ".", "1x"},
	{"./export/", "WriteTrajectories/.*/rows=100000$", "1x"},
}

func main() {
	out := flag.String("out", "bench/results.json", "where to write the figures")
	fidelity := flag.String("fidelity", "fidelity-run/fidelity.json", "the report of the last `make fidelity`, whose corpus figures join the table when it exists")
	only := flag.String("suites", "", "run only the suites whose package contains this text (\"mine\"), keeping the other figures of -out as they were")
	flag.Parse()
	figures := map[string]float64{}
	if *only != "" {
		data, err := os.ReadFile(*out)
		if err == nil {
			err = json.Unmarshal(data, &figures)
		}
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			fmt.Fprintf(os.Stderr, "bench: reading %s: %v\n", *out, err)
			os.Exit(1)
		}
	}
	if err := corpusFigures(*fidelity, figures); err != nil {
		fmt.Fprintf(os.Stderr, "bench: %v\n", err)
		os.Exit(1)
	}
	for _, s := range suites {
		if !strings.Contains(s.pkg, *only) {
			continue
		}
		cmd := exec.Command("go", "test", "-run", "^$", "-bench", s.pattern, "-benchtime", s.benchtime, "-timeout", "90m", s.pkg)
		var buf bytes.Buffer
		cmd.Stdout = io.MultiWriter(&buf, os.Stderr)
		cmd.Stderr = os.Stderr
		if err := cmd.Run(); err != nil {
			fmt.Fprintf(os.Stderr, "bench: %s: %v\n", s.pkg, err)
			os.Exit(1)
		}
		parse(&buf, figures)
	}
	keys := make([]string, 0, len(figures))
	for k := range figures {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "\nfigure\tvalue")
	for _, k := range keys {
		fmt.Fprintf(tw, "%s\t%.4g\n", k, figures[k])
	}
	tw.Flush()
	data, err := json.MarshalIndent(figures, "", "  ")
	if err == nil {
		err = os.WriteFile(*out, append(data, '\n'), 0o644)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "bench: writing %s: %v\n", *out, err)
		os.Exit(1)
	}
}

// corpusFigures adds the real-repository corpus figures of a fidelity report (written by
// `make fidelity`, which needs the repositories' mirrors and so is not run here): validation
// throughput and label exactness. A missing report is said, not an error.
func corpusFigures(path string, figures map[string]float64) error {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		fmt.Fprintf(os.Stderr, "bench: no %s: corpus figures left out (make fidelity MIRRORS=DIR measures them)\n", path)
		return nil
	}
	if err != nil {
		return err
	}
	var r struct {
		Cases, Built   int
		F2PExact       int `json:"f2p_exact"`
		P2PCountExact  int `json:"p2p_count_exact"`
		OracleResolved int `json:"oracle_resolved"`
		Throughput     struct {
			Validated           int
			PerMinute           float64 `json:"instances_per_minute"`
			MeanBuildSeconds    float64 `json:"mean_build_seconds"`
			MeanValidateSeconds float64 `json:"mean_validate_seconds"`
		}
		Languages []struct {
			Language       string
			Cases, Built   int
			F2PExact       int `json:"f2p_exact"`
			P2PCountExact  int `json:"p2p_count_exact"`
			OracleResolved int `json:"oracle_resolved"`
			Throughput     struct {
				MeanBuildSeconds    float64 `json:"mean_build_seconds"`
				MeanValidateSeconds float64 `json:"mean_validate_seconds"`
			}
		}
	}
	if err := json.Unmarshal(data, &r); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if r.Cases == 0 {
		return fmt.Errorf("%s: a report of no cases", path)
	}
	st, _ := os.Stat(path)
	fmt.Fprintf(os.Stderr, "bench: corpus figures from %s (%s)\n", path, st.ModTime().UTC().Format(time.RFC3339))
	figures["Corpus cases"] = float64(r.Cases)
	figures["Corpus built"] = float64(r.Built)
	figures["Corpus f2p_exact"] = float64(r.F2PExact)
	figures["Corpus p2p_count_exact"] = float64(r.P2PCountExact)
	figures["Corpus oracle_resolved"] = float64(r.OracleResolved)
	figures["Corpus validated"] = float64(r.Throughput.Validated)
	figures["Corpus instances/min"] = r.Throughput.PerMinute
	figures["Corpus build_s/instance"] = r.Throughput.MeanBuildSeconds
	figures["Corpus validate_s/instance"] = r.Throughput.MeanValidateSeconds
	for _, l := range r.Languages {
		k := "Corpus/" + l.Language + " "
		figures[k+"cases"] = float64(l.Cases)
		figures[k+"built"] = float64(l.Built)
		figures[k+"f2p_exact"] = float64(l.F2PExact)
		figures[k+"p2p_count_exact"] = float64(l.P2PCountExact)
		figures[k+"oracle_resolved"] = float64(l.OracleResolved)
		figures[k+"build_s/instance"] = l.Throughput.MeanBuildSeconds
		figures[k+"validate_s/instance"] = l.Throughput.MeanValidateSeconds
	}
	return nil
}

// parse reads `go test -bench` output lines ("BenchmarkX-2  3  123 ns/op  45.6 unit ...")
// into figures keyed "X unit"; the iteration count and the GOMAXPROCS suffix are dropped.
func parse(r io.Reader, figures map[string]float64) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") {
			continue
		}
		name := strings.TrimPrefix(f[0], "Benchmark")
		if i := strings.LastIndex(name, "-"); i > 0 {
			name = name[:i]
		}
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				continue
			}
			figures[name+" "+f[i+1]] = v
		}
	}
}
