package mine

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"swemill/stages/mine/githubtest"
)

// TestSearchStopsAtTheFirstThousand: GitHub lets a search read its first 1,000 results and
// refuses pages past them (422); the miner asks for no page past the tenth, and a 422 ends
// the search with what it has.
func TestSearchStopsAtTheFirstThousand(t *testing.T) {
	t.Parallel()
	e, _ := newGenEnv(t, githubtest.Options{}, genSpec{Owner: "gen", Name: "none", PRs: 1, Kind: benchKind})
	writeSearch(t, e.dir, 2500)
	m, err := New(e.cfg)
	require.NoError(t, err)
	lastPage := func() int {
		last := 0
		for _, r := range e.gh.Requests() {
			var p int
			fmt.Sscan(r.Query.Get("page"), &p)
			last = max(last, p)
		}
		return last
	}

	repos, err := m.SearchRepos(t.Context(), "language:python", 2000)
	require.NoError(t, err)
	require.Len(t, repos, 1000)
	require.Equal(t, "found/r1000", repos[999])
	require.Equal(t, 10, lastPage())

	// GitHub's links end at the tenth page; a link past it is not followed either.
	var items []string
	for i := 901; i <= 1000; i++ {
		items = append(items, fmt.Sprintf(`{"full_name":"found/r%d"}`, i))
	}
	q := url.Values{"q": {"language:python"}, "sort": {"stars"}, "order": {"desc"}, "per_page": {"100"}, "page": {"11"}}
	e.gh.Stub(githubtest.Stub{
		Path: "search/repositories", Query: url.Values{"page": {"10"}}, Status: http.StatusOK,
		Header: http.Header{"Link": {fmt.Sprintf(`<%ssearch/repositories?%s>; rel="next"`, e.gh.URL, q.Encode())}},
		Body:   fmt.Sprintf(`{"total_count":2500,"incomplete_results":false,"items":[%s]}`, strings.Join(items, ",")),
	})
	e.gh.Reset()
	repos, err = m.SearchRepos(t.Context(), "language:python", 2000)
	require.NoError(t, err)
	require.Len(t, repos, 1000)
	require.Equal(t, 10, lastPage())

	// Whatever page GitHub refuses as past its first 1,000 results ends the search.
	e.gh.Stub(githubtest.Stub{
		Path: "search/repositories", Query: url.Values{"page": {"3"}}, Status: http.StatusUnprocessableEntity,
		Body: `{"message":"Only the first 1000 search results are available","documentation_url":"https://docs.github.com/v3/search","status":"422"}`,
	})
	e.gh.Reset()
	repos, err = m.SearchRepos(t.Context(), "language:python", 2000)
	require.NoError(t, err)
	require.Len(t, repos, 200)
	require.Equal(t, 3, lastPage())

	// Another 422 is still an error.
	_, err = m.SearchRepos(t.Context(), " ", 10)
	require.ErrorContains(t, err, "422")
	e.gh.Verify(t)
}
