package mine

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"swemill/difftext"
	"swemill/retry"
)

// Sources a Miner reads from.
const (
	SourceGitHub   = "github"
	SourceSnapshot = "snapshot"
	SourceImport   = "import"
)

// Config configures a Miner. The zero value of every field but Source's inputs (Tokens or
// SnapshotDir or ImportFiles) and MirrorDir means its default.
type Config struct {
	// Source is "github" (the REST API; the default), "snapshot" (an offline directory, see
	// the package documentation) or "import" (SWE-bench-format task files).
	Source string

	// Tokens are GitHub tokens, used in turn; none means anonymous requests (60 an hour).
	// Tokens of one account share its rate limit: with two tokens or more, each one's
	// account is asked once (GET /user, a request) before the first request. They never
	// appear in logs or errors.
	Tokens []string
	// BaseURL is the REST API's root: "" means https://api.github.com/; a GitHub Enterprise
	// server's is "https://HOST/api/v3/".
	BaseURL string
	// WebHosts are the host names whose issue URLs count as references ("github.com" by
	// default, or BaseURL's host for Enterprise).
	WebHosts []string
	// HTTPClient sends the requests; nil means a client with http.DefaultTransport. Its
	// Transport is wrapped, never changed.
	HTTPClient *http.Client
	// GitURL returns where to clone a repository from; nil means the clone_url GitHub reports
	// (github source), the snapshot's repo.git or repo.bundle (snapshot source), or a mirror
	// found in ImportMirrorDir (import source).
	GitURL func(repo string) string

	// MirrorDir holds one bare mirror per repository, MirrorDir/OWNER/NAME.git, cloned on first
	// use and fetched when a commit is missing. Required: later stages build from it too.
	MirrorDir string

	// SnapshotDir is the snapshot source's directory.
	SnapshotDir string

	// ImportFiles are SWE-bench-format task files (.jsonl, .json or .parquet) for the import
	// source.
	ImportFiles []string
	// ImportMirrorDir holds the imported repositories' mirrors, as OWNER/NAME.git, OWNER/NAME,
	// OWNER__NAME.git, OWNER__NAME (or a snapshot's OWNER/NAME/repo.git or repo.bundle);
	// empty means MirrorDir. It must exist when set.
	ImportMirrorDir string
	// ImportMirrors gives single repositories' mirrors: "owner/name" -> a git directory
	// (bare, or a work tree's). An entry wins over ImportMirrorDir.
	ImportMirrors map[string]string

	// PagesPerCall is how many pages of 100 pull requests one Mine call reads before it
	// returns with More set; 0 means 5.
	PagesPerCall int
	// MaxWait is the longest a Mine call waits in process for a rate limit to reset (every
	// token limited); a longer wait is handed to the runner as pipeline.RetryAfter. 0 means
	// 1 minute; a negative value means never wait in process.
	MaxWait time.Duration
	// ETagCacheBytes bounds, per token, the answers kept to requests asked conditionally
	// (a repository and its lists' first items, whose ETags the cursor holds), so a 304
	// (free of rate limit) can be served with its body in a long-lived process. 0 means
	// 32 MiB.
	ETagCacheBytes int64
	// Retries is how many times a request that failed with a 5xx or a network error is
	// retried, with exponential backoff from one second up to one minute, less up to a
	// quarter of jitter (package retry); 0 means 4, negative means none.
	Retries int

	Filter Filter

	// CrossRepoIssues decides what a closing reference to an issue of another repository
	// does: "keep" (the default) links it with its repository; "ignore" skips it.
	CrossRepoIssues string
	// Versions overrides the version of instances: keys are instance ids or repositories
	// ("owner/name"), values the version. Otherwise the version is MAJOR.MINOR of the
	// nearest tag reachable from base_commit, or "0.0" when there is none.
	Versions map[string]string

	// Clock tells the time and waits; nil means the real clock.
	Clock Clock
	// Log receives the Miner's own messages (a job's messages go to its RepoJob.Log).
	Log zerolog.Logger
}

