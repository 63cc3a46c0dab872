package mine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-github/v62/github"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"swemill/pipeline"
	"swemill/stages/mine/githubtest"
)

// newGenEnv serves generated repositories from a fake GitHub.
func newGenEnv(t *testing.T, opts githubtest.Options, specs ...genSpec) (*env, map[string]int) {
	t.Helper()
	dir := t.TempDir()
	keptByRepo := map[string]int{}
	for _, s := range specs {
		keptByRepo[s.Owner+"/"+s.Name] = generate(t, dir, s)
	}
	clock := newFakeClock()
	if opts.Now == nil {
		opts.Now = clock.Now
	}
	if opts.Tokens == nil {
		opts.Tokens = []string{tokenA, tokenB}
	}
	gh := githubtest.New(t, os.DirFS(dir), opts)
	logs := &syncBuffer{}
	log := zerolog.New(zerolog.MultiLevelWriter(logs, zerolog.NewTestWriter(t))).Level(zerolog.InfoLevel)
	return &env{
		dir: dir, gh: gh, clock: clock, logs: logs,
		cfg: Config{
			Tokens: []string{tokenA}, BaseURL: gh.URL, MirrorDir: filepath.Join(t.TempDir(), "mirrors"),
			GitURL: func(repo string) string { return "file://" + filepath.Join(dir, filepath.FromSlash(repo), "repo.git") },
			Clock:  clock, Log: log,
		},
	}, keptByRepo
}

func TestMinePagesAndHighWaterMark(t *testing.T) {
	t.Parallel()
	e, keptN := newGenEnv(t, githubtest.Options{}, genSpec{Owner: "gen", Name: "paged", PRs: 250, Kind: benchKind})
	cfg := e.cfg
	cfg.PagesPerCall = 1
	m, err := New(cfg)
	require.NoError(t, err)
	ms, cur, calls := mineAll(t, m, e.job("gen/paged", ""))
	require.Equal(t, 3, calls, "250 pull requests at 100 a page, one page a call")
	require.Len(t, ms, 250)
	require.Len(t, kept(ms), keptN["gen/paged"])
	seen := map[int]bool{}
	for _, mi := range ms {
		require.False(t, seen[mi.Instance.PullNumber], "pull request %d seen twice", mi.Instance.PullNumber)
		seen[mi.Instance.PullNumber] = true
	}
	e.gh.Verify(t)

	// Nothing new: one conditional request, answered 304.
	e.gh.Reset()
	res, err := m.Mine(t.Context(), e.job("gen/paged", cur))
	require.NoError(t, err)
	require.Empty(t, res.Instances)
	require.False(t, res.More)
	reqs, nm := e.gh.Count()
	require.Equal(t, 1, reqs)
	require.Equal(t, 1, nm)

	// A fresh Miner (a new process) with the stored cursor does the same: the ETag lives in
	// the cursor, not only in memory.
	m2, err := New(cfg)
	require.NoError(t, err)
	e.gh.Reset()
	res, err = m2.Mine(t.Context(), e.job("gen/paged", cur))
	require.NoError(t, err)
	require.Empty(t, res.Instances)
	reqs, nm = e.gh.Count()
	require.Equal(t, 1, reqs)
	require.Equal(t, 1, nm)

	// Two pull requests are updated (a comment, say): the next run sees exactly those, with
	// the closed issues' first item, one list page and a 304 for the repository.
	pullsPath := filepath.Join(e.dir, "gen", "paged", "pulls.json")
	b, err := os.ReadFile(pullsPath)
	require.NoError(t, err)
	var pulls []*github.PullRequest
	require.NoError(t, json.Unmarshal(b, &pulls))
	later := time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC)
	for _, p := range pulls {
		if p.GetNumber() == 7 || p.GetNumber() == 97 {
			p.UpdatedAt = &github.Timestamp{Time: later}
		}
	}
	writeJSON(t, pullsPath, pulls)
	e.gh.Reset()
	ms, cur2, _ := mineAll(t, m2, e.job("gen/paged", cur))
	require.Equal(t, map[int]string{97: "kept", 7: DropNotMerged}, outcomes(ms))
	var c cursor
	require.NoError(t, json.Unmarshal([]byte(cur2), &c))
	require.Equal(t, later, c.HWM)
	nonNotModified := 0
	for _, r := range e.gh.Requests() {
		if r.Status != http.StatusNotModified {
			nonNotModified++
			require.True(t, r.Path == "repos/gen/paged/pulls" || strings.HasPrefix(r.Path, "repos/gen/paged/issues"), r.Path)
		}
	}
	require.LessOrEqual(t, nonNotModified, 4, "the closed issues' first item, one list page and the kept pull request's issue and comments")
}

