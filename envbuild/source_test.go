package envbuild_test

import (
	"os"
	"os/exec"
	"path/filepath"
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

// A mirror whose other refs are broken (a branch naming an object the mirror lacks, as a
// partial snapshot leaves it) still serves the commits it holds: only those are fetched.
func TestSourcesPartialMirror(t *testing.T) {
	t.Parallel()
	elsewhere := t.TempDir()
	r := fixture(t, elsewhere, "pyflat")
	mirrors := t.TempDir()
	bare := filepath.Join(mirrors, "acme", "pyflat.git")
	out, err := exec.Command("git", "clone", "-q", "--bare", r.Dir, bare).CombinedOutput()
	require.NoError(t, err, "%s", out)
	dangling := "1234567890123456789012345678901234567890\n"
	require.NoError(t, os.WriteFile(filepath.Join(bare, "refs", "heads", "broken"), []byte(dangling), 0o644))
	out, err = exec.Command("git", "--git-dir", bare, "fetch", "-q", bare, "+refs/heads/*:refs/x/*").CombinedOutput()
	require.Error(t, err, "the broken mirror must fail a fetch of all its refs, or this test shows nothing: %s", out)

	src, err := envbuild.NewSources(envbuild.SourceConfig{Dir: t.TempDir(), MirrorDir: mirrors}, zerolog.New(zerolog.NewTestWriter(t)))
	require.NoError(t, err)
	require.NoError(t, src.Fetch(t.Context(), "acme/pyflat", r.Commits["base"], r.Commits["fix"]))
	dst := filepath.Join(t.TempDir(), "checkout")
	require.NoError(t, src.Checkout(t.Context(), "acme/pyflat", r.Commits["fix"], dst))
}
