package mine

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"swemill/pipeline"
	"swemill/stages/mine/githubtest"
)

// BenchmarkMineFakeGitHub mines 5 generated repositories of 1,000 pull requests each (the mix
// of benchKind) from the fake GitHub, from scratch (mirrors cloned), then reruns with the
// cursors and nothing new. It reports GitHub requests per scanned pull request and per kept
// instance, pull requests per second, and non-304 requests per repository on the rerun.
// Run it with -benchtime=1x: one iteration takes tens of seconds.
func BenchmarkMineFakeGitHub(b *testing.B) {
	const repos, prs = 5, 1000
	dir := b.TempDir()
	wantKept := 0
	var names []string
	for i := 0; i < repos; i++ {
		spec := genSpec{Owner: "bench", Name: fmt.Sprintf("r%d", i), PRs: prs, Kind: benchKind}
		wantKept += generate(b, dir, spec)
		names = append(names, spec.Owner+"/"+spec.Name)
	}
	clock := newFakeClock()
	gh := githubtest.New(b, os.DirFS(dir), githubtest.Options{Tokens: []string{tokenA}, Now: clock.Now})
	newMiner := func() *Miner {
		m, err := New(Config{
			Tokens: []string{tokenA}, BaseURL: gh.URL, MirrorDir: filepath.Join(b.TempDir(), "mirrors"),
			GitURL: func(repo string) string { return "file://" + filepath.Join(dir, filepath.FromSlash(repo), "repo.git") },
			Clock:  clock, Log: zerolog.Nop(),
		})
		if err != nil {
			b.Fatal(err)
		}
		return m
	}
	var scanned, keptN int
	var elapsed time.Duration
	var m *Miner
	cursors := map[string]string{}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		m = newMiner()
		gh.Reset()
		scanned, keptN = 0, 0
		start := time.Now()
		for _, name := range names {
			ms, cur, _ := mineAll(b, m, &pipeline.RepoJob{Repo: name, Log: zerolog.Nop()})
			scanned += len(ms)
			keptN += len(kept(ms))
			cursors[name] = cur
		}
		elapsed = time.Since(start)
	}
	b.StopTimer()
	if keptN != wantKept {
		b.Fatalf("kept %d instances, the generator made %d keepable", keptN, wantKept)
	}
	reqs, _ := gh.Count()
	b.ReportMetric(float64(reqs)/float64(scanned), "req/scanned_PR")
	b.ReportMetric(float64(reqs)/float64(keptN), "req/kept")
	b.ReportMetric(float64(scanned)/elapsed.Seconds(), "PRs/s")
	b.ReportMetric(float64(keptN), "kept")
	b.ReportMetric(float64(scanned), "scanned")

	// The scheduled rerun: nothing new.
	gh.Reset()
	for _, name := range names {
		res, err := m.Mine(b.Context(), &pipeline.RepoJob{Repo: name, Cursor: cursors[name], Log: zerolog.Nop()})
		if err != nil {
			b.Fatal(err)
		}
		if len(res.Instances) != 0 || res.More {
			b.Fatalf("rerun of %s found %d pull requests", name, len(res.Instances))
		}
	}
	non304 := 0
	for _, r := range gh.Requests() {
		if r.Status != http.StatusNotModified {
			non304++
		}
	}
	b.ReportMetric(float64(non304)/float64(repos), "non304_req/repo_rerun")
	gh.Verify(b)
}
