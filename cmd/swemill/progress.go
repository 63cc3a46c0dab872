package main

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"

	"swemill/pipeline"
	"swemill/runstore"
)

// progressShow shows a run's progress: bars on a terminal (through mpb), plain lines
// otherwise. update is called from the runner's goroutine; stop once at the end.
type progressShow struct {
	update func(runstore.Status)
	stop   func()
}

// progressLineEvery is how often progress lines are printed when not on a terminal.
const progressLineEvery = 10 * time.Second

func (a *app) progress(mode string, stages []string) (progressShow, error) {
	switch mode {
	case "auto":
		if a.stderrTTY {
			return a.progressBars(stages), nil
		}
		return progressLines(a.logOut, stages, progressLineEvery), nil
	case "bars":
		return a.progressBars(stages), nil
	case "lines":
		return progressLines(a.logOut, stages, progressLineEvery), nil
	case "none":
		return progressShow{update: func(runstore.Status) {}, stop: func() {}}, nil
	}
	return progressShow{}, usagef("--progress: %q is not one of auto, bars, lines, none", mode)
}

// finished counts the instances whose stage is over (done, dropped or failed).
func finished(s runstore.StageStatus) int {
	return s.Counts[pipeline.StateDone] + s.Counts[pipeline.StateDropped] + s.Counts[pipeline.StateFailed]
}

func (a *app) progressBars(stages []string) progressShow {
	p := mpb.New(mpb.WithOutput(a.stderr), mpb.WithWidth(32), mpb.WithRefreshRate(200*time.Millisecond))
	prev := a.logOut.set(p) // log lines go above the bars
	bars := map[string]*mpb.Bar{}
	for _, s := range stages {
		bars[s] = p.AddBar(0,
			mpb.PrependDecorators(
				decor.Name(s, decor.WC{W: 9, C: decor.DindentRight}),
				decor.CountersNoUnit("%d/%d", decor.WC{W: 12}),
			),
			mpb.AppendDecorators(
				decor.AverageSpeed(0, "%.1f/s", decor.WC{W: 9}),
				decor.Name("  eta "),
				decor.AverageETA(decor.ET_STYLE_MMSS),
			),
		)
	}
	var once sync.Once
	return progressShow{
		update: func(st runstore.Status) {
			for _, s := range st.Stages {
				if b := bars[s.Stage]; b != nil {
					b.SetTotal(int64(s.Total), false)
					b.SetCurrent(int64(finished(s)))
				}
			}
		},
		stop: func() {
			once.Do(func() {
				for _, b := range bars {
					b.SetTotal(-1, true)
				}
				p.Wait()
				a.logOut.set(prev)
			})
		},
	}
}

// progressLines prints one line per interval: each stage's finished/reached and its rate.
func progressLines(w io.Writer, stages []string, every time.Duration) progressShow {
	var mu sync.Mutex
	var last time.Time
	prev := map[string]int{}
	start := time.Now()
	return progressShow{
		update: func(st runstore.Status) {
			mu.Lock()
			defer mu.Unlock()
			now := time.Now()
			if !last.IsZero() && now.Sub(last) < every {
				return
			}
			span := now.Sub(last)
			if last.IsZero() {
				span = now.Sub(start)
			}
			last = now
			var parts []string
			for _, s := range st.Stages {
				if !slices.Contains(stages, s.Stage) {
					continue
				}
				n := finished(s)
				rate := float64(n-prev[s.Stage]) / max(span.Seconds(), 0.001)
				prev[s.Stage] = n
				parts = append(parts, fmt.Sprintf("%s %d/%d (%.1f/s)", s.Stage, n, s.Total, rate))
			}
			fmt.Fprintf(w, "progress %s: %s\n", now.Sub(start).Round(time.Second), strings.Join(parts, ", "))
		},
		stop: func() {},
	}
}
