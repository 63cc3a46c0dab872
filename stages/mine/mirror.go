package mine

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"swemill/gitexec"
)

// mirror is a bare mirror of one repository under Config.MirrorDir, cloned on first use and
// fetched (at most once per Mine call) when a commit is missing.
type mirror struct {
	dir     string
	url     func(ctx context.Context) (string, error)
	fetched bool
	ready   bool
	cat     *catFile
}

// MirrorPath returns where the bare mirror of repo ("owner/name") lives under mirrorDir.
func MirrorPath(mirrorDir, repo string) string {
	owner, name, err := splitRepo(repo)
	if err != nil {
		return ""
	}
	return filepath.Join(mirrorDir, owner, name+".git")
}

// isDir reports whether p is an existing directory.
func isDir(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.IsDir()
}

func (m *mirror) git(ctx context.Context, args ...string) (string, error) {
	return gitexec.Run(ctx, m.dir, args...)
}

// open clones the mirror if it does not exist yet.
func (m *mirror) open(ctx context.Context) error {
	if m.ready {
		return nil
	}
	if _, err := os.Stat(filepath.Join(m.dir, "HEAD")); err == nil {
		m.ready = true
		return nil
	}
	src, err := m.url(ctx)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(m.dir), 0o755); err != nil {
		return fmt.Errorf("creating mirror directory: %w", err)
	}
	tmp, err := os.MkdirTemp(filepath.Dir(m.dir), ".clone-*")
	if err != nil {
		return fmt.Errorf("creating mirror directory: %w", err)
	}
	defer os.RemoveAll(tmp)
	if _, err := gitexec.Run(ctx, filepath.Dir(m.dir), "clone", "--quiet", "--mirror", "--", src, tmp); err != nil {
		return fmt.Errorf("cloning mirror of %s: %w", redactURL(src), err)
	}
	if err := os.Rename(tmp, m.dir); err != nil {
		// Another process may have won the race.
		if _, serr := os.Stat(filepath.Join(m.dir, "HEAD")); serr != nil {
			return fmt.Errorf("installing mirror %s: %w", m.dir, err)
		}
	}
	m.ready, m.fetched = true, true
	return nil
}

// redactURL removes credentials from a URL before it reaches an error.
func redactURL(u string) string {
	if i := strings.Index(u, "://"); i >= 0 {
		if j := strings.LastIndex(u[i+3:], "@"); j >= 0 {
			return u[:i+3] + "***@" + u[i+3+j+1:]
		}
	}
	return u
}

// catFile returns the mirror's object reader, starting it if needed.
func (m *mirror) objects(ctx context.Context) (*catFile, error) {
	if m.cat == nil {
		c, err := startCatFile(ctx, m.dir)
		if err != nil {
			return nil, err
		}
		m.cat = c
	}
	return m.cat, nil
}

// close ends the object reader; the mirror stays usable (the reader restarts on demand).
func (m *mirror) close() {
	if m.cat != nil {
		_ = m.cat.Close()
		m.cat = nil
	}
}

// missing returns the commits of shas that the mirror does not have.
func (m *mirror) missing(ctx context.Context, shas ...string) ([]string, error) {
	c, err := m.objects(ctx)
	if err != nil {
		return nil, err
	}
	var miss []string
	for _, s := range shas {
		if s == "" {
			continue
		}
		ok, err := c.has(s)
		if err != nil {
			return nil, fmt.Errorf("checking commits in %s: %w", m.dir, err)
		}
		if !ok {
			miss = append(miss, s)
		}
	}
	return miss, nil
}

// ensure makes the mirror hold shas if it can (cloning or fetching once) and returns those
// still missing.
func (m *mirror) ensure(ctx context.Context, shas ...string) ([]string, error) {
	if err := m.open(ctx); err != nil {
		return nil, err
	}
	miss, err := m.missing(ctx, shas...)
	if err != nil || len(miss) == 0 || m.fetched {
		return miss, err
	}
	m.fetched = true
	m.close() // the reader would not see the fetched packs
	if _, err := m.git(ctx, "fetch", "--quiet", "--prune", "origin"); err != nil {
		return nil, fmt.Errorf("fetching mirror %s: %w", m.dir, err)
	}
	return m.missing(ctx, shas...)
}

// commit is one commit of a pull request.
type commit struct {
	SHA     string
	Author  time.Time
	Message string
}

// prCommits returns the commits reachable from head but not from base, oldest first.
func (m *mirror) prCommits(ctx context.Context, base, head string) ([]commit, error) {
	c, err := m.objects(ctx)
	if err != nil {
		return nil, err
	}
	objs, err := c.between(base, head)
	if err != nil {
		return nil, fmt.Errorf("listing commits %s..%s: %w", base, head, err)
	}
	out := make([]commit, len(objs))
	for i, o := range objs {
		out[i] = commit{SHA: o.sha, Author: o.author, Message: o.message}
	}
	return out, nil
}

// commitOf returns one commit.
func (m *mirror) commitOf(ctx context.Context, sha string) (commit, error) {
	c, err := m.objects(ctx)
	if err != nil {
		return commit{}, err
	}
	o, err := c.commit(sha)
	if err != nil {
		return commit{}, fmt.Errorf("reading commit %s: %w", sha, err)
	}
	return commit{SHA: o.sha, Author: o.author, Message: o.message}, nil
}

var versionRE = regexp.MustCompile(`([0-9]+)\.([0-9]+)`)

// version returns MAJOR.MINOR of the nearest tag reachable from sha, or "0.0".
func (m *mirror) version(ctx context.Context, sha string) string {
	out, err := m.git(ctx, "describe", "--tags", "--abbrev=0", sha)
	var ge *gitexec.Error
	if err != nil && !errors.As(err, &ge) {
		return "0.0"
	}
	if v := versionRE.FindStringSubmatch(strings.TrimSpace(out)); v != nil {
		return v[1] + "." + v[2]
	}
	return "0.0"
}
