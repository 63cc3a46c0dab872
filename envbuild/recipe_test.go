package envbuild_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"swemill/envbuild"
	"swemill/pipeline"
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

// skipped builds pipeline.Recipe.Skipped from what, reason pairs.
func skipped(pairs ...string) []pipeline.SkippedStep {
	var out []pipeline.SkippedStep
	for i := 0; i+1 < len(pairs); i += 2 {
		out = append(out, pipeline.SkippedStep{What: pairs[i], Reason: pairs[i+1]})
	}
	return out
}

const (
	pytestCmd      = "python -m pytest --no-header -rA --tb=no -p no:cacheprovider"
	offlineInstall = "python -m pip install --no-index --no-build-isolation --no-deps -e ."
	fromSource     = "; the tests import the project from source"
	noDeps         = " need a package index; the project is installed with --no-index --no-build-isolation --no-deps instead"
)

// Fixture trees of TestInferRecipe.
var (
	setupPyExtras = map[string]string{
		"setup.py":      "from setuptools import setup\nsetup(name='x', extras_require={'test': ['pytest-mock']})\n",
		"x/__init__.py": "",
	}
	setupPyRequires = map[string]string{
		"setup.py":             "from setuptools import setup\nsetup(\n    name='x',\n    install_requires=['requests>=2'],\n)\n",
		"x/__init__.py":        "",
		"tests/test_x.py":      "import x\n",
		"requirements-rtd.txt": "sphinx\nsphinx-rtd-theme\n",
	}
	requirementTree = map[string]string{
		"pyproject.toml":        "[build-system]\nrequires = [\n  \"setuptools>=61\",\n]\nbuild-backend = \"setuptools.build_meta\"\n[project]\nname = \"x\"\n[project.optional-dependencies]\ntests = [\"pytest\"]\n",
		"x/__init__.py":         "",
		"requirements.txt":      "requests==2.31.0\n",
		"requirements-test.txt": "# nothing\n",
		"requirements-docs.txt": "sphinx\n",
		"rtd-requirements.txt":  "sphinx\n",
		"docs/requirements.txt": "furo\n",
		"doc/requirements.txt":  "furo\n",
		"requirements/test.txt": "pytest-cov\n",
		"requirements/lint.txt": "ruff\n",
		"requirements/dev.txt":  "ipython\n",
	}
	toxTree = map[string]string{
		"tox.ini": "[testenv]\ndeps =\n    pytest\n    mock>=2.0\n    {[base]deps}\n    -rrequirements.txt\n    evil; touch /pwned\ncommands = pytest\n",
		"m.py":    "",
	}
	hatchSrc = map[string]string{
		"pyproject.toml":    "[build-system]\nrequires = [\"hatchling\"]\nbuild-backend = \"hatchling.build\"\n[project]\nname = \"x\"\ndependencies = [\"attrs\"]\n[project.optional-dependencies]\ntest = [\"pytest\"]\n",
		"src/x/__init__.py": "",
	}
	hatchFlat = map[string]string{
		"pyproject.toml": "[build-system]\nrequires = [\"hatchling\"]\nbuild-backend = \"hatchling.build\"\n[project]\nname = \"x\"\n",
		"x/__init__.py":  "",
	}
	pyprojectDeps = map[string]string{
		"pyproject.toml": "[build-system]\nrequires = [\"setuptools\", \"wheel\"]\nbuild-backend = \"setuptools.build_meta\"\n[project]\nname = \"x\"\ndependencies = [\n  \"attrs>=22\",\n]\n",
		"x/__init__.py":  "",
	}
	setupCfgRequires = map[string]string{
		"setup.py":      "from setuptools import setup\nsetup()\n",
		"setup.cfg":     "[metadata]\nname = x\n[options]\npackages = x\nsetup_requires =\n    setuptools_scm\ninstall_requires =\n    attrs\n",
		"x/__init__.py": "",
	}
	setupPyNoDeps = map[string]string{
		"setup.py":      "from setuptools import setup\nsetup(name='x', install_requires=[], setup_requires=[])\n",
		"x/__init__.py": "",
	}
	goWithRequires = map[string]string{"go.mod": "module x\n\ngo 1.21\n\nrequire example.com/y v1.0.0\n"}
	goBare         = map[string]string{"go.mod": "module x\n\ngo 1.22\n", "x.go": "package x\n"}
	goVendored     = map[string]string{
		"go.mod":                    "module x\n\ngo 1.21\n\nrequire example.com/y v1.0.0\n",
		"vendor/modules.txt":        "# example.com/y v1.0.0\n## explicit\nexample.com/y\n",
		"vendor/example.com/y/y.go": "package y\n",
	}
)

