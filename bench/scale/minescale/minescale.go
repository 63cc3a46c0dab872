// Package minescale is the mine half of the scale benchmark: it generates a fake GitHub of
// many repositories and pull requests (Skywork-SWE-like shares of merged, linked and
// test-touching pull requests), serves it through githubtest with a per-request latency and
// GitHub's primary rate limit on a compressed clock, mines it with the real miner
// (stages/mine), and compares the simulated time with the lower bound the rate limit sets.
//
// # Time
//
// The clock the fake GitHub and the miner share runs Compression times faster than real
// time: simulated time is the start plus Compression times the real time elapsed, and the
// miner's waits for a rate-limit reset last 1/Compression of their simulated length. The
// per-request latency (Delay, simulated) is served as Delay/Compression of real time. Local
// work (git, JSON) is not compressed by anything but runs on the same clock: every real
// second of it counts as Compression simulated seconds, so a run whose local work outpaces
// the rate limit's pace shows up as simulated time above the bound.
//
// # Repositories
//
// Generating one git repository per fake repository would take longer than mining. A few
// template repositories (real git, with every pull request's commits) serve all of them:
// repository i of OWNER "scale" is template i mod Templates, its API files rewritten with its
// name on each read (no file per repository), and its mirror under the miner's MirrorDir is
// a symbolic link to the template's bare repository, so no clone is timed (a clone per
// repository is a cost of the first run only, measured by stages/mine's
// BenchmarkMineFakeGitHub).
package minescale

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/sourcegraph/conc/pool"

	"swemill/pipeline"
	"swemill/stages/mine"
	"swemill/stages/mine/githubtest"
)

// Options configure a run. The zero value of every field means its default, the full size.
type Options struct {
	// Repos is how many repositories the fake GitHub holds; 0 means 10,000.
	Repos int
	// MineRepos is how many of them are mined, the first ones; 0 means all. A sample that is
	// a multiple of Templates holds every template equally often, so its requests per
	// repository are the whole's (Result.Projection scales them up).
	MineRepos int
	// PRsPerRepo is how many closed pull requests each repository has; 0 means 100.
	PRsPerRepo int
	// Templates is how many distinct git repositories serve the repositories; 0 means 8.
	Templates int
	// Tokens is how many GitHub tokens the miner has, each of an account of its own; 0
	// means 8.
	Tokens int
	// RateLimit is the core requests an account may send per hour; 0 means 5,000 (GitHub's
	// for a personal access token).
	RateLimit int
	// Compression is how many simulated seconds pass per real second; 0 means 1,000.
	Compression float64
	// Delay is GitHub's latency per request in simulated time; 0 means 300ms, negative
	// means none.
	Delay time.Duration
	// Workers is how many repositories are mined at once; 0 means 2 per token.
	Workers int
	// Dir holds the template repositories and the mirrors' links; "" means a temporary
	// directory removed at the end.
	Dir string
	// OnMined, when set, receives every pull request mined, kept or dropped, one call at a
	// time.
	OnMined func(pipeline.Mined)
	// Log receives the miner's messages; the zero value discards them.
	Log zerolog.Logger
}

// Small returns the options of a run that takes seconds: 20 repositories of 25 pull
// requests, two tokens of 30 requests an hour (so the run spans several rate-limit
// windows), an hour lasting a second.
func Small() Options {
	return Options{Repos: 20, PRsPerRepo: 25, Templates: 2, Tokens: 2, RateLimit: 30, Compression: 3600, Workers: 4}
}

// Bench returns the options of the scale benchmark's run on two cores in about eight
// minutes: of the 10,000 repositories (1,000,000 pull requests), the first 200 are mined
// (20,000 pull requests, every template 25 times) by one token at GitHub's 5,000 requests
// an hour, on a clock 8 times faster than real time. The sample's requests need a little
// over one rate-limit window, and at that compression the token's budget, not the local
// work, sets the pace, so SimOverBound measures how well the miner uses the budget;
// Result.Projection gives the full size's requests and bound. With the full size mined at
// once the local work (git) would take hours on two cores.
func Bench() Options {
	return Options{MineRepos: 200, Tokens: 1, Compression: 8}
}

