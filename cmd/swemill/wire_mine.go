package main

import (
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"swemill/stages/mine"
)

// MineConfig is the mine section: where pull requests come from and which become tasks.
type MineConfig struct {
	// Source is "github" (the REST API; default), "snapshot" (an offline directory) or
	// "import" (SWE-bench-format task files).
	Source string `yaml:"source" json:"source,omitempty"`
	// BaseURL is the REST API's root for GitHub Enterprise ("https://HOST/api/v3/").
	BaseURL string `yaml:"base_url" json:"base_url,omitempty"`
	// SnapshotDir is the snapshot source's directory.
	SnapshotDir string `yaml:"snapshot_dir" json:"snapshot_dir,omitempty"`
	// ImportFiles are SWE-bench-format task files (.jsonl, .json, .parquet).
	ImportFiles []string `yaml:"import_files" json:"import_files,omitempty"`
	// ImportMirrorDir holds the imported repositories' git mirrors (OWNER/NAME.git,
	// OWNER/NAME, OWNER__NAME.git or OWNER__NAME under it); default mirror_dir.
	ImportMirrorDir string `yaml:"import_mirror_dir" json:"import_mirror_dir,omitempty"`
	// ImportMirrors gives single repositories' git directories, owner/name: path; they win
	// over import_mirror_dir, and the build stage fetches those repositories from them too.
	ImportMirrors map[string]string `yaml:"import_mirrors" json:"import_mirrors,omitempty"`
	// Search is a repository search query ("language:python stars:>500") whose results are
	// mined, up to SearchLimit (default 100).
	Search      string `yaml:"search" json:"search,omitempty"`
	SearchLimit int    `yaml:"search_limit" json:"search_limit,omitempty"`
	// ReposFile lists repositories, one owner/name per line.
	ReposFile string `yaml:"repos_file" json:"repos_file,omitempty"`
	// PagesPerCall is how many pages of 100 pull requests one mining step reads.
	PagesPerCall int `yaml:"pages_per_call" json:"pages_per_call,omitempty"`
	// MaxWait is the longest a rate limit is waited out in process.
	MaxWait Duration `yaml:"max_wait" json:"max_wait,omitempty"`
	// Retries is how many times a request that failed with a 5xx or a network error is
	// retried. Default 4; -1: none.
	Retries int `yaml:"retries" json:"retries,omitempty"`
	// ETagCache bounds, per token, the answers kept to conditional requests (a repository
	// and its lists' first items). Default 32MiB.
	ETagCache Size `yaml:"etag_cache" json:"etag_cache,omitempty"`
	// CrossRepoIssues tunes issue linking (see stages/mine).
	CrossRepoIssues string `yaml:"cross_repo_issues" json:"cross_repo_issues,omitempty"`
	// FollowMentions and ClosedEvents are read and ignored (a warning says so): closed events
	// never added a link on GitHub's data.
	FollowMentions bool `yaml:"follow_mentions" json:"follow_mentions,omitempty"`
	ClosedEvents   bool `yaml:"closed_events" json:"closed_events,omitempty"`
	// Versions overrides versions by instance id or repository.
	Versions map[string]string `yaml:"versions" json:"versions,omitempty"`
	// Filter holds the thresholds of a task.
	Filter MineFilter `yaml:"filter" json:"filter,omitempty"`
}

// MineFilter is mine.filter; zero values mean mine's defaults.
type MineFilter struct {
	MaxFiles            int      `yaml:"max_files" json:"max_files,omitempty"`
	MaxLines            int      `yaml:"max_lines" json:"max_lines,omitempty"`
	MaxTestLines        int      `yaml:"max_test_lines" json:"max_test_lines,omitempty"`
	MinProblemStatement int      `yaml:"min_problem_statement" json:"min_problem_statement,omitempty"`
	Licenses            []string `yaml:"licenses" json:"licenses,omitempty"`
	ExcludeRepos        []string `yaml:"exclude_repos" json:"exclude_repos,omitempty"`
	ExcludeInstances    []string `yaml:"exclude_instances" json:"exclude_instances,omitempty"`
}

