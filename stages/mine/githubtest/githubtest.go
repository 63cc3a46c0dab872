// Package githubtest is a fake GitHub REST API for tests: an httptest server that serves a
// directory in swemill's snapshot format (see package mine) with the behaviour of
// api.github.com that a client must cope with: Link-header pagination; rate-limit headers and
// primary limits per account, shared by the account's tokens (Options.Accounts), core
// requests by the hour and searches by the minute (30, 10 without a token), each resource
// with its own window; GET /user naming the token's account; weak ETags and 304s that cost
// nothing (ETags of bodies that embed a repository change with its pushes and stars, Push
// and Star); 301s for renamed repositories and transferred issues (Rename, Transfer); 401 for
// unknown tokens; 404 and 410 for missing and deleted issues; 406 "diff too large"; 422 for
// invalid searches and for search pages past the first 1,000 results; and injected failures
// (secondary limits with or without Retry-After, 5xx, refusals...) through Stubs. It is
// mounted under a path prefix ("/api-v3/" by default), as GitHub Enterprise is, so a client
// that builds absolute URLs by hand fails.
package githubtest

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Options configure a Server.
type Options struct {
	// Prefix is the API's path prefix; "" means "/api-v3/".
	Prefix string
	// Tokens are the accepted tokens; a request with another is refused with 401. Empty
	// means any token and anonymous requests are accepted.
	Tokens []string
	// Accounts maps tokens to the login of the account they belong to: the tokens of one
	// account share its rate limits, as GitHub's do. A token not listed is an account of its
	// own (named "user-" and a hash of the token); anonymous requests share one account.
	Accounts map[string]string
	// RateLimit is the number of core requests (304s excluded) an account may send per hour;
	// 0 means 5,000. Searches have their own window: 30 a minute (10 without a token).
	RateLimit int
	// Now is the server's clock, for rate-limit windows; nil means time.Now.
	Now func() time.Time
	// PerPageMax caps per_page as GitHub does; 0 means 100.
	PerPageMax int
	// Delay is how long every request takes to answer, in real time: GitHub's latency (a
	// benchmark whose clock runs faster than real time divides the latency it means by
	// its speed-up). 0 means none.
	Delay time.Duration
}

// Stub is an injected response. It answers the next Times requests (1 when zero) whose method
// and path (below the prefix, without query) match, before the fixture files are consulted.
// Stubs are used in the order they were added.
type Stub struct {
	Method string
	Path   string
	// Query, when set, must be a subset of the request's query.
	Query  url.Values
	Times  int
	Status int
	Header http.Header
	Body   string
	// NoRateCharge makes the stub's answer cost no request of the rate limit.
	NoRateCharge bool

	hits int
}

// Request is one request the server received.
type Request struct {
	Method string
	// Path is below the prefix ("repos/o/r/pulls").
	Path   string
	Query  url.Values
	Token  string
	Status int
	// Charged is when it was counted against its account's rate limit (by Options.Now); zero
	// when it was not (a 304, an answer past the limit, a stub that costs nothing).
	Charged time.Time
}

// Server is the fake. Its methods are safe for concurrent use.
type Server struct {
	// URL is the API's base URL, prefix included, ending in "/" (what go-github wants).
	URL string

	t      testing.TB
	srv    *httptest.Server
	fsys   fs.FS
	opts   Options
	prefix string

	mu        sync.Mutex
	stubs     []*Stub
	limits    map[string]*window
	inflight  map[string]int
	overlaps  int
	requests  []Request
	served    map[string]bool
	outsiders []string
	pulls     map[string]*pullsCache
	// renamed maps an old repository name (lower case) to the directory that now serves it;
	// transferred maps "owner/name#N" (lower case) to where the issue lives now.
	renamed     map[string]string
	transferred map[string]transfer
	ids         map[int64]string // repository id -> directory
	// live holds pushes and stars by repository directory (lower case).
	live map[string]*liveRepo
}

// liveRepo is what changes a repository's JSON without touching its pull requests.
type liveRepo struct {
	pushedAt time.Time
	stars    int
}

type transfer struct {
	dir    string
	number int
}

type window struct {
	used  int
	reset time.Time
}

type pullsCache struct {
	stamp string
	items []pullItem
}

type pullItem struct {
	raw     json.RawMessage
	number  int
	state   string
	updated time.Time
	created time.Time
}

