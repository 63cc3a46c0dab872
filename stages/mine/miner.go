package mine

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/google/go-github/v62/github"

	"swemill/pipeline"
)

// Miner is the mine stage: it turns a repository's merged pull requests into candidate
// instances (pipeline.Miner). It is safe for concurrent use by several goroutines, one Mine
// call per repository at a time.
type Miner struct {
	cfg   Config
	api   restAPI   // github or snapshot source
	gh    *ghClient // github source
	stats counters
	refs  *refExtractor

	excludedRepo     map[string]bool
	excludedInstance map[string]bool
	licenses         map[string]bool // nil allows any

	repoLocks sync.Map // repo (lower case) -> *sync.Mutex

	importOnce sync.Once
	importIdx  *importIndex
	importErr  error
}

var _ pipeline.Miner = (*Miner)(nil)

// New returns a Miner for cfg.
func New(cfg Config) (*Miner, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	m := &Miner{
		cfg: cfg, refs: newRefExtractor(cfg.WebHosts),
		excludedRepo: map[string]bool{}, excludedInstance: map[string]bool{},
	}
	for _, r := range cfg.Filter.ExcludeRepos {
		m.excludedRepo[strings.ToLower(r)] = true
	}
	for _, id := range cfg.Filter.ExcludeInstances {
		m.excludedInstance[id] = true
	}
	if !(len(cfg.Filter.Licenses) == 1 && cfg.Filter.Licenses[0] == "*") {
		m.licenses = map[string]bool{}
		for _, l := range cfg.Filter.Licenses {
			m.licenses[strings.ToLower(l)] = true
		}
	}
	switch cfg.Source {
	case SourceGitHub:
		gh, err := newGHClient(cfg, &m.stats, nil)
		if err != nil {
			return nil, err
		}
		m.gh, m.api = gh, &githubAPI{c: gh}
	case SourceSnapshot:
		m.api = &snapshotAPI{dir: cfg.SnapshotDir}
	}
	return m, nil
}

// Stats returns the requests sent to GitHub so far.
func (m *Miner) Stats() Stats { return m.stats.snapshot() }

// MirrorDir returns the directory of the repositories' bare mirrors (MirrorPath gives one).
func (m *Miner) MirrorDir() string { return m.cfg.MirrorDir }

// ReadRepoList reads repositories, one "owner/name" a line; blank lines and lines starting with
// "#" are skipped, as is anything after whitespace on a line.
func ReadRepoList(r io.Reader) ([]string, error) {
	var out []string
	sc := bufio.NewScanner(r)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		repo := strings.Fields(line)[0]
		repo = strings.TrimSuffix(strings.TrimPrefix(repo, "https://github.com/"), ".git")
		if _, _, err := splitRepo(repo); err != nil {
			return nil, fmt.Errorf("reading repository list, line %d: %w", n, err)
		}
		out = append(out, repo)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading repository list: %w", err)
	}
	return out, nil
}

// SearchRepos returns up to limit repositories matching a GitHub repository search query
// ("language:python stars:>500"), most stars first (github source only; GitHub stops at
// 1,000 results).
func (m *Miner) SearchRepos(ctx context.Context, query string, limit int) ([]string, error) {
	if m.gh == nil {
		return nil, errors.New("searching repositories needs the github source")
	}
	if limit <= 0 {
		limit = 100
	}
	return m.gh.searchRepos(ctx, query, limit)
}

// SourceRepos returns the repositories the source itself lists: a snapshot's directories or
// the repositories of the import files, sorted. The github source lists none (use a list or
// SearchRepos).
func (m *Miner) SourceRepos(ctx context.Context) ([]string, error) {
	switch m.cfg.Source {
	case SourceSnapshot:
		return snapshotRepos(m.cfg.SnapshotDir)
	case SourceImport:
		idx, err := m.imports()
		if err != nil {
			return nil, err
		}
		return idx.repos(), nil
	}
	return nil, nil
}

