// Package hubtest is a fake Hugging Face Hub for tests: two httptest servers, the Hub (its
// API mounted under a path prefix, to catch absolute-URL bugs) and the object storage that
// LFS upload URLs point at. It answers the create, tree, preupload, LFS batch, multipart
// completion, verify and commit endpoints with the request and response shapes of the real
// Hub, and keeps the repositories and LFS objects in memory.
package hubtest

import (
	"bufio"
	"bytes"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// Prefix is where the fake mounts the Hub; Endpoint includes it.
const Prefix = "/hf"

// Server is the fake Hub. Its exported fields may be set before the first request.
type Server struct {
	// Hub serves the API; Storage the presigned upload URLs.
	Hub, Storage *httptest.Server
	// Token is the only accepted token.
	Token string
	// MultipartThreshold: objects larger than this are uploaded in parts of ChunkSize.
	MultipartThreshold, ChunkSize int64
	// RegularLimit: preupload answers "lfs" for larger files and for *.parquet; default
	// 10 MB, as the Hub.
	RegularLimit int64
	// TreePageSize is the tree listing's page size (pages follow a Link header).
	TreePageSize int
	// FailFunc, when set, sees every request first (with the path relative to the server,
	// prefix included); a non-zero status is answered as is, with Retry-After when
	// retryAfter is not empty.
	FailFunc func(r *http.Request) (status int, retryAfter string)
	// RateLimitFunc, when set, sees every request after FailFunc; a reset above 0 answers 429
	// as the Hub does when a quota's 5-minute window is spent: RateLimit and
	// RateLimit-Policy headers (the window resets in reset seconds), no Retry-After.
	RateLimitFunc func(r *http.Request) (reset int)
	// ExistingCreateStatus is the status creating a repository that exists answers: 409 by
	// default; the Hub answers 401, 402 or 403 to tokens that may not create repositories
	// in the namespace (fine-grained or scoped tokens, another namespace's repository).
	ExistingCreateStatus int
	// LostCommitAnswers is how many commits land and then answer 502 instead of their result
	// (the answer lost on the way back).
	LostCommitAnswers int

	t        testing.TB
	mu       sync.Mutex
	repos    map[string]*Repo
	objects  map[string][]byte
	parts    map[string]map[int][]byte // upload id -> part number -> bytes
	requests []Request
	seq      int
}

// Repo is a repository's state.
type Repo struct {
	Private bool
	// VisibilityGiven says the creation request carried "private" (else the namespace's
	// default applies).
	VisibilityGiven bool
	// Files maps paths to contents at the head of main.
	Files map[string]File
	// Commits lists the commits, oldest first; PRs the commits opened as pull requests.
	Commits []Commit
	PRs     []Commit
}

// File is one file of a repository.
type File struct {
	Content []byte // regular files
	LFSOID  string // LFS files: their sha256
	Size    int64
}

// Commit is one received commit.
type Commit struct {
	OID     string
	Summary string
	Ops     []string // "file README.md", "lfsFile data/x.parquet", "deletedFile p"
}

// Request is one request the fake received.
type Request struct {
	Server string // "hub" or "storage"
	Method string
	Path   string // without the query
	Status int
	// Auth is the Authorization header's scheme ("Bearer", "Basic") or "".
	Auth string
}

// New starts the fake; it stops when the test ends.
func New(t testing.TB, token string) *Server {
	s := &Server{
		t: t, Token: token, MultipartThreshold: 1 << 20, ChunkSize: 512 << 10,
		RegularLimit: 10 << 20, TreePageSize: 1000,
		repos: map[string]*Repo{}, objects: map[string][]byte{}, parts: map[string]map[int][]byte{},
	}
	s.Hub = httptest.NewServer(s.record("hub", http.StripPrefix(Prefix, http.HandlerFunc(s.hub))))
	s.Storage = httptest.NewServer(s.record("storage", http.HandlerFunc(s.storage)))
	t.Cleanup(func() {
		s.Hub.Close()
		s.Storage.Close()
	})
	return s
}

// Endpoint is the Hub's base URL for hub.Config.Endpoint.
func (s *Server) Endpoint() string { return s.Hub.URL + Prefix }

// Requests returns the requests received so far.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.requests)
}

// Count counts the received requests of a server and method whose path has prefix p.
func (s *Server) Count(server, method, p string) int {
	n := 0
	for _, r := range s.Requests() {
		if r.Server == server && r.Method == method && strings.HasPrefix(r.Path, p) {
			n++
		}
	}
	return n
}