// New starts a fake GitHub serving fsys (a snapshot-format tree: OWNER/NAME/pulls.json...)
// and closes it when the test ends.
func New(t testing.TB, fsys fs.FS, opts Options) *Server {
	t.Helper()
	if opts.Prefix == "" {
		opts.Prefix = "/api-v3/"
	}
	if opts.RateLimit == 0 {
		opts.RateLimit = 5000
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.PerPageMax == 0 {
		opts.PerPageMax = 100
	}
	s := &Server{
		t: t, fsys: fsys, opts: opts, prefix: opts.Prefix,
		limits: map[string]*window{}, inflight: map[string]int{}, served: map[string]bool{},
		pulls: map[string]*pullsCache{}, renamed: map[string]string{}, transferred: map[string]transfer{},
		ids: map[int64]string{}, live: map[string]*liveRepo{},
	}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	s.URL = s.srv.URL + opts.Prefix
	t.Cleanup(s.srv.Close)
	return s
}

// Rename makes the repository served from dir (OWNER/NAME) answer under its former name old
// as GitHub does after a rename: every request below /repos/OLD/ answers 301 Moved
// Permanently to the same path below /repositories/ID/, which serves dir.
func (s *Server) Rename(old, dir string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.renamed[strings.ToLower(old)] = dir
}

// Transfer moves issue number of repository from (OWNER/NAME) to issue toNumber of the
// repository served from dir, as GitHub does when an issue is transferred: the old issue's
// URL answers 301 Moved Permanently to /repositories/ID/issues/TO_NUMBER.
func (s *Server) Transfer(from string, number int, dir string, toNumber int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.transferred[strings.ToLower(from)+"#"+strconv.Itoa(number)] = transfer{dir: dir, number: toNumber}
}

// repoID returns the id of the repository served from dir: its repo.json's, else one made
// from its name.
func (s *Server) repoID(dir string) int64 {
	var r struct {
		ID int64 `json:"id"`
	}
	id := int64(0)
	if b, err := fs.ReadFile(s.fsys, dir+"/repo.json"); err == nil && json.Unmarshal([]byte(b), &r) == nil {
		id = r.ID
	}
	if id == 0 {
		sum := sha256.Sum256([]byte(strings.ToLower(dir)))
		id = int64(sum[0])<<16 | int64(sum[1])<<8 | int64(sum[2]) + 1
	}
	s.mu.Lock()
	s.ids[id] = dir
	s.mu.Unlock()
	return id
}

// redirect returns where a renamed repository's or a transferred issue's path moved.
func (s *Server) redirect(r *http.Request, rel string) (string, bool) {
	parts := strings.Split(strings.Trim(rel, "/"), "/")
	if len(parts) < 3 || parts[0] != "repos" {
		return "", false
	}
	repo := strings.ToLower(parts[1] + "/" + parts[2])
	s.mu.Lock()
	dir, renamed := s.renamed[repo]
	var tr transfer
	moved := false
	if len(parts) == 5 && parts[3] == "issues" {
		tr, moved = s.transferred[repo+"#"+parts[4]]
	}
	s.mu.Unlock()
	var to string
	switch {
	case moved:
		to = fmt.Sprintf("repositories/%d/issues/%d", s.repoID(tr.dir), tr.number)
	case renamed:
		to = fmt.Sprintf("repositories/%d", s.repoID(dir))
		if len(parts) > 3 {
			to += "/" + strings.Join(parts[3:], "/")
		}
	default:
		return "", false
	}
	loc := s.srv.URL + s.prefix + to
	if r.URL.RawQuery != "" {
		loc += "?" + r.URL.RawQuery
	}
	return loc, true
}

// Push records a push to the repository served from dir (OWNER/NAME) at time at: its
// pushed_at changes in repo.json and in the base repository every listed pull request
// embeds, as on GitHub, so those bodies (and their ETags) change while no pull request did.
func (s *Server) Push(dir string, at time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.liveRepo(dir).pushedAt = at.UTC()
}

// Star adds n stars to the repository served from dir, with the same effect as Push on the
// bodies that embed it.
func (s *Server) Star(dir string, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.liveRepo(dir).stars += n
}

func (s *Server) liveRepo(dir string) *liveRepo {
	k := strings.ToLower(dir)
	if s.live[k] == nil {
		s.live[k] = &liveRepo{}
	}
	return s.live[k]
}

// withLive returns a repository's JSON with its pushes and stars applied (raw itself when it
// has none).
func (s *Server) withLive(dir string, raw []byte) []byte {
	s.mu.Lock()
	lv := s.live[strings.ToLower(dir)]
	var l liveRepo
	if lv != nil {
		l = *lv
	}
	s.mu.Unlock()
	if lv == nil {
		return raw
	}
	var m map[string]any
	if json.Unmarshal(raw, &m) != nil {
		return raw
	}
	if !l.pushedAt.IsZero() {
		m["pushed_at"] = l.pushedAt.Format(time.RFC3339)
		m["updated_at"] = l.pushedAt.Format(time.RFC3339)
	}
	for _, k := range []string{"stargazers_count", "watchers_count", "watchers"} {
		n, _ := m[k].(float64)
		m[k] = int(n) + l.stars
	}
	b, err := json.Marshal(m)
	if err != nil {
		return raw
	}
	return b
}

// pullWithLive returns a listed pull request with its base repository's pushes and stars
// applied (and its head repository's, when that is the same repository).
func (s *Server) pullWithLive(dir string, raw json.RawMessage) json.RawMessage {
	s.mu.Lock()
	lv := s.live[strings.ToLower(dir)]
	s.mu.Unlock()
	if lv == nil {
		return raw
	}
	var pr map[string]json.RawMessage
	if json.Unmarshal(raw, &pr) != nil {
		return raw
	}
	for _, side := range []string{"base", "head"} {
		var ref map[string]json.RawMessage
		if json.Unmarshal(pr[side], &ref) != nil || ref["repo"] == nil {
			continue
		}
		var name struct {
			FullName string `json:"full_name"`
		}
		if json.Unmarshal(ref["repo"], &name) != nil || !strings.EqualFold(name.FullName, dir) {
			continue
		}
		ref["repo"] = s.withLive(dir, ref["repo"])
		pr[side], _ = json.Marshal(ref)
	}
	b, err := json.Marshal(pr)
	if err != nil {
		return raw
	}
	return b
}

// Close stops the server (also done when the test ends).
func (s *Server) Close() { s.srv.Close() }

// Stub adds an injected response and returns it.
func (s *Server) Stub(st Stub) *Stub {
	if st.Times == 0 {
		st.Times = 1
	}
	if st.Method == "" {
		st.Method = http.MethodGet
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stubs = append(s.stubs, &st)
	return &st
}

// SecondaryLimit returns the stub GitHub's secondary (abuse) rate limit answers with: with a
// Retry-After of retryAfter seconds, or none when retryAfter is 0 (as GitHub often answers;
// the primary window's X-RateLimit-* headers come with it either way).
func SecondaryLimit(path string, retryAfter int) Stub {
	h := http.Header{}
	if retryAfter > 0 {
		h.Set("Retry-After", strconv.Itoa(retryAfter))
	}
	return Stub{
		Path: path, Status: http.StatusForbidden, NoRateCharge: true,
		Header: h,
		Body:   `{"message":"You have exceeded a secondary rate limit. Please wait a few minutes before you try again. If you reach out to GitHub Support for help, please include the request ID 0000:0000:0000000:0000000:00000000.","documentation_url":"https://docs.github.com/free-pro-team@latest/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits","status":"403"}`,
	}
}

// Unreadable returns the stub of a resource GitHub refuses to show: 403 for an organisation's
// resource behind SAML single sign-on that the token is not authorised for, 451 for one
// unavailable for legal reasons.
func Unreadable(path string, status int) Stub {
	body := `{"message":"Resource protected by organization SAML enforcement. You must grant your Personal Access token access to this organization.","documentation_url":"https://docs.github.com/articles/authenticating-to-a-github-organization-with-saml-single-sign-on/","status":"403"}`
	if status == http.StatusUnavailableForLegalReasons {
		body = `{"message":"Repository access blocked","block":{"reason":"dmca","created_at":"2020-01-01T00:00:00Z"},"status":"451"}`
	}
	return Stub{Path: path, Status: status, Body: body}
}

// Refusal returns a stub answering a 4xx that asking again will not change: 422 with
// GitHub's "Validation Failed" shape, or another status with a message. With page > 0 it
// answers only that page of a list, as GitHub does past a pagination cap.
func Refusal(path string, status, page int) Stub {
	body := `{"message":"Validation Failed","errors":[{"resource":"Issue","code":"invalid"}],"documentation_url":"https://docs.github.com/rest","status":"422"}`
	if page > 0 {
		body = `{"message":"Pagination is limited for this resource.","documentation_url":"https://docs.github.com/rest/using-the-rest-api/using-pagination-in-the-rest-api","status":"422"}`
	}
	if status != http.StatusUnprocessableEntity {
		body = fmt.Sprintf(`{"message":%q,"documentation_url":"https://docs.github.com/rest","status":"%d"}`, http.StatusText(status), status)
	}
	st := Stub{Path: path, Status: status, Body: body}
	if page > 0 {
		st.Query = url.Values{"page": {strconv.Itoa(page)}}
	}
	return st
}

// ServerError returns a stub answering a 5xx.
func ServerError(path string, status int) Stub {
	return Stub{Path: path, Status: status, Body: `{"message":"Server Error"}`}
}

// Verify fails the test if a stub was not used up, a request missed the prefix, or two
// requests with the same token overlapped.
func (s *Server) Verify(t testing.TB) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, st := range s.stubs {
		if st.hits < st.Times {
			t.Errorf("githubtest: stub %s %s was hit %d of %d times", st.Method, st.Path, st.hits, st.Times)
		}
	}
	for _, p := range s.outsiders {
		t.Errorf("githubtest: request outside the API prefix %s: %s", s.prefix, p)
	}
	if s.overlaps > 0 {
		t.Errorf("githubtest: %d requests overlapped another of the same token", s.overlaps)
	}
}

// Requests returns the requests received so far.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// Served returns the fixture files served so far, sorted.
func (s *Server) Served() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for f := range s.served {
		out = append(out, f)
	}
	sort.Strings(out)
	return out
}

