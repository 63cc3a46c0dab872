package mine

import (
	"encoding/json"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-github/v62/github"
	"github.com/stretchr/testify/require"

	"swemill/pipeline"
	"swemill/stages/mine/githubtest"
)

// TestOneRefusalDoesNotStallTheRepository: a 4xx that asking again will not change, for one
// pull request's issue, comments or diff, drops that pull request with the status, and the
// walk goes on and finishes (its cursor moves), instead of failing at the same pull request
// on every run.
func TestOneRefusalDoesNotStallTheRepository(t *testing.T) {
	t.Parallel()
	e := newEnv(t, githubtest.Options{})
	e.gh.Stub(githubtest.Refusal("repos/octo/calc/issues/1", http.StatusUnprocessableEntity, 0))
	e.gh.Stub(githubtest.Refusal("repos/octo/calc/issues/25/comments", http.StatusBadRequest, 0))
	e.gh.Stub(githubtest.Refusal("repos/octo/calc/pulls/23", http.StatusUnprocessableEntity, 0))
	m, err := New(e.cfg)
	require.NoError(t, err)
	ms, cur, _ := mineAll(t, m, e.job("octo/calc", ""))
	want := maps.Clone(wantFixture)
	want[2], want[23], want[24] = DropGitHubRefused, DropGitHubRefused, DropGitHubRefused
	require.Equal(t, want, outcomes(ms))
	e.gh.Verify(t)
	for _, mi := range ms {
		if mi.Drop != nil && mi.Drop.Reason == DropGitHubRefused {
			require.Regexp(t, ` (422|400) `, mi.Drop.Detail, "pull request %d", mi.Instance.PullNumber)
		}
	}
	var c cursor
	require.NoError(t, json.Unmarshal([]byte(cur), &c))
	require.Nil(t, c.Walk)
	require.False(t, c.HWM.IsZero())
}

// TestPaginationCapEndsTheWalk: GitHub refusing a page past its pagination cap (422) ends the
// walk with the pages read so far mined and the high-water mark moved, and the next run asks
// only page 1.
func TestPaginationCapEndsTheWalk(t *testing.T) {
	t.Parallel()
	e := newEnv(t, githubtest.Options{PerPageMax: 5})
	e.gh.Stub(githubtest.Refusal("repos/octo/calc/pulls", http.StatusUnprocessableEntity, 3))
	m, err := New(e.cfg)
	require.NoError(t, err)
	ms, cur, calls := mineAll(t, m, e.job("octo/calc", ""))
	require.Equal(t, 1, calls)
	require.Len(t, ms, 10, "two pages of five")
	e.gh.Verify(t)
	require.Contains(t, e.logs.String(), "GitHub refuses to list further pull requests")
	var c cursor
	require.NoError(t, json.Unmarshal([]byte(cur), &c))
	require.Nil(t, c.Walk)
	require.False(t, c.HWM.IsZero())

	e.gh.Reset()
	res, err := m.Mine(t.Context(), e.job("octo/calc", cur))
	require.NoError(t, err)
	require.Empty(t, res.Instances)
	reqs, nm := e.gh.Count()
	require.Equal(t, 1, reqs)
	require.Equal(t, 1, nm)
}

// TestRepositoryGitHubLacksIsDropped: a repository GitHub does not have (404) or refuses (451)
// is dropped whole with its reason, not failed on every run.
func TestRepositoryGitHubLacksIsDropped(t *testing.T) {
	t.Parallel()
	for status, reason := range map[int]string{http.StatusNotFound: DropRepositoryNotFound, http.StatusUnavailableForLegalReasons: DropGitHubRefused} {
		e := newEnv(t, githubtest.Options{})
		e.gh.Stub(githubtest.Refusal("repos/octo/calc/pulls", status, 0))
		m, err := New(e.cfg)
		require.NoError(t, err)
		res, err := m.Mine(t.Context(), e.job("octo/calc", ""))
		require.NoError(t, err, "status %d", status)
		require.NotNil(t, res.Drop, "status %d", status)
		require.Equal(t, reason, res.Drop.Reason)
		require.Empty(t, res.Instances)
		e.gh.Verify(t)
	}
	// No such repository at all: the fixture has none.
	e := newEnv(t, githubtest.Options{})
	m, err := New(e.cfg)
	require.NoError(t, err)
	res, err := m.Mine(t.Context(), e.job("octo/nothing", ""))
	require.NoError(t, err)
	require.Equal(t, DropRepositoryNotFound, res.Drop.Reason)
	require.Contains(t, res.Drop.Detail, "octo/nothing")
}

