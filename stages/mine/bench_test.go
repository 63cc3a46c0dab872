package mine

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-github/v62/github"
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
	non304 := func() int {
		n := 0
		for _, r := range gh.Requests() {
			if r.Status != http.StatusNotModified {
				n++
			}
		}
		return n
	}
	b.ReportMetric(float64(non304())/float64(repos), "non304_req/repo_rerun")

	// A day of pushes and stars on every repository, no pull request changed: the pull
	// requests' list (it embeds the repository) changes, the closed issues' first item not.
	for _, name := range names {
		gh.Push(name, clock.Now())
		gh.Star(name, 7)
	}
	gh.Reset()
	for _, name := range names {
		res, err := m.Mine(b.Context(), &pipeline.RepoJob{Repo: name, Cursor: cursors[name], Log: zerolog.Nop()})
		if err != nil {
			b.Fatal(err)
		}
		if len(res.Instances) != 0 {
			b.Fatalf("rerun of %s after pushes found %d pull requests", name, len(res.Instances))
		}
		cursors[name] = res.Cursor
	}
	reqs, _ = gh.Count()
	b.ReportMetric(float64(non304())/float64(repos), "non304_req/repo_pushed")
	b.ReportMetric(float64(reqs)/float64(repos), "req/repo_pushed")

	// And 1% of the pull requests updated (a comment, a label): the rerun reads exactly those.
	const updated = prs / 100
	for _, name := range names {
		path := filepath.Join(dir, filepath.FromSlash(name), "pulls.json")
		body, err := os.ReadFile(path)
		if err != nil {
			b.Fatal(err)
		}
		var pulls []*github.PullRequest
		if err := json.Unmarshal(body, &pulls); err != nil {
			b.Fatal(err)
		}
		for i := 0; i < updated; i++ {
			pulls[i*97%len(pulls)].UpdatedAt = &github.Timestamp{Time: clock.Now().Add(time.Duration(i+1) * time.Minute)}
		}
		writeJSON(b, path, pulls)
	}
	gh.Reset()
	seen := 0
	for _, name := range names {
		ms, _, _ := mineAll(b, m, &pipeline.RepoJob{Repo: name, Cursor: cursors[name], Log: zerolog.Nop()})
		seen += len(ms)
	}
	if seen != repos*updated {
		b.Fatalf("rerun after updates saw %d pull requests, %d were updated", seen, repos*updated)
	}
	b.ReportMetric(float64(non304())/float64(repos), "non304_req/repo_updated")
	gh.Verify(b)
}

// BenchmarkMineRateLimited mines the 5 repositories of 1,000 pull requests from scratch with
// two tokens of two accounts against a fake GitHub that allows each 50 requests an hour (235 are needed)
// (time on a fake clock: waits cost no real time), and compares the simulated time with the
// lower bound the rate limit sets: ceil(counted requests / (tokens x 50)) - 1 hours, the
// window resets the requests must wait for.
func BenchmarkMineRateLimited(b *testing.B) {
	const repos, prs, limit = 5, 1000, 50
	dir := b.TempDir()
	var names []string
	for i := 0; i < repos; i++ {
		spec := genSpec{Owner: "bench", Name: fmt.Sprintf("r%d", i), PRs: prs, Kind: benchKind}
		generate(b, dir, spec)
		names = append(names, spec.Owner+"/"+spec.Name)
	}
	tokens := []string{tokenA, tokenB}
	var sim time.Duration
	var counted int
	for i := 0; i < b.N; i++ {
		clock := newFakeClock()
		gh := githubtest.New(b, os.DirFS(dir), githubtest.Options{Tokens: tokens, RateLimit: limit, Now: clock.Now})
		m, err := New(Config{
			Tokens: tokens, BaseURL: gh.URL, MirrorDir: filepath.Join(b.TempDir(), "mirrors"), MaxWait: 2 * time.Hour,
			GitURL: func(repo string) string { return "file://" + filepath.Join(dir, filepath.FromSlash(repo), "repo.git") },
			Clock:  clock, Log: zerolog.Nop(),
		})
		if err != nil {
			b.Fatal(err)
		}
		start := clock.Now()
		for _, name := range names {
			mineAll(b, m, &pipeline.RepoJob{Repo: name, Log: zerolog.Nop()})
		}
		sim = clock.Now().Sub(start)
		counted = 0
		for _, r := range gh.Requests() {
			if r.Status != http.StatusNotModified && r.Status != http.StatusForbidden {
				counted++
			}
		}
	}
	perHour := float64(limit * len(tokens))
	// GitHub's windows are fixed hours: n windows' worth of requests wait n-1 resets.
	bound := max(0, math.Ceil(float64(counted)/perHour)-1)
	b.ReportMetric(float64(counted), "counted_req")
	b.ReportMetric(sim.Hours(), "sim_hours")
	b.ReportMetric(bound, "bound_hours")
}