// Count tells how many requests were received and how many of them were answered 304.
func (s *Server) Count() (requests, notModified int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range s.requests {
		requests++
		if r.Status == http.StatusNotModified {
			notModified++
		}
	}
	return requests, notModified
}

// Reset forgets the requests received (rate-limit windows stay).
func (s *Server) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = nil
}

func tokenOf(r *http.Request) string {
	h := r.Header.Get("Authorization")
	for _, p := range []string{"Bearer ", "bearer ", "token ", "Token "} {
		if t, ok := strings.CutPrefix(h, p); ok {
			return strings.TrimSpace(t)
		}
	}
	return ""
}

// writer calls done with the status just before the response leaves, so the request is
// recorded (and no longer in flight) before the client can see the answer.
type writer struct {
	http.ResponseWriter
	done    func(status int)
	charged time.Time
}

func (w *writer) WriteHeader(code int) {
	if w.done != nil {
		w.done(code)
		w.done = nil
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *writer) Write(b []byte) (int, error) {
	if w.done != nil {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(b)
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	tok := tokenOf(r)
	if s.opts.Delay > 0 {
		// Before the request counts as in flight: a client that waits for answers one at a
		// time per token never overlaps itself however slow the server is.
		t := time.NewTimer(s.opts.Delay)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
		}
	}
	s.mu.Lock()
	s.inflight[tok]++
	if s.inflight[tok] > 1 {
		s.overlaps++
	}
	s.mu.Unlock()
	rel := ""
	ww := &writer{ResponseWriter: w}
	ww.done = func(status int) {
		s.mu.Lock()
		s.inflight[tok]--
		s.requests = append(s.requests, Request{Method: r.Method, Path: rel, Query: r.URL.Query(), Token: tok, Status: status, Charged: ww.charged})
		s.mu.Unlock()
	}
	defer func() {
		if ww.done != nil { // a handler that wrote nothing
			ww.WriteHeader(http.StatusOK)
		}
	}()
	if !strings.HasPrefix(r.URL.Path, s.prefix) {
		s.mu.Lock()
		s.outsiders = append(s.outsiders, r.URL.Path)
		s.mu.Unlock()
		writeJSON(ww, http.StatusNotFound, `{"message":"Not Found","documentation_url":"https://docs.github.com/rest"}`)
		return
	}
	rel = strings.TrimPrefix(r.URL.Path, s.prefix)
	if len(s.opts.Tokens) > 0 && !contains(s.opts.Tokens, tok) {
		writeJSON(ww, http.StatusUnauthorized, `{"message":"Bad credentials","documentation_url":"https://docs.github.com/rest","status":"401"}`)
		return
	}
	resource := "core"
	if strings.HasPrefix(rel, "search/") {
		resource = "search"
	}
	if st := s.takeStub(r.Method, rel, r.URL.Query()); st != nil {
		if !st.NoRateCharge {
			if s.charge(ww, tok, resource) {
				return
			}
		} else {
			s.rateHeaders(ww.Header(), tok, resource)
		}
		for k, v := range st.Header {
			ww.Header()[k] = v
		}
		writeJSON(ww, st.Status, st.Body)
		return
	}
	if r.Method == http.MethodGet && rel == "user" && tok == "" {
		writeJSON(ww, http.StatusUnauthorized, `{"message":"Requires authentication","documentation_url":"https://docs.github.com/rest/users/users#get-the-authenticated-user","status":"401"}`)
		return
	}
	if loc, ok := s.redirect(r, rel); ok {
		if s.charge(ww, tok, resource) {
			return
		}
		ww.Header().Set("Location", loc)
		writeJSON(ww, http.StatusMovedPermanently, fmt.Sprintf(`{"message":"Moved Permanently","url":%q,"documentation_url":"https://docs.github.com/rest/using-the-rest-api/troubleshooting-the-rest-api"}`, loc))
		return
	}
	a := s.route(r, rel, tok)
	if r.Method == http.MethodGet && a.status == http.StatusOK {
		sum := sha256.Sum256([]byte(tok + "\x00" + r.Header.Get("Accept") + "\x00" + a.body))
		etag := `W/"` + hex.EncodeToString(sum[:16]) + `"`
		ww.Header().Set("ETag", etag)
		if inm := r.Header.Get("If-None-Match"); inm != "" && inm == etag {
			s.rateHeaders(ww.Header(), tok, resource)
			ww.WriteHeader(http.StatusNotModified)
			return
		}
	}
	if s.charge(ww, tok, resource) {
		return
	}
	if a.link != "" {
		ww.Header().Set("Link", a.link)
	}
	ww.Header().Set("Content-Type", a.ctype)
	ww.WriteHeader(a.status)
	_, _ = ww.Write([]byte(a.body))
}

// account returns the login of the account tok belongs to ("" for anonymous requests).
func (s *Server) account(tok string) string {
	if tok == "" {
		return ""
	}
	if login, ok := s.opts.Accounts[tok]; ok {
		return login
	}
	sum := sha256.Sum256([]byte("githubtest account\x00" + tok))
	return "user-" + hex.EncodeToString(sum[:4])
}

// userID is the numeric id GitHub would give an account.
func userID(login string) int64 {
	sum := sha256.Sum256([]byte(login))
	return int64(binary.BigEndian.Uint32(sum[:4])>>1) + 1
}

// window returns the current rate-limit window of tok's account for resource, opening a new
// one when the last has reset: an hour long for core requests, a minute for searches.
// s.mu must be held.
func (s *Server) window(tok, resource string) *window {
	return s.windowAt(tok, resource, s.opts.Now())
}

// windowAt is window at time now.
func (s *Server) windowAt(tok, resource string, now time.Time) *window {
	key := s.account(tok) + "\x00" + resource
	win := s.limits[key]
	if win == nil || !now.Before(win.reset) {
		length := time.Hour
		if resource == "search" {
			length = time.Minute
		}
		win = &window{reset: now.Add(length).Truncate(time.Second)}
		s.limits[key] = win
	}
	return win
}

// charge counts a request against the rate limit of the token's account and answers 403
// when it is spent.
func (s *Server) charge(w http.ResponseWriter, tok, resource string) bool {
	s.mu.Lock()
	now := s.opts.Now()
	win := s.windowAt(tok, resource, now)
	exceeded := win.used >= s.limit(tok, resource)
	if !exceeded {
		win.used++
		if ww, ok := w.(*writer); ok {
			ww.charged = now
		}
	}
	s.mu.Unlock()
	s.rateHeaders(w.Header(), tok, resource)
	if exceeded {
		who := "127.0.0.1"
		if tok != "" {
			who = "user ID " + strconv.FormatInt(userID(s.account(tok)), 10)
		}
		writeJSON(w, http.StatusForbidden, `{"message":"API rate limit exceeded for `+who+`. If you reach out to GitHub Support for help, please include the request ID 0000:0000:0000000:0000000:00000000.","documentation_url":"https://docs.github.com/rest/overview/rate-limits-for-the-rest-api","status":"403"}`)
	}
	return exceeded
}

// limit is the size of a rate-limit window: Options.RateLimit core requests an hour, 30
// searches a minute (10 without a token).
func (s *Server) limit(tok, resource string) int {
	if resource == "search" {
		if tok == "" {
			return 10
		}
		return 30
	}
	return s.opts.RateLimit
}

func (s *Server) rateHeaders(h http.Header, tok, resource string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	win := s.window(tok, resource)
	limit := s.limit(tok, resource)
	h.Set("X-RateLimit-Limit", strconv.Itoa(limit))
	h.Set("X-RateLimit-Remaining", strconv.Itoa(max(0, limit-win.used)))
	h.Set("X-RateLimit-Used", strconv.Itoa(win.used))
	h.Set("X-RateLimit-Reset", strconv.FormatInt(win.reset.Unix(), 10))
	h.Set("X-RateLimit-Resource", resource)
}

func (s *Server) takeStub(method, rel string, q url.Values) *Stub {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, st := range s.stubs {
		if st.hits >= st.Times || st.Method != method || st.Path != rel {
			continue
		}
		match := true
		for k, vs := range st.Query {
			if q.Get(k) != vs[0] {
				match = false
			}
		}
		if match {
			st.hits++
			return st
		}
	}
	return nil
}

func writeJSON(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(body))
}

