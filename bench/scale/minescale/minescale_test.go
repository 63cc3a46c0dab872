package minescale

import (
	"encoding/json"
	"flag"
	"os"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"swemill/pipeline"
	"swemill/stages/mine/githubtest"
)

func TestMain(m *testing.M) {
	// The miner's HTTP client may keep a connection to the closed fake GitHub a moment.
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("net/http.(*persistConn).writeLoop"),
		goleak.IgnoreTopFunction("net/http.(*persistConn).readLoop"),
		goleak.IgnoreTopFunction("internal/poll.runtime_pollWait"))
}

// TestRunSmall mines Small's 500 pull requests over several rate-limit windows: every pull
// request ends as the generator meant, no token goes past its budget in any window, and the
// simulated time is at least the rate limit's bound.
func TestRunSmall(t *testing.T) {
	o := Small()
	o.Dir = t.TempDir()
	o.Log = zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel)
	var seen []pipeline.Mined
	o.OnMined = func(m pipeline.Mined) { seen = append(seen, m) }
	res, err := Run(t.Context(), o)
	require.NoError(t, err)
	b, _ := json.MarshalIndent(res, "", "  ")
	t.Logf("%s", b)

	require.Equal(t, 500, res.PRs)
	require.Len(t, seen, res.PRs)
	require.Positive(t, res.Keepable)
	require.Equal(t, res.Keepable, res.Kept, "kept instances")
	got := map[string]int{"kept": res.Kept}
	for reason, n := range res.Dropped {
		got[reason] = n
	}
	require.Equal(t, res.Expected, got, "outcomes by reason")
	ids := map[string]bool{}
	for _, m := range seen {
		require.False(t, ids[m.Instance.InstanceID], "%s mined twice", m.Instance.InstanceID)
		ids[m.Instance.InstanceID] = true
		if m.Drop == nil {
			require.NotEmpty(t, m.Instance.Patch, m.Instance.InstanceID)
			require.NotEmpty(t, m.Instance.TestPatch, m.Instance.InstanceID)
			require.NotEmpty(t, m.Instance.ProblemStatement, m.Instance.InstanceID)
		}
	}

	require.LessOrEqual(t, res.MaxPerWindow, o.RateLimit, "requests of one token in one window")
	require.Zero(t, res.RateLimited, "requests sent past a spent limit")
	require.GreaterOrEqual(t, res.BoundHours, 2.0, "the run should span several windows")
	require.GreaterOrEqual(t, res.SimHours, res.BoundHours)
}

// TestMaxPerWindow replays fixed windows: one opens at the first request after the last
// reset, not on the hour, so three requests within an hour can fall in two windows.
func TestMaxPerWindow(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(tok string, d time.Duration) githubtest.Request {
		return githubtest.Request{Token: tok, Charged: t0.Add(d)}
	}
	reqs := []githubtest.Request{
		at("a", 0), at("a", 50*time.Minute), at("a", 61*time.Minute), at("a", 100*time.Minute),
		at("b", 0), at("b", time.Minute), at("b", 2*time.Minute),
		{Token: "b", Status: 304},
	}
	require.Equal(t, 3, maxPerWindow(reqs))
	require.Equal(t, 2, maxPerWindow(reqs[:4]))
	require.Zero(t, maxPerWindow(nil))
}

var (
	full        = flag.Bool("scale.full", false, "run BenchmarkScale on the full size (10,000 repositories, 1,000,000 pull requests)")
	mineRepos   = flag.Int("scale.mine", 0, "with -scale.full, mine only this many repositories and project the rest (0: all)")
	tokens      = flag.Int("scale.tokens", 0, "with -scale.full, the tokens (0: Options' default)")
	compression = flag.Float64("scale.compression", 0, "with -scale.full, the clock's compression (0: Options' default)")
	bench       = flag.Bool("scale.bench", false, "run BenchmarkScale with Bench()'s options")
	jsonOut     = flag.String("scale.json", "", "write BenchmarkScale's Result to this file as JSON")
)

// BenchmarkScale runs the scale benchmark (Small, or Bench with -scale.bench, or the full
// size with -scale.full) and reports its figures.
// Run it with -benchtime 1x.
func BenchmarkScale(b *testing.B) {
	o := Small()
	if *full {
		o = Options{MineRepos: *mineRepos, Tokens: *tokens, Compression: *compression}
	}
	if *bench {
		o = Bench()
	}
	var res Result
	for b.Loop() {
		o.Dir = b.TempDir()
		var err error
		if res, err = Run(b.Context(), o); err != nil {
			b.Fatal(err)
		}
	}
	out, _ := json.MarshalIndent(res, "", "  ")
	if *jsonOut != "" {
		if err := os.WriteFile(*jsonOut, append(out, '\n'), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(res.PRs), "PRs")
	b.ReportMetric(float64(res.Kept), "kept")
	b.ReportMetric(float64(res.Counted), "counted_req")
	b.ReportMetric(res.RequestsPerKept, "req/kept")
	b.ReportMetric(res.PRsPerSecond, "PRs/s")
	b.ReportMetric(res.SimHours, "sim_hours")
	b.ReportMetric(res.BoundHours, "bound_hours")
	b.ReportMetric(res.SimOverBound, "sim/bound")
	if p := res.Projection; p != nil {
		b.ReportMetric(float64(p.Counted), "full_counted_req")
		b.ReportMetric(p.BoundHours, "full_bound_hours")
		b.ReportMetric(p.LocalWallSeconds, "full_local_wall_s")
	}
}
