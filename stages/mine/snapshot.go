package mine

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/google/go-github/v62/github"

	"swemill/gitexec"
	"swemill/pipeline"
)

// snapshotAPI is restAPI over a snapshot directory (format in the package documentation).
type snapshotAPI struct {
	dir string

	mu    sync.Mutex
	pulls map[string]*snapshotPulls
}

type snapshotPulls struct {
	size    int64
	mtime   int64
	sorted  []*github.PullRequest
	numbers map[int]bool
}

func (s *snapshotAPI) repoDir(repo string) (string, error) {
	owner, name, err := splitRepo(repo)
	if err != nil {
		return "", err
	}
	return filepath.Join(s.dir, owner, name), nil
}

func (s *snapshotAPI) read(repo, rel string) ([]byte, error) {
	d, err := s.repoDir(repo)
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(filepath.Join(d, filepath.FromSlash(rel)))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("reading %s of %s from the snapshot: %w", rel, repo, errNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s of %s from the snapshot: %w", rel, repo, err)
	}
	return b, nil
}

func (s *snapshotAPI) Repository(ctx context.Context, repo string, _ map[string]string) (*github.Repository, etag, bool, error) {
	b, err := s.read(repo, "repo.json")
	if err != nil {
		return nil, etag{}, false, err
	}
	var r github.Repository
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, etag{}, false, fmt.Errorf("decoding repo.json of %s: %w", repo, err)
	}
	return &r, etag{}, false, nil
}

// sortedPulls returns the closed pull requests of pulls.json, most recently updated first
// (ties by number, highest first), as the fake and the live API list them.
func (s *snapshotAPI) sortedPulls(repo string) (*snapshotPulls, error) {
	d, err := s.repoDir(repo)
	if err != nil {
		return nil, err
	}
	p := filepath.Join(d, "pulls.json")
	st, err := os.Stat(p)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("reading pulls.json of %s: %w", repo, errNotFound)
		}
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if c, ok := s.pulls[repo]; ok && c.size == st.Size() && c.mtime == st.ModTime().UnixNano() {
		return c, nil
	}
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, err
	}
	var all []*github.PullRequest
	if err := json.Unmarshal(b, &all); err != nil {
		return nil, fmt.Errorf("decoding pulls.json of %s: %w", repo, err)
	}
	c := &snapshotPulls{size: st.Size(), mtime: st.ModTime().UnixNano(), numbers: map[int]bool{}}
	for _, pr := range all {
		c.numbers[pr.GetNumber()] = true
		if pr.GetState() == "closed" {
			c.sorted = append(c.sorted, pr)
		}
	}
	SortPulls(c.sorted)
	if s.pulls == nil {
		s.pulls = map[string]*snapshotPulls{}
	}
	s.pulls[repo] = c
	return c, nil
}

// SortPulls sorts pull requests as swemill lists them: most recently updated first, ties by
// number, highest first.
func SortPulls(prs []*github.PullRequest) {
	sort.SliceStable(prs, func(i, j int) bool {
		a, b := prs[i].GetUpdatedAt().Time, prs[j].GetUpdatedAt().Time
		if !a.Equal(b) {
			return a.After(b)
		}
		return prs[i].GetNumber() > prs[j].GetNumber()
	})
}

func (s *snapshotAPI) ClosedPulls(ctx context.Context, repo string, page int, _ map[string]string) (pullPage, error) {
	c, err := s.sortedPulls(repo)
	if err != nil {
		return pullPage{}, err
	}
	const per = 100
	from := (page - 1) * per
	if from >= len(c.sorted) || page < 1 {
		return pullPage{}, nil
	}
	to := min(from+per, len(c.sorted))
	p := pullPage{Pulls: c.sorted[from:to]}
	if to < len(c.sorted) {
		p.Next = page + 1
	}
	return p, nil
}

// ClosedChanged always says changed: a snapshot keeps no ETags, and its walk stops at the
// high-water mark anyway.
func (s *snapshotAPI) ClosedChanged(ctx context.Context, repo string, _ map[string]string) (etag, bool, error) {
	return etag{}, false, nil
}

