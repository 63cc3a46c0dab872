package envbuild

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"swemill/difftext"
	"swemill/gitexec"
)

// ErrRepoNotFound says that a repository does not exist at its source.
var ErrRepoNotFound = errors.New("repository not found")

// ErrCommitNotFound says that a commit is not in its repository.
var ErrCommitNotFound = errors.New("commit not found")

// SourceConfig says where repositories come from.
type SourceConfig struct {
	// Dir holds one shared bare clone per repository: <Dir>/<owner>/<name>.git. Required.
	Dir string
	// MirrorDir, when set, is the only source (offline): a repository is read from
	// <MirrorDir>/<owner>/<name>.git, <MirrorDir>/<owner>/<name> (bare or with a work tree),
	// <MirrorDir>/<owner>/<name>.bundle or <MirrorDir>/<owner>__<name>.bundle.
	MirrorDir string
	// Mirrors gives single repositories' sources: "owner/name" -> a git directory (bare, or
	// a work tree's). A repository listed here is fetched from its path, whatever MirrorDir
	// and GitHubURL say. Every path must be a git directory.
	Mirrors map[string]string
	// GitHubURL is where repositories are cloned from over HTTPS when MirrorDir is empty.
	// Default "https://github.com".
	GitHubURL string
	// FetchTimeout bounds one fetch. Default 10 minutes.
	FetchTimeout time.Duration
}

// Validate reports the first field that is not usable.
func (c SourceConfig) Validate() error {
	if c.Dir == "" {
		return errors.New("SourceConfig.Dir: required")
	}
	if c.GitHubURL != "" && !strings.HasPrefix(c.GitHubURL, "https://") && !strings.HasPrefix(c.GitHubURL, "http://") {
		return fmt.Errorf("SourceConfig.GitHubURL: %q is not an http(s) URL", c.GitHubURL)
	}
	if c.FetchTimeout < 0 {
		return errors.New("SourceConfig.FetchTimeout: negative")
	}
	for repo, p := range c.Mirrors {
		if !repoRe.MatchString(repo) || strings.Contains(repo, "..") {
			return fmt.Errorf("SourceConfig.Mirrors: %q is not owner/name", repo)
		}
		if err := difftext.CheckGitDir(p); err != nil {
			return fmt.Errorf("SourceConfig.Mirrors[%s]: %w", repo, err)
		}
	}
	return nil
}

// Sources keeps one bare clone per repository and fetches each commit into it once. It is
// safe for concurrent use by goroutines and processes (a file lock per repository).
type Sources struct {
	cfg SourceConfig
	log zerolog.Logger
}

// NewSources returns Sources for cfg.
func NewSources(cfg SourceConfig, log zerolog.Logger) (*Sources, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.GitHubURL == "" {
		cfg.GitHubURL = "https://github.com"
	}
	if cfg.FetchTimeout == 0 {
		cfg.FetchTimeout = 10 * time.Minute
	}
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("creating source directory: %w", err)
	}
	return &Sources{cfg: cfg, log: log}, nil
}

// BarePath returns the bare clone of repo.
func (s *Sources) BarePath(repo string) string {
	owner, name, _ := strings.Cut(repo, "/")
	return filepath.Join(s.cfg.Dir, owner, name+".git")
}

// Fetch makes sure the bare clone of repo holds every commit, fetching only what is
// missing. It returns ErrRepoNotFound or ErrCommitNotFound (wrapped) for bad input.
func (s *Sources) Fetch(ctx context.Context, repo string, commits ...string) error {
	if !repoRe.MatchString(repo) || strings.Contains(repo, "..") {
		return fmt.Errorf("fetching %s: %w: not an owner/name", repo, ErrRepoNotFound)
	}
	for _, c := range commits {
		if !commitRe.MatchString(c) {
			return fmt.Errorf("fetching %s@%s: %w: not a full commit hash", repo, c, ErrCommitNotFound)
		}
	}
	bare := s.BarePath(repo)
	if err := os.MkdirAll(filepath.Dir(bare), 0o755); err != nil {
		return err
	}
	unlock, err := lockFile(ctx, bare+".lock")
	if err != nil {
		return err
	}
	defer unlock()
	missing := s.missing(ctx, bare, commits)
	if len(missing) == 0 {
		return nil
	}
	remote, err := s.remote(repo)
	if err != nil {
		return fmt.Errorf("fetching %s: %w", repo, err)
	}
	if _, err := os.Stat(filepath.Join(bare, "HEAD")); err != nil {
		if _, err := gitexec.Run(ctx, "", "init", "-q", "--bare", bare); err != nil {
			return err
		}
		// Lets checkouts fetch a single commit by hash from this clone.
		if _, err := gitexec.Run(ctx, bare, "config", "uploadpack.allowAnySHA1InWant", "true"); err != nil {
			return err
		}
	}
	fctx, cancel := context.WithTimeout(ctx, s.cfg.FetchTimeout)
	defer cancel()
	s.log.Info().Str("repo", repo).Int("commits", len(missing)).Msg("fetching repository")
	// GitHub and local mirrors serve commits by hash: fetch just those (and their history),
	// so a mirror whose other refs are broken or absent still serves the commits it holds.
	args := append([]string{"fetch", "-q", "--no-tags", remote}, missing...)
	if _, err := gitexec.Run(fctx, bare, args...); err != nil {
		if notFound(err) {
			return fmt.Errorf("fetching %s: %w", repo, ErrRepoNotFound)
		}
		s.log.Debug().Err(err).Str("repo", repo).Msg("fetching by hash failed; fetching the commits alone")
	}
	missing = s.missing(ctx, bare, missing)
	if len(missing) > 0 {
		// A mirror that lacks an object of the history (a partial snapshot) can still serve
		// the commits' own trees: a checkout needs nothing more.
		args := append([]string{"fetch", "-q", "--no-tags", "--depth", "1", remote}, missing...)
		if _, err := gitexec.Run(fctx, bare, args...); err != nil {
			s.log.Debug().Err(err).Str("repo", repo).Msg("fetching the commits alone failed; fetching all branches")
		}
		missing = s.missing(ctx, bare, missing)
	}
	if len(missing) > 0 {
		if _, err := gitexec.Run(fctx, bare, "fetch", "-q", "--no-tags", remote,
			"+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*"); err != nil {
			if notFound(err) {
				return fmt.Errorf("fetching %s: %w", repo, ErrRepoNotFound)
			}
			if missing = s.missing(ctx, bare, missing); len(missing) > 0 {
				if !strings.Contains(remote, "://") {
					// A mirror on this machine that cannot serve the commit will not later either.
					return fmt.Errorf("fetching %s@%s: %w: the mirror %s cannot serve it: %v", repo, missing[0], ErrCommitNotFound, remote, err)
				}
				return fmt.Errorf("fetching %s: %w", repo, err)
			}
		}
		missing = s.missing(ctx, bare, missing)
	}
	if len(missing) > 0 {
		return fmt.Errorf("fetching %s@%s: %w", repo, missing[0], ErrCommitNotFound)
	}
	// A ref per wanted commit keeps a commit fetched by hash from being pruned by git gc.
	for _, c := range commits {
		if _, err := gitexec.Run(ctx, bare, "update-ref", "refs/swemill/"+c, c); err != nil {
			return err
		}
	}
	return nil
}