func TestMinePullRequestOf3000Files(t *testing.T) {
	t.Parallel()
	kind := func(n int) genKind {
		if n == 2 {
			return genHuge
		}
		return genKeptBody
	}
	e, _ := newGenEnv(t, githubtest.Options{}, genSpec{Owner: "gen", Name: "huge", PRs: 3, Kind: kind, HugeFiles: 3000})

	m, err := New(e.cfg)
	require.NoError(t, err)
	ms, _, _ := mineAll(t, m, e.job("gen/huge", ""))
	require.Equal(t, map[int]string{1: "kept", 2: DropTooLarge, 3: "kept"}, outcomes(ms))

	cfg := e.cfg
	cfg.MirrorDir = filepath.Join(t.TempDir(), "m")
	cfg.Filter.MaxFiles, cfg.Filter.MaxLines = -1, -1
	m, err = New(cfg)
	require.NoError(t, err)
	ms, _, _ = mineAll(t, m, e.job("gen/huge", ""))
	huge := kept(ms)[2]
	require.Len(t, filesOf(t, huge.Patch), 3000)
	require.Equal(t, []string{"tests/test_mod2.py"}, filesOf(t, huge.TestPatch))
	e.gh.Verify(t)
}

func TestRateLimitSwitchesTokens(t *testing.T) {
	t.Parallel()
	e, keptN := newGenEnv(t, githubtest.Options{RateLimit: 2}, genSpec{Owner: "gen", Name: "limited", PRs: 150, Kind: benchKind})
	cfg := e.cfg
	cfg.Tokens = []string{tokenA, tokenB}
	cfg.MaxWait = 2 * time.Hour
	m, err := New(cfg)
	require.NoError(t, err)
	ms, _, _ := mineAll(t, m, e.job("gen/limited", ""))
	require.Len(t, kept(ms), keptN["gen/limited"])
	used := map[string]bool{}
	for _, r := range e.gh.Requests() {
		used[r.Token] = true
		require.NotEqual(t, http.StatusForbidden, r.Status, "the miner stops before GitHub has to refuse")
	}
	require.True(t, used[tokenA] && used[tokenB], "both tokens used")
	// Both spent, the miner waited for the reset on the injected clock instead of failing.
	require.NotEmpty(t, e.clock.Sleeps())
	e.gh.Verify(t)
	require.NotContains(t, e.logs.String(), tokenA)
	require.NotContains(t, e.logs.String(), tokenB)
}

func TestRateLimitHandsLongWaitsToTheRunner(t *testing.T) {
	t.Parallel()
	e, _ := newGenEnv(t, githubtest.Options{RateLimit: 1}, genSpec{Owner: "gen", Name: "limited", PRs: 150, Kind: benchKind})
	cfg := e.cfg
	cfg.MaxWait = -1
	m, err := New(cfg)
	require.NoError(t, err)
	job := e.job("gen/limited", "")
	var retry *pipeline.RetryAfterError
	for i := 0; ; i++ {
		res, err := m.Mine(t.Context(), job)
		if err != nil {
			require.ErrorAs(t, err, &retry)
			break
		}
		job.Cursor = res.Cursor
		require.Less(t, i, 50)
	}
	require.Greater(t, retry.Delay, 30*time.Minute)
	require.LessOrEqual(t, retry.Delay, time.Hour)
	require.ErrorIs(t, retry, errRateLimited)
	require.NotContains(t, retry.Error(), tokenA)
	require.Empty(t, e.clock.Sleeps(), "no waiting in process when MaxWait is negative")
}

func TestSecondaryLimitAndServerErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t, githubtest.Options{})
	e.gh.Stub(githubtest.SecondaryLimit("repos/octo/calc/pulls", 90))
	e.gh.Stub(githubtest.ServerError("repos/octo/calc/issues/1", http.StatusBadGateway))
	st := githubtest.ServerError("repos/octo/calc/issues/3", http.StatusServiceUnavailable)
	st.Times = 2
	e.gh.Stub(st)
	cfg := e.cfg
	cfg.MaxWait = 5 * time.Minute
	m, err := New(cfg)
	require.NoError(t, err)
	ms, _, _ := mineAll(t, m, e.job("octo/calc", ""))
	require.Equal(t, wantFixture, outcomes(ms), "failures cost time, never results")
	e.gh.Verify(t)
	require.Equal(t, int64(3), m.Stats().Retried)
	require.Equal(t, int64(1), m.Stats().RateLimited)
	// The secondary limit's Retry-After, then backoff for issue 3 (PR 4 is listed first), then
	// for issue 1; a backoff is shortened by up to a quarter (jitter), a Retry-After is not.
	sleeps := e.clock.Sleeps()
	want := []time.Duration{90 * time.Second, time.Second, 2 * time.Second, time.Second}
	require.Len(t, sleeps, len(want), "%v", sleeps)
	require.Equal(t, want[0], sleeps[0])
	for i := 1; i < len(want); i++ {
		require.LessOrEqual(t, sleeps[i], want[i], "%v", sleeps)
		require.GreaterOrEqual(t, sleeps[i], want[i]*3/4, "%v", sleeps)
	}
}

// TestSecondaryLimitWithoutRetryAfter: GitHub often answers a secondary limit without
// Retry-After, its X-RateLimit-Reset then being the primary window's (up to an hour away);
// the miner waits a minute, then twice as long while the limit repeats, as GitHub asks.
func TestSecondaryLimitWithoutRetryAfter(t *testing.T) {
	t.Parallel()
	e := newEnv(t, githubtest.Options{})
	st := githubtest.SecondaryLimit("repos/octo/calc/pulls", 0)
	st.Times = 2
	e.gh.Stub(st)
	cfg := e.cfg
	cfg.MaxWait = 5 * time.Minute
	m, err := New(cfg)
	require.NoError(t, err)
	ms, _, _ := mineAll(t, m, e.job("octo/calc", ""))
	require.Equal(t, wantFixture, outcomes(ms))
	e.gh.Verify(t)
	require.Equal(t, int64(2), m.Stats().RateLimited)
	require.Equal(t, []time.Duration{time.Minute, 2 * time.Minute}, e.clock.Sleeps())
}

func TestSecondaryWait(t *testing.T) {
	for n, want := range map[int]time.Duration{1: time.Minute, 2: 2 * time.Minute, 3: 4 * time.Minute, 6: 30 * time.Minute, 40: 30 * time.Minute} {
		require.Equal(t, want, secondaryWait(n), "n=%d", n)
	}
}

// TestUnreadableIssueDropsThePullRequest: an issue GitHub refuses to show (403 behind an
// organisation's SSO, 451) drops the pull requests that link only it, with the reason, and
// mining goes on past them instead of failing at the same pull request on every run.
func TestUnreadableIssueDropsThePullRequest(t *testing.T) {
	t.Parallel()
	e := newEnv(t, githubtest.Options{})
	e.gh.Stub(githubtest.Unreadable("repos/octo/calc/issues/1", http.StatusForbidden))
	e.gh.Stub(githubtest.Unreadable("repos/octo/calc/issues/3", http.StatusUnavailableForLegalReasons))
	m, err := New(e.cfg)
	require.NoError(t, err)
	ms, _, _ := mineAll(t, m, e.job("octo/calc", ""))
	want := maps.Clone(wantFixture)
	want[2], want[4] = DropIssueUnreadable, DropIssueUnreadable
	require.Equal(t, want, outcomes(ms))
	e.gh.Verify(t)
	for _, mi := range ms {
		switch mi.Instance.PullNumber {
		case 2:
			require.Contains(t, mi.Drop.Detail, "octo/calc#1 (403 Forbidden)")
		case 4:
			require.Contains(t, mi.Drop.Detail, "octo/calc#3 (451 Unavailable For Legal Reasons)")
		}
	}
}