func (s *snapshotAPI) Issue(ctx context.Context, repo string, number int) (*github.Issue, error) {
	b, err := s.read(repo, "issues/"+strconv.Itoa(number)+".json")
	if errors.Is(err, errNotFound) {
		// A pull request of the snapshot is an issue too, as on GitHub.
		if c, perr := s.sortedPulls(repo); perr == nil && c.numbers[number] {
			return &github.Issue{Number: github.Int(number), PullRequestLinks: &github.PullRequestLinks{}}, nil
		}
	}
	if err != nil {
		return nil, err
	}
	var is github.Issue
	if err := json.Unmarshal(b, &is); err != nil {
		return nil, fmt.Errorf("decoding issue %s#%d: %w", repo, number, err)
	}
	return &is, nil
}

func (s *snapshotAPI) IssueComments(ctx context.Context, repo string, number int) ([]*github.IssueComment, error) {
	var cs []*github.IssueComment
	return cs, s.readList(repo, "issues/"+strconv.Itoa(number)+"/comments.json", &cs)
}

// readList decodes a list file; a missing one is an empty list.
func (s *snapshotAPI) readList(repo, rel string, v any) error {
	b, err := s.read(repo, rel)
	if errors.Is(err, errNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("decoding %s of %s: %w", rel, repo, err)
	}
	return nil
}

func (s *snapshotAPI) PullDiff(ctx context.Context, repo string, number int) (string, error) {
	if _, err := s.read(repo, "pulls/"+strconv.Itoa(number)+".too_large"); err == nil {
		return "", fmt.Errorf("getting diff of %s#%d: %w", repo, number, errDiffTooLarge)
	}
	b, err := s.read(repo, "pulls/"+strconv.Itoa(number)+".diff")
	if err != nil {
		return "", err
	}
	return string(b), nil
}

// snapshotRepos lists the repositories of a snapshot: OWNER/NAME directories holding
// pulls.json.
func snapshotRepos(dir string) ([]string, error) {
	if !isDir(dir) {
		return nil, fmt.Errorf("snapshot directory %s does not exist", dir)
	}
	matches, err := filepath.Glob(filepath.Join(dir, "*", "*", "pulls.json"))
	if err != nil {
		return nil, err
	}
	if len(matches) == 0 {
		return nil, fmt.Errorf("snapshot directory %s holds no repository (no OWNER/NAME/pulls.json under it)", dir)
	}
	var out []string
	for _, m := range matches {
		d := filepath.Dir(m)
		out = append(out, filepath.Base(filepath.Dir(d))+"/"+filepath.Base(d))
	}
	sort.Strings(out)
	return out, nil
}

// snapshotGit returns the snapshot's repository of repo: repo.git (a bare mirror) or
// repo.bundle.
func snapshotGit(dir, repo string) (string, error) {
	owner, name, err := splitRepo(repo)
	if err != nil {
		return "", err
	}
	for _, f := range []string{"repo.git", "repo.bundle"} {
		p := filepath.Join(dir, owner, name, f)
		if _, err := os.Stat(p); err == nil {
			abs, err := filepath.Abs(p)
			if err != nil {
				return "", err
			}
			return abs, nil
		}
	}
	return "", fmt.Errorf("snapshot has neither repo.git nor repo.bundle for %s", repo)
}

// RecordOptions says what Record writes.
type RecordOptions struct {
	// Dir is the snapshot directory; existing files of the recorded repositories are
	// replaced.
	Dir string
	// Repos are the repositories to record ("owner/name").
	Repos []string
	// Bundle stores each repository as repo.bundle (one file, git bundle --all) instead of
	// a bare mirror repo.git.
	Bundle bool
}