func (o Options) withDefaults() Options {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&o.Repos, 10_000)
	def(&o.PRsPerRepo, 100)
	def(&o.Templates, 8)
	def(&o.Tokens, 8)
	def(&o.RateLimit, 5000)
	def(&o.Workers, 2*o.Tokens)
	o.Templates = min(o.Templates, o.Repos)
	if o.MineRepos <= 0 || o.MineRepos > o.Repos {
		o.MineRepos = o.Repos
	}
	if o.Compression <= 0 {
		o.Compression = 1000
	}
	switch {
	case o.Delay == 0:
		o.Delay = 300 * time.Millisecond
	case o.Delay < 0:
		o.Delay = 0
	}
	return o
}

// Result is what a run measured, on the repositories mined (MineRepos of them). Times are
// simulated unless their name says wall.
type Result struct {
	Repos int `json:"repos"`
	PRs   int `json:"prs"`
	// FakeRepos is how many repositories the fake GitHub held (Options.Repos).
	FakeRepos int `json:"fake_repos"`
	// Keepable is how many pull requests the generator made keepable.
	Keepable int `json:"keepable"`
	Kept     int `json:"kept"`
	// Dropped counts the dropped pull requests by reason.
	Dropped map[string]int `json:"dropped"`
	// Expected counts the pull requests by the drop reason the generator meant ("kept" for
	// the keepable ones); Dropped and Kept should match it.
	Expected map[string]int `json:"expected"`

	// Requests counts every request the fake GitHub received; NotModified the 304s among
	// them (free of rate limit); Counted those charged against a rate limit; RateLimited
	// those refused because their account's limit was spent.
	Requests    int `json:"requests"`
	NotModified int `json:"requests_304"`
	Counted     int `json:"requests_counted"`
	RateLimited int `json:"requests_rate_limited"`
	// MaxPerWindow is the most requests one token had charged in one rate-limit window,
	// replayed from the request log (never above RateLimit).
	MaxPerWindow int `json:"max_requests_per_window"`

	Tokens      int     `json:"tokens"`
	RateLimit   int     `json:"rate_limit_per_hour"`
	Compression float64 `json:"compression"`
	// DelayMS is the per-request latency in simulated milliseconds (served in real time
	// divided by Compression).
	DelayMS float64 `json:"delay_ms"`
	Workers int     `json:"workers"`

	// SimHours is the simulated time the mining took; BoundHours the rate limit's lower
	// bound, ceil(Counted / (Tokens x RateLimit)) - 1 hours (GitHub's windows are fixed
	// hours: n windows' worth of requests wait for n-1 resets); SimOverBound their ratio
	// (0 when the bound is 0).
	SimHours     float64 `json:"sim_hours"`
	BoundHours   float64 `json:"bound_hours"`
	SimOverBound float64 `json:"sim_over_bound"`

	// GenerateWallSeconds is the time spent making the templates; WallSeconds the mining's.
	GenerateWallSeconds float64 `json:"generate_wall_seconds"`
	WallSeconds         float64 `json:"wall_seconds"`
	PRsPerSecond        float64 `json:"prs_per_second"`
	RequestsPerKept     float64 `json:"requests_per_kept"`

	// Projection scales a sample (MineRepos below Repos) up to every repository; nil when
	// every repository was mined.
	Projection *Projection `json:"projection,omitempty"`
}

// Projection is a sample's figures scaled up to all of the fake GitHub's repositories. The
// counts are exact, not estimates: every repository of a template gets the same requests
// and outcomes, and the generator knows them all. Only LocalWallSeconds is an
// extrapolation.
type Projection struct {
	Repos    int `json:"repos"`
	PRs      int `json:"prs"`
	Keepable int `json:"keepable"`
	// Counted is the sample's counted requests per repository times Repos, plus the
	// miner's one GET /user per token (with two tokens or more).
	Counted         int     `json:"requests_counted"`
	RequestsPerKept float64 `json:"requests_per_kept"`
	// BoundHours is the rate limit's lower bound for Counted with the run's tokens.
	BoundHours float64 `json:"bound_hours"`
	// LocalWallSeconds is PRs at the sample's PRs per second: the wall time of the local
	// work (git, JSON) alone, assuming it grows linearly with the pull requests. It means
	// that only when the sample never waited for the rate limit (BoundHours of the sample
	// 0, a large Compression): otherwise the sample's waits are in it too.
	LocalWallSeconds float64 `json:"local_wall_seconds_extrapolated"`
}