// Repo returns a copy of a repository's state, or nil.
func (s *Server) Repo(id string) *Repo {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.repos[id]
	if r == nil {
		return nil
	}
	c := *r
	c.Files = map[string]File{}
	for k, v := range r.Files {
		c.Files[k] = v
	}
	c.Commits, c.PRs = slices.Clone(r.Commits), slices.Clone(r.PRs)
	return &c
}

// Object returns a stored LFS object.
func (s *Server) Object(oid string) ([]byte, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.objects[oid]
	return b, ok
}

// AddFile puts a file on a repository's main branch directly (creating the repository),
// as an earlier push would have.
func (s *Server) AddFile(repo, p string, content []byte, lfs bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.repoLocked(repo, true)
	if lfs {
		sum := sha256.Sum256(content)
		oid := hex.EncodeToString(sum[:])
		s.objects[oid] = content
		r.Files[p] = File{LFSOID: oid, Size: int64(len(content))}
		return
	}
	r.Files[p] = File{Content: content, Size: int64(len(content))}
}

func (s *Server) repoLocked(id string, create bool) *Repo {
	r := s.repos[id]
	if r == nil && create {
		r = &Repo{Files: map[string]File{".gitattributes": {Content: []byte("*.parquet filter=lfs diff=lfs merge=lfs -text\n"), Size: 47}}}
		s.repos[id] = r
	}
	return r
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

func (s *Server) record(server string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth, _, _ := strings.Cut(r.Header.Get("Authorization"), " ")
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		defer func() {
			s.mu.Lock()
			s.requests = append(s.requests, Request{Server: server, Method: r.Method, Path: r.URL.Path, Status: sw.status, Auth: auth})
			s.mu.Unlock()
		}()
		if s.FailFunc != nil {
			if code, after := s.FailFunc(r); code != 0 {
				io.Copy(io.Discard, r.Body)
				if after != "" {
					sw.Header().Set("Retry-After", after)
				}
				writeJSON(sw, code, map[string]string{"error": http.StatusText(code)})
				return
			}
		}
		h.ServeHTTP(sw, r)
	})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

func hubError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("X-Error-Message", msg)
	writeJSON(w, code, map[string]string{"error": msg})
}

func (s *Server) authorized(r *http.Request) bool {
	if r.Header.Get("Authorization") == "Bearer "+s.Token {
		return true
	}
	user, pass, ok := r.BasicAuth()
	return ok && user != "" && pass == s.Token
}

// hub routes the Hub's endpoints (the prefix is stripped).
func (s *Server) hub(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	if r.Method == http.MethodPost && p == "/api/complete_multipart" { // a signed URL, as on the Hub
		if r.URL.Query().Get("signature") == "" || r.Header.Get("Authorization") != "" {
			hubError(w, http.StatusForbidden, "completion URLs are signed; no token expected")
			return
		}
		s.complete(w, r)
		return
	}
	if !s.authorized(r) {
		hubError(w, http.StatusUnauthorized, "Invalid credentials in Authorization header")
		return
	}
	if s.RateLimitFunc != nil {
		if reset := s.RateLimitFunc(r); reset > 0 {
			w.Header().Set("RateLimit", fmt.Sprintf(`"api";r=0;t=%d`, reset))
			w.Header().Set("RateLimit-Policy", `"fixed window";"api";q=1000;w=300`)
			hubError(w, http.StatusTooManyRequests, "You have exceeded our hourly quotas for action: api")
			return
		}
	}
	switch {
	case r.Method == http.MethodPost && p == "/api/repos/create":
		s.create(w, r)
	case strings.HasPrefix(p, "/api/datasets/"):
		rest := strings.TrimPrefix(p, "/api/datasets/")
		parts := strings.SplitN(rest, "/", 5) // owner, name, action, revision, path
		if len(parts) == 2 && r.Method == http.MethodGet {
			s.info(w, parts[0]+"/"+parts[1], "")
			return
		}
		if len(parts) < 4 {
			hubError(w, http.StatusNotFound, "not found")
			return
		}
		repo, action := parts[0]+"/"+parts[1], parts[2]
		rev, err := url.PathUnescape(parts[3])
		if err != nil {
			hubError(w, http.StatusBadRequest, "bad revision")
			return
		}
		switch {
		case r.Method == http.MethodGet && action == "revision":
			s.info(w, repo, rev)
		case r.Method == http.MethodGet && action == "tree":
			s.tree(w, r, repo, rev)
		case r.Method == http.MethodPost && action == "preupload":
			s.preupload(w, r, repo, rev)
		case r.Method == http.MethodPost && action == "commit":
			s.commit(w, r, repo, rev)
		default:
			hubError(w, http.StatusNotFound, "not found")
		}
	case r.Method == http.MethodPost && strings.HasPrefix(p, "/datasets/") && strings.HasSuffix(p, ".git/info/lfs/objects/batch"):
		repo := strings.TrimSuffix(strings.TrimPrefix(p, "/datasets/"), ".git/info/lfs/objects/batch")
		s.batch(w, r, repo)
	case r.Method == http.MethodPost && strings.HasPrefix(p, "/datasets/") && strings.HasSuffix(p, ".git/info/lfs/objects/verify"):
		s.verify(w, r)
	default:
		hubError(w, http.StatusNotFound, "not found")
	}
}

