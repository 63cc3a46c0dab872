package envbuild_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"swemill/envbuild"
	"swemill/repotest"
)

func zerolog_(t testing.TB) zerolog.Logger {
	return zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.InfoLevel)
}

func repotestBuild(dir, desc string) (*repotest.Repo, error) {
	return repotest.Build(dir, []byte(desc))
}

func writeTree(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte(content), 0o644))
	}
	return dir
}

func TestInferRecipe(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		files   map[string]string
		offline bool
		install []string
		env     map[string]string
		lang    string
	}{
		{
			name:    "setuptools flat",
			files:   map[string]string{"setup.py": "from setuptools import setup\nsetup(name='x', extras_require={'test': ['pytest']})\n", "x/__init__.py": ""},
			install: []string{"python -m pip install --no-build-isolation -e '.[test]'"},
			lang:    "python",
		},
		{
			name: "requirements and pyproject with test extra",
			files: map[string]string{
				"pyproject.toml":        "[build-system]\nrequires = [\n  \"setuptools>=61\",\n]\nbuild-backend = \"setuptools.build_meta\"\n[project]\nname = \"x\"\n[project.optional-dependencies]\ntests = [\"pytest\"]\n",
				"requirements.txt":      "requests==2.31.0\n",
				"requirements-test.txt": "# nothing\n",
				"requirements-docs.txt": "sphinx\n",
			},
			install: []string{"python -m pip install -r requirements.txt", "python -m pip install -e '.[tests]'"},
			lang:    "python",
		},
		{
			name:    "hatchling src layout offline",
			files:   map[string]string{"pyproject.toml": "[build-system]\nrequires = [\"hatchling\"]\nbuild-backend = \"hatchling.build\"\n[project]\nname = \"x\"\n", "src/x/__init__.py": ""},
			offline: true,
			env:     map[string]string{"PYTHONPATH": "/testbed/src"},
			lang:    "python",
		},
		{
			name:    "hatchling online",
			files:   map[string]string{"pyproject.toml": "[build-system]\nrequires = [\"hatchling\"]\nbuild-backend = \"hatchling.build\"\n[project]\nname = \"x\"\n"},
			install: []string{"python -m pip install -e ."},
			lang:    "python",
		},
		{
			name:    "tox deps are quoted and filtered",
			files:   map[string]string{"tox.ini": "[testenv]\ndeps =\n    pytest\n    mock>=2.0\n    {[base]deps}\n    -rrequirements.txt\n    evil; touch /pwned\ncommands = pytest\n", "m.py": ""},
			install: []string{"python -m pip install 'mock>=2.0'"},
			lang:    "python",
		},
		{
			name:  "bare python files",
			files: map[string]string{"lib.py": "", "test_lib.py": ""},
			lang:  "python",
		},
		{
			name:    "go module with deps",
			files:   map[string]string{"go.mod": "module x\n\ngo 1.21\n\nrequire example.com/y v1.0.0\n"},
			install: []string{"go mod download", "go build ./..."},
			lang:    "go",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r, err := envbuild.InferRecipe(writeTree(t, tc.files), envbuild.InferOptions{Offline: tc.offline})
			require.NoError(t, err)
			assert.Equal(t, tc.lang, r.Language)
			assert.Equal(t, tc.install, r.Install)
			assert.Equal(t, tc.env, r.Env)
			require.NoError(t, envbuild.ValidateRecipe(r))
		})
	}
	_, err := envbuild.InferRecipe(writeTree(t, map[string]string{"README": "x"}), envbuild.InferOptions{})
	assert.ErrorIs(t, err, envbuild.ErrNoRecipe)
}

func TestParseSpec(t *testing.T) {
	t.Parallel()
	r, err := envbuild.ParseSpec([]byte("language: python\nsystem_packages: [libxml2-dev, zlib1g-dev=1:1.2.13.dfsg-1]\ninstall: [\"python -m pip install -e .\"]\ntest_cmd: python -m pytest -rA\nenv: {DJANGO_SETTINGS_MODULE: tests.settings}\n"))
	require.NoError(t, err)
	assert.Equal(t, "pytest", r.LogParser)
	assert.Equal(t, []string{"libxml2-dev", "zlib1g-dev=1:1.2.13.dfsg-1"}, r.SystemPackages)
	_, err = envbuild.ParseSpec([]byte("language: python\ntest_cmd: x\nlanguage_version: \"2.7\"\n"))
	assert.ErrorContains(t, err, "3.11")
}

func TestConfigValidateNamesFields(t *testing.T) {
	t.Parallel()
	assert.ErrorContains(t, envbuild.Config{}.Validate(), "Config.CacheDir")
	assert.ErrorContains(t, envbuild.Config{CacheDir: "/x"}.Validate(), "Config.PythonBase")
	assert.ErrorContains(t, envbuild.Config{CacheDir: "/x", PythonBase: "p", WorkDir: "/a b"}.Validate(), "Config.WorkDir")
	assert.ErrorContains(t, envbuild.Config{CacheDir: "/x", PythonBase: "p", BuildNetwork: "bridge;x"}.Validate(), "Config.BuildNetwork")
	assert.ErrorContains(t, envbuild.BaseConfig{}.Validate(), "BaseConfig.CacheDir")
	assert.ErrorContains(t, envbuild.BaseConfig{CacheDir: "/x", Packages: []string{"git;rm"}}.Validate(), "BaseConfig.Packages")
	assert.NoError(t, envbuild.BaseConfig{CacheDir: "/x"}.Validate())
}