// TestInferRecipe checks whole inferred recipes, online and offline: commands, environment
// and the steps left out with their reasons. Offline, nothing needs a package index.
func TestInferRecipe(t *testing.T) {
	// The Go install steps: test modules, a warm build cache, go.mod and go.sum put back.
	const (
		goTestDeps = "go list -e -deps -test ./... > /dev/null"
		goWarm     = "go build ./... || echo 'swemill: not every package builds; go test reports which'"
		goRestore  = "git ls-files -z -m -- ':(glob)**/go.mod' ':(glob)**/go.sum' | xargs -0r git checkout -q -- && " +
			"git ls-files -z -o --exclude-standard -- ':(glob)**/go.sum' | xargs -0r rm -f --"
	)
	t.Parallel()
	cases := []struct {
		name    string
		files   map[string]string
		offline bool
		want    pipeline.Recipe
	}{
		{
			name: "setuptools flat with a test extra, online", files: setupPyExtras,
			want: pipeline.Recipe{Install: []string{"python -m pip install --no-build-isolation -e '.[test]'"}},
		},
		{
			name: "setuptools flat with a test extra, offline", files: setupPyExtras, offline: true,
			want: pipeline.Recipe{
				Install: []string{offlineInstall},
				Skipped: skipped("python -m pip install --no-build-isolation -e '.[test]'", "offline: the test extras [test]"+noDeps),
			},
		},
		{
			name: "setup.py with install_requires, online", files: setupPyRequires,
			want: pipeline.Recipe{
				Install: []string{"python -m pip install --no-build-isolation -e ."},
				Skipped: skipped("requirements-rtd.txt", "documentation requirements"),
			},
		},
		{
			name: "setup.py with install_requires, offline", files: setupPyRequires, offline: true,
			want: pipeline.Recipe{
				Install: []string{offlineInstall},
				Skipped: skipped(
					"requirements-rtd.txt", "documentation requirements",
					"python -m pip install --no-build-isolation -e .", "offline: the dependencies declared in setup.py"+noDeps),
			},
		},
		{
			name: "setup.py with empty install_requires, offline", files: setupPyNoDeps, offline: true,
			want: pipeline.Recipe{Install: []string{offlineInstall}},
		},
		{
			name: "setup.cfg with setup_requires and install_requires, offline", files: setupCfgRequires, offline: true,
			want: pipeline.Recipe{Skipped: skipped("python -m pip install --no-build-isolation -e .",
				"offline: setup_requires in setup.cfg needs a package index"+fromSource)},
		},
		{
			name: "pyproject setuptools with dependencies, offline", files: pyprojectDeps, offline: true,
			want: pipeline.Recipe{
				Install: []string{offlineInstall},
				Skipped: skipped("python -m pip install --no-build-isolation -e .", "offline: the dependencies declared in pyproject.toml"+noDeps),
			},
		},
		{
			name: "requirement files, online", files: requirementTree,
			want: pipeline.Recipe{
				Install: []string{
					"python -m pip install -r requirements.txt",
					"python -m pip install -r requirements/test.txt",
					"python -m pip install -e '.[tests]'",
				},
				Skipped: skipped(
					"doc/requirements.txt", "documentation requirements",
					"docs/requirements.txt", "documentation requirements",
					"requirements-docs.txt", "documentation requirements",
					"requirements/dev.txt", "neither test nor base requirements",
					"requirements/lint.txt", "lint requirements",
					"rtd-requirements.txt", "documentation requirements",
				),
			},
		},
		{
			name: "requirement files, offline", files: requirementTree, offline: true,
			want: pipeline.Recipe{Skipped: skipped(
				"doc/requirements.txt", "documentation requirements",
				"docs/requirements.txt", "documentation requirements",
				"requirements-docs.txt", "documentation requirements",
				"python -m pip install -r requirements.txt", "offline: needs a package index",
				"requirements/dev.txt", "neither test nor base requirements",
				"requirements/lint.txt", "lint requirements",
				"python -m pip install -r requirements/test.txt", "offline: needs a package index",
				"rtd-requirements.txt", "documentation requirements",
				"python -m pip install -e '.[tests]'", "offline: the build requirements setuptools>=61 need a package index"+fromSource,
			)},
		},
		{
			name: "tox deps are quoted and filtered, online", files: toxTree,
			want: pipeline.Recipe{Install: []string{"python -m pip install 'mock>=2.0'"}},
		},
		{
			name: "tox deps, offline", files: toxTree, offline: true,
			want: pipeline.Recipe{Skipped: skipped("python -m pip install 'mock>=2.0'", "offline: tox.ini [testenv] deps need a package index")},
		},
		{
			name: "hatchling src layout, online", files: hatchSrc,
			want: pipeline.Recipe{
				Install: []string{"python -m pip install -e '.[test]'"},
				Env:     map[string]string{"PYTHONPATH": "/testbed/src"},
			},
		},
		{
			name: "hatchling src layout, offline", files: hatchSrc, offline: true,
			want: pipeline.Recipe{
				Env: map[string]string{"PYTHONPATH": "/testbed/src"},
				Skipped: skipped("python -m pip install -e '.[test]'",
					"offline: the build backend hatchling.build is not in the base image and needs a package index"+fromSource),
			},
		},
		{
			name: "hatchling flat layout, online", files: hatchFlat,
			want: pipeline.Recipe{Install: []string{"python -m pip install -e ."}},
		},
		{
			name: "hatchling flat layout, offline", files: hatchFlat, offline: true,
			want: pipeline.Recipe{Skipped: skipped("python -m pip install -e .",
				"offline: the build backend hatchling.build is not in the base image and needs a package index"+fromSource)},
		},
		{
			name: "bare python files", files: map[string]string{"lib.py": "", "test_lib.py": ""}, offline: true,
			want: pipeline.Recipe{},
		},
		{
			name: "go module with requires, online", files: goWithRequires,
			want: pipeline.Recipe{Language: "go", LanguageVersion: "1.21", Install: []string{"go mod download", goTestDeps, goWarm, goRestore},
				Env: map[string]string{"GOFLAGS": "-mod=mod -buildvcs=false", "GODEBUG": "goindex=0"}},
		},
		{
			name: "go module with requires, offline", files: goWithRequires, offline: true,
			want: pipeline.Recipe{
				Language: "go", LanguageVersion: "1.21", Install: []string{goWarm, goRestore},
				Env:     map[string]string{"GOFLAGS": "-mod=mod -buildvcs=false", "GODEBUG": "goindex=0", "GOPROXY": "off"},
				Skipped: skipped("go mod download", "offline: needs the Go module proxy (GOPROXY=off)"),
			},
		},
		{
			name: "go module without requires, online", files: goBare,
			want: pipeline.Recipe{Language: "go", LanguageVersion: "1.22", Install: []string{goWarm, goRestore},
				Env: map[string]string{"GOFLAGS": "-mod=mod -buildvcs=false", "GODEBUG": "goindex=0"}},
		},
		{
			name: "go module without requires, offline", files: goBare, offline: true,
			want: pipeline.Recipe{
				Language: "go", LanguageVersion: "1.22", Install: []string{goWarm, goRestore},
				Env: map[string]string{"GOFLAGS": "-mod=mod -buildvcs=false", "GODEBUG": "goindex=0", "GOPROXY": "off"},
			},
		},
		{
			name: "go module with vendored requires, online", files: goVendored,
			want: pipeline.Recipe{
				Language: "go", LanguageVersion: "1.21", Install: []string{goWarm, goRestore},
				Env: map[string]string{"GOFLAGS": "-mod=vendor -buildvcs=false", "GODEBUG": "goindex=0"},
			},
		},
		{
			name: "go module with vendored requires, offline", files: goVendored, offline: true,
			want: pipeline.Recipe{
				Language: "go", LanguageVersion: "1.21", Install: []string{goWarm, goRestore},
				Env:     map[string]string{"GOFLAGS": "-mod=vendor -buildvcs=false", "GODEBUG": "goindex=0", "GOPROXY": "off"},
				Skipped: skipped("go mod download", "offline: needs the Go module proxy (GOPROXY=off)"),
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			want := tc.want
			if want.Language == "" {
				want.Language, want.TestCmd, want.LogParser = "python", pytestCmd, "pytest"
			} else {
				want.TestCmd, want.LogParser = "go test -json -count=1", "gotest"
			}
			r, err := envbuild.InferRecipe(writeTree(t, tc.files), envbuild.InferOptions{Offline: tc.offline})
			require.NoError(t, err)
			assert.Equal(t, want, r)
			require.NoError(t, envbuild.ValidateRecipe(r))
			if tc.offline {
				for _, c := range append(r.PreInstall, r.Install...) {
					if strings.Contains(c, "pip install") {
						assert.Contains(t, c, "--no-index", "offline, pip must not reach an index: %s", c)
					}
					assert.NotContains(t, c, "go mod download")
				}
			}
			// A recipe printed as JSON (or as the spec YAML that mirrors it) reads back whole.
			data, err := json.Marshal(r)
			require.NoError(t, err)
			back, err := envbuild.ParseSpec(data)
			require.NoError(t, err, "%s", data)
			assert.Equal(t, r, back)
		})
	}
}

