package githubtest

import (
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/stretchr/testify/require"
)

func pulls(n int) string {
	var items []string
	for i := 1; i <= n; i++ {
		items = append(items, `{"number":`+itoa(i)+`,"state":"closed","created_at":"2024-01-01T00:00:00Z","updated_at":"2024-01-0`+itoa(1+i%9)+`T00:00:00Z"}`)
	}
	return "[" + strings.Join(items, ",") + "]"
}

func itoa(i int) string { return strconv.Itoa(i) }

func get(t *testing.T, url, token, etag string) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	require.NoError(t, err)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if etag != "" {
		req.Header.Set("If-None-Match", etag)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func TestServerBehavesLikeGitHub(t *testing.T) {
	t.Parallel()
	now := time.Date(2024, 6, 1, 0, 0, 0, 0, time.UTC)
	fsys := fstest.MapFS{
		"o/r/repo.json":     {Data: []byte(`{"full_name":"o/r"}`)},
		"o/r/pulls.json":    {Data: []byte(pulls(250))},
		"o/r/issues/1.json": {Data: []byte(`{"number":1}`)},
		"o/r/issues/2.gone": {Data: []byte("deleted")},
	}
	s := New(t, fsys, Options{Tokens: []string{"t1"}, RateLimit: 6, Now: func() time.Time { return now }})
	require.True(t, strings.HasSuffix(s.URL, "/api-v3/"))

	// Pagination: Link header with next and last, per_page capped at 100.
	r := get(t, s.URL+"repos/o/r/pulls?state=closed&sort=updated&direction=desc&per_page=500", "t1", "")
	require.Equal(t, http.StatusOK, r.StatusCode)
	link := r.Header.Get("Link")
	require.Contains(t, link, `page=2&per_page=100`)
	require.Contains(t, link, `rel="next"`)
	require.Contains(t, link, `page=3&per_page=100`)
	require.Contains(t, link, `rel="last"`)
	require.Equal(t, "6", r.Header.Get("X-RateLimit-Limit"))
	require.Equal(t, "5", r.Header.Get("X-RateLimit-Remaining"))
	require.Equal(t, "core", r.Header.Get("X-RateLimit-Resource"))
	etag := r.Header.Get("ETag")
	require.True(t, strings.HasPrefix(etag, `W/"`))

	// A conditional request is answered 304 and costs nothing.
	r = get(t, s.URL+"repos/o/r/pulls?state=closed&sort=updated&direction=desc&per_page=500", "t1", etag)
	require.Equal(t, http.StatusNotModified, r.StatusCode)
	require.Equal(t, "5", r.Header.Get("X-RateLimit-Remaining"))

	// Deleted and missing issues; an unknown token.
	require.Equal(t, http.StatusGone, get(t, s.URL+"repos/o/r/issues/2", "t1", "").StatusCode)
	require.Equal(t, http.StatusNotFound, get(t, s.URL+"repos/o/r/issues/3000", "t1", "").StatusCode)
	require.Equal(t, http.StatusUnauthorized, get(t, s.URL+"repos/o/r", "nope", "").StatusCode)

	// A pull request is an issue too.
	r = get(t, s.URL+"repos/o/r/issues/7", "t1", "")
	b, _ := io.ReadAll(r.Body)
	require.Contains(t, string(b), `"pull_request"`)

	// Invalid state: 422.
	require.Equal(t, http.StatusUnprocessableEntity, get(t, s.URL+"repos/o/r/pulls?state=merged", "t1", "").StatusCode)

	// The limit is spent after six charged requests (errors count, 304s and 401s do not):
	// 403 with Remaining 0.
	require.Equal(t, http.StatusOK, get(t, s.URL+"repos/o/r", "t1", "").StatusCode)
	r = get(t, s.URL+"repos/o/r", "t1", "")
	require.Equal(t, http.StatusForbidden, r.StatusCode)
	require.Equal(t, "0", r.Header.Get("X-RateLimit-Remaining"))

	// A stub answers first, and Verify checks it was used; requests outside the prefix are
	// reported.
	s.Stub(SecondaryLimit("repos/o/r/issues/1", 30))
	now = now.Add(2 * time.Hour) // a new rate-limit window
	r = get(t, s.URL+"repos/o/r/issues/1", "t1", "")
	require.Equal(t, http.StatusForbidden, r.StatusCode)
	require.Equal(t, "30", r.Header.Get("Retry-After"))
	require.Equal(t, http.StatusOK, get(t, s.URL+"repos/o/r/issues/1", "t1", "").StatusCode)
	ft := &fakeT{TB: t}
	s.Verify(ft)
	require.Empty(t, ft.errs)
	get(t, strings.TrimSuffix(s.URL, "api-v3/")+"repos/o/r", "t1", "")
	s.Stub(ServerError("repos/o/r", 502))
	ft = &fakeT{TB: t}
	s.Verify(ft)
	require.Len(t, ft.errs, 2, "an unused stub and a request outside the prefix")
}

type fakeT struct {
	testing.TB
	errs []string
}

func (f *fakeT) Errorf(format string, args ...any) { f.errs = append(f.errs, format) }
func (f *fakeT) Helper()                           {}

// TestPushesAndStarsChangeListETags: the pull requests' list embeds the base repository, so
// a push or a star changes its body and ETag although no pull request changed; the issues'
// list embeds no repository and keeps its ETag. Renamed repositories and transferred issues
// answer 301 to /repositories/ID/.
func TestPushesAndStarsChangeListETags(t *testing.T) {
	t.Parallel()
	fsys := fstest.MapFS{
		"o/r/repo.json":     {Data: []byte(`{"id":42,"full_name":"o/r","stargazers_count":5,"pushed_at":"2024-01-01T00:00:00Z"}`)},
		"o/r/pulls.json":    {Data: []byte(`[{"number":1,"state":"closed","updated_at":"2024-01-02T00:00:00Z","base":{"ref":"main","repo":{"full_name":"o/r","stargazers_count":5}}}]`)},
		"o/r/issues/2.json": {Data: []byte(`{"number":2,"state":"closed","updated_at":"2024-01-03T00:00:00Z","repository_url":"https://api.github.com/repos/o/r"}`)},
	}
	s := New(t, fsys, Options{})
	etagOf := func(path string) string {
		r := get(t, s.URL+path, "", "")
		require.Equal(t, http.StatusOK, r.StatusCode, path)
		return r.Header.Get("ETag")
	}
	pullsURL, issuesURL := "repos/o/r/pulls?state=closed", "repos/o/r/issues?state=closed&sort=updated&direction=desc&per_page=1"
	p0, i0, r0 := etagOf(pullsURL), etagOf(issuesURL), etagOf("repos/o/r")
	s.Star("o/r", 1)
	p1, i1, r1 := etagOf(pullsURL), etagOf(issuesURL), etagOf("repos/o/r")
	require.NotEqual(t, p0, p1)
	require.NotEqual(t, r0, r1)
	require.Equal(t, i0, i1)
	body, err := io.ReadAll(get(t, s.URL+pullsURL, "", "").Body)
	require.NoError(t, err)
	require.Contains(t, string(body), `"stargazers_count":6`)
	s.Push("o/r", time.Date(2024, 2, 1, 0, 0, 0, 0, time.UTC))
	require.NotEqual(t, p1, etagOf(pullsURL))
	require.Equal(t, i0, etagOf(issuesURL))
	body, err = io.ReadAll(get(t, s.URL+issuesURL, "", "").Body)
	require.NoError(t, err)
	require.Contains(t, string(body), `"number":2`, "the most recently updated closed item")

	s.Rename("o/old", "o/r")
	s.Transfer("o/r", 9, "o/r", 2)
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for path, want := range map[string]string{"repos/o/old/pulls?state=closed": "repositories/42/pulls?state=closed", "repos/o/r/issues/9": "repositories/42/issues/2"} {
		resp, err := noFollow.Get(s.URL + path)
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusMovedPermanently, resp.StatusCode, path)
		require.Equal(t, s.URL+want, resp.Header.Get("Location"))
	}
	r := get(t, s.URL+"repos/o/old/issues/2", "", "")
	require.Equal(t, http.StatusOK, r.StatusCode, "followed")
}