const jsonType = "application/json; charset=utf-8"

// answer is a response from the fixtures.
type answer struct {
	status int
	body   string
	ctype  string
	link   string
}

func notFound(doc string) answer {
	return answer{status: http.StatusNotFound, body: `{"message":"Not Found","documentation_url":"https://docs.github.com/rest/` + doc + `","status":"404"}`, ctype: jsonType}
}

// route answers from the fixture files (and GET /user from Options.Accounts).
func (s *Server) route(r *http.Request, rel, tok string) answer {
	if r.Method != http.MethodGet {
		return notFound("")
	}
	parts := strings.Split(strings.Trim(rel, "/"), "/")
	q := r.URL.Query()
	if rel == "user" {
		login := s.account(tok)
		b, _ := json.Marshal(map[string]any{"login": login, "id": userID(login), "type": "User", "site_admin": false})
		return answer{status: http.StatusOK, body: string(b), ctype: jsonType}
	}
	if len(parts) == 2 && parts[0] == "search" && parts[1] == "repositories" {
		return s.search(r)
	}
	var dir string
	var rest []string
	switch {
	case len(parts) >= 2 && parts[0] == "repositories":
		id, _ := strconv.ParseInt(parts[1], 10, 64)
		s.mu.Lock()
		d, ok := s.ids[id]
		s.mu.Unlock()
		if !ok {
			return notFound("")
		}
		dir, rest = d, parts[2:]
	case len(parts) >= 3 && parts[0] == "repos":
		dir, rest = parts[1]+"/"+parts[2], parts[3:]
	default:
		return notFound("")
	}
	switch {
	case len(rest) == 0:
		if b, ok := s.file(dir + "/repo.json"); ok {
			return answer{status: http.StatusOK, body: string(s.withLive(dir, []byte(b))), ctype: jsonType}
		}
		return notFound("repos/repos#get-a-repository")
	case len(rest) == 1 && rest[0] == "pulls":
		return s.listPulls(r, dir, q)
	case len(rest) == 1 && rest[0] == "issues":
		return s.listIssues(r, dir, q)
	case len(rest) == 2 && rest[0] == "pulls":
		n := rest[1]
		if strings.Contains(r.Header.Get("Accept"), "diff") {
			if b, ok := s.file(dir + "/pulls/" + n + ".too_large"); ok {
				return answer{status: http.StatusNotAcceptable, body: b, ctype: jsonType}
			}
			if b, ok := s.file(dir + "/pulls/" + n + ".diff"); ok {
				return answer{status: http.StatusOK, body: b, ctype: "text/plain; charset=utf-8"}
			}
			return notFound("pulls/pulls#get-a-pull-request")
		}
		num, _ := strconv.Atoi(n)
		items, err := s.pullItems(dir)
		if err == nil {
			for _, it := range items {
				if it.number == num {
					return answer{status: http.StatusOK, body: string(s.pullWithLive(dir, it.raw)), ctype: jsonType}
				}
			}
		}
		return notFound("pulls/pulls#get-a-pull-request")
	case len(rest) == 2 && rest[0] == "issues":
		n := rest[1]
		if b, ok := s.file(dir + "/issues/" + n + ".json"); ok {
			return answer{status: http.StatusOK, body: b, ctype: jsonType}
		}
		if _, ok := s.file(dir + "/issues/" + n + ".gone"); ok {
			return answer{status: http.StatusGone, body: `{"message":"This issue was deleted","documentation_url":"https://docs.github.com/rest/issues/issues#get-an-issue","status":"410"}`, ctype: jsonType}
		}
		num, _ := strconv.Atoi(n)
		if items, err := s.pullItems(dir); err == nil {
			for _, it := range items {
				if it.number == num {
					return answer{status: http.StatusOK, body: pullAsIssue(it.raw), ctype: jsonType}
				}
			}
		}
		return notFound("issues/issues#get-an-issue")
	case len(rest) == 3 && rest[0] == "issues" && (rest[2] == "comments" || rest[2] == "events"):
		b, ok := s.file(dir + "/issues/" + rest[1] + "/" + rest[2] + ".json")
		if !ok {
			if _, ok := s.file(dir + "/issues/" + rest[1] + ".json"); !ok {
				return notFound("issues/" + rest[2])
			}
			b = "[]"
		}
		var items []json.RawMessage
		if err := json.Unmarshal([]byte(b), &items); err != nil {
			return answer{status: http.StatusInternalServerError, body: `{"message":"bad fixture"}`, ctype: jsonType}
		}
		return s.paginate(r, items, q)
	}
	return notFound("")
}