// Record writes a snapshot of repositories from the github source that cfg configures: every
// closed pull request, the issues any merged one closes (before any filter, so the snapshot
// serves every filter configuration) with their comments, the diffs GitHub had to render, and the git repository. The API files hold the
// bodies exactly as GitHub sent them. Mining the snapshot with the same Config (Source
// "snapshot") gives the same instances as mining GitHub did.
func Record(ctx context.Context, cfg Config, opts RecordOptions) error {
	cfg.Source = SourceGitHub
	if opts.Dir == "" {
		return errors.New("mine: RecordOptions.Dir is required")
	}
	m, err := New(cfg)
	if err != nil {
		return err
	}
	rec := &recorder{}
	rec.reset()
	gh, err := newGHClient(m.cfg, &m.stats, rec.record)
	if err != nil {
		return err
	}
	m.gh, m.api = gh, &githubAPI{c: gh}
	for _, repo := range opts.Repos {
		if err := m.recordRepo(ctx, repo, rec, opts); err != nil {
			return err
		}
	}
	return nil
}

func (m *Miner) recordRepo(ctx context.Context, repo string, rec *recorder, opts RecordOptions) error {
	rec.reset()
	job := &pipeline.RepoJob{Repo: repo, Log: m.cfg.Log.With().Str("repo", repo).Logger()}
	cur := cursor{V: 1}
	for {
		res, err := m.mineAPI(ctx, job, cur, true)
		if err != nil {
			return fmt.Errorf("recording %s: %w", repo, err)
		}
		if cur, err = parseCursor(res.Cursor); err != nil {
			return err
		}
		if !res.More {
			break
		}
	}
	if err := rec.write(opts.Dir); err != nil {
		return fmt.Errorf("writing snapshot of %s: %w", repo, err)
	}
	owner, name, _ := splitRepo(repo)
	dst := filepath.Join(opts.Dir, owner, name)
	mirrorDir := MirrorPath(m.cfg.MirrorDir, repo)
	if _, err := os.Stat(filepath.Join(mirrorDir, "HEAD")); err != nil {
		// No pull request needed git (none was merged): clone now so the snapshot is whole.
		mr := &mirror{dir: mirrorDir, url: func(ctx context.Context) (string, error) {
			b, err := rec.get(dst, "repo.json")
			if err != nil {
				return "", err
			}
			var r github.Repository
			if err := json.Unmarshal(b, &r); err != nil {
				return "", err
			}
			return m.gitURL(repo, r.GetCloneURL())
		}}
		if err := mr.open(ctx); err != nil {
			return err
		}
	}
	for _, f := range []string{"repo.git", "repo.bundle"} {
		if err := os.RemoveAll(filepath.Join(dst, f)); err != nil {
			return err
		}
	}
	if opts.Bundle {
		_, err := gitexec.Run(ctx, mirrorDir, "bundle", "create", "--quiet", filepath.Join(dst, "repo.bundle"), "--all")
		if err != nil {
			return fmt.Errorf("bundling %s: %w", repo, err)
		}
		return nil
	}
	if _, err := gitexec.Run(ctx, dst, "clone", "--quiet", "--mirror", "--", mirrorDir, filepath.Join(dst, "repo.git")); err != nil {
		return fmt.Errorf("copying mirror of %s: %w", repo, err)
	}
	// The copy's origin is this machine's mirror; a snapshot names no local paths.
	_, err := gitexec.Run(ctx, filepath.Join(dst, "repo.git"), "remote", "remove", "origin")
	return err
}

// recorder keeps the API bodies of one repository's recording, by snapshot file.
type recorder struct {
	mu    sync.Mutex
	files map[string][]byte
	pages map[string]map[int][]byte // list files, by page
	// redirects are the redirects met, by repository directory: asked path -> where it led.
	redirects map[string]map[string]string
}

func (r *recorder) reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.files = map[string][]byte{}
	r.pages = map[string]map[int][]byte{}
	r.redirects = map[string]map[string]string{}
}

// get returns a recorded file's bytes (dir is the repository's snapshot directory; only its
// last two elements matter).
func (r *recorder) get(dir, rel string) ([]byte, error) {
	key := path.Join(filepath.Base(filepath.Dir(dir)), filepath.Base(dir), rel)
	r.mu.Lock()
	defer r.mu.Unlock()
	if b, ok := r.files[key]; ok {
		return b, nil
	}
	return nil, fmt.Errorf("%s was not recorded", key)
}