// cursor is what a Mine call leaves for the next on the same repository, as JSON in the
// opaque RepoJob.Cursor.
type cursor struct {
	V int `json:"v"`
	// HWM is the updated_at of the most recently updated pull request of the last finished
	// walk; the next walk stops at the first pull request not updated after it.
	HWM time.Time `json:"hwm,omitzero"`
	// ClosedETags, ListETags and RepoETags are the ETags, by token fingerprint, of the
	// closed issues' first item (ClosedChanged), of the pull requests' page 1 and of the
	// repository.
	ClosedETags map[string]string `json:"closed_etags,omitempty"`
	ListETags   map[string]string `json:"list_etags,omitempty"`
	RepoETags   map[string]string `json:"repo_etags,omitempty"`
	// Repo caches the repository's metadata for 304s.
	Repo *repoMeta `json:"repo,omitempty"`
	// Walk is a walk down the list that a previous call left unfinished.
	Walk *walkState `json:"walk,omitempty"`
	// Offset is the import source's position in the repository's rows.
	Offset int `json:"offset,omitempty"`
}

type walkState struct {
	// Page is the next page to read.
	Page int `json:"page"`
	// Top is the newest updated_at seen at the walk's start: the next HWM.
	Top time.Time `json:"top,omitzero"`
	// Stop is the HWM the walk runs down to.
	Stop time.Time `json:"stop,omitzero"`
	// ETag is page 1's at the walk's start, Closed the closed issues' (ClosedChanged).
	ETag   etag `json:"etag"`
	Closed etag `json:"closed,omitzero"`
}

// tags returns the ETag as a cursor holds it (nil when there is none).
func (e etag) tags() map[string]string {
	if e.Value == "" {
		return nil
	}
	return map[string]string{e.Token: e.Value}
}

type repoMeta struct {
	License       string `json:"license,omitempty"`
	Language      string `json:"language,omitempty"`
	CloneURL      string `json:"clone_url,omitempty"`
	DefaultBranch string `json:"default_branch,omitempty"`
}

func metaOf(r *github.Repository) *repoMeta {
	m := &repoMeta{
		Language: r.GetLanguage(), CloneURL: r.GetCloneURL(), DefaultBranch: r.GetDefaultBranch(),
	}
	if r.License != nil {
		m.License = r.License.GetSPDXID()
	}
	return m
}

func parseCursor(s string) (cursor, error) {
	var c cursor
	if s == "" {
		return cursor{V: 1}, nil
	}
	if err := json.Unmarshal([]byte(s), &c); err != nil {
		return cursor{}, fmt.Errorf("reading mine cursor: %w", err)
	}
	return c, nil
}

func (c cursor) String() string {
	c.V = 1
	b, _ := json.Marshal(c)
	return string(b)
}

func (m *Miner) lock(repo string) func() {
	v, _ := m.repoLocks.LoadOrStore(strings.ToLower(repo), &sync.Mutex{})
	mu := v.(*sync.Mutex)
	mu.Lock()
	return mu.Unlock
}

// Mine reads the repository's pull requests updated since the cursor's high-water mark, newest
// first, PagesPerCall pages at a time, and returns every one it saw as a candidate or a drop.
// A repository that is excluded or whose licence is not allowed is dropped as a whole
// (MineResult.Drop), with its cursor kept so that the next run's check costs one 304.
func (m *Miner) Mine(ctx context.Context, job *pipeline.RepoJob) (pipeline.MineResult, error) {
	if _, _, err := splitRepo(job.Repo); err != nil {
		return pipeline.MineResult{}, err
	}
	defer m.lock(job.Repo)()
	cur, err := parseCursor(job.Cursor)
	if err != nil {
		return pipeline.MineResult{}, err
	}
	if m.excludedRepo[strings.ToLower(job.Repo)] {
		return pipeline.MineResult{
			Drop:   pipeline.Drop(DropDecontaminated, "repository is on the exclude list"),
			Cursor: cur.String(),
		}, nil
	}
	if m.cfg.Source == SourceImport {
		return m.mineImport(ctx, job, cur)
	}
	return m.mineAPI(ctx, job, cur, false)
}