func body(t *testing.T, r *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(r.Body)
	require.NoError(t, err)
	return string(b)
}

func repos(n int) string {
	var items []string
	for i := 1; i <= n; i++ {
		items = append(items, `{"full_name":"o/r`+itoa(i)+`"}`)
	}
	return "[" + strings.Join(items, ",") + "]"
}

// TestAccountsShareLimits: the tokens of one account share its windows; a token not listed
// is an account of its own; GET /user names the account.
func TestAccountsShareLimits(t *testing.T) {
	t.Parallel()
	now := time.Date(2024, 6, 1, 0, 0, 0, 0, time.UTC)
	fsys := fstest.MapFS{"o/r/repo.json": {Data: []byte(`{"full_name":"o/r"}`)}}
	s := New(t, fsys, Options{
		Tokens: []string{"t1", "t2", "t3"}, Accounts: map[string]string{"t1": "octocat", "t2": "octocat"},
		RateLimit: 3, Now: func() time.Time { return now },
	})

	var u1, u2, u3 struct {
		Login string `json:"login"`
		ID    int64  `json:"id"`
	}
	r := get(t, s.URL+"user", "t1", "")
	require.Equal(t, http.StatusOK, r.StatusCode)
	require.NoError(t, json.Unmarshal([]byte(body(t, r)), &u1))
	require.Equal(t, "core", r.Header.Get("X-RateLimit-Resource"))
	require.Equal(t, "2", r.Header.Get("X-RateLimit-Remaining"), "GET /user costs a core request")
	r = get(t, s.URL+"user", "t2", "")
	require.NoError(t, json.Unmarshal([]byte(body(t, r)), &u2))
	require.Equal(t, "1", r.Header.Get("X-RateLimit-Remaining"), "t2 spends octocat's window")
	r = get(t, s.URL+"user", "t3", "")
	require.NoError(t, json.Unmarshal([]byte(body(t, r)), &u3))
	require.Equal(t, "2", r.Header.Get("X-RateLimit-Remaining"), "t3 has a window of its own")
	require.Equal(t, "octocat", u1.Login)
	require.Equal(t, u1, u2)
	require.NotEqual(t, u1.Login, u3.Login)
	require.NotEqual(t, u1.ID, u3.ID)
	require.NotContains(t, u3.Login, "t3")
	require.Equal(t, http.StatusUnauthorized, get(t, s.URL+"user", "nope", "").StatusCode)

	// octocat's last core request, by t1; then t2 is refused too.
	require.Equal(t, http.StatusOK, get(t, s.URL+"repos/o/r", "t1", "").StatusCode)
	r = get(t, s.URL+"repos/o/r", "t2", "")
	require.Equal(t, http.StatusForbidden, r.StatusCode)
	require.Equal(t, "0", r.Header.Get("X-RateLimit-Remaining"))
	require.Contains(t, body(t, r), "API rate limit exceeded for user ID "+strconv.FormatInt(u1.ID, 10))

	// Searches have their own window, 30 a minute, which a spent core window does not touch.
	for i := range 30 {
		r = get(t, s.URL+"search/repositories?q=x", "t2", "")
		require.Equal(t, http.StatusOK, r.StatusCode, "search %d", i+1)
	}
	require.Equal(t, "search", r.Header.Get("X-RateLimit-Resource"))
	require.Equal(t, "30", r.Header.Get("X-RateLimit-Limit"))
	require.Equal(t, "0", r.Header.Get("X-RateLimit-Remaining"))
	require.Equal(t, strconv.FormatInt(now.Add(time.Minute).Unix(), 10), r.Header.Get("X-RateLimit-Reset"))
	r = get(t, s.URL+"search/repositories?q=x", "t1", "")
	require.Equal(t, http.StatusForbidden, r.StatusCode, "t1 shares octocat's search window")
	require.Equal(t, "search", r.Header.Get("X-RateLimit-Resource"))
	require.Equal(t, http.StatusOK, get(t, s.URL+"search/repositories?q=x", "t3", "").StatusCode)
	require.Equal(t, http.StatusOK, get(t, s.URL+"repos/o/r", "t3", "").StatusCode, "a spent search window does not block core requests")

	// A minute later searches go on; the core window is an hour long.
	now = now.Add(time.Minute)
	require.Equal(t, http.StatusOK, get(t, s.URL+"search/repositories?q=x", "t1", "").StatusCode)
	require.Equal(t, http.StatusForbidden, get(t, s.URL+"repos/o/r", "t1", "").StatusCode)
}

