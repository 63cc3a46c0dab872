package mine

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"swemill/stages/mine/githubtest"
)

// TestETagCacheKeepsItsBudget: the cache holds at most its budget of bytes, drops the least
// recently used first, and does not keep a response larger than an eighth of it.
func TestETagCacheKeepsItsBudget(t *testing.T) {
	entry := func(n int) *etagEntry {
		return &etagEntry{etag: `W/"x"`, body: []byte(strings.Repeat("b", n)), header: http.Header{"Etag": {`W/"x"`}}}
	}
	c := newETagCache(10_000)
	for _, k := range []string{"a", "b", "c", "d", "e", "f", "g", "h"} {
		c.put(k, entry(1000))
	}
	require.NotNil(t, c.get("a"), "a is used again: the most recent now")
	c.put("i", entry(1000))
	c.put("j", entry(1000))
	require.LessOrEqual(t, c.bytes, int64(10_000))
	require.NotNil(t, c.get("a"), "recently used entries stay")
	require.Nil(t, c.get("b"), "the least recently used go first")
	require.NotNil(t, c.get("j"))

	c.put("huge", entry(2000))
	require.Nil(t, c.get("huge"), "an entry over an eighth of the budget is not kept")
	before := c.bytes
	c.put("j", entry(10))
	require.Less(t, c.bytes, before, "replacing an entry gives its bytes back")
	require.Equal(t, len(c.m), c.lru.Len())
	var sum int64
	for el := c.lru.Front(); el != nil; el = el.Next() {
		sum += el.Value.(*etagEntry).size()
	}
	require.Equal(t, sum, c.bytes)
}

// TestETagCacheKeepsOnlyConditionalAnswers: a first run asks nothing conditionally and keeps
// no body; a re-run keeps at most the answers it asked for with the cursor's ETags (the
// closed issues' first item, the pull requests' page 1, the repository), never the issues,
// comments or later pages no one asks for again.
func TestETagCacheKeepsOnlyConditionalAnswers(t *testing.T) {
	t.Parallel()
	e, _ := newGenEnv(t, githubtest.Options{}, genSpec{Owner: "gen", Name: "c", PRs: 250, Kind: benchKind})
	m, err := New(e.cfg)
	require.NoError(t, err)
	entries := func() (n int, bytes int64) {
		for _, tok := range m.gh.tokens {
			c := tok.httpClient.Transport.(*transport).cache
			c.mu.Lock()
			n, bytes = n+len(c.m), bytes+c.bytes
			c.mu.Unlock()
		}
		return n, bytes
	}
	_, cur, _ := mineAll(t, m, e.job("gen/c", ""))
	n, b := entries()
	require.Zero(t, n)
	require.Zero(t, b)

	e.gh.Push("gen/c", time.Date(2024, 6, 1, 0, 0, 0, 0, time.UTC))
	var c cursor
	require.NoError(t, json.Unmarshal([]byte(cur), &c))
	c.ClosedETags = nil // as a cursor from before ClosedChanged: the list is asked
	_, _, _ = mineAll(t, m, e.job("gen/c", c.String()))
	n, _ = entries()
	require.LessOrEqual(t, n, 3)
	require.Positive(t, n)
}