func (m *Miner) newRun(job *pipeline.RepoJob, api restAPI, meta *repoMeta) *repoRun {
	r := &repoRun{
		m: m, repo: job.Repo, api: api, log: job.Log,
		knownPulls: map[int]bool{}, issues: map[string]*issueInfo{},
	}
	if meta != nil {
		r.meta = *meta
	}
	r.mirror = &mirror{dir: MirrorPath(m.cfg.MirrorDir, job.Repo), url: func(ctx context.Context) (string, error) {
		return m.gitURL(job.Repo, r.meta.CloneURL)
	}}
	return r
}

// gitURL returns where to clone repo from.
func (m *Miner) gitURL(repo, cloneURL string) (string, error) {
	if m.cfg.GitURL != nil {
		return m.cfg.GitURL(repo), nil
	}
	switch m.cfg.Source {
	case SourceSnapshot:
		return snapshotGit(m.cfg.SnapshotDir, repo)
	case SourceImport:
		return m.importMirror(repo)
	}
	if cloneURL == "" {
		return "", fmt.Errorf("no clone URL known for %s", repo)
	}
	return cloneURL, nil
}

// mineAPI walks the closed pull requests of the github or snapshot source.
func (m *Miner) mineAPI(ctx context.Context, job *pipeline.RepoJob, cur cursor, eager bool) (pipeline.MineResult, error) {
	var res pipeline.MineResult
	var page pullPage
	var err error
	if cur.Walk == nil {
		closed, unchanged, err := m.api.ClosedChanged(ctx, job.Repo, cur.ClosedETags)
		if err != nil {
			return m.repoRefused(job, cur, err)
		}
		if unchanged {
			job.Log.Debug().Msg("no closed issue or pull request changed since the last run")
			res.Cursor = cur.String()
			return res, nil
		}
		page, err = m.api.ClosedPulls(ctx, job.Repo, 1, cur.ListETags)
		if err != nil {
			return m.repoRefused(job, cur, err)
		}
		if page.NotModified {
			job.Log.Debug().Msg("pull requests unchanged since the last run")
			cur.ClosedETags = closed.tags()
			res.Cursor = cur.String()
			return res, nil
		}
		w := &walkState{Page: 1, Stop: cur.HWM, Top: cur.HWM, ETag: page.ETag, Closed: closed}
		if len(page.Pulls) > 0 && page.Pulls[0].GetUpdatedAt().After(w.Top) {
			w.Top = page.Pulls[0].GetUpdatedAt().Time.UTC()
		}
		cur.Walk = w
		if cur.Repo != nil && !w.Top.After(w.Stop) {
			// No pull request was updated since the last walk (the list's body changed with
			// a push or a star, which it embeds): nothing to mine, no metadata to refresh.
			m.finishWalk(&cur)
			res.Cursor = cur.String()
			return res, nil
		}
		// The list changed: refresh the repository's metadata (conditionally).
		r, tag, _, err := m.api.Repository(ctx, job.Repo, cur.RepoETags)
		if err != nil {
			return m.repoRefused(job, cur, err)
		}
		if r == nil && cur.Repo == nil {
			// 304 without the body at hand: ask again unconditionally.
			if r, tag, _, err = m.api.Repository(ctx, job.Repo, nil); err != nil {
				return m.repoRefused(job, cur, err)
			}
		}
		if r != nil {
			cur.Repo = metaOf(r)
			if name := r.GetFullName(); name != "" && !strings.EqualFold(name, job.Repo) {
				job.Log.Warn().Str("now", name).Msg("GitHub redirects the repository to its new name; its instances keep the name it was listed under")
			}
		}
		if tag.Value != "" {
			cur.RepoETags = map[string]string{tag.Token: tag.Value}
		}
		if m.licenses != nil && !m.licenses[strings.ToLower(cur.Repo.License)] {
			lic := cur.Repo.License
			if lic == "" {
				lic = "none"
			}
			m.finishWalk(&cur)
			res.Drop = pipeline.Drop(DropLicenseNotAllowed, "licence %s is not allowed", lic)
			res.Cursor = cur.String()
			return res, nil
		}
	} else {
		page, err = m.api.ClosedPulls(ctx, job.Repo, cur.Walk.Page, nil)
		if refused(err) {
			m.endRefusedWalk(job, &cur, err)
			return pipeline.MineResult{Cursor: cur.String()}, nil
		}
		if err != nil {
			return res, err
		}
	}
	run := m.newRun(job, m.api, cur.Repo)
	run.eager = eager
	defer run.mirror.close()
	start := m.cfg.Clock.Now()
	before := m.stats.snapshot()
	for pages := 1; ; pages++ {
		for _, pr := range page.Pulls {
			run.knownPulls[pr.GetNumber()] = true
		}
		done := false
		for _, pr := range page.Pulls {
			if !cur.Walk.Stop.IsZero() && !pr.GetUpdatedAt().Time.After(cur.Walk.Stop) {
				done = true
				break
			}
			mined, err := run.candidate(ctx, pr)
			if err != nil {
				return pipeline.MineResult{}, fmt.Errorf("mining %s#%d: %w", job.Repo, pr.GetNumber(), err)
			}
			if mined.Drop != nil {
				job.Log.Debug().Int("pull", pr.GetNumber()).Str("reason", mined.Drop.Reason).Str("detail", mined.Drop.Detail).Msg("dropped")
			}
			res.Instances = append(res.Instances, mined)
		}
		if done || page.Next == 0 {
			m.finishWalk(&cur)
			break
		}
		cur.Walk.Page = page.Next
		if pages >= m.cfg.PagesPerCall {
			res.More = true
			break
		}
		if page, err = m.api.ClosedPulls(ctx, job.Repo, cur.Walk.Page, nil); refused(err) {
			m.endRefusedWalk(job, &cur, err)
			break
		} else if err != nil {
			return pipeline.MineResult{}, err
		}
	}
	kept := 0
	for _, mi := range res.Instances {
		if mi.Drop == nil {
			kept++
		}
	}
	after := m.stats.snapshot()
	job.Log.Info().Int("seen", len(res.Instances)).Int("kept", kept).Bool("more", res.More).
		Int64("requests", after.Requests-before.Requests).Dur("took", m.cfg.Clock.Now().Sub(start)).Msg("mined pull requests")
	res.Cursor = cur.String()
	return res, nil
}