// TestInferRecipeNoProject: nothing Python or Go, or documentation requirements alone, is no
// recipe.
func TestInferRecipeNoProject(t *testing.T) {
	t.Parallel()
	for _, files := range []map[string]string{
		{"README": "x"},
		{"README": "x", "requirements-docs.txt": "sphinx\n", "docs/requirements.txt": "furo\n"},
	} {
		_, err := envbuild.InferRecipe(writeTree(t, files), envbuild.InferOptions{})
		assert.ErrorIs(t, err, envbuild.ErrNoRecipe)
	}
}

// TestSpecSkipped: a spec file may carry the skipped steps of the recipe it was printed from;
// they must be whole entries on one line each.
func TestSpecSkipped(t *testing.T) {
	t.Parallel()
	r, err := envbuild.ParseSpec([]byte("language: python\ntest_cmd: python -m pytest\nskipped:\n  - what: requirements-docs.txt\n    reason: documentation requirements\n"))
	require.NoError(t, err)
	assert.Equal(t, skipped("requirements-docs.txt", "documentation requirements"), r.Skipped)
	_, err = envbuild.ParseSpec([]byte("language: python\ntest_cmd: x\nskipped:\n  - what: x\n"))
	assert.ErrorContains(t, err, "skipped reason")
	_, err = envbuild.ParseSpec([]byte("language: python\ntest_cmd: x\nskipped:\n  - what: x\n    reason: y\n    when: z\n"))
	assert.ErrorContains(t, err, "when")
	_, err = envbuild.ParseSpec([]byte("language: python\ntest_cmd: x\nskipped:\n  - what: \"a\\nb\"\n    reason: y\n"))
	assert.ErrorContains(t, err, "line break")
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
