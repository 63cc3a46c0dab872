package mine

import (
	"bytes"
	"container/list"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/go-github/v62/github"
	"github.com/rs/zerolog"

	"swemill/pipeline"
	"swemill/retry"
)

// Stats counts the requests a Miner sent to GitHub. It is safe to read at any time.
type Stats struct {
	// Requests counts HTTP requests sent, 304s included.
	Requests int64
	// NotModified counts the requests GitHub answered 304 Not Modified (free of rate limit).
	NotModified int64
	// RateLimited counts the responses that were a primary or secondary rate limit.
	RateLimited int64
	// Retried counts the requests retried after a 5xx or a network error.
	Retried int64
}

type counters struct {
	requests, notModified, rateLimited, retried atomic.Int64
}

func (c *counters) snapshot() Stats {
	return Stats{
		Requests: c.requests.Load(), NotModified: c.notModified.Load(),
		RateLimited: c.rateLimited.Load(), Retried: c.retried.Load(),
	}
}

// fingerprint names a token in cursors and logs without revealing it.
func fingerprint(tok string) string {
	if tok == "" {
		return "anonymous"
	}
	h := sha256.Sum256([]byte("swemill github token\x00" + tok))
	return hex.EncodeToString(h[:6])
}

// token is one credential with its own go-github client, ETag cache and rate-limit state.
// GitHub asks integrators to send one request at a time per credential: sem holds that turn.
type token struct {
	fp  string
	sem chan struct{}

	mu           sync.Mutex
	client       *github.Client
	httpClient   *http.Client
	remaining    int // -1 until a response tells
	reset        time.Time
	blockedUntil time.Time
	lastUsed     int64
	// secondary counts the secondary limits in a row that came without Retry-After: each
	// doubles the wait (from a minute), as GitHub asks.
	secondary int
}

// ghClient sends go-github calls through a pool of tokens, waiting or switching token on rate
// limits and retrying transient failures.
type ghClient struct {
	tokens  []*token
	newGH   func(*http.Client) (*github.Client, error)
	clock   Clock
	maxWait time.Duration
	retry   retry.Policy // of transient failures (5xx, network)
	stats   *counters
	seq     atomic.Int64
	log     zerolog.Logger
}

// recordFunc receives the body of every 200 response (served from the ETag cache or not) and
// of every 406 (GitHub refusing a diff), with the request as it was asked (before any
// redirect), and the Location of every redirect (301 for a renamed repository or a
// transferred issue), with the request that met it.
type recordFunc func(req *http.Request, status int, body []byte)

// asked returns the request a redirected request started from.
func asked(req *http.Request) *http.Request {
	for req.Response != nil && req.Response.Request != nil {
		req = req.Response.Request
	}
	return req
}

func newGHClient(cfg Config, stats *counters, record recordFunc) (*ghClient, error) {
	c := &ghClient{
		clock: cfg.Clock, maxWait: cfg.MaxWait, stats: stats,
		log: cfg.Log.With().Str("component", "github").Logger(),
	}
	c.retry = retry.Policy{
		Attempts: max(cfg.Retries, 0) + 1, Min: time.Second, Max: time.Minute, Sleep: cfg.Clock.Sleep,
		Retryable: func(err error) (bool, time.Duration) { return transient(err), 0 },
		OnRetry: func(_ int, wait time.Duration, err error) {
			stats.retried.Add(1)
			c.log.Warn().Err(err).Dur("backoff", wait).Msg("transient GitHub failure; retrying")
		},
	}
	c.newGH = func(hc *http.Client) (*github.Client, error) {
		gh := github.NewClient(hc)
		if cfg.BaseURL != "" {
			// Used as given (go-github's WithEnterpriseURLs would append "api/v3/").
			base := cfg.BaseURL
			if !strings.HasSuffix(base, "/") {
				base += "/"
			}
			u, err := url.Parse(base)
			if err != nil {
				return nil, fmt.Errorf("setting GitHub base URL: %w", err)
			}
			gh.BaseURL, gh.UploadURL = u, u
		}
		return gh, nil
	}
	toks := cfg.Tokens
	if len(toks) == 0 {
		toks = []string{""}
	}
	base := cfg.HTTPClient.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	seen := map[string]bool{}
	for _, tok := range toks {
		fp := fingerprint(tok)
		if seen[fp] {
			continue
		}
		seen[fp] = true
		hc := &http.Client{
			Transport: &transport{token: tok, base: base, cache: newETagCache(cfg.ETagCacheBytes), stats: stats, record: record},
			Timeout:   cfg.HTTPClient.Timeout,
		}
		gh, err := c.newGH(hc)
		if err != nil {
			return nil, err
		}
		c.tokens = append(c.tokens, &token{fp: fp, sem: make(chan struct{}, 1), client: gh, httpClient: hc, remaining: -1})
	}
	return c, nil
}