// Filter holds the thresholds that decide whether a pull request is a task.
type Filter struct {
	// MaxFiles is the most files the code half (patch) may change; 0 means 50, negative
	// means no limit.
	MaxFiles int
	// MaxLines is the most added plus deleted lines the code half may have; 0 means 1,000,
	// negative means no limit.
	MaxLines int
	// MaxTestLines is the most lines the test half may have; 0 means 5,000, negative means
	// no limit.
	MaxTestLines int
	// MinProblemStatement is the fewest characters (runes, after trimming) the problem
	// statement must have; 0 means 40, negative means no minimum.
	MinProblemStatement int
	// Licenses are the allowed SPDX licence ids of repositories (any case); nil means
	// DefaultLicenses, []string{"*"} allows any, including none.
	Licenses []string
	// ExcludeRepos are repositories never mined (decontamination); nil means
	// DefaultExcludeRepos (SWE-bench's test and Verified repositories); an empty non-nil
	// slice excludes none.
	ExcludeRepos []string
	// ExcludeInstances are instance ids never produced (decontamination).
	ExcludeInstances []string
}

// DefaultLicenses are the permissive and copyleft OSI licences GitHub detects that allow
// redistributing a repository's code in a dataset.
var DefaultLicenses = []string{
	"MIT", "MIT-0", "Apache-2.0", "BSD-2-Clause", "BSD-3-Clause", "BSD-3-Clause-Clear", "0BSD", "ISC",
	"MPL-2.0", "Unlicense", "CC0-1.0", "BSL-1.0", "Zlib", "Python-2.0", "PSF-2.0", "Artistic-2.0",
	"LGPL-2.1", "LGPL-3.0", "GPL-2.0", "GPL-3.0", "AGPL-3.0", "EPL-1.0", "EPL-2.0", "EUPL-1.2",
	"NCSA", "PostgreSQL", "UPL-1.0", "WTFPL", "OFL-1.1",
}

// DefaultExcludeRepos are the repositories of SWE-bench's test split and of SWE-bench
// Verified (the same twelve), excluded so mined data never overlaps the benchmark.
var DefaultExcludeRepos = []string{
	"astropy/astropy", "django/django", "matplotlib/matplotlib", "mwaskom/seaborn",
	"pallets/flask", "psf/requests", "pydata/xarray", "pylint-dev/pylint", "pytest-dev/pytest",
	"scikit-learn/scikit-learn", "sphinx-doc/sphinx", "sympy/sympy",
}

// Clock tells the time and waits. Sleep returns early with ctx's error when ctx ends.
type Clock interface {
	Now() time.Time
	Sleep(ctx context.Context, d time.Duration) error
}

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

func (realClock) Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	return retry.Sleep(ctx, d)
}

// Validate reports the first field that is wrong.
func (c *Config) Validate() error {
	switch c.Source {
	case "", SourceGitHub:
		if c.BaseURL != "" {
			u, err := url.Parse(c.BaseURL)
			if err != nil || u.Scheme == "" || u.Host == "" {
				return fmt.Errorf("mine: Config.BaseURL %q is not an absolute URL", c.BaseURL)
			}
		}
		for i, t := range c.Tokens {
			if strings.TrimSpace(t) == "" || strings.ContainsAny(t, " \t\r\n") {
				return fmt.Errorf("mine: Config.Tokens[%d] is empty or holds spaces", i)
			}
		}
	case SourceSnapshot:
		if c.SnapshotDir == "" {
			return errors.New("mine: Config.SnapshotDir is required by the snapshot source")
		}
	case SourceImport:
		if len(c.ImportFiles) == 0 {
			return errors.New("mine: Config.ImportFiles is required by the import source")
		}
		if err := c.validateImportMirrors(); err != nil {
			return err
		}
	default:
		return fmt.Errorf("mine: Config.Source %q is not github, snapshot or import", c.Source)
	}
	if c.MirrorDir == "" {
		return errors.New("mine: Config.MirrorDir is required")
	}
	if c.PagesPerCall < 0 {
		return errors.New("mine: Config.PagesPerCall must not be negative")
	}
	if c.ETagCacheBytes < 0 {
		return errors.New("mine: Config.ETagCacheBytes must not be negative")
	}
	switch c.CrossRepoIssues {
	case "", "keep", "ignore":
	default:
		return fmt.Errorf("mine: Config.CrossRepoIssues %q is not keep or ignore", c.CrossRepoIssues)
	}
	for _, r := range append(append([]string(nil), c.Filter.ExcludeRepos...), keys(c.Versions)...) {
		if strings.Contains(r, "__") {
			continue // an instance id in Versions
		}
		if _, _, err := splitRepo(r); err != nil {
			return fmt.Errorf("mine: Config.Filter.ExcludeRepos or Config.Versions: %w", err)
		}
	}
	return nil
}