// githubTokens reads GitHub tokens from GITHUB_TOKEN (several may be given, separated by
// commas or spaces) and GITHUB_TOKENS.
func githubTokens(getenv func(string) string) []string {
	var out []string
	for _, v := range []string{getenv("GITHUB_TOKEN"), getenv("GITHUB_TOKENS")} {
		for _, t := range strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' || r == '\n' }) {
			if !slices.Contains(out, t) {
				out = append(out, t)
			}
		}
	}
	return out
}

// mineConfig turns the configuration into the miner's.
func (env wiringEnv) mineConfig() mine.Config {
	c := env.cfg
	m := c.Mine
	return mine.Config{
		Source:          m.Source,
		Tokens:          githubTokens(env.getenv),
		BaseURL:         m.BaseURL,
		MirrorDir:       c.mirrorDir(),
		SnapshotDir:     c.resolve(m.SnapshotDir),
		ImportFiles:     c.resolveAll(m.ImportFiles),
		ImportMirrorDir: c.resolve(m.ImportMirrorDir),
		ImportMirrors:   c.importMirrors(),
		PagesPerCall:    m.PagesPerCall,
		MaxWait:         time.Duration(m.MaxWait),
		Retries:         m.Retries,
		ETagCacheBytes:  int64(m.ETagCache),
		CrossRepoIssues: m.CrossRepoIssues,
		Versions:        m.Versions,
		Filter: mine.Filter{
			MaxFiles: m.Filter.MaxFiles, MaxLines: m.Filter.MaxLines, MaxTestLines: m.Filter.MaxTestLines,
			MinProblemStatement: m.Filter.MinProblemStatement, Licenses: m.Filter.Licenses,
			ExcludeRepos: m.Filter.ExcludeRepos, ExcludeInstances: m.Filter.ExcludeInstances,
		},
		Log: env.log.With().Str("stage", "mine").Logger(),
	}
}

// importMirrors returns mine.import_mirrors with each path resolved against the
// configuration file's directory.
func (c *Config) importMirrors() map[string]string {
	if len(c.Mine.ImportMirrors) == 0 {
		return nil
	}
	out := make(map[string]string, len(c.Mine.ImportMirrors))
	for repo, p := range c.Mine.ImportMirrors {
		out[repo] = c.resolve(p)
	}
	return out
}

// checkMirrors checks the mirror paths of the configuration before a run uses them: every
// mine.import_mirrors entry must be a git directory, and the import source's
// mine.import_mirror_dir must exist. Errors name the field and the path.
func (c *Config) checkMirrors() error {
	for _, repo := range slices.Sorted(maps.Keys(c.Mine.ImportMirrors)) {
		p := c.resolve(c.Mine.ImportMirrors[repo])
		st, err := os.Stat(p)
		switch {
		case err != nil:
			return usagef("mine.import_mirrors: %s: %s does not exist", repo, p)
		case !st.IsDir() || !isGitDir(p) && !isGitDir(filepath.Join(p, ".git")):
			return usagef("mine.import_mirrors: %s: %s is not a git directory", repo, p)
		}
	}
	if c.Mine.Source != mine.SourceImport {
		return nil
	}
	if d := c.Mine.ImportMirrorDir; d != "" {
		if st, err := os.Stat(c.resolve(d)); err != nil || !st.IsDir() {
			return usagef("mine.import_mirror_dir: %s does not exist", c.resolve(d))
		}
	} else if len(c.Mine.ImportMirrors) == 0 {
		if st, err := os.Stat(c.mirrorDir()); err != nil || !st.IsDir() {
			return usagef("mine: the import source reads repositories from mine.import_mirror_dir or mine.import_mirrors; "+
				"neither is set and mirror_dir %s does not exist", c.mirrorDir())
		}
	}
	return nil
}