// Run generates the fake GitHub of o, mines every repository with the real miner and
// returns what it measured. A pull request the miner keeps or drops otherwise than the
// generator meant is not an error (Result.Expected tells); the miner failing is.
func Run(ctx context.Context, o Options) (Result, error) {
	o = o.withDefaults()
	dir := o.Dir
	if dir == "" {
		d, err := os.MkdirTemp("", "swemill-minescale-*")
		if err != nil {
			return Result{}, fmt.Errorf("creating scale benchmark directory: %w", err)
		}
		defer os.RemoveAll(d)
		dir = d
	}
	res := Result{
		Repos: o.MineRepos, PRs: o.MineRepos * o.PRsPerRepo, FakeRepos: o.Repos, Dropped: map[string]int{}, Expected: map[string]int{},
		Tokens: o.Tokens, RateLimit: o.RateLimit, Compression: o.Compression,
		DelayMS: float64(o.Delay) / float64(time.Millisecond), Workers: o.Workers,
	}

	genStart := time.Now()
	templates := make([]*template, o.Templates)
	for t := range templates {
		tp, err := makeTemplate(ctx, dir, t, o.PRsPerRepo)
		if err != nil {
			return Result{}, err
		}
		templates[t] = tp
	}
	mirrors := filepath.Join(dir, "mirrors")
	if err := os.MkdirAll(filepath.Join(mirrors, owner), 0o755); err != nil {
		return Result{}, fmt.Errorf("creating mirror directory: %w", err)
	}
	repos := make([]string, o.MineRepos)
	allKeepable := 0
	for i := 0; i < o.Repos; i++ {
		tp := templates[i%len(templates)]
		allKeepable += tp.outcomes[""]
		if i >= o.MineRepos {
			continue
		}
		repos[i] = owner + "/" + repoName(i)
		for reason, n := range tp.outcomes {
			if reason == "" {
				reason = "kept"
				res.Keepable += n
			}
			res.Expected[reason] += n
		}
		link := mine.MirrorPath(mirrors, repos[i])
		if err := os.Symlink(tp.gitDir, link); err != nil && !errors.Is(err, os.ErrExist) {
			return Result{}, fmt.Errorf("linking the mirror of %s: %w", repos[i], err)
		}
	}
	res.GenerateWallSeconds = time.Since(genStart).Seconds()

	clock := newScaledClock(o.Compression)
	tokens := make([]string, o.Tokens)
	for i := range tokens {
		tokens[i] = fmt.Sprintf("scale-token-%d", i)
	}
	gh := githubtest.New(&tb{}, &virtualFS{repos: o.Repos, templates: templates}, githubtest.Options{
		Tokens: tokens, RateLimit: o.RateLimit, Now: clock.Now,
		Delay: time.Duration(float64(o.Delay) / o.Compression),
	})
	defer gh.Close()
	m, err := mine.New(mine.Config{
		Tokens: tokens, BaseURL: gh.URL, MirrorDir: mirrors,
		// Never cloned (the links are in place); a missing commit would fetch from here.
		GitURL: func(repo string) string {
			var i int
			if _, err := fmt.Sscanf(repo, owner+"/r%d", &i); err != nil {
				return ""
			}
			return templates[i%len(templates)].gitDir
		},
		// Longer than a window: every wait for a reset happens in process.
		MaxWait: 2 * time.Hour,
		Clock:   clock, Log: o.Log,
	})
	if err != nil {
		return Result{}, fmt.Errorf("creating the miner: %w", err)
	}

	var mu sync.Mutex
	record := func(ms []pipeline.Mined) {
		mu.Lock()
		defer mu.Unlock()
		for _, mi := range ms {
			if mi.Drop == nil {
				res.Kept++
			} else {
				res.Dropped[mi.Drop.Reason]++
			}
			if o.OnMined != nil {
				o.OnMined(mi)
			}
		}
	}
	simStart, wallStart := clock.Now(), time.Now()
	p := pool.New().WithContext(ctx).WithMaxGoroutines(o.Workers).WithCancelOnError().WithFirstError()
	for _, repo := range repos {
		p.Go(func(ctx context.Context) error {
			job := &pipeline.RepoJob{Repo: repo, Log: o.Log.With().Str("repo", repo).Logger()}
			for {
				r, err := m.Mine(ctx, job)
				if err != nil {
					return fmt.Errorf("mining %s: %w", repo, err)
				}
				if r.Drop != nil {
					return fmt.Errorf("mining %s: the repository was dropped: %s", repo, r.Drop.Error())
				}
				record(r.Instances)
				job.Cursor = r.Cursor
				if !r.More {
					return nil
				}
			}
		})
	}
	if err := p.Wait(); err != nil {
		return Result{}, err
	}
	wall := time.Since(wallStart)
	sim := clock.Now().Sub(simStart)

	reqs := gh.Requests()
	users := 0
	for _, r := range reqs {
		if r.Path == "user" && !r.Charged.IsZero() {
			users++
		}
		res.Requests++
		switch {
		case r.Status == http.StatusNotModified:
			res.NotModified++
		case !r.Charged.IsZero():
			res.Counted++
		case r.Status == http.StatusForbidden:
			res.RateLimited++
		}
	}
	res.MaxPerWindow = maxPerWindow(reqs)
	res.SimHours = sim.Hours()
	res.BoundHours = max(0, math.Ceil(float64(res.Counted)/float64(o.Tokens*o.RateLimit))-1)
	if res.BoundHours > 0 {
		res.SimOverBound = res.SimHours / res.BoundHours
	}
	res.WallSeconds = wall.Seconds()
	res.PRsPerSecond = float64(res.Kept+sum(res.Dropped)) / wall.Seconds()
	if res.Kept > 0 {
		res.RequestsPerKept = float64(res.Requests) / float64(res.Kept)
	}
	if o.MineRepos < o.Repos {
		perRepo := float64(res.Counted-users) / float64(o.MineRepos)
		p := &Projection{
			Repos: o.Repos, PRs: o.Repos * o.PRsPerRepo, Keepable: allKeepable,
			Counted:          int(math.Round(perRepo*float64(o.Repos))) + users,
			LocalWallSeconds: float64(o.Repos*o.PRsPerRepo) / res.PRsPerSecond,
		}
		p.BoundHours = max(0, math.Ceil(float64(p.Counted)/float64(o.Tokens*o.RateLimit))-1)
		if p.Keepable > 0 {
			p.RequestsPerKept = float64(p.Counted) / float64(p.Keepable)
		}
		res.Projection = p
	}
	return res, nil
}