func TestAnonymousRequests(t *testing.T) {
	t.Parallel()
	now := time.Date(2024, 6, 1, 0, 0, 0, 0, time.UTC)
	s := New(t, fstest.MapFS{}, Options{Now: func() time.Time { return now }})
	r := get(t, s.URL+"user", "", "")
	require.Equal(t, http.StatusUnauthorized, r.StatusCode)
	require.Contains(t, body(t, r), "Requires authentication")
	for i := range 10 {
		require.Equal(t, http.StatusOK, get(t, s.URL+"search/repositories?q=x", "", "").StatusCode, "search %d", i+1)
	}
	r = get(t, s.URL+"search/repositories?q=x", "", "")
	require.Equal(t, http.StatusForbidden, r.StatusCode, "10 searches a minute without a token")
	require.Equal(t, "10", r.Header.Get("X-RateLimit-Limit"))
	require.Equal(t, http.StatusOK, get(t, s.URL+"search/repositories?q=x", "any", "").StatusCode, "a token is another account")
}

func TestSearchStopsAtTheFirstThousand(t *testing.T) {
	t.Parallel()
	s := New(t, fstest.MapFS{"search/repositories.json": {Data: []byte(repos(1500))}}, Options{})
	r := get(t, s.URL+"search/repositories?q=x&per_page=100&page=9", "", "")
	require.Equal(t, http.StatusOK, r.StatusCode)
	require.Contains(t, r.Header.Get("Link"), `page=10&per_page=100&q=x>; rel="last"`)
	r = get(t, s.URL+"search/repositories?q=x&per_page=100&page=10", "", "")
	require.Equal(t, http.StatusOK, r.StatusCode)
	require.NotContains(t, r.Header.Get("Link"), `rel="next"`, "GitHub links no page past the first 1,000 results")
	var res struct {
		Total int               `json:"total_count"`
		Items []json.RawMessage `json:"items"`
	}
	require.NoError(t, json.Unmarshal([]byte(body(t, r)), &res))
	require.Equal(t, 1500, res.Total)
	require.Len(t, res.Items, 100)
	r = get(t, s.URL+"search/repositories?q=x&per_page=100&page=11", "", "")
	require.Equal(t, http.StatusUnprocessableEntity, r.StatusCode)
	require.JSONEq(t, `{"message":"Only the first 1000 search results are available","documentation_url":"https://docs.github.com/v3/search","status":"422"}`, body(t, r))
	// With 30 a page, page 34 still starts within the first 1,000.
	require.Equal(t, http.StatusOK, get(t, s.URL+"search/repositories?q=x&page=34", "", "").StatusCode)
	require.Equal(t, http.StatusUnprocessableEntity, get(t, s.URL+"search/repositories?q=x&page=35", "", "").StatusCode)
}
