package hub

import (
	"context"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"swemill/retry"
)

// ownedPrefix is the folder whose remote files Push deletes when they are not in the local
// directory (stale shards of an earlier export); files elsewhere are only added or replaced.
const ownedPrefix = "data/"

const (
	preuploadChunk = 256 // files per preupload request, as huggingface_hub sends
	lfsBatchChunk  = 100 // objects per LFS batch request
)

// Result says what a push did.
type Result struct {
	// CommitURL and CommitOID identify the commit; PullRequestURL is set with
	// Config.CreatePR. All are empty when NoChange.
	CommitURL, CommitOID, PullRequestURL string
	// Uploaded lists the LFS files whose content was sent; Stored those the Hub already
	// had (an earlier or interrupted push); Unchanged those equal to the remote file, left
	// out of the commit.
	Uploaded, Stored, Unchanged []string
	// Committed lists the paths added or replaced by the commit; Deleted the remote files
	// under data/ that are not in the directory.
	Committed, Deleted []string
	// NoChange is true when the remote revision already equals the directory: no commit
	// was made.
	NoChange bool
}

// localFile is a file of the directory to push.
type localFile struct {
	path    string // slash path relative to the root
	abs     string
	size    int64
	sha256  string
	gitSHA1 string // git blob id, as the Hub reports regular files
	sample  []byte // the first 512 bytes
	lfs     bool
	skip    bool // the Hub said to ignore it (shouldIgnore)
}

// Push uploads the dataset directory dir (an export's output) to cfg.Repo and commits it.
// Hidden files and directories (".git", ".swemill-export", ...) are left out. Remote files
// under data/ that are not in dir are deleted by the same commit.
func Push(ctx context.Context, dir string, cfg Config) (*Result, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.setDefaults()
	c := &client{cfg: &cfg, log: cfg.Log.With().Str("repo", cfg.Repo).Str("revision", cfg.Revision).Logger()}
	files, err := scan(dir)
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("pushing %s: no files to push", dir)
	}
	if err := c.createRepo(ctx); err != nil {
		return nil, err
	}
	remote, err := c.listRemote(ctx)
	if err != nil {
		return nil, err
	}
	if err := c.preupload(ctx, files); err != nil {
		return nil, err
	}
	res := &Result{}
	var toUpload, toCommit []*localFile
	for _, f := range files {
		r, ok := remote[f.path]
		switch {
		case f.skip:
			continue
		case ok && sameContent(f, r):
			res.Unchanged = append(res.Unchanged, f.path)
			continue
		}
		toCommit = append(toCommit, f)
		if f.lfs {
			toUpload = append(toUpload, f)
		}
	}
	var deletes []string
	local := map[string]bool{}
	for _, f := range files {
		local[f.path] = true
	}
	for p, e := range remote {
		if e.Type == "file" && strings.HasPrefix(p, ownedPrefix) && !local[p] {
			deletes = append(deletes, p)
		}
	}
	slices.Sort(deletes)
	if len(toCommit) == 0 && len(deletes) == 0 {
		c.log.Info().Int("files", len(files)).Msg("the Hub already has this dataset; nothing to commit")
		res.NoChange = true
		return res, nil
	}
	if err := c.uploadLFS(ctx, toUpload, res); err != nil {
		return nil, err
	}
	if err := c.commit(ctx, toCommit, deletes, res); err != nil {
		return nil, err
	}
	return res, nil
}

// scan lists dir's files in path order with their hashes.
func scan(dir string) ([]*localFile, error) {
	var files []*localFile
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p != dir && strings.HasPrefix(d.Name(), ".") {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() {
			return nil
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		f, err := hashFile(p)
		if err != nil {
			return err
		}
		f.path = filepath.ToSlash(rel)
		files = append(files, f)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", dir, err)
	}
	slices.SortFunc(files, func(a, b *localFile) int { return strings.Compare(a.path, b.path) })
	return files, nil
}

func hashFile(p string) (*localFile, error) {
	fh, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	st, err := fh.Stat()
	if err != nil {
		return nil, err
	}
	sample := make([]byte, 512)
	n, err := io.ReadFull(fh, sample)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return nil, err
	}
	if _, err := fh.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	s256, s1 := sha256.New(), sha1.New()
	fmt.Fprintf(s1, "blob %d\x00", st.Size())
	size, err := io.Copy(io.MultiWriter(s256, s1), fh)
	if err != nil {
		return nil, err
	}
	if size != st.Size() {
		return nil, fmt.Errorf("%s changed while being read", p)
	}
	return &localFile{
		abs: p, size: size, sample: sample[:n],
		sha256: hex.EncodeToString(s256.Sum(nil)), gitSHA1: hex.EncodeToString(s1.Sum(nil)),
	}, nil
}