func (s *Server) create(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Name         string `json:"name"`
		Organization string `json:"organization"`
		Type         string `json:"type"`
		Private      *bool  `json:"private"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil || body.Name == "" || body.Type != "dataset" {
		hubError(w, http.StatusBadRequest, "bad create body")
		return
	}
	id := body.Organization + "/" + body.Name
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.repos[id] != nil {
		switch s.ExistingCreateStatus {
		case 0, http.StatusConflict:
			writeJSON(w, http.StatusConflict, map[string]string{"error": "You already created this dataset repo", "url": s.Endpoint() + "/datasets/" + id})
		default:
			hubError(w, s.ExistingCreateStatus, "You don't have the rights to create a dataset under the namespace \""+body.Organization+"\"")
		}
		return
	}
	rp := s.repoLocked(id, true)
	rp.VisibilityGiven = body.Private != nil
	rp.Private = body.Private != nil && *body.Private
	writeJSON(w, http.StatusOK, map[string]string{"url": s.Endpoint() + "/datasets/" + id, "name": id, "id": fmt.Sprintf("%024x", len(s.repos))})
}

type treeEntry struct {
	Type string `json:"type"`
	OID  string `json:"oid"`
	Size int64  `json:"size"`
	Path string `json:"path"`
	LFS  *struct {
		OID         string `json:"oid"`
		Size        int64  `json:"size"`
		PointerSize int    `json:"pointerSize"`
	} `json:"lfs,omitempty"`
}

func gitBlobID(b []byte) string {
	h := sha1.New()
	fmt.Fprintf(h, "blob %d\x00", len(b))
	h.Write(b)
	return hex.EncodeToString(h.Sum(nil))
}

func pointer(oid string, size int64) []byte {
	return fmt.Appendf(nil, "version https://git-lfs.github.com/spec/v1\noid sha256:%s\nsize %d\n", oid, size)
}

func (s *Server) tree(w http.ResponseWriter, r *http.Request, repo, rev string) {
	s.mu.Lock()
	rp := s.repos[repo]
	var entries []treeEntry
	if rp != nil && rev == "main" {
		dirs := map[string]bool{}
		for p, f := range rp.Files {
			for d := path.Dir(p); d != "."; d = path.Dir(d) {
				dirs[d] = true
			}
			e := treeEntry{Type: "file", Path: p, Size: f.Size}
			if f.LFSOID != "" {
				ptr := pointer(f.LFSOID, f.Size)
				e.OID = gitBlobID(ptr)
				e.LFS = &struct {
					OID         string `json:"oid"`
					Size        int64  `json:"size"`
					PointerSize int    `json:"pointerSize"`
				}{f.LFSOID, f.Size, len(ptr)}
			} else {
				e.OID = gitBlobID(f.Content)
			}
			entries = append(entries, e)
		}
		for d := range dirs {
			entries = append(entries, treeEntry{Type: "directory", Path: d, OID: gitBlobID([]byte(d))})
		}
	}
	s.mu.Unlock()
	if rp == nil {
		hubError(w, http.StatusNotFound, "Repository not found")
		return
	}
	if rev != "main" {
		hubError(w, http.StatusNotFound, "Revision Not Found")
		return
	}
	if r.URL.Query().Get("recursive") != "true" {
		hubError(w, http.StatusBadRequest, "the fake only lists recursively")
		return
	}
	slices.SortFunc(entries, func(a, b treeEntry) int { return strings.Compare(a.Path, b.Path) })
	start, _ := strconv.Atoi(r.URL.Query().Get("cursor"))
	end := min(start+s.TreePageSize, len(entries))
	if end < len(entries) {
		q := r.URL.Query()
		q.Set("cursor", strconv.Itoa(end))
		next := s.Endpoint() + r.URL.Path + "?" + q.Encode()
		w.Header().Set("Link", fmt.Sprintf(`<%s>; rel="next"`, next))
	}
	writeJSON(w, http.StatusOK, entries[start:end])
}

func (s *Server) preupload(w http.ResponseWriter, r *http.Request, repo, rev string) {
	var body struct {
		Files []struct {
			Path   string `json:"path"`
			Sample string `json:"sample"`
			Size   int64  `json:"size"`
		} `json:"files"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil || len(body.Files) == 0 || len(body.Files) > 256 {
		hubError(w, http.StatusBadRequest, "bad preupload body")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	rp := s.repos[repo]
	if rp == nil {
		hubError(w, http.StatusNotFound, "Repository not found")
		return
	}
	type answer struct {
		Path         string `json:"path"`
		UploadMode   string `json:"uploadMode"`
		ShouldIgnore bool   `json:"shouldIgnore"`
		OID          string `json:"oid,omitempty"`
	}
	var out []answer
	for _, f := range body.Files {
		sample, err := base64.StdEncoding.DecodeString(f.Sample)
		if err != nil || len(sample) > 512 {
			hubError(w, http.StatusBadRequest, "bad sample")
			return
		}
		mode := "regular"
		if f.Size > s.RegularLimit || strings.HasSuffix(f.Path, ".parquet") || bytes.IndexByte(sample, 0) >= 0 {
			mode = "lfs"
		}
		a := answer{Path: f.Path, UploadMode: mode}
		if cur, ok := rp.Files[f.Path]; ok && rev == "main" {
			if cur.LFSOID != "" {
				a.OID = cur.LFSOID
			} else {
				a.OID = gitBlobID(cur.Content)
			}
		}
		out = append(out, a)
	}
	writeJSON(w, http.StatusOK, map[string]any{"files": out, "commitOid": fmt.Sprintf("%040x", len(rp.Commits))})
}

func (s *Server) batch(w http.ResponseWriter, r *http.Request, repo string) {
	if r.Header.Get("Accept") != "application/vnd.git-lfs+json" || r.Header.Get("Content-Type") != "application/vnd.git-lfs+json" {
		hubError(w, http.StatusNotAcceptable, "LFS headers missing")
		return
	}
	var body struct {
		Operation string   `json:"operation"`
		Transfers []string `json:"transfers"`
		HashAlgo  string   `json:"hash_algo"`
		Ref       struct {
			Name string `json:"name"`
		} `json:"ref"`
		Objects []struct {
			OID  string `json:"oid"`
			Size int64  `json:"size"`
		} `json:"objects"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil || body.Operation != "upload" || body.HashAlgo != "sha256" || body.Ref.Name == "" {
		hubError(w, http.StatusUnprocessableEntity, "bad batch body")
		return
	}
	multipart := slices.Contains(body.Transfers, "multipart")
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.repos[repo] == nil {
		hubError(w, http.StatusNotFound, "Repository not found")
		return
	}
	type action struct {
		Href   string            `json:"href"`
		Header map[string]string `json:"header,omitempty"`
	}
	var objs []map[string]any
	for _, o := range body.Objects {
		obj := map[string]any{"oid": o.OID, "size": o.Size, "authenticated": true}
		if _, ok := s.objects[o.OID]; ok {
			objs = append(objs, obj) // already stored: no actions
			continue
		}
		sig := "?X-Amz-Signature=" + hex.EncodeToString(fmt.Appendf(nil, "sig-%s", o.OID[:8]))
		verify := action{Href: s.Endpoint() + "/datasets/" + repo + ".git/info/lfs/objects/verify"}
		if multipart && o.Size > s.MultipartThreshold {
			s.seq++
			id := fmt.Sprintf("upload%d", s.seq)
			s.parts[id] = map[int][]byte{}
			h := map[string]string{"chunk_size": strconv.FormatInt(s.ChunkSize, 10)}
			for i := 1; int64(i-1)*s.ChunkSize < o.Size; i++ {
				h[fmt.Sprintf("%05d", i)] = fmt.Sprintf("%s/upload/%s/%s/part/%d%s", s.Storage.URL, o.OID, id, i, sig)
			}
			q := url.Values{"uploadId": {id}, "oid": {o.OID}, "size": {strconv.FormatInt(o.Size, 10)}, "signature": {"abc"}}
			obj["actions"] = map[string]any{
				"upload": action{Href: s.Endpoint() + "/api/complete_multipart?" + q.Encode(), Header: h},
				"verify": verify,
			}
		} else {
			obj["actions"] = map[string]any{
				"upload": action{Href: s.Storage.URL + "/upload/" + o.OID + sig},
				"verify": verify,
			}
		}
		objs = append(objs, obj)
	}
	transfer := "basic"
	if multipart {
		transfer = "multipart"
	}
	w.Header().Set("Content-Type", "application/vnd.git-lfs+json")
	writeJSON(w, http.StatusOK, map[string]any{"transfer": transfer, "objects": objs})
}

// storage serves the presigned upload URLs: PUT /upload/{oid} and
// PUT /upload/{oid}/{upload id}/part/{n}.
func (s *Server) storage(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Authorization") != "" {
		s.t.Errorf("hubtest: %s %s carried an Authorization header to storage", r.Method, r.URL.Path)
	}
	if r.Method != http.MethodPut || r.URL.Query().Get("X-Amz-Signature") == "" {
		w.WriteHeader(http.StatusForbidden)
		return
	}
	parts := strings.Split(strings.TrimPrefix(r.URL.Path, "/upload/"), "/")
	b, err := io.ReadAll(r.Body)
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	if r.ContentLength != int64(len(b)) {
		w.WriteHeader(http.StatusLengthRequired)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch len(parts) {
	case 1:
		sum := sha256.Sum256(b)
		if hex.EncodeToString(sum[:]) != parts[0] {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		s.objects[parts[0]] = b
		w.Header().Set("ETag", `"`+hex.EncodeToString(sum[:16])+`"`)
	case 4:
		n, err := strconv.Atoi(parts[3])
		up := s.parts[parts[1]]
		if err != nil || up == nil {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		up[n] = b
		sum := sha256.Sum256(b)
		w.Header().Set("ETag", `"`+hex.EncodeToString(sum[:16])+`"`)
	default:
		w.WriteHeader(http.StatusNotFound)
	}
}

func (s *Server) complete(w http.ResponseWriter, r *http.Request) {
	var body struct {
		OID   string `json:"oid"`
		Parts []struct {
			PartNumber int    `json:"partNumber"`
			ETag       string `json:"etag"`
		} `json:"parts"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		hubError(w, http.StatusBadRequest, "bad completion body")
		return
	}
	q := r.URL.Query()
	s.mu.Lock()
	defer s.mu.Unlock()
	up := s.parts[q.Get("uploadId")]
	if up == nil || body.OID != q.Get("oid") || len(body.Parts) != len(up) {
		hubError(w, http.StatusBadRequest, "unknown upload or missing parts")
		return
	}
	var all []byte
	for i, p := range body.Parts {
		b, ok := up[p.PartNumber]
		sum := sha256.Sum256(b)
		if !ok || p.PartNumber != i+1 || p.ETag != `"`+hex.EncodeToString(sum[:16])+`"` {
			hubError(w, http.StatusBadRequest, fmt.Sprintf("part %d: bad number or etag", p.PartNumber))
			return
		}
		all = append(all, b...)
	}
	sum := sha256.Sum256(all)
	if hex.EncodeToString(sum[:]) != body.OID || strconv.Itoa(len(all)) != q.Get("size") {
		hubError(w, http.StatusBadRequest, "assembled object does not match its oid")
		return
	}
	s.objects[body.OID] = all
	delete(s.parts, q.Get("uploadId"))
	writeJSON(w, http.StatusOK, map[string]string{"oid": body.OID})
}

func (s *Server) verify(w http.ResponseWriter, r *http.Request) {
	var body struct {
		OID  string `json:"oid"`
		Size int64  `json:"size"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		hubError(w, http.StatusBadRequest, "bad verify body")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.objects[body.OID]
	if !ok || int64(len(b)) != body.Size {
		hubError(w, http.StatusNotFound, "object not found")
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"message": "ok"})
}

func (s *Server) commit(w http.ResponseWriter, r *http.Request, repo, rev string) {
	if r.Header.Get("Content-Type") != "application/x-ndjson" {
		hubError(w, http.StatusUnsupportedMediaType, "commit must be application/x-ndjson")
		return
	}
	type line struct {
		Key   string          `json:"key"`
		Value json.RawMessage `json:"value"`
	}
	var lines []line
	sc := bufio.NewScanner(r.Body)
	sc.Buffer(nil, 64<<20)
	for sc.Scan() {
		var l line
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			hubError(w, http.StatusBadRequest, "bad NDJSON line")
			return
		}
		lines = append(lines, l)
	}
	if len(lines) == 0 || lines[0].Key != "header" {
		hubError(w, http.StatusBadRequest, "the first line must be the header")
		return
	}
	var header struct {
		Summary string `json:"summary"`
	}
	json.Unmarshal(lines[0].Value, &header)
	s.mu.Lock()
	defer s.mu.Unlock()
	rp := s.repos[repo]
	if rp == nil || rev != "main" {
		hubError(w, http.StatusNotFound, "Repository or revision not found")
		return
	}
	files := map[string]File{}
	for k, v := range rp.Files {
		files[k] = v
	}
	c := Commit{Summary: header.Summary}
	for _, l := range lines[1:] {
		var v struct {
			Path     string `json:"path"`
			Content  string `json:"content"`
			Encoding string `json:"encoding"`
			Algo     string `json:"algo"`
			OID      string `json:"oid"`
			Size     int64  `json:"size"`
		}
		if err := json.Unmarshal(l.Value, &v); err != nil || v.Path == "" {
			hubError(w, http.StatusBadRequest, "bad operation")
			return
		}
		switch l.Key {
		case "file":
			b, err := base64.StdEncoding.DecodeString(v.Content)
			if err != nil || v.Encoding != "base64" {
				hubError(w, http.StatusBadRequest, "bad file content")
				return
			}
			files[v.Path] = File{Content: b, Size: int64(len(b))}
		case "lfsFile":
			b, ok := s.objects[v.OID]
			if !ok || v.Algo != "sha256" || int64(len(b)) != v.Size {
				hubError(w, http.StatusUnprocessableEntity, "lfsFile "+v.Path+": object not uploaded")
				return
			}
			files[v.Path] = File{LFSOID: v.OID, Size: v.Size}
		case "deletedFile":
			if _, ok := files[v.Path]; !ok {
				hubError(w, http.StatusNotFound, "deletedFile "+v.Path+": no such file")
				return
			}
			delete(files, v.Path)
		default:
			hubError(w, http.StatusBadRequest, "unknown operation "+l.Key)
			return
		}
		c.Ops = append(c.Ops, l.Key+" "+v.Path)
	}
	sum := sha1.Sum(fmt.Appendf(nil, "%s %d %d", repo, len(rp.Commits), len(rp.PRs)))
	c.OID = hex.EncodeToString(sum[:])
	out := map[string]string{"commitOid": c.OID, "commitUrl": s.Endpoint() + "/datasets/" + repo + "/commit/" + c.OID}
	if r.URL.Query().Get("create_pr") == "1" {
		rp.PRs = append(rp.PRs, c)
		out["pullRequestUrl"] = fmt.Sprintf("%s/datasets/%s/discussions/%d", s.Endpoint(), repo, len(rp.PRs))
	} else {
		rp.Files = files
		rp.Commits = append(rp.Commits, c)
	}
	if s.LostCommitAnswers > 0 {
		s.LostCommitAnswers--
		hubError(w, http.StatusBadGateway, "Bad Gateway")
		return
	}
	writeJSON(w, http.StatusOK, out)
}

// info answers a repository's information (GET /api/datasets/{repo}, and with
// /revision/{rev}): its id, visibility and the head commit ("sha").
func (s *Server) info(w http.ResponseWriter, repo, rev string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rp := s.repos[repo]
	if rp == nil || (rev != "" && rev != "main") {
		hubError(w, http.StatusNotFound, "Repository not found")
		return
	}
	sha := ""
	if n := len(rp.Commits); n > 0 {
		sha = rp.Commits[n-1].OID
	}
	writeJSON(w, http.StatusOK, map[string]any{"id": repo, "private": rp.Private, "sha": sha})
}
