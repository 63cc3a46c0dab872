// Package scale is swemill's scale benchmark (`make bench-scale`): a run of Skywork-SWE's size
// simulated end to end on one machine. The mine half (package minescale) mines a fake GitHub
// of 10,000 repositories and 1,000,000 pull requests under its rate limit, a sample of it
// with the real miner, and projects the requests to the whole. The chain half mines and works 150,000 instances
// through stub stages (pipelinetest's records behind durations and drops compressed 10,000
// times) on SQLite in one process, times status, ls, report and export on the finished store,
// and works a smaller run with 1, 2 and 4 worker processes on one PostgreSQL database. The
// figures go to bench/results-scale.json.
package scale

import (
	"encoding/json"
	"flag"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"swemill/bench/scale/minescale"
)

var (
	flagOut         = flag.String("scale.out", "", "write the figures to this JSON file (e.g. ../../bench/results-scale.json)")
	flagInstances   = flag.Int("scale.instances", skywork.Instances, "instances of the SQLite run")
	flagPGInstances = flag.Int("scale.pg-instances", 10_000, "instances of each PostgreSQL run")
	flagPGProcs     = flag.String("scale.pg-procs", "1,2,4", "worker processes of the PostgreSQL runs (empty: none)")
	flagMine        = flag.Bool("scale.mine", true, "run the mine half")
)

// BenchmarkScale runs the scale benchmark once (-benchtime 1x); it takes about 17 minutes on 2 cores.
func BenchmarkScale(b *testing.B) {
	out := map[string]float64{
		"cores":                  float64(runtime.NumCPU()),
		"chain time_compression": 10_000,
	}
	for b.Loop() {
		if *flagMine {
			res, err := minescale.Run(b.Context(), minescale.Bench())
			if err != nil {
				b.Fatal(err)
			}
			if err := flatten(out, "mine", res); err != nil {
				b.Fatal(err)
			}
		}
		c := skywork
		c.Instances = *flagInstances
		start := time.Now()
		runSQLite(b, c, out)
		out["sqlite total_s"] = round(time.Since(start).Seconds(), 1)

		// Store-bound: the Skywork shape, whose stub stages leave the store as the limit.
		pg := c
		pg.Instances, pg.Repos = *flagPGInstances, max(1, *flagPGInstances/150)
		// Stage-bound: one item per stage per process and stages ten times longer (time
		// compressed 1,000 times), so each process's rate is set by its stages' durations,
		// as in a real run where a stage takes minutes, and adding processes adds stage
		// capacity until the machine or the database is the limit.
		staged := pg
		staged.Instances, staged.Repos, staged.Workers = max(1, *flagPGInstances/10), max(1, *flagPGInstances/1000), 1
		staged.Build, staged.Validate, staged.Rollout = 10*pg.Build, 10*pg.Validate, 10*pg.Rollout
		for _, run := range []struct {
			label string
			shape chainShape
		}{{"postgres", pg}, {"postgres-stagebound", staged}} {
			var procs []string
			for _, p := range strings.Split(*flagPGProcs, ",") {
				if p == "" {
					continue
				}
				n, err := strconv.Atoi(p)
				if err != nil || n < 1 {
					b.Fatalf("bad -scale.pg-procs entry %q", p)
				}
				runPostgres(b, run.shape, n, run.label, out)
				procs = append(procs, p)
			}
			if one := out[run.label+"/1 transitions/s"]; one > 0 {
				for _, p := range procs {
					if v := out[run.label+"/"+p+" transitions/s"]; v > 0 && p != "1" {
						out[run.label+"/"+p+" speedup_x"] = round(v/one, 2)
					}
				}
			}
		}
	}
	for k, v := range out {
		b.Logf("%s = %v", k, v)
	}
	if *flagOut != "" {
		data, err := json.MarshalIndent(out, "", "  ")
		if err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(*flagOut, append(data, '\n'), 0o644); err != nil {
			b.Fatal(err)
		}
	}
}

// flatten puts v's JSON numbers into out under prefix, nested keys joined by dots
// ("mine projection.bound_hours").
func flatten(out map[string]float64, prefix string, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		return err
	}
	var walk func(key string, v any)
	walk = func(key string, v any) {
		switch x := v.(type) {
		case float64:
			out[key] = x
		case map[string]any:
			for k, e := range x {
				sep := "."
				if key == prefix {
					sep = " "
				}
				walk(key+sep+k, e)
			}
		}
	}
	walk(prefix, m)
	return nil
}