func (c *client) api(format string, args ...any) string {
	return c.cfg.Endpoint + fmt.Sprintf(format, args...)
}

func (c *client) revision() string { return url.PathEscape(c.cfg.Revision) }

func (c *client) createRepo(ctx context.Context) error {
	owner, name, _ := strings.Cut(c.cfg.Repo, "/")
	body := map[string]any{"name": name, "organization": owner, "type": "dataset"}
	if c.cfg.Private {
		body["private"] = true // else the namespace's default visibility
	}
	_, err := c.doJSON(ctx, request{op: "creating repo", method: http.MethodPost, url: c.api("/api/repos/create"),
		header: http.Header{"Content-Type": {"application/json"}}, body: jsonBody(body), auth: true}, nil)
	var serr *StatusError
	switch {
	case err == nil:
		c.log.Info().Bool("private", c.cfg.Private).Msg("created the dataset repository")
		return nil
	case !errors.As(err, &serr):
		return err
	case serr.StatusCode == http.StatusConflict:
		c.log.Debug().Msg("the repository exists")
		return nil
	case serr.StatusCode == http.StatusUnauthorized || serr.StatusCode == http.StatusPaymentRequired || serr.StatusCode == http.StatusForbidden:
		// The Hub answers these rather than 409 when the token may not create repositories
		// in the namespace (a fine-grained or scoped token, another namespace's repository
		// for a pull request): the push goes on if the repository is there.
		if exists, perr := c.repoExists(ctx); perr == nil && exists {
			c.log.Debug().Int("status", serr.StatusCode).Msg("creating the repository was refused, but it exists")
			return nil
		}
	}
	return err
}

// repoExists asks the Hub whether the dataset repository exists (and the token sees it).
func (c *client) repoExists(ctx context.Context) (bool, error) {
	_, err := c.doJSON(ctx, request{op: "looking up the repository", method: http.MethodGet,
		url: c.api("/api/datasets/%s", c.cfg.Repo), auth: true}, nil)
	var serr *StatusError
	switch {
	case err == nil:
		return true, nil
	case errors.As(err, &serr) && serr.StatusCode == http.StatusNotFound:
		return false, nil
	}
	return false, err
}

// revisionSHA is the commit at the head of the revision.
func (c *client) revisionSHA(ctx context.Context) (string, error) {
	var info struct {
		SHA string `json:"sha"`
	}
	_, err := c.doJSON(ctx, request{op: "reading the revision", method: http.MethodGet,
		url: c.api("/api/datasets/%s/revision/%s", c.cfg.Repo, c.revision()), auth: true}, &info)
	return info.SHA, err
}

// notLandedError is a commit whose answer was lost and which the revision does not hold:
// sending it again is safe.
type notLandedError struct{ err error }

func (e *notLandedError) Error() string { return e.err.Error() + " (the revision does not hold it)" }
func (e *notLandedError) Unwrap() error { return e.err }

// answerLost reports whether a request's failure leaves unknown whether the Hub did the work:
// a 5xx, or a connection that broke, while ctx is live. Other answers (4xx) did nothing.
func answerLost(ctx context.Context, err error) bool {
	if ctx.Err() != nil {
		return false
	}
	var serr *StatusError
	if errors.As(err, &serr) {
		return serr.StatusCode >= 500
	}
	return true
}

// landed reports whether the revision holds a commit's files (the same content at each
// path) and none of its deleted paths.
func (c *client) landed(ctx context.Context, files []*localFile, deletes []string) (bool, error) {
	remote, err := c.listRemote(ctx)
	if err != nil {
		return false, err
	}
	for _, f := range files {
		if r, ok := remote[f.path]; !ok || !sameContent(f, r) {
			return false, nil
		}
	}
	for _, p := range deletes {
		if _, ok := remote[p]; ok {
			return false, nil
		}
	}
	return true, nil
}

// sameContent reports whether the remote file r has the local file's content.
func sameContent(f *localFile, r treeEntry) bool {
	if f.lfs {
		return r.LFS != nil && r.LFS.OID == f.sha256
	}
	return r.LFS == nil && r.OID == f.gitSHA1
}

// treeEntry is one file of the remote tree (GET /api/datasets/{repo}/tree/{rev}).
type treeEntry struct {
	Type string `json:"type"`
	Path string `json:"path"`
	OID  string `json:"oid"`
	Size int64  `json:"size"`
	LFS  *struct {
		OID  string `json:"oid"`
		Size int64  `json:"size"`
	} `json:"lfs"`
}