func (s *Sources) missing(ctx context.Context, bare string, commits []string) []string {
	var out []string
	for _, c := range commits {
		if _, err := gitexec.Run(ctx, bare, "cat-file", "-e", c+"^{commit}"); err != nil {
			out = append(out, c)
		}
	}
	return out
}

// remote returns the URL or path to fetch repo from: a Mirrors entry, a mirror in MirrorDir,
// or GitHub.
func (s *Sources) remote(repo string) (string, error) {
	if p, ok := s.cfg.Mirrors[repo]; ok {
		return filepath.Abs(p)
	}
	owner, name, _ := strings.Cut(repo, "/")
	if s.cfg.MirrorDir == "" {
		return strings.TrimSuffix(s.cfg.GitHubURL, "/") + "/" + owner + "/" + name + ".git", nil
	}
	for _, p := range []string{
		filepath.Join(s.cfg.MirrorDir, owner, name+".git"),
		filepath.Join(s.cfg.MirrorDir, owner, name),
		filepath.Join(s.cfg.MirrorDir, owner, name+".bundle"),
		filepath.Join(s.cfg.MirrorDir, owner+"__"+name+".bundle"),
	} {
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("%w in mirror %s", ErrRepoNotFound, s.cfg.MirrorDir)
}

// notFound reports whether git's failure says that the repository does not exist (GitHub
// answers a missing or private repository by asking for credentials, which git may not ask).
func notFound(err error) bool {
	var ge *gitexec.Error
	if !errors.As(err, &ge) {
		return false
	}
	msg := strings.ToLower(ge.Stderr)
	for _, s := range []string{"repository not found", "could not read username", "does not appear to be a git repository"} {
		if strings.Contains(msg, s) && !strings.Contains(msg, "could not resolve host") {
			return true
		}
	}
	return false
}

// TreeSize returns the total size of the files of commit in repo (which must be fetched).
func (s *Sources) TreeSize(ctx context.Context, repo, commit string) (int64, error) {
	out, err := gitexec.Run(ctx, s.BarePath(repo), "ls-tree", "-r", "-l", "--full-tree", commit)
	if err != nil {
		return 0, fmt.Errorf("sizing %s@%s: %w", repo, commit, err)
	}
	var total int64
	for _, line := range strings.Split(out, "\n") {
		meta, _, ok := strings.Cut(line, "\t")
		if !ok {
			continue
		}
		f := strings.Fields(meta)
		if len(f) == 4 && f[1] == "blob" {
			n, err := strconv.ParseInt(f[3], 10, 64)
			if err == nil {
				total += n
			}
		}
	}
	return total, nil
}

// Checkout makes dst (which must not exist) a git repository holding just commit of repo
// (a shallow, single-commit history, so the commit keeps its hash and `git diff <commit>`
// works), checked out on a detached HEAD, with no remote.
func (s *Sources) Checkout(ctx context.Context, repo, commit, dst string) error {
	if _, err := gitexec.Run(ctx, "", "init", "-q", dst); err != nil {
		return err
	}
	if _, err := gitexec.Run(ctx, dst, "fetch", "-q", "--depth", "1", "--no-tags", "file://"+s.BarePath(repo), commit); err != nil {
		return fmt.Errorf("checking out %s@%s: %w", repo, commit, err)
	}
	if _, err := gitexec.Run(ctx, dst, "checkout", "-q", "--detach", commit); err != nil {
		return fmt.Errorf("checking out %s@%s: %w", repo, commit, err)
	}
	for _, p := range []string{"FETCH_HEAD", "logs"} {
		_ = os.RemoveAll(filepath.Join(dst, ".git", p))
	}
	hooks, _ := filepath.Glob(filepath.Join(dst, ".git", "hooks", "*.sample"))
	for _, h := range hooks {
		_ = os.Remove(h)
	}
	return nil
}
