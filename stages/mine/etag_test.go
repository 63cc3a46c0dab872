package mine

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
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
