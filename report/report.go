// Package report renders a run as one self-contained HTML file: the funnel per stage (counts
// and drop reasons, as a chart; security drops marked), per-language and per-repository tables, stage
// timings, the disk used by images, the flaky tests found and the rollout results per model. The file needs nothing
// else: styles, data and the chart's script are inline, and it reads without JavaScript too
// (every number is also in a table).
package report

import (
	"context"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"time"

	"swemill/pipeline"
	"swemill/runstore"
)

// Data is everything a report shows.
type Data struct {
	// Title heads the page.
	Title string `json:"title"`
	// Version is the swemill that made the report; Generated when.
	Version   string                `json:"version"`
	Generated time.Time             `json:"generated"`
	Status    runstore.Status       `json:"status"`
	Repos     []runstore.RepoFunnel `json:"repos"`
	// Languages is the funnel per repository language (RepoFunnel.Repo holds the language).
	Languages []runstore.RepoFunnel   `json:"languages"`
	Timings   []runstore.StageTiming  `json:"timings"`
	Flaky     []runstore.FlakyFinding `json:"flaky"`
	Models    []runstore.ModelResults `json:"models"`
	// Security are the drops that flag a possible attack (pipeline.IsSecurityReason),
	// marked in the page.
	Security []runstore.SecurityDrop `json:"security"`
	// Images is the disk used by images per layer, when the Docker engine was asked.
	Images []LayerUsage `json:"images,omitempty"`
}

// LayerUsage is the disk used by one layer of images (base, env, instance).
type LayerUsage struct {
	Layer  string `json:"layer"`
	Images int    `json:"images"`
	Bytes  int64  `json:"bytes"`
}

// Gather reads a report's data from a run's store; images may be nil.
func Gather(ctx context.Context, s *runstore.Store, images []LayerUsage) (*Data, error) {
	d := &Data{Title: "swemill run", Version: pipeline.Version, Generated: time.Now().UTC(), Images: images}
	var err error
	if d.Status, err = s.Status(ctx); err != nil {
		return nil, err
	}
	if d.Repos, d.Languages, err = s.Funnels(ctx); err != nil {
		return nil, err
	}
	if d.Timings, err = s.StageTimings(ctx); err != nil {
		return nil, err
	}
	if d.Flaky, err = s.FlakyTests(ctx); err != nil {
		return nil, err
	}
	if d.Models, err = s.RolloutResults(ctx); err != nil {
		return nil, err
	}
	d.Security = d.Status.SecurityDrops()
	return d, nil
}

// Render writes the report as HTML.
func Render(w io.Writer, d *Data) error {
	js, err := json.Marshal(d)
	if err != nil {
		return fmt.Errorf("encoding report data: %w", err)
	}
	return page.Execute(w, struct {
		*Data
		JSON   template.JS
		States []pipeline.State
	}{d, template.JS(js), pipeline.AllStates})
}

var page = template.Must(template.New("report").Funcs(template.FuncMap{
	"count": func(m map[pipeline.State]int, s pipeline.State) int { return m[s] },
	"repoCount": func(f runstore.RepoFunnel, stage string, s pipeline.State) int {
		return f.Stages[stage][s]
	},
	"funnelRow": func(kind string, f runstore.RepoFunnel) map[string]any {
		return map[string]any{"Kind": kind, "F": f}
	},
	"repoTotal": func(f runstore.RepoFunnel, stage string) int {
		n := 0
		for _, c := range f.Stages[stage] {
			n += c
		}
		return n
	},
	"pct": func(x float64) string { return fmt.Sprintf("%.1f%%", 100*x) },
	"secs": func(x float64) string {
		return (time.Duration(x * float64(time.Second))).Round(10 * time.Millisecond).String()
	},
	"bytes": humanBytes,
	"add": func(xs ...int) int {
		n := 0
		for _, x := range xs {
			n += x
		}
		return n
	},
	"ts":       func(t time.Time) string { return t.Format("2006-01-02 15:04:05 UTC") },
	"security": pipeline.IsSecurityReason,
	"securityTotal": func(ds []runstore.SecurityDrop) int {
		n := 0
		for _, d := range ds {
			n += d.Count
		}
		return n
	},
}).Parse(pageHTML))

func humanBytes(n int64) string {
	const unit = 1000
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %cB", float64(n)/float64(div), "kMGTPE"[exp])
}