// validateImportMirrors checks that the import source has somewhere to find repositories:
// every ImportMirrors entry a git directory, ImportMirrorDir an existing directory, and,
// when neither is given, MirrorDir an existing directory.
func (c *Config) validateImportMirrors() error {
	for repo, p := range c.ImportMirrors {
		if _, _, err := splitRepo(repo); err != nil {
			return fmt.Errorf("mine: Config.ImportMirrors: %w", err)
		}
		if err := difftext.CheckGitDir(p); err != nil {
			return fmt.Errorf("mine: Config.ImportMirrors[%s]: %w", repo, err)
		}
	}
	switch {
	case c.ImportMirrorDir != "":
		if !isDir(c.ImportMirrorDir) {
			return fmt.Errorf("mine: Config.ImportMirrorDir: %s does not exist or is not a directory", c.ImportMirrorDir)
		}
	case len(c.ImportMirrors) == 0 && c.MirrorDir != "" && !isDir(c.MirrorDir):
		return fmt.Errorf("mine: the import source reads repositories from Config.ImportMirrorDir or Config.ImportMirrors; "+
			"neither is set and Config.MirrorDir %s does not exist", c.MirrorDir)
	}
	return nil
}

func keys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// withDefaults returns c with zero fields set to their defaults.
func (c Config) withDefaults() Config {
	if c.Source == "" {
		c.Source = SourceGitHub
	}
	if c.PagesPerCall == 0 {
		c.PagesPerCall = 5
	}
	if c.MaxWait == 0 {
		c.MaxWait = time.Minute
	}
	if c.ETagCacheBytes == 0 {
		c.ETagCacheBytes = 32 << 20
	}
	if c.Retries == 0 {
		c.Retries = 4
	}
	if c.Retries < 0 {
		c.Retries = 0
	}
	if c.CrossRepoIssues == "" {
		c.CrossRepoIssues = "keep"
	}
	if c.Clock == nil {
		c.Clock = realClock{}
	}
	if c.HTTPClient == nil {
		c.HTTPClient = &http.Client{}
	}
	if len(c.WebHosts) == 0 {
		c.WebHosts = []string{"github.com"}
		if c.BaseURL != "" {
			if u, err := url.Parse(c.BaseURL); err == nil && u.Hostname() != "api.github.com" {
				c.WebHosts = []string{u.Hostname()}
			}
		}
	}
	f := &c.Filter
	f.MaxFiles = orDefault(f.MaxFiles, 50)
	f.MaxLines = orDefault(f.MaxLines, 1000)
	f.MaxTestLines = orDefault(f.MaxTestLines, 5000)
	f.MinProblemStatement = orDefault(f.MinProblemStatement, 40)
	if f.Licenses == nil {
		f.Licenses = DefaultLicenses
	}
	if f.ExcludeRepos == nil {
		f.ExcludeRepos = DefaultExcludeRepos
	}
	return c
}

func orDefault(v, def int) int {
	if v == 0 {
		return def
	}
	return v
}

// splitRepo splits "owner/name".
func splitRepo(repo string) (owner, name string, err error) {
	owner, name, ok := strings.Cut(repo, "/")
	if !ok || owner == "" || name == "" || strings.Contains(name, "/") || strings.ContainsAny(repo, " \t\n\\") ||
		owner == "." || owner == ".." || name == "." || name == ".." {
		return "", "", fmt.Errorf("repository %q is not owner/name", repo)
	}
	return owner, name, nil
}

// InstanceID returns SWE-bench's instance id of pull request number in repo: "owner__name-N".
func InstanceID(repo string, number int) string {
	return strings.Replace(repo, "/", "__", 1) + "-" + itoa(number)
}

func itoa(n int) string { return fmt.Sprint(n) }