// pullAsIssue renders a pull request as the issues API shows it.
func pullAsIssue(raw json.RawMessage) string {
	var pr map[string]json.RawMessage
	if err := json.Unmarshal(raw, &pr); err != nil {
		return "{}"
	}
	is := map[string]json.RawMessage{}
	for _, k := range []string{"url", "id", "node_id", "number", "title", "user", "labels", "state", "locked", "assignee", "assignees", "milestone", "created_at", "updated_at", "closed_at", "author_association", "body", "html_url"} {
		if v, ok := pr[k]; ok {
			is[k] = v
		}
	}
	html := strings.Trim(string(pr["html_url"]), `"`)
	link, _ := json.Marshal(map[string]any{"url": strings.Trim(string(pr["url"]), `"`), "html_url": html, "diff_url": html + ".diff", "patch_url": html + ".patch", "merged_at": pr["merged_at"]})
	is["pull_request"] = link
	b, _ := json.Marshal(is)
	return string(b)
}

func (s *Server) file(name string) (string, bool) {
	b, err := fs.ReadFile(s.fsys, name)
	if err != nil {
		return "", false
	}
	s.mu.Lock()
	s.served[name] = true
	s.mu.Unlock()
	return string(b), true
}

func (s *Server) pullItems(dir string) ([]pullItem, error) {
	name := dir + "/pulls.json"
	st, err := fs.Stat(s.fsys, name)
	if err != nil {
		return nil, err
	}
	stamp := fmt.Sprint(st.Size(), st.ModTime().UnixNano())
	s.mu.Lock()
	c := s.pulls[name]
	s.mu.Unlock()
	if c != nil && c.stamp == stamp {
		return c.items, nil
	}
	b, ok := s.file(name)
	if !ok {
		return nil, errors.New("no pulls.json")
	}
	var raws []json.RawMessage
	if err := json.Unmarshal([]byte(b), &raws); err != nil {
		return nil, err
	}
	items := make([]pullItem, 0, len(raws))
	for _, raw := range raws {
		it, err := itemOf(raw)
		if err != nil {
			return nil, err
		}
		items = append(items, it)
	}
	s.mu.Lock()
	s.pulls[name] = &pullsCache{stamp: stamp, items: items}
	s.served[name] = true
	s.mu.Unlock()
	return items, nil
}