// repoRefused turns GitHub's refusal of a repository's first requests into a drop of the
// whole repository (its cursor kept, so a later run asks again): repository_not_found for a
// 404 or 410 (deleted, or private to the tokens), github_refused for another 4xx. Other
// errors are returned as they are.
func (m *Miner) repoRefused(job *pipeline.RepoJob, cur cursor, err error) (pipeline.MineResult, error) {
	res := pipeline.MineResult{Cursor: cur.String()}
	switch s := statusOf(err); {
	case errors.Is(err, errNotFound) || s == http.StatusNotFound || s == http.StatusGone:
		res.Drop = pipeline.Drop(DropRepositoryNotFound, "GitHub has no repository %s that the tokens can see", job.Repo)
	case refused(err):
		res.Drop = pipeline.Drop(DropGitHubRefused, "%v", err)
	default:
		return pipeline.MineResult{}, err
	}
	return res, nil
}

// endRefusedWalk ends a walk that GitHub refuses to page further (a 422 past a pagination
// cap, a 4xx for one page): what was read stays mined, the pull requests below the refused
// page are left out, and the high-water mark moves on so the next run does not stop there
// again.
func (m *Miner) endRefusedWalk(job *pipeline.RepoJob, cur *cursor, err error) {
	job.Log.Warn().Err(err).Int("page", cur.Walk.Page).
		Msg("GitHub refuses to list further pull requests; older ones are left unmined")
	m.finishWalk(cur)
}

// finishWalk ends the walk in progress: its top becomes the high-water mark and page 1's
// ETag the one to send next time.
func (m *Miner) finishWalk(cur *cursor) {
	w := cur.Walk
	cur.Walk = nil
	if w == nil {
		return
	}
	cur.HWM = w.Top
	cur.ListETags, cur.ClosedETags = w.ETag.tags(), w.Closed.tags()
}
