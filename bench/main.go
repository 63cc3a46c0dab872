// Command bench runs swemill's benchmarks and reports their figures: one table on stdout and
// bench/results.json (one key per figure: "Benchmark unit"), so runs can be compared over
// time. It is what `make bench` runs.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
)

// suites are the benchmarks that make the report: package, benchmark pattern and -benchtime.
var suites = []struct{ pkg, pattern, benchtime string }{
	{"./pipeline/", ".", "3x"},
	{"./stages/mine/", ".", "1x"},
	{"./envbuild/", "Instance", "3x"},
	{"./stages/validate/", ".", "1x"},
	{"./stages/rollout/", ".", "1x"},
	{"./export/", "WriteTrajectories/.*/rows=100000$", "1x"},
}

func main() {
	out := flag.String("out", "bench/results.json", "where to write the figures")
	flag.Parse()
	figures := map[string]float64{}
	for _, s := range suites {
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