// errRateLimited is wrapped in the RetryAfter handed to the runner when every token is limited.
var errRateLimited = errors.New("every GitHub token is rate limited")

// pick returns the token to use next: an unblocked one, preferring those in prefer (which
// hold an ETag for the request), then the one with most requests left, then the least
// recently used. When every token is blocked it returns nil and how long until one frees.
func (c *ghClient) pick(prefer map[string]string) (*token, time.Duration) {
	now := c.clock.Now()
	var best *token
	bestScore := 0
	var soonest time.Duration = -1
	for _, t := range c.tokens {
		t.mu.Lock()
		blocked, until := now.Before(t.blockedUntil), t.blockedUntil
		if !blocked && t.remaining == 0 && now.Before(t.reset) {
			blocked, until = true, t.reset
		}
		remaining, last := t.remaining, t.lastUsed
		t.mu.Unlock()
		if blocked {
			if d := until.Sub(now); soonest < 0 || d < soonest {
				soonest = d
			}
			continue
		}
		score := 0
		if _, ok := prefer[t.fp]; ok {
			score += 1 << 40
		}
		if remaining < 0 {
			remaining = 5000
		}
		score += remaining << 20
		score -= int(last % (1 << 19))
		if best == nil || score > bestScore {
			best, bestScore = t, score
		}
	}
	if best == nil {
		return nil, soonest
	}
	return best, 0
}

// call is one go-github call made with a token's client.
type call func(ctx context.Context, gh *github.Client) (*github.Response, error)

// do runs fn with a token from the pool and returns the token's fingerprint. It waits for
// rate limits up to maxWait (beyond that it returns a *pipeline.RetryAfterError), switches
// tokens when one is limited, and retries 5xx and network failures with backoff (c.retry);
// past its retries such a failure is handed to the runner as a *pipeline.RetryAfterError.
func (c *ghClient) do(ctx context.Context, prefer map[string]string, fn call) (string, error) {
	var fp string
	limits := 0 // rate limits met, over every try
	err := c.retry.Do(ctx, func(ctx context.Context) error {
		var err error
		fp, err = c.try(ctx, prefer, fn, &limits)
		return err
	})
	switch {
	case err == nil:
		return fp, nil
	case ctx.Err() != nil:
		return "", context.Cause(ctx)
	case transient(err):
		var gu *retry.GiveUpError
		if errors.As(err, &gu) {
			err = gu.Err
		}
		return "", pipeline.RetryAfter(c.retry.Backoff(max(c.retry.Attempts, 1)), err)
	}
	return fp, err
}

// try runs fn once with a token from the pool, waiting for rate limits up to maxWait and
// switching tokens when one is limited; limits counts the rate limits met.
func (c *ghClient) try(ctx context.Context, prefer map[string]string, fn call, limits *int) (string, error) {
	for {
		t, wait := c.pick(prefer)
		if t == nil {
			if c.maxWait < 0 || wait > c.maxWait || *limits > 20 {
				return "", pipeline.RetryAfter(wait, errRateLimited)
			}
			c.log.Info().Dur("wait", wait).Msg("every token is rate limited; waiting")
			if err := c.clock.Sleep(ctx, wait); err != nil {
				return "", err
			}
			continue
		}
		select {
		case t.sem <- struct{}{}:
		case <-ctx.Done():
			return "", context.Cause(ctx)
		}
		t.mu.Lock()
		gh := t.client
		t.lastUsed = c.seq.Add(1)
		t.mu.Unlock()
		resp, err := fn(context.WithValue(ctx, tokenFPKey{}, t.fp), gh)
		<-t.sem
		if resp != nil && resp.Response != nil && resp.Header.Get("X-From-Cache") == "" {
			c.observe(t, resp)
		}
		if err == nil {
			t.mu.Lock()
			t.secondary = 0
			t.mu.Unlock()
			return t.fp, nil
		}
		if ctx.Err() != nil {
			return "", context.Cause(ctx)
		}
		if until, ok := c.limitedUntil(t, err); ok {
			*limits++
			c.stats.rateLimited.Add(1)
			c.block(t, until)
			c.log.Warn().Str("token", t.fp).Time("until", until).Msg("token rate limited; switching or waiting")
			continue
		}
		return t.fp, err
	}
}

