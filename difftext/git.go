package difftext

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"unicode/utf8"
)

// ErrNotUTF8 is returned by GitDiff when the diff cannot be made valid UTF-8 (a file name that
// is not UTF-8, say).
var ErrNotUTF8 = errors.New("diff is not valid UTF-8")

// ApplyError says that a patch does not apply; Output is git's explanation.
type ApplyError struct {
	Commit string
	// Index is the position of the refused patch among CheckApplies' patches.
	Index  int
	Output string
}

func (e *ApplyError) Error() string {
	return fmt.Sprintf("patch does not apply to %s: %s", e.Commit, e.Output)
}

// GitDiff returns the diff that revs select ("A B", or "A...B" for the changes of B since its
// merge base with A, as GitHub shows a pull request) in the repository at gitDir (bare or not),
// as git apply wants it: renames detected, binary files as "GIT binary patch" sections with
// full indexes. Text files whose content is not valid UTF-8 are shown as binary too, so the
// result is always valid UTF-8 (JSON and Parquet keep it unchanged) and still applies byte for
// byte. It uses no user or system git configuration.
func GitDiff(ctx context.Context, gitDir string, revs ...string) (string, error) {
	for _, r := range revs {
		if strings.HasPrefix(r, "-") {
			return "", fmt.Errorf("revision %q looks like an option", r)
		}
	}
	args := append(append([]string{"diff", "--no-color", "--no-ext-diff", "--binary", "-M"}, revs...), "--")
	out, err := Git(ctx, gitDir, nil, "", args...)
	if err != nil {
		return "", err
	}
	if utf8.ValidString(out) {
		return out, nil
	}
	d, err := Parse(out)
	if err != nil {
		return "", err
	}
	var bad []string
	for i := range d.Files {
		if !utf8.ValidString(d.Files[i].Text) {
			bad = append(bad, d.Files[i].Paths()...)
		}
	}
	attrs, err := os.CreateTemp("", "swemill-attributes-*")
	if err != nil {
		return "", fmt.Errorf("writing attributes file: %w", err)
	}
	defer os.Remove(attrs.Name())
	for _, p := range bad {
		fmt.Fprintf(attrs, "%s binary\n", attributePattern(p))
	}
	if err := attrs.Close(); err != nil {
		return "", fmt.Errorf("writing attributes file: %w", err)
	}
	out, err = Git(ctx, gitDir, nil, "", append([]string{"-c", "core.attributesFile=" + attrs.Name()}, args...)...)
	if err != nil {
		return "", err
	}
	if !utf8.ValidString(out) {
		return "", ErrNotUTF8
	}
	return out, nil
}

// attributePattern writes a path as a gitattributes pattern matching exactly that path.
func attributePattern(p string) string {
	var b strings.Builder
	b.WriteByte('/')
	for _, r := range p {
		if strings.ContainsRune(`*?[]\!#`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	s := b.String()
	if strings.ContainsAny(s, " \t\"") || !utf8.ValidString(s) {
		return quoteC(s)
	}
	return s
}

func quoteC(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c == '\t':
			b.WriteString(`\t`)
		case c < 0x20 || c >= 0x7f:
			fmt.Fprintf(&b, `\%03o`, c)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// CheckApplies reports whether each patch applies cleanly, on its own, to commit in the
// repository at gitDir (bare or not), without touching a work tree or the repository's index:
// it reads the commit into a temporary index once and runs `git apply --check --cached`
// against it. Empty patches apply. Patches are expected to touch different files (a
// split's halves); overlapping patches are checked one by one only when together they fail. The error is an *ApplyError naming the
// first patch git refuses.
func CheckApplies(ctx context.Context, gitDir, commit string, patches ...string) error {
	nonEmpty := false
	for _, p := range patches {
		nonEmpty = nonEmpty || p != ""
	}
	if !nonEmpty {
		return nil
	}
	dir, err := os.MkdirTemp("", "swemill-apply-*")
	if err != nil {
		return fmt.Errorf("creating temporary index: %w", err)
	}
	defer os.RemoveAll(dir)
	env := []string{"GIT_INDEX_FILE=" + filepath.Join(dir, "index")}
	if _, err := Git(ctx, gitDir, env, "", "read-tree", commit); err != nil {
		return err
	}
	// Sections of different files apply independently, so when the patches (which touch
	// different files, as a split's halves do) apply together each applies alone: one git
	// run instead of one per patch in the common case.
	if len(patches) > 1 {
		if _, err := Git(ctx, gitDir, env, strings.Join(patches, ""), "apply", "--check", "--cached", "-"); err == nil {
			return nil
		}
	}
	for i, patch := range patches {
		if patch == "" {
			continue
		}
		_, err = Git(ctx, gitDir, env, patch, "apply", "--check", "--cached", "-")
		var ge *GitError
		if errors.As(err, &ge) && ge.ExitCode != -1 {
			return &ApplyError{Commit: commit, Index: i, Output: ge.Stderr}
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// GitError is a git command that failed.
type GitError struct {
	Args     []string
	ExitCode int // -1 when git did not run or was killed
	Stderr   string
}

func (e *GitError) Error() string {
	return fmt.Sprintf("git %s: exit %d: %s", strings.Join(e.Args, " "), e.ExitCode, e.Stderr)
}

// Git runs git with args in the repository at gitDir (GIT_DIR for a bare repository, the work
// tree otherwise), with extra environment variables and stdin, and returns its standard
// output. User and system configuration are ignored so results are the same everywhere.
func Git(ctx context.Context, gitDir string, env []string, stdin string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Dir = gitDir
	cmd.Env = append(os.Environ(), "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1",
		"GIT_TERMINAL_PROMPT=0", "LC_ALL=C")
	cmd.Env = append(cmd.Env, env...)
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		code := -1
		var ee *exec.ExitError
		if errors.As(err, &ee) && ee.Exited() {
			code = ee.ExitCode()
		}
		stderr := strings.TrimSpace(errb.String())
		if len(stderr) > 2000 {
			stderr = stderr[:2000] + "..."
		}
		return out.String(), &GitError{Args: args, ExitCode: code, Stderr: stderr}
	}
	return out.String(), nil
}

// CheckGitDir says why p is not a git directory (bare, or a work tree holding .git), or
// returns nil.
func CheckGitDir(p string) error {
	st, err := os.Stat(p)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("%s does not exist", p)
	case err != nil:
		return err
	case !st.IsDir():
		return fmt.Errorf("%s is not a directory", p)
	}
	for _, d := range []string{p, filepath.Join(p, ".git")} {
		head, herr := os.Stat(filepath.Join(d, "HEAD"))
		if herr == nil && head.Mode().IsRegular() && isDirPath(filepath.Join(d, "objects")) {
			return nil
		}
	}
	return fmt.Errorf("%s is not a git directory (no HEAD and objects/ in it or in its .git)", p)
}

// isDirPath reports whether p is an existing directory.
func isDirPath(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.IsDir()
}
