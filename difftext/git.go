package difftext

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"unicode/utf8"

	"swemill/gitexec"
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
// byte. Git runs as gitexec runs it (no user or system configuration).
func GitDiff(ctx context.Context, gitDir string, revs ...string) (string, error) {
	for _, r := range revs {
		if strings.HasPrefix(r, "-") {
			return "", fmt.Errorf("revision %q looks like an option", r)
		}
	}
	args := append(append([]string{"diff", "--no-color", "--no-ext-diff", "--binary", "-M"}, revs...), "--")
	out, err := gitexec.Run(ctx, gitDir, args...)
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
	out, err = gitexec.Run(ctx, gitDir, append([]string{"-c", "core.attributesFile=" + attrs.Name()}, args...)...)
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
	if _, err := gitexec.RunWith(ctx, gitDir, gitexec.Options{Env: env}, "read-tree", commit); err != nil {
		return err
	}
	// Sections of different files apply independently, so when the patches (which touch
	// different files, as a split's halves do) apply together each applies alone: one git
	// run instead of one per patch in the common case.
	if len(patches) > 1 {
		if _, err := gitexec.RunWith(ctx, gitDir, gitexec.Options{Env: env, Stdin: strings.Join(patches, "")},
			"apply", "--check", "--cached", "-"); err == nil {
			return nil
		}
	}
	for i, patch := range patches {
		if patch == "" {
			continue
		}
		_, err = gitexec.RunWith(ctx, gitDir, gitexec.Options{Env: env, Stdin: patch}, "apply", "--check", "--cached", "-")
		var ge *gitexec.Error
		if errors.As(err, &ge) && ge.ExitCode != -1 {
			return &ApplyError{Commit: commit, Index: i, Output: ge.Stderr}
		}
		if err != nil {
			return err
		}
	}
	return nil
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
