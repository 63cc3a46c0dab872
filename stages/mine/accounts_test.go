package mine

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"swemill/pipeline"
	"swemill/stages/mine/githubtest"
)

const tokenC = "ghp_fixtureTokenCCCCCCCCCCCCCCCCCCCCCCCC"

// mineUntilRetry calls Mine until it hands a wait to the runner, and returns that wait.
func mineUntilRetry(t *testing.T, m *Miner, job *pipeline.RepoJob) *pipeline.RetryAfterError {
	t.Helper()
	for i := 0; ; i++ {
		res, err := m.Mine(t.Context(), job)
		if err != nil {
			var retry *pipeline.RetryAfterError
			require.ErrorAs(t, err, &retry)
			return retry
		}
		require.True(t, res.More, "mining ended before the rate limit did")
		job.Cursor = res.Cursor
		require.Less(t, i, 50)
	}
}

// forbidden returns the requests GitHub answered 403.
func forbidden(reqs []githubtest.Request) []string {
	var out []string
	for _, r := range reqs {
		if r.Status == http.StatusForbidden {
			out = append(out, r.Path)
		}
	}
	return out
}

// TestTokensOfOneAccountShareItsLimit: two tokens of one account have one quota between
// them. The miner learns that from GET /user and stops when the account's quota is spent,
// instead of switching to the sibling token only to be refused; a token of another account
// is used instead when there is one.
func TestTokensOfOneAccountShareItsLimit(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		tokens []string
		quota  int // requests of every account together, GET /user included
	}{
		{"one account", []string{tokenA, tokenB}, 5},
		{"and another", []string{tokenA, tokenB, tokenC}, 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e, _ := newGenEnv(t, githubtest.Options{
				RateLimit: 5, Tokens: []string{tokenA, tokenB, tokenC},
				Accounts: map[string]string{tokenA: "octocat", tokenB: "octocat"},
			}, genSpec{Owner: "gen", Name: "limited", PRs: 500, Kind: benchKind})
			cfg := e.cfg
			cfg.Tokens = tc.tokens
			cfg.MaxWait = -1
			m, err := New(cfg)
			require.NoError(t, err)
			retry := mineUntilRetry(t, m, e.job("gen/limited", ""))
			require.ErrorIs(t, retry, errRateLimited)
			require.Greater(t, retry.Delay, 30*time.Minute, "until the hourly window resets")

			reqs := e.gh.Requests()
			require.Empty(t, forbidden(reqs), "the miner stops before GitHub has to refuse")
			require.Len(t, reqs, tc.quota)
			mined := map[string]int{}
			for _, r := range reqs {
				if r.Path != "user" {
					mined[r.Token]++
				}
			}
			if len(tc.tokens) == 3 {
				require.Positive(t, mined[tokenC], "the other account's token is used")
			}
			for _, tok := range tc.tokens {
				require.NotContains(t, e.logs.String(), tok)
				require.NotContains(t, retry.Error(), tok)
			}
		})
	}
}

// TestAccountSpentBeforeTheFirstRequest: another program spent the account's quota, so
// GitHub refuses even GET /user; the miner waits for the reset, then learns the account and
// spends its next windows without a refusal.
func TestAccountSpentBeforeTheFirstRequest(t *testing.T) {
	t.Parallel()
	e, keptN := newGenEnv(t, githubtest.Options{
		RateLimit: 5, Accounts: map[string]string{tokenA: "octocat", tokenB: "octocat"},
	}, genSpec{Owner: "gen", Name: "limited", PRs: 150, Kind: benchKind})
	for range 5 {
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, e.gh.URL+"repos/gen/limited", nil)
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+tokenB)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
	}
	e.gh.Reset()
	cfg := e.cfg
	cfg.Tokens = []string{tokenA, tokenB}
	cfg.MaxWait = 2 * time.Hour
	m, err := New(cfg)
	require.NoError(t, err)
	ms, _, _ := mineAll(t, m, e.job("gen/limited", ""))
	require.Len(t, kept(ms), keptN["gen/limited"])
	require.Equal(t, []string{"user", "user"}, forbidden(e.gh.Requests()), "only the first questions, asked before the account was known")
	require.GreaterOrEqual(t, len(e.clock.Sleeps()), 2)
	e.gh.Verify(t)
}

