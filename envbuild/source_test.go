package envbuild_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"swemill/envbuild"
)

// A repository named in SourceConfig.Mirrors is fetched from its own git directory, one that
// MirrorDir's layouts would not find.
func TestSourcesMirrors(t *testing.T) {
	t.Parallel()
	elsewhere := t.TempDir()
	r := fixture(t, elsewhere, "pyflat")
	bare := filepath.Join(elsewhere, "pyflat-bare.git")
	out, err := exec.Command("git", "clone", "-q", "--bare", r.Dir, bare).CombinedOutput()
	require.NoError(t, err, "%s", out)
	base := r.Commits["base"]
	log := zerolog.New(zerolog.NewTestWriter(t))

	plain, err := envbuild.NewSources(envbuild.SourceConfig{Dir: t.TempDir(), MirrorDir: t.TempDir()}, log)
	require.NoError(t, err)
	require.ErrorIs(t, plain.Fetch(t.Context(), "acme/pyflat", base), envbuild.ErrRepoNotFound)

	src, err := envbuild.NewSources(envbuild.SourceConfig{
		Dir: t.TempDir(), MirrorDir: t.TempDir(), Mirrors: map[string]string{"acme/pyflat": bare},
	}, log)
	require.NoError(t, err)
	require.NoError(t, src.Fetch(t.Context(), "acme/pyflat", base))
	dst := filepath.Join(t.TempDir(), "checkout")
	require.NoError(t, src.Checkout(t.Context(), "acme/pyflat", base, dst))
	_, err = os.Stat(filepath.Join(dst, "tests"))
	require.NoError(t, err)

	// A work tree is a git directory too; anything else is refused, naming the entry and the path.
	require.NoError(t, envbuild.SourceConfig{Dir: t.TempDir(), Mirrors: map[string]string{"acme/pyflat": r.Dir}}.Validate())
	notGit := t.TempDir()
	err = envbuild.SourceConfig{Dir: t.TempDir(), Mirrors: map[string]string{"acme/pyflat": notGit}}.Validate()
	require.ErrorContains(t, err, "SourceConfig.Mirrors[acme/pyflat]: "+notGit+" is not a git directory")
	err = envbuild.SourceConfig{Dir: t.TempDir(), Mirrors: map[string]string{"acme/pyflat": "/nonexistent/x.git"}}.Validate()
	require.ErrorContains(t, err, "/nonexistent/x.git does not exist")
}

// A partial mirror (as a snapshot that leaves out objects makes it) still serves the commits
// whose own trees it holds: a branch naming an object it lacks, or a blob of an earlier
// commit gone, fail a fetch of everything, not the fetch of those commits.
func TestSourcesPartialMirror(t *testing.T) {
	t.Parallel()
	elsewhere := t.TempDir()
	r := fixture(t, elsewhere, "pyflat")
	mirrors := t.TempDir()
	bare := filepath.Join(mirrors, "acme", "pyflat.git")
	run := func(args ...string) string {
		out, err := exec.Command("git", args...).CombinedOutput()
		require.NoError(t, err, "git %v: %s", args, out)
		return strings.TrimSpace(string(out))
	}
	run("init", "-q", "--bare", bare)
	// A push this small arrives as loose objects, so one can be taken away.
	run("-C", r.Dir, "push", "-q", bare, r.Commits["fix"]+":refs/heads/main")
	old := run("--git-dir", bare, "rev-parse", r.Commits["base"]+":calc/ops.py")
	require.NotEqual(t, old, run("--git-dir", bare, "rev-parse", r.Commits["fix"]+":calc/ops.py"))
	require.NoError(t, os.Remove(filepath.Join(bare, "objects", old[:2], old[2:])))
	require.NoError(t, os.WriteFile(filepath.Join(bare, "refs", "heads", "broken"), []byte("1234567890123456789012345678901234567890\n"), 0o644))
	probe := t.TempDir()
	run("init", "-q", "--bare", probe)
	out, err := exec.Command("git", "--git-dir", probe, "fetch", "-q", bare, r.Commits["fix"]).CombinedOutput()
	require.Error(t, err, "the mirror must fail a fetch of the fix's history, or this test shows nothing: %s", out)

	src, err := envbuild.NewSources(envbuild.SourceConfig{Dir: t.TempDir(), MirrorDir: mirrors}, zerolog.New(zerolog.NewTestWriter(t)))
	require.NoError(t, err)
	require.NoError(t, src.Fetch(t.Context(), "acme/pyflat", r.Commits["fix"]))
	dst := filepath.Join(t.TempDir(), "checkout")
	require.NoError(t, src.Checkout(t.Context(), "acme/pyflat", r.Commits["fix"], dst))
	got, err := os.ReadFile(filepath.Join(dst, "calc", "ops.py"))
	require.NoError(t, err)
	require.Equal(t, run("--git-dir", bare, "cat-file", "blob", r.Commits["fix"]+":calc/ops.py"), strings.TrimSpace(string(got)))
	// The commit whose tree lost a blob is an error that says so, not a broken checkout.
	require.ErrorIs(t, src.Fetch(t.Context(), "acme/pyflat", r.Commits["base"]), envbuild.ErrCommitNotFound)
}