// itemOf reads what listing needs of an issue's or a pull request's JSON.
func itemOf(raw json.RawMessage) (pullItem, error) {
	var head struct {
		Number    int       `json:"number"`
		State     string    `json:"state"`
		UpdatedAt time.Time `json:"updated_at"`
		CreatedAt time.Time `json:"created_at"`
	}
	if err := json.Unmarshal(raw, &head); err != nil {
		return pullItem{}, err
	}
	return pullItem{raw: raw, number: head.Number, state: head.State, updated: head.UpdatedAt, created: head.CreatedAt}, nil
}

func (s *Server) listPulls(r *http.Request, dir string, q url.Values) answer {
	items, err := s.pullItems(dir)
	if err != nil {
		if _, ok := s.file(dir + "/repo.json"); ok {
			items = nil
		} else {
			return notFound("pulls/pulls#list-pull-requests")
		}
	}
	return s.list(r, dir, items, q, "PullRequest", func(it pullItem) json.RawMessage { return s.pullWithLive(dir, it.raw) })
}

// listIssues answers GET /repos/OWNER/NAME/issues: the issue files and the pull requests
// (shown as issues, which embed no repository), filtered by state and since.
func (s *Server) listIssues(r *http.Request, dir string, q url.Values) answer {
	if _, ok := s.file(dir + "/repo.json"); !ok {
		return notFound("issues/issues#list-repository-issues")
	}
	pulls, _ := s.pullItems(dir)
	var items []pullItem
	for _, it := range pulls {
		it.raw = json.RawMessage(pullAsIssue(it.raw))
		items = append(items, it)
	}
	entries, _ := fs.ReadDir(s.fsys, dir+"/issues")
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".json") {
			continue
		}
		b, ok := s.file(dir + "/issues/" + e.Name())
		if !ok {
			continue
		}
		it, err := itemOf(json.RawMessage(b))
		if err != nil {
			return answer{status: http.StatusInternalServerError, body: `{"message":"bad fixture"}`, ctype: jsonType}
		}
		items = append(items, it)
	}
	if v := q.Get("since"); v != "" {
		since, err := time.Parse(time.RFC3339, v)
		if err != nil {
			return answer{status: http.StatusUnprocessableEntity, body: `{"message":"Validation Failed","errors":[{"resource":"Issue","field":"since","code":"invalid"}],"status":"422"}`, ctype: jsonType}
		}
		kept := items[:0]
		for _, it := range items {
			if !it.updated.Before(since) {
				kept = append(kept, it)
			}
		}
		items = kept
	}
	return s.list(r, dir, items, q, "Issue", func(it pullItem) json.RawMessage { return it.raw })
}