func sum(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// maxPerWindow replays GitHub's fixed windows per token from the charged requests: a window
// opens with the first request after the last one reset and resets an hour later (to the
// second, as X-RateLimit-Reset tells). It returns the most requests one window held.
func maxPerWindow(reqs []githubtest.Request) int {
	byToken := map[string][]time.Time{}
	for _, r := range reqs {
		if !r.Charged.IsZero() {
			byToken[r.Token] = append(byToken[r.Token], r.Charged)
		}
	}
	most := 0
	for _, ts := range byToken {
		sort.Slice(ts, func(i, j int) bool { return ts[i].Before(ts[j]) })
		var reset time.Time
		n := 0
		for _, t := range ts {
			if !t.Before(reset) {
				reset, n = t.Add(time.Hour).Truncate(time.Second), 0
			}
			n++
			most = max(most, n)
		}
	}
	return most
}

// scaledClock is a clock that runs factor times faster than real time.
type scaledClock struct {
	realStart, simStart time.Time
	factor              float64
}

func newScaledClock(factor float64) *scaledClock {
	return &scaledClock{realStart: time.Now(), simStart: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), factor: factor}
}

func (c *scaledClock) Now() time.Time {
	return c.simStart.Add(time.Duration(float64(time.Since(c.realStart)) * c.factor))
}

// Sleep waits d of simulated time, d/factor of real time.
func (c *scaledClock) Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(time.Duration(float64(d) / c.factor))
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// tb lets githubtest, made for tests, run inside a benchmark program: its only use of
// testing.TB is to register the server's Close, which Run calls itself.
type tb struct{ testing.TB }

func (*tb) Helper()          {}
func (*tb) Cleanup(f func()) {}
