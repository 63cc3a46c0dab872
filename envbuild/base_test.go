package envbuild_test

import (
	"testing"

	"swemill/envbuild/envbuildtest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"swemill/envbuild"
	"swemill/envbuild/sandbox"
)

// TestBaseImages builds (or finds) the base images and checks what they carry.
func TestBaseImages(t *testing.T) {
	t.Parallel()
	names := envbuildtest.Bases(t)
	want, err := envbuild.BaseNames(envbuildtest.BaseConfig())
	require.NoError(t, err)
	assert.Equal(t, want, names, "BaseNames predicts what BuildBases makes")
	sb := newSandbox(t, sandbox.Config{})
	py := runIn(t, sb, names["python"], `id -u; python --version; python -m pytest --version; git --version; stat -c %U /testbed `+envbuild.VenvDir)
	assert.Equal(t, 0, py.ExitCode, "stderr: %s", py.Stderr)
	assert.Contains(t, string(py.Stdout), "1000\nPython 3.11")
	assert.Contains(t, string(py.Stdout), "swemill\nswemill")
	assert.Contains(t, string(py.Stdout)+string(py.Stderr), "pytest 7")
	gob := runIn(t, sb, names["go"], `go version && go env GOCACHE GOTOOLCHAIN`)
	assert.Equal(t, 0, gob.ExitCode, "stderr: %s", gob.Stderr)
	assert.Contains(t, string(gob.Stdout), "/home/swemill/.cache/go-build\nlocal")
	// The bases made of Debian packages: each toolchain runs as the sandbox user, who owns
	// its home (where the toolchains keep their caches).
	for lang, want := range map[string][]string{
		"javascript": {"v18.", "29.3.1"},
		"rust":       {"rustc 1.63", "cargo 1."},
		"java":       {"openjdk version \"17", "Apache Maven 3.8"},
	} {
		res := runIn(t, sb, names[lang], envbuild.BaseCheck(lang)+` && id -u && stat -c %U /home/swemill /testbed`)
		assert.Equal(t, 0, res.ExitCode, "%s: stderr: %s", lang, res.Stderr)
		for _, w := range want {
			assert.Contains(t, string(res.Stdout), w, lang)
		}
		assert.Contains(t, string(res.Stdout), "1000\nswemill\nswemill", lang)
	}
}