// TestRedirectsFollowedAndRecorded: a renamed repository answers 301 under its old name, and
// a transferred issue 301 to where it lives now. Mining follows both (the issue is linked
// where it lives now), and a snapshot recorded through them stores the bodies under the paths
// asked, notes the redirects, and mines the same.
func TestRedirectsFollowedAndRecorded(t *testing.T) {
	t.Parallel()
	e := newEnv(t, githubtest.Options{})
	e.gh.Rename("octo/oldcalc", "octo/calc")
	e.gh.Transfer("octo/oldcalc", 3, "other/lib", 7)
	cfg := e.cfg
	cfg.GitURL = func(string) string { return "file://" + filepath.Join(e.dir, "octo", "calc", "repo.git") }
	live, err := New(cfg)
	require.NoError(t, err)
	liveMs, _, _ := mineAll(t, live, e.job("octo/oldcalc", ""))
	require.Equal(t, wantFixture, outcomes(liveMs))
	require.Equal(t, []pipeline.LinkedIssue{{Repo: "other/lib", Number: 7, Evidence: []string{EvidenceTitle}}}, kept(liveMs)[4].Issues)
	require.Equal(t, "octo__oldcalc-2", kept(liveMs)[2].InstanceID, "instances keep the name listed")
	require.Contains(t, e.logs.String(), "GitHub redirects the repository to its new name")
	moved := 0
	for _, r := range e.gh.Requests() {
		if r.Status == http.StatusMovedPermanently {
			moved++
		}
	}
	require.Greater(t, moved, 2)

	out := filepath.Join(t.TempDir(), "snapshot")
	rcfg := cfg
	rcfg.MirrorDir = filepath.Join(t.TempDir(), "record-mirrors")
	require.NoError(t, Record(t.Context(), rcfg, RecordOptions{Dir: out, Repos: []string{"octo/oldcalc"}}))
	b, err := os.ReadFile(filepath.Join(out, "octo", "oldcalc", "redirects.json"))
	require.NoError(t, err)
	var redirects map[string]string
	require.NoError(t, json.Unmarshal(b, &redirects))
	require.Len(t, redirects, 2, "the renamed repository once, the transferred issue")
	require.Equal(t, "repositories/700001", redirects["repos/octo/oldcalc"])
	require.Regexp(t, `^repositories/\d+/issues/7$`, redirects["repos/octo/oldcalc/issues/3"])
	for _, f := range []string{"repo.json", "pulls.json", "issues/1.json", "issues/3.json"} {
		require.FileExists(t, filepath.Join(out, "octo", "oldcalc", filepath.FromSlash(f)))
	}

	snap, err := New(Config{Source: SourceSnapshot, SnapshotDir: out, MirrorDir: filepath.Join(t.TempDir(), "m"), Clock: e.clock, Log: cfg.Log})
	require.NoError(t, err)
	snapMs, _, _ := mineAll(t, snap, e.job("octo/oldcalc", ""))
	requireSameInstances(t, liveMs, snapMs)
}

// TestNightlyRerunAfterPushesAndStars: pushes and stars change the pull requests' list (it
// embeds the repository) but no pull request; a re-run asks whether any closed issue or pull
// request changed, which GitHub answers 304 (free of rate limit), and stops there. When one
// pull request changed, the re-run mines exactly it.
func TestNightlyRerunAfterPushesAndStars(t *testing.T) {
	t.Parallel()
	e, _ := newGenEnv(t, githubtest.Options{}, genSpec{Owner: "gen", Name: "busy", PRs: 150, Kind: benchKind})
	m, err := New(e.cfg)
	require.NoError(t, err)
	_, cur, _ := mineAll(t, m, e.job("gen/busy", ""))

	e.gh.Push("gen/busy", time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC))
	e.gh.Star("gen/busy", 12)
	e.gh.Reset()
	res, err := m.Mine(t.Context(), e.job("gen/busy", cur))
	require.NoError(t, err)
	require.Empty(t, res.Instances)
	reqs, nm := e.gh.Count()
	require.Equal(t, 1, reqs, "one request")
	require.Equal(t, 1, nm, "answered 304")
	cur = res.Cursor

	// One pull request updated: the re-run sees it alone.
	pullsPath := filepath.Join(e.dir, "gen", "busy", "pulls.json")
	b, err := os.ReadFile(pullsPath)
	require.NoError(t, err)
	var pulls []*github.PullRequest
	require.NoError(t, json.Unmarshal(b, &pulls))
	for _, p := range pulls {
		if p.GetNumber() == 40 {
			p.UpdatedAt = &github.Timestamp{Time: time.Date(2024, 5, 2, 0, 0, 0, 0, time.UTC)}
		}
	}
	writeJSON(t, pullsPath, pulls)
	e.gh.Reset()
	ms, _, _ := mineAll(t, m, e.job("gen/busy", cur))
	require.Len(t, ms, 1)
	require.Equal(t, 40, ms[0].Instance.PullNumber)
}