// list answers one page of items, filtered by state and sorted as asked.
func (s *Server) list(r *http.Request, dir string, items []pullItem, q url.Values, resource string, render func(pullItem) json.RawMessage) answer {
	state := q.Get("state")
	if state == "" {
		state = "open"
	}
	switch state {
	case "open", "closed", "all":
	default:
		return answer{status: http.StatusUnprocessableEntity, body: `{"message":"Validation Failed","errors":[{"resource":"` + resource + `","field":"state","code":"invalid"}],"documentation_url":"https://docs.github.com/rest","status":"422"}`, ctype: jsonType}
	}
	var sel []pullItem
	for _, it := range items {
		if state == "all" || it.state == state {
			sel = append(sel, it)
		}
	}
	key := func(it pullItem) time.Time { return it.created }
	if q.Get("sort") == "updated" {
		key = func(it pullItem) time.Time { return it.updated }
	}
	desc := q.Get("direction") != "asc"
	if q.Get("direction") == "" && q.Get("sort") == "" {
		desc = true
	}
	sort.SliceStable(sel, func(i, j int) bool {
		a, b := key(sel[i]), key(sel[j])
		if !a.Equal(b) {
			return a.After(b) == desc
		}
		return (sel[i].number > sel[j].number) == desc
	})
	raws := make([]json.RawMessage, len(sel))
	for i, it := range sel {
		raws[i] = render(it)
	}
	return s.paginate(r, raws, q)
}