// apiPath returns an API URL's path below the API's root ("repos/o/r/issues/1").
func apiPath(u *url.URL) string {
	p := u.Path
	for _, root := range []string{"/repos/", "/repositories/"} {
		if i := strings.Index(p, root); i >= 0 {
			return strings.Trim(p[i:], "/")
		}
	}
	return strings.Trim(p, "/")
}

// record maps an API URL to its snapshot file.
func (r *recorder) record(req *http.Request, status int, body []byte) {
	parts := strings.Split(apiPath(req.URL), "/")
	if len(parts) < 3 || parts[0] != "repos" {
		return
	}
	repoDir := parts[1] + "/" + parts[2]
	rest := parts[3:]
	if status >= 300 && status < 400 {
		r.redirect(repoDir, parts, string(body))
		return
	}
	page := 1
	if v := req.URL.Query().Get("page"); v != "" {
		page, _ = strconv.Atoi(v)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	list := func(name string) {
		if r.pages[name] == nil {
			r.pages[name] = map[int][]byte{}
		}
		r.pages[name][page] = body
	}
	switch {
	case len(rest) == 0 && status == http.StatusOK:
		r.files[repoDir+"/repo.json"] = body
	case len(rest) == 1 && rest[0] == "pulls" && status == http.StatusOK:
		list(repoDir + "/pulls.json")
	case len(rest) == 2 && rest[0] == "pulls" && status == http.StatusOK:
		r.files[repoDir+"/pulls/"+rest[1]+".diff"] = body
	case len(rest) == 2 && rest[0] == "pulls" && status == http.StatusNotAcceptable:
		r.files[repoDir+"/pulls/"+rest[1]+".too_large"] = body
	case len(rest) == 2 && rest[0] == "issues" && status == http.StatusOK:
		r.files[repoDir+"/issues/"+rest[1]+".json"] = body
	case len(rest) == 3 && rest[0] == "issues" && rest[2] == "comments" && status == http.StatusOK:
		list(repoDir + "/issues/" + rest[1] + "/" + rest[2] + ".json")
	}
}

// redirect notes that the path parts (asked) led to location: a renamed repository once for
// the repository (when only its root moved), a transferred issue by its path.
func (r *recorder) redirect(repoDir string, parts []string, location string) {
	u, err := url.Parse(location)
	if err != nil {
		return
	}
	to := strings.Split(apiPath(u), "/")
	from := strings.Join(parts, "/")
	if len(to) >= 2 && to[0] == "repositories" && slices.Equal(to[2:], parts[3:]) {
		from, to = strings.Join(parts[:3], "/"), to[:2]
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.redirects[repoDir] == nil {
		r.redirects[repoDir] = map[string]string{}
	}
	r.redirects[repoDir][from] = strings.Join(to, "/")
}

// write stores the recorded files under dir; list pages are joined into one JSON array, each
// element as GitHub sent it.
func (r *recorder) write(dir string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string][]byte{}
	for k, v := range r.files {
		out[k] = v
	}
	for name, pages := range r.pages {
		nums := make([]int, 0, len(pages))
		for n := range pages {
			nums = append(nums, n)
		}
		sort.Ints(nums)
		var items []json.RawMessage
		for _, n := range nums {
			var page []json.RawMessage
			if err := json.Unmarshal(pages[n], &page); err != nil {
				return fmt.Errorf("decoding page %d of %s: %w", n, name, err)
			}
			items = append(items, page...)
		}
		var b bytes.Buffer
		b.WriteString("[")
		for i, it := range items {
			if i > 0 {
				b.WriteString(",")
			}
			b.WriteString("\n")
			b.Write(bytes.TrimSpace(it))
		}
		b.WriteString("\n]\n")
		out[name] = b.Bytes()
	}
	for repoDir, m := range r.redirects {
		b, err := json.MarshalIndent(m, "", "  ")
		if err != nil {
			return err
		}
		out[repoDir+"/redirects.json"] = append(b, '\n')
	}
	for name, b := range out {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			return err
		}
	}
	return nil
}
