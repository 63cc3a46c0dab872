package runstore_test

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"swemill/pipeline"
	"swemill/pipeline/pipelinetest"
	"swemill/report"
	"swemill/runstore"
)

// BenchmarkChainSQLite measures the store's throughput: stage transitions per second through
// the whole chain, on SQLite, with 4 workers per stage and stages that do no work of their
// own. Each iteration mines and works 1,000 instances in a fresh run directory.
func BenchmarkChainSQLite(b *testing.B) {
	const prs = 1000
	var transitions int
	var elapsed time.Duration
	for b.Loop() {
		b.StopTimer()
		s, err := runstore.Open(context.Background(), runstore.Options{Dir: b.TempDir(), Log: zerolog.Nop()})
		require.NoError(b, err)
		c := pipelinetest.Config{PRs: prs, PageSize: 250, NoWork: true}
		cfg := runstore.RunConfig{
			Repos: []string{"o/a"}, Miner: pipelinetest.Miner(c), Processors: pipelinetest.Processors(c),
			Workers:      map[string]int{pipeline.StageBuild: 4, pipeline.StageValidate: 4, pipeline.StageRollout: 4},
			PollInterval: 10 * time.Millisecond,
		}
		b.StartTimer()
		start := time.Now()
		sum, err := s.Run(context.Background(), cfg)
		elapsed += time.Since(start)
		b.StopTimer()
		require.NoError(b, err)
		require.True(b, sum.Complete)
		n, err := s.CountTransitions(context.Background())
		require.NoError(b, err)
		transitions += n
		s.Close()
		b.StartTimer()
	}
	b.ReportMetric(float64(transitions)/elapsed.Seconds(), "transitions/s")

}

// BenchmarkStatus100k measures `swemill status` on a store of 100,000 instances, each with a
// row in every stage.
func BenchmarkStatus100k(b *testing.B) {
	s, err := runstore.Open(context.Background(), runstore.Options{Dir: b.TempDir(), Log: zerolog.Nop()})
	require.NoError(b, err)
	defer s.Close()
	require.NoError(b, s.Synthesize(context.Background(), 100_000))
	st, err := s.Status(context.Background())
	require.NoError(b, err)
	require.Equal(b, 100_000, st.Instances)
	b.ResetTimer()
	for b.Loop() {
		if _, err := s.Status(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/status")
}

// synthesized opens a store of n synthesized instances (see Store.Synthesize) for b.
func synthesized(b *testing.B, n int) *runstore.Store {
	b.Helper()
	s, err := runstore.Open(context.Background(), runstore.Options{Dir: b.TempDir(), Log: zerolog.Nop()})
	require.NoError(b, err)
	b.Cleanup(s.Close)
	require.NoError(b, s.Synthesize(context.Background(), n))
	st, err := s.Status(context.Background())
	require.NoError(b, err)
	require.Equal(b, n, st.Instances)
	return s
}

// BenchmarkStatus150k measures `swemill status` on a store of 150,000 instances.
func BenchmarkStatus150k(b *testing.B) {
	s := synthesized(b, 150_000)
	b.ResetTimer()
	for b.Loop() {
		if _, err := s.Status(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/status")
}

// BenchmarkList150k measures the first page of `swemill ls` (100 instances, no filter, and
// filtered by a drop reason) on a store of 150,000 instances.
func BenchmarkList150k(b *testing.B) {
	s := synthesized(b, 150_000)
	for _, bc := range []struct {
		name string
		f    runstore.ListFilter
	}{
		{"all", runstore.ListFilter{Limit: 100}},
		{"dropped", runstore.ListFilter{Stage: pipeline.StageMine, State: pipeline.StateDropped, Reason: "reason_3", Limit: 100}},
		{"repo", runstore.ListFilter{Repo: "o/r7", Limit: 100}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				rows, err := s.List(context.Background(), bc.f)
				if err != nil {
					b.Fatal(err)
				}
				if len(rows) != 100 {
					b.Fatalf("got %d rows, want 100", len(rows))
				}
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/ls")
		})
	}
}

// BenchmarkReport150k measures what `swemill report` reads and renders (report.Gather and
// report.Render, without asking Docker for images) on a store of 150,000 instances.
func BenchmarkReport150k(b *testing.B) {
	s := synthesized(b, 150_000)
	b.ResetTimer()
	for b.Loop() {
		d, err := report.Gather(context.Background(), s, nil)
		if err != nil {
			b.Fatal(err)
		}
		if err := report.Render(io.Discard, d); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/report")
}
