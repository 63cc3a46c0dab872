package mine

import (
	"encoding/json"
	"maps"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

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