// isGitDir reports whether dir is a git directory: HEAD and objects/ in it.
func isGitDir(dir string) bool {
	head, err := os.Stat(filepath.Join(dir, "HEAD"))
	if err != nil || !head.Mode().IsRegular() {
		return false
	}
	objects, err := os.Stat(filepath.Join(dir, "objects"))
	return err == nil && objects.IsDir()
}

// warnIgnoredMine logs each mine field that is read but does nothing any more.
func (c *Config) warnIgnoredMine(log zerolog.Logger) {
	for _, f := range []struct {
		name string
		set  bool
	}{{"mine.follow_mentions", c.Mine.FollowMentions}, {"mine.closed_events", c.Mine.ClosedEvents}} {
		if f.set {
			log.Warn().Str("field", f.name).Msgf("%s does nothing: issues' closed events are not read (GitHub's closed event names a commit only when that commit's message closes the issue, and mining reads commit messages already)", f.name)
		}
	}
}

// wireMine builds the miner and completes the list of repositories: the configured ones, a
// repos file's, a search's, or else every repository of an offline source. An offline
// source that lists no repository is an error, whatever else is configured.
func wireMine(ctx context.Context, env wiringEnv) (*mine.Miner, []string, error) {
	if err := env.cfg.checkMirrors(); err != nil {
		return nil, nil, err
	}
	m, err := mine.New(env.mineConfig())
	if err != nil {
		return nil, nil, usagef("mine: %v", err)
	}
	env.cfg.warnIgnoredMine(env.log)
	repos := slices.Clone(env.cfg.Repos)
	add := func(rs []string) {
		for _, r := range rs {
			if !slices.Contains(repos, r) {
				repos = append(repos, r)
			}
		}
	}
	if f := env.cfg.Mine.ReposFile; f != "" {
		fh, err := os.Open(env.cfg.resolve(f))
		if err != nil {
			return nil, nil, fmt.Errorf("reading mine.repos_file: %w", err)
		}
		rs, err := mine.ReadRepoList(fh)
		fh.Close()
		if err != nil {
			return nil, nil, fmt.Errorf("reading mine.repos_file %s: %w", f, err)
		}
		add(rs)
	}
	if q := env.cfg.Mine.Search; q != "" {
		rs, err := m.SearchRepos(ctx, q, env.cfg.Mine.SearchLimit)
		if err != nil {
			return nil, nil, fmt.Errorf("searching repositories (%q): %w", q, err)
		}
		add(rs)
	}
	if src := env.cfg.Mine.Source; src != "" && src != mine.SourceGitHub {
		rs, err := m.SourceRepos(ctx)
		if err != nil {
			return nil, nil, fmt.Errorf("listing the %s source's repositories: %w", src, err)
		}
		if len(repos) == 0 {
			add(rs)
		}
	}
	return m, repos, nil
}

func cmdSnapshot(ctx context.Context, a *app, o snapshotOptions) error {
	repos, out, bundle := o.repos, o.out, o.bundle
	if out == "" {
		return usagef("snapshot needs --out DIR")
	}
	cfg, log, err := a.setup()
	if err != nil {
		return err
	}
	if len(repos) == 0 {
		repos = cfg.Repos
	}
	if len(repos) == 0 {
		return usagef("snapshot needs --repo owner/name (or repos in the configuration)")
	}
	env := wiringEnv{cfg: cfg, getenv: a.getenv, log: log}
	if err := mine.Record(ctx, env.mineConfig(), mine.RecordOptions{Dir: out, Repos: repos, Bundle: bundle}); err != nil {
		return fmt.Errorf("recording a snapshot: %w", err)
	}
	fmt.Fprintf(a.stdout, "recorded %d repositories in %s\n", len(repos), out)
	return nil
}