// observe records the rate-limit headers of a response.
func (c *ghClient) observe(t *token, resp *github.Response) {
	if resp.Header.Get("X-RateLimit-Remaining") == "" {
		return
	}
	t.mu.Lock()
	t.remaining = resp.Rate.Remaining
	t.reset = resp.Rate.Reset.Time
	t.mu.Unlock()
}

// block marks a token unusable until a time and gives it a fresh go-github client, whose own
// rate-limit memory (kept in wall-clock time) would otherwise refuse requests after the wait.
func (c *ghClient) block(t *token, until time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if until.After(t.blockedUntil) {
		t.blockedUntil = until
	}
	if gh, err := c.newGH(t.httpClient); err == nil {
		t.client = gh
	}
}

// limitedUntil reports whether err, t's answer, is a rate limit and when it ends. A primary
// limit ends at its window's reset. A secondary limit ends after its Retry-After; without one
// (GitHub often sends none, and go-github then reports the primary window's reset, up to an
// hour away) it ends after a minute, doubled for each secondary limit in a row, as GitHub's
// documentation asks.
func (c *ghClient) limitedUntil(t *token, err error) (time.Time, bool) {
	now := c.clock.Now()
	var rl *github.RateLimitError
	if errors.As(err, &rl) {
		if rl.Rate.Reset.Time.After(now) {
			return rl.Rate.Reset.Time, true
		}
		if d, ok := retryAfterHeader(rl.Response, now); ok {
			return now.Add(d), true
		}
		return now.Add(time.Minute), true
	}
	var resp *http.Response
	var ab *github.AbuseRateLimitError
	var er *github.ErrorResponse
	switch {
	case errors.As(err, &ab):
		resp = ab.Response
	case errors.As(err, &er) && er.Response != nil:
		code := er.Response.StatusCode
		if code != http.StatusTooManyRequests && (code != http.StatusForbidden || er.Response.Header.Get("Retry-After") == "") {
			return time.Time{}, false
		}
		resp = er.Response
		if resp.Header.Get("Retry-After") == "" && resp.Header.Get("X-RateLimit-Remaining") == "0" {
			if s, err := strconv.ParseInt(resp.Header.Get("X-RateLimit-Reset"), 10, 64); err == nil {
				if r := time.Unix(s, 0); r.After(now) {
					return r, true
				}
			}
		}
	default:
		return time.Time{}, false
	}
	if d, ok := retryAfterHeader(resp, now); ok {
		return now.Add(d), true
	}
	t.mu.Lock()
	t.secondary++
	n := t.secondary
	t.mu.Unlock()
	return now.Add(secondaryWait(n)), true
}

// secondaryWait is the wait after the nth secondary limit in a row without Retry-After: a
// minute, doubled each time, at most half an hour.
func secondaryWait(n int) time.Duration {
	return min(time.Minute<<min(max(n-1, 0), 5), 30*time.Minute)
}

func retryAfterHeader(resp *http.Response, now time.Time) (time.Duration, bool) {
	if resp == nil {
		return 0, false
	}
	return retry.ParseRetryAfter(resp.Header, now)
}

// transient reports whether err is worth retrying: a 5xx or a failure of the connection.
func transient(err error) bool {
	var er *github.ErrorResponse
	if errors.As(err, &er) && er.Response != nil {
		return er.Response.StatusCode >= 500
	}
	return retry.ConnectionFailure(err)
}

// statusOf returns the HTTP status of a go-github error, or 0.
func statusOf(err error) int {
	var er *github.ErrorResponse
	if errors.As(err, &er) && er.Response != nil {
		return er.Response.StatusCode
	}
	return 0
}

// transport authenticates requests, makes GETs conditional on a cached ETag (serving the
// cached body on 304), counts requests and hands successful bodies to record.
type transport struct {
	token  string
	base   http.RoundTripper
	cache  *etagCache
	stats  *counters
	record recordFunc
}

type ifNoneMatchKey struct{}

// withIfNoneMatch asks for a request conditional on etag even when the cache holds no body
// for it; a 304 then surfaces as a go-github *ErrorResponse with status 304.
func withIfNoneMatch(ctx context.Context, etag string) context.Context {
	if etag == "" {
		return ctx
	}
	return context.WithValue(ctx, ifNoneMatchKey{}, etag)
}