// pageOf returns the page (from 1) and page size a request asks for.
func (s *Server) pageOf(q url.Values) (page, per int) {
	per = 30
	if v := q.Get("per_page"); v != "" {
		per, _ = strconv.Atoi(v)
	}
	per = max(1, min(per, s.opts.PerPageMax))
	page = 1
	if v := q.Get("page"); v != "" {
		page, _ = strconv.Atoi(v)
	}
	return max(1, page), per
}

// paginate answers one page of items with GitHub's Link header.
func (s *Server) paginate(r *http.Request, items []json.RawMessage, q url.Values) answer {
	page, per := s.pageOf(q)
	last := max(1, (len(items)+per-1)/per)
	from := min((page-1)*per, len(items))
	to := min(from+per, len(items))
	var links []string
	link := func(p int, rel string) {
		u := *r.URL
		u.Scheme, u.Host = "http", r.Host
		qq := u.Query()
		qq.Set("page", strconv.Itoa(p))
		qq.Set("per_page", strconv.Itoa(per))
		u.RawQuery = qq.Encode()
		links = append(links, fmt.Sprintf("<%s>; rel=%q", u.String(), rel))
	}
	if page > 1 {
		link(page-1, "prev")
	}
	if page < last {
		link(page+1, "next")
		link(last, "last")
	}
	if page > 1 {
		link(1, "first")
	}
	var b strings.Builder
	b.WriteString("[")
	for i, it := range items[from:to] {
		if i > 0 {
			b.WriteString(",")
		}
		b.Write(it)
	}
	b.WriteString("]")
	return answer{status: http.StatusOK, body: b.String(), ctype: jsonType, link: strings.Join(links, ", ")}
}

func (s *Server) search(r *http.Request) answer {
	q := r.URL.Query()
	if strings.TrimSpace(q.Get("q")) == "" {
		return answer{status: http.StatusUnprocessableEntity, body: `{"message":"Validation Failed","errors":[{"resource":"Search","field":"q","code":"missing"}],"documentation_url":"https://docs.github.com/v3/search","status":"422"}`, ctype: jsonType}
	}
	b, ok := s.file("search/repositories.json")
	if !ok {
		b = "[]"
	}
	var items []json.RawMessage
	if err := json.Unmarshal([]byte(b), &items); err != nil {
		return answer{status: http.StatusInternalServerError, body: `{"message":"bad fixture"}`, ctype: jsonType}
	}
	// Only the first 1,000 results can be read: the Link header stops there, a page past
	// them is refused, and total_count still tells how many matched.
	if page, per := s.pageOf(q); (page-1)*per >= searchCap {
		return answer{status: http.StatusUnprocessableEntity, body: `{"message":"Only the first 1000 search results are available","documentation_url":"https://docs.github.com/v3/search","status":"422"}`, ctype: jsonType}
	}
	a := s.paginate(r, items[:min(len(items), searchCap)], q)
	a.body = fmt.Sprintf(`{"total_count":%d,"incomplete_results":false,"items":%s}`, len(items), a.body)
	return a
}

// searchCap is how many results of a search GitHub lets one read.
const searchCap = 1000

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
