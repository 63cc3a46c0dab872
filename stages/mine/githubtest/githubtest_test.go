package githubtest

import (
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