func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	r := req.Clone(req.Context())
	if t.token != "" {
		r.Header.Set("Authorization", "Bearer "+t.token)
	}
	key := ""
	var cached *etagEntry
	if r.Method == http.MethodGet {
		key = r.URL.String() + "\x00" + r.Header.Get("Accept")
		cached = t.cache.get(key)
		switch {
		case cached != nil:
			r.Header.Set("If-None-Match", cached.etag)
		case r.Context().Value(ifNoneMatchKey{}) != nil:
			r.Header.Set("If-None-Match", r.Context().Value(ifNoneMatchKey{}).(string))
		}
	}
	t.stats.requests.Add(1)
	resp, err := t.base.RoundTrip(r)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode == http.StatusNotModified {
		t.stats.notModified.Add(1)
		if cached != nil {
			resp.Body.Close()
			h := cached.header.Clone()
			for k, v := range resp.Header {
				if strings.HasPrefix(k, "X-Ratelimit-") {
					h[k] = v
				}
			}
			h.Set("X-From-Cache", "1")
			if t.record != nil {
				t.record(asked(req), http.StatusOK, cached.body)
			}
			return &http.Response{
				Status: "200 OK", StatusCode: http.StatusOK, Proto: resp.Proto, ProtoMajor: resp.ProtoMajor,
				ProtoMinor: resp.ProtoMinor, Header: h, Body: io.NopCloser(bytes.NewReader(cached.body)),
				ContentLength: int64(len(cached.body)), Request: req,
			}, nil
		}
		return resp, nil
	}
	if resp.StatusCode == http.StatusNotAcceptable && t.record != nil {
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return nil, err
		}
		resp.Body = io.NopCloser(bytes.NewReader(body))
		t.record(asked(req), resp.StatusCode, body)
		return resp, nil
	}
	if t.record != nil && resp.StatusCode >= 300 && resp.StatusCode < 400 && resp.Header.Get("Location") != "" {
		t.record(req, resp.StatusCode, []byte(resp.Header.Get("Location")))
	}
	if resp.StatusCode != http.StatusOK || r.Method != http.MethodGet {
		return resp, nil
	}
	etag := resp.Header.Get("ETag")
	if (etag == "" || r.Context().Value(ifNoneMatchKey{}) == nil) && t.record == nil {
		return resp, nil
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	if etag != "" && r.Context().Value(ifNoneMatchKey{}) != nil {
		// Only answers the caller asked for conditionally (a repository, its lists' first
		// items: their ETags live in the cursor) are asked again; others are not kept.
		t.cache.put(key, &etagEntry{etag: etag, body: body, header: resp.Header.Clone()})
	}
	if t.record != nil {
		t.record(asked(req), http.StatusOK, body)
	}
	return resp, nil
}

type etagEntry struct {
	key    string
	etag   string
	body   []byte
	header http.Header
}

// size is what an entry holds in memory, roughly: its body, key, ETag and header.
func (e *etagEntry) size() int64 {
	n := len(e.key) + len(e.etag) + len(e.body)
	for k, vs := range e.header {
		n += len(k)
		for _, v := range vs {
			n += len(v)
		}
	}
	return int64(n)
}

// etagCache keeps responses that carried an ETag, to requests the caller made conditional
// (withIfNoneMatch), least recently used first out, within a budget of bytes, so that asking
// again costs a 304 (which GitHub does not count against
// the rate limit). It is per token: GitHub's ETags depend on the credential. A response
// larger than an eighth of the budget is not kept.
type etagCache struct {
	mu       sync.Mutex
	maxBytes int64
	bytes    int64
	m        map[string]*list.Element // of *etagEntry
	lru      *list.List               // front: most recently used
}

func newETagCache(maxBytes int64) *etagCache {
	return &etagCache{maxBytes: maxBytes, m: map[string]*list.Element{}, lru: list.New()}
}

func (c *etagCache) get(k string) *etagEntry {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.m[k]
	if !ok {
		return nil
	}
	c.lru.MoveToFront(el)
	return el.Value.(*etagEntry)
}

func (c *etagCache) put(k string, e *etagEntry) {
	e.key = k
	size := e.size()
	c.mu.Lock()
	defer c.mu.Unlock()
	if old, ok := c.m[k]; ok {
		c.bytes -= old.Value.(*etagEntry).size()
		c.lru.Remove(old)
		delete(c.m, k)
	}
	if size > c.maxBytes/8 {
		return
	}
	c.m[k] = c.lru.PushFront(e)
	c.bytes += size
	for c.bytes > c.maxBytes {
		last := c.lru.Back()
		le := last.Value.(*etagEntry)
		c.bytes -= le.size()
		c.lru.Remove(last)
		delete(c.m, le.key)
	}
}