func TestServerErrorsPastRetriesAskForRetry(t *testing.T) {
	t.Parallel()
	e := newEnv(t, githubtest.Options{})
	st := githubtest.ServerError("repos/octo/calc/pulls", http.StatusInternalServerError)
	st.Times = 3
	e.gh.Stub(st)
	cfg := e.cfg
	cfg.Retries = 2
	m, err := New(cfg)
	require.NoError(t, err)
	_, err = m.Mine(t.Context(), e.job("octo/calc", ""))
	var retry *pipeline.RetryAfterError
	require.ErrorAs(t, err, &retry)
	require.Equal(t, 4*time.Second, retry.Delay)
	e.gh.Verify(t)
}

func TestErrorsNeverShowTheToken(t *testing.T) {
	t.Parallel()
	e := newEnv(t, githubtest.Options{})
	cfg := e.cfg
	secret := "ghp_notAcceptedByTheFakeSECRETSECRETSECRET"
	cfg.Tokens = []string{secret}
	m, err := New(cfg)
	require.NoError(t, err)
	_, err = m.Mine(t.Context(), e.job("octo/calc", ""))
	require.Error(t, err)
	require.Contains(t, err.Error(), "401")
	require.NotContains(t, err.Error(), secret)
	require.NotContains(t, fmt.Sprintf("%+v %#v", err, err), secret)
	require.NotContains(t, e.logs.String(), secret)

	// A repository that does not exist is dropped with its reason, not a silent success.
	m, err = New(e.cfg)
	require.NoError(t, err)
	res, err := m.Mine(t.Context(), e.job("octo/nope", ""))
	require.NoError(t, err)
	require.Equal(t, DropRepositoryNotFound, res.Drop.Reason)

	// Search: a query GitHub rejects (422) is an error; a valid one is limited.
	_, err = m.SearchRepos(t.Context(), " ", 10)
	require.ErrorContains(t, err, "422")
	repos, err := m.SearchRepos(t.Context(), "language:python stars:>10", 2)
	require.NoError(t, err)
	require.Equal(t, []string{"octo/calc", "octo/tiny"}, repos)
	require.NotContains(t, e.logs.String(), tokenA)
}

func TestOneRequestAtATimePerToken(t *testing.T) {
	t.Parallel()
	e, keptN := newGenEnv(t, githubtest.Options{},
		genSpec{Owner: "gen", Name: "a", PRs: 150, Kind: benchKind},
		genSpec{Owner: "gen", Name: "b", PRs: 150, Kind: benchKind},
		genSpec{Owner: "gen", Name: "c", PRs: 150, Kind: benchKind})
	m, err := New(e.cfg)
	require.NoError(t, err)
	var wg sync.WaitGroup
	results := make([][]pipeline.Mined, 3)
	errs := make([]error, 3)
	for i, name := range []string{"gen/a", "gen/b", "gen/c"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			job := e.job(name, "")
			for {
				res, err := m.Mine(context.Background(), job)
				if err != nil {
					errs[i] = err
					return
				}
				results[i] = append(results[i], res.Instances...)
				job.Cursor = res.Cursor
				if !res.More {
					return
				}
			}
		}()
	}
	wg.Wait()
	for i, name := range []string{"gen/a", "gen/b", "gen/c"} {
		require.NoError(t, errs[i])
		require.Len(t, kept(results[i]), keptN[name])
	}
	e.gh.Verify(t) // includes "no two requests of one token overlapped"
}

func TestTokenFingerprint(t *testing.T) {
	t.Parallel()
	fp := fingerprint(tokenA)
	require.Len(t, fp, 12)
	require.NotContains(t, tokenA, fp)
	require.NotEqual(t, fp, fingerprint(tokenB))
	require.Equal(t, "anonymous", fingerprint(""))
	require.False(t, errors.Is(nil, errRateLimited))
}