// listRemote lists the revision's files, following the Link header's pages. A revision
// that does not exist yet has no files.
func (c *client) listRemote(ctx context.Context) (map[string]treeEntry, error) {
	out := map[string]treeEntry{}
	next := c.api("/api/datasets/%s/tree/%s?recursive=true&expand=false", c.cfg.Repo, c.revision())
	for next != "" {
		var page []treeEntry
		h, err := c.doJSON(ctx, request{op: "listing remote files", method: http.MethodGet, url: next, auth: true}, &page)
		var serr *StatusError
		if errors.As(err, &serr) && serr.StatusCode == http.StatusNotFound && len(out) == 0 {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		for _, e := range page {
			out[e.Path] = e
		}
		next = nextLink(h.Get("Link"))
	}
	return out, nil
}

// nextLink returns the rel="next" target of a Link header, or "".
func nextLink(h string) string {
	for _, part := range strings.Split(h, ",") {
		target, params, ok := strings.Cut(part, ";")
		if !ok || !strings.Contains(strings.ReplaceAll(params, " ", ""), `rel="next"`) {
			continue
		}
		target = strings.TrimSpace(target)
		return strings.TrimSuffix(strings.TrimPrefix(target, "<"), ">")
	}
	return ""
}

func (c *client) preupload(ctx context.Context, files []*localFile) error {
	byPath := map[string]*localFile{}
	for _, f := range files {
		byPath[f.path] = f
	}
	u := c.api("/api/datasets/%s/preupload/%s", c.cfg.Repo, c.revision())
	if c.cfg.CreatePR {
		u += "?create_pr=1"
	}
	for chunk := range slices.Chunk(files, preuploadChunk) {
		type entry struct {
			Path   string `json:"path"`
			Sample string `json:"sample"`
			Size   int64  `json:"size"`
		}
		body := struct {
			Files []entry `json:"files"`
		}{}
		for _, f := range chunk {
			body.Files = append(body.Files, entry{f.path, base64.StdEncoding.EncodeToString(f.sample), f.size})
		}
		var out struct {
			Files []struct {
				Path         string `json:"path"`
				UploadMode   string `json:"uploadMode"`
				ShouldIgnore bool   `json:"shouldIgnore"`
			} `json:"files"`
		}
		if _, err := c.doJSON(ctx, request{op: "preupload", method: http.MethodPost, url: u,
			header: http.Header{"Content-Type": {"application/json"}}, body: jsonBody(body), auth: true}, &out); err != nil {
			return err
		}
		seen := 0
		for _, r := range out.Files {
			f := byPath[r.Path]
			if f == nil {
				continue
			}
			seen++
			switch r.UploadMode {
			case "lfs":
				f.lfs = true
			case "regular":
			default:
				return fmt.Errorf("preupload: unknown upload mode %q for %s", r.UploadMode, r.Path)
			}
			f.skip = r.ShouldIgnore
		}
		if seen != len(chunk) {
			return fmt.Errorf("preupload: the Hub answered for %d of %d files", seen, len(chunk))
		}
	}
	return nil
}

const lfsMediaType = "application/vnd.git-lfs+json"

type lfsAction struct {
	Href   string            `json:"href"`
	Header map[string]string `json:"header"`
}

type lfsObject struct {
	OID     string `json:"oid"`
	Size    int64  `json:"size"`
	Actions *struct {
		Upload *lfsAction `json:"upload"`
		Verify *lfsAction `json:"verify"`
	} `json:"actions"`
	Error *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

func (c *client) uploadLFS(ctx context.Context, files []*localFile, res *Result) error {
	byOID := map[string]*localFile{}
	var unique []*localFile
	for _, f := range files {
		if _, ok := byOID[f.sha256]; !ok {
			unique = append(unique, f)
		}
		byOID[f.sha256] = f
	}
	uploaded := map[string]bool{}
	for chunk := range slices.Chunk(unique, lfsBatchChunk) {
		type obj struct {
			OID  string `json:"oid"`
			Size int64  `json:"size"`
		}
		body := map[string]any{
			"operation": "upload", "transfers": []string{"basic", "multipart"},
			"hash_algo": "sha256", "ref": map[string]string{"name": c.cfg.Revision},
		}
		var objs []obj
		for _, f := range chunk {
			objs = append(objs, obj{f.sha256, f.size})
		}
		body["objects"] = objs
		var out struct {
			Objects []lfsObject `json:"objects"`
		}
		if _, err := c.doJSON(ctx, request{op: "LFS batch", method: http.MethodPost,
			url:    c.api("/datasets/%s.git/info/lfs/objects/batch", c.cfg.Repo),
			header: http.Header{"Accept": {lfsMediaType}, "Content-Type": {lfsMediaType}},
			body:   jsonBody(body), auth: true}, &out); err != nil {
			return err
		}
		for _, o := range out.Objects {
			f := byOID[o.OID]
			if f == nil {
				return fmt.Errorf("LFS batch: the Hub answered for unknown object %s", o.OID)
			}
			if o.Error != nil {
				return fmt.Errorf("LFS batch: object %s (%s): %d %s", o.OID, f.path, o.Error.Code, c.redact(o.Error.Message))
			}
			if o.Actions == nil || o.Actions.Upload == nil {
				c.log.Debug().Str("path", f.path).Msg("the Hub already has this object")
				continue
			}
			if err := c.uploadObject(ctx, f, o.Actions.Upload); err != nil {
				return fmt.Errorf("uploading %s: %w", f.path, err)
			}
			if v := o.Actions.Verify; v != nil {
				if err := c.verify(ctx, f, v); err != nil {
					return fmt.Errorf("verifying %s: %w", f.path, err)
				}
			}
			uploaded[f.sha256] = true
			c.log.Info().Str("path", f.path).Int64("bytes", f.size).Msg("uploaded")
		}
	}
	for _, f := range files {
		if uploaded[f.sha256] {
			res.Uploaded = append(res.Uploaded, f.path)
		} else {
			res.Stored = append(res.Stored, f.path)
		}
	}
	return nil
}

func fileSection(f *localFile, off, n int64) func() (io.Reader, int64, error) {
	return func() (io.Reader, int64, error) {
		fh, err := os.Open(f.abs)
		if err != nil {
			return nil, 0, err
		}
		// http.Client.Do closes a request body, even on error.
		return sectionFile{io.NewSectionReader(fh, off, n), fh}, n, nil
	}
}

type sectionFile struct {
	*io.SectionReader
	f *os.File
}

func (s sectionFile) Close() error { return s.f.Close() }

func (c *client) uploadObject(ctx context.Context, f *localFile, a *lfsAction) error {
	chunk, multipart := a.Header["chunk_size"]
	if !multipart {
		h := http.Header{}
		for k, v := range a.Header {
			h.Set(k, v)
		}
		resp, err := c.do(ctx, request{op: "LFS upload", method: http.MethodPut, url: a.Href, header: h, body: fileSection(f, 0, f.size)})
		if err != nil {
			return err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return nil
	}
	size, err := strconv.ParseInt(chunk, 10, 64)
	if err != nil || size <= 0 {
		return fmt.Errorf("multipart: bad chunk_size %q", chunk)
	}
	type partURL struct {
		n   int
		url string
	}
	var parts []partURL // the header's numbered keys ("00001", ...) are the part URLs
	for k, v := range a.Header {
		if n, err := strconv.Atoi(k); err == nil && n > 0 {
			parts = append(parts, partURL{n, v})
		}
	}
	slices.SortFunc(parts, func(a, b partURL) int { return a.n - b.n })
	if want := int((f.size + size - 1) / size); len(parts) != want {
		return fmt.Errorf("multipart: %d part URLs for %d parts of %d bytes", len(parts), want, size)
	}
	type part struct {
		PartNumber int    `json:"partNumber"`
		ETag       string `json:"etag"`
	}
	done := make([]part, 0, len(parts))
	for i, p := range parts {
		off := int64(i) * size
		resp, err := c.do(ctx, request{op: fmt.Sprintf("LFS upload part %d/%d", i+1, len(parts)), method: http.MethodPut,
			url: p.url, body: fileSection(f, off, min(size, f.size-off))})
		if err != nil {
			return err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		etag := resp.Header.Get("ETag")
		if etag == "" {
			return fmt.Errorf("multipart: part %d has no ETag", i+1)
		}
		done = append(done, part{i + 1, etag})
	}
	_, err = c.doJSON(ctx, request{op: "LFS multipart completion", method: http.MethodPost, url: a.Href,
		header: http.Header{"Accept": {lfsMediaType}, "Content-Type": {lfsMediaType}},
		body:   jsonBody(map[string]any{"oid": f.sha256, "parts": done})}, nil)
	return err
}

func (c *client) verify(ctx context.Context, f *localFile, a *lfsAction) error {
	h := http.Header{"Accept": {lfsMediaType}, "Content-Type": {lfsMediaType}}
	for k, v := range a.Header {
		h.Set(k, v)
	}
	_, err := c.doJSON(ctx, request{op: "LFS verify", method: http.MethodPost, url: a.Href, header: h,
		body: jsonBody(map[string]any{"oid": f.sha256, "size": f.size}), basicAuth: true}, nil)
	return err
}

// commit sends one NDJSON commit.
func (c *client) commit(ctx context.Context, files []*localFile, deletes []string, res *Result) error {
	type op struct {
		Key   string `json:"key"`
		Value any    `json:"value"`
	}
	header := map[string]string{"summary": c.cfg.CommitMessage, "description": c.cfg.CommitDescription}
	lines := []op{{"header", header}}
	for _, f := range files {
		if f.lfs {
			lines = append(lines, op{"lfsFile", map[string]any{"path": f.path, "algo": "sha256", "oid": f.sha256, "size": f.size}})
			continue
		}
		b, err := os.ReadFile(f.abs)
		if err != nil {
			return fmt.Errorf("reading %s: %w", f.path, err)
		}
		if int64(len(b)) != f.size {
			return fmt.Errorf("%s changed during the push", f.path)
		}
		lines = append(lines, op{"file", map[string]any{"path": f.path, "content": base64.StdEncoding.EncodeToString(b), "encoding": "base64"}})
	}
	for _, p := range deletes {
		lines = append(lines, op{"deletedFile", map[string]string{"path": p}})
	}
	var body []byte
	for _, l := range lines {
		b, err := json.Marshal(l)
		if err != nil {
			return fmt.Errorf("encoding the commit: %w", err)
		}
		body = append(append(body, b...), '\n')
	}
	u := c.api("/api/datasets/%s/commit/%s", c.cfg.Repo, c.revision())
	if c.cfg.CreatePR {
		u += "?create_pr=1"
	}
	var out struct {
		CommitURL      string `json:"commitUrl"`
		CommitOID      string `json:"commitOid"`
		PullRequestURL string `json:"pullRequestUrl"`
	}
	req := request{op: "committing", method: http.MethodPost, url: u,
		header: http.Header{"Content-Type": {"application/x-ndjson"}},
		body: func() (io.Reader, int64, error) {
			return strings.NewReader(string(body)), int64(len(body)), nil
		}, auth: true, once: true}
	// A commit is never sent again blindly: when its answer is lost (a 5xx, a broken
	// connection), it may have landed, and sending it again would make a second commit (or
	// a second pull request). The revision is read instead; the commit is sent again only
	// when it did not land.
	landedLate := false
	p := retry.Policy{Attempts: c.cfg.MaxAttempts, Min: c.cfg.MinBackoff, Max: c.cfg.MaxBackoff, Sleep: c.cfg.Wait,
		Retryable: func(err error) (bool, time.Duration) {
			var nl *notLandedError
			return errors.As(err, &nl), 0
		},
		OnRetry: func(try int, d time.Duration, err error) {
			c.log.Warn().Int("attempt", try).Dur("wait", d).Str("error", c.redact(err.Error())).Msg("the commit did not land; committing again")
		},
	}
	err := p.Do(ctx, func(ctx context.Context) error {
		_, err := c.doJSON(ctx, req, &out)
		if err == nil || !answerLost(ctx, err) {
			return err
		}
		if c.cfg.CreatePR {
			return fmt.Errorf("%w; the Hub may have opened the pull request all the same: look at the repository's pull requests before pushing again", err)
		}
		landed, verr := c.landed(ctx, files, deletes)
		switch {
		case verr != nil:
			return fmt.Errorf("%w; reading the revision to see whether the commit landed: %v", err, verr)
		case landed:
			landedLate = true
			return nil
		}
		return &notLandedError{err}
	})
	if err != nil {
		return err
	}
	if landedLate {
		sha, err := c.revisionSHA(ctx)
		if err != nil {
			c.log.Warn().Str("error", c.redact(err.Error())).Msg("the commit landed; reading its id failed")
		} else {
			out.CommitOID, out.CommitURL = sha, c.api("/datasets/%s/commit/%s", c.cfg.Repo, sha)
		}
		c.log.Warn().Str("commit", sha).Msg("the Hub's answer to the commit was lost, but the revision holds it")
	}
	res.CommitURL, res.CommitOID, res.PullRequestURL = out.CommitURL, out.CommitOID, out.PullRequestURL
	for _, f := range files {
		res.Committed = append(res.Committed, f.path)
	}
	res.Deleted = deletes
	c.log.Info().Str("commit", out.CommitOID).Int("files", len(files)).Int("deleted", len(deletes)).Str("pr", out.PullRequestURL).Msg("committed")
	return nil
}