// TestAccountUnknownWhenUserIsRefused: a GitHub App installation token may not ask GET /user;
// it is then an account of its own, said at debug level without the token.
func TestAccountUnknownWhenUserIsRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t, githubtest.Options{})
	e.gh.Stub(githubtest.Stub{Path: "user", Status: http.StatusForbidden,
		Body: `{"message":"Resource not accessible by integration","documentation_url":"https://docs.github.com/rest/users/users#get-the-authenticated-user","status":"403"}`})
	cfg := e.cfg
	cfg.Tokens = []string{tokenA, tokenB}
	m, err := New(cfg)
	require.NoError(t, err)
	ms, _, _ := mineAll(t, m, e.job("octo/calc", ""))
	require.Equal(t, wantFixture, outcomes(ms))
	e.gh.Verify(t)
	logs := e.logs.String()
	require.Contains(t, logs, "cannot tell the token's account")
	require.Contains(t, logs, fingerprint(tokenA))
	require.Contains(t, logs, "Resource not accessible by integration")
	require.NotContains(t, logs, tokenA)
	require.NotContains(t, logs, tokenB)
	require.Zero(t, m.Stats().RateLimited, "a refused GET /user is not a rate limit")
}

// writeSearch gives the fake GitHub n repositories to find.
func writeSearch(t *testing.T, dir string, n int) {
	t.Helper()
	var items []string
	for i := 1; i <= n; i++ {
		items = append(items, fmt.Sprintf(`{"full_name":"found/r%d","stargazers_count":%d}`, i, 100000-i))
	}
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "search"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "search", "repositories.json"), []byte("["+strings.Join(items, ",")+"]"), 0o644))
}

// TestSpentSearchWindowDoesNotDelayCore: searches have their own limit, 30 a minute; with
// it spent, mining a repository goes on at once, and the next search waits its minute.
func TestSpentSearchWindowDoesNotDelayCore(t *testing.T) {
	t.Parallel()
	e, keptN := newGenEnv(t, githubtest.Options{}, genSpec{Owner: "gen", Name: "busy", PRs: 150, Kind: benchKind})
	writeSearch(t, e.dir, 50)
	cfg := e.cfg
	cfg.MaxWait = 2 * time.Minute
	m, err := New(cfg)
	require.NoError(t, err)
	for i := range 30 { // queries that differ, so that no answer is a free 304
		repos, err := m.SearchRepos(t.Context(), fmt.Sprintf("language:python stars:>%d", i), 1)
		require.NoError(t, err, "search %d", i+1)
		require.Equal(t, []string{"found/r1"}, repos)
	}
	ms, _, _ := mineAll(t, m, e.job("gen/busy", ""))
	require.Len(t, kept(ms), keptN["gen/busy"])
	require.Empty(t, e.clock.Sleeps(), "core requests do not wait for the search window")

	repos, err := m.SearchRepos(t.Context(), "language:python", 1)
	require.NoError(t, err)
	require.Equal(t, []string{"found/r1"}, repos)
	require.Equal(t, []time.Duration{time.Minute}, e.clock.Sleeps(), "the search waited for its window")
	require.Empty(t, forbidden(e.gh.Requests()))
	e.gh.Verify(t)
}

// TestSecondaryLimitOnSearchBlocksOnlySearch: a secondary limit met by a search sets the
// token aside for searches only.
func TestSecondaryLimitOnSearchBlocksOnlySearch(t *testing.T) {
	t.Parallel()
	e, keptN := newGenEnv(t, githubtest.Options{}, genSpec{Owner: "gen", Name: "busy", PRs: 150, Kind: benchKind})
	writeSearch(t, e.dir, 50)
	e.gh.Stub(githubtest.SecondaryLimit("search/repositories", 120))
	m, err := New(e.cfg) // MaxWait: a minute
	require.NoError(t, err)
	_, err = m.SearchRepos(t.Context(), "language:python", 10)
	var retry *pipeline.RetryAfterError
	require.ErrorAs(t, err, &retry)
	require.Equal(t, 2*time.Minute, retry.Delay)

	ms, _, _ := mineAll(t, m, e.job("gen/busy", ""))
	require.Len(t, kept(ms), keptN["gen/busy"])
	require.Empty(t, e.clock.Sleeps())
	e.gh.Verify(t)
}
