package envbuild_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"swemill/envbuild/envbuildtest"

	"github.com/docker/docker/api/types/image"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"swemill/envbuild"
	"swemill/envbuild/sandbox"
	"swemill/pipeline"
)

var imageRemoveOpts = image.RemoveOptions{PruneChildren: true}

func instanceOf(repo, label, commit string) pipeline.Instance {
	return pipeline.Instance{InstanceID: strings.ReplaceAll(repo, "/", "__") + "-" + label, Repo: repo, BaseCommit: commit}
}

func newSandbox(t testing.TB, cfg sandbox.Config) *sandbox.Sandbox {
	t.Helper()
	if cfg.RunID == "" {
		cfg.RunID = "test-" + nonce()
	}
	sb, err := sandbox.New(envbuildtest.Docker(t), cfg, zerolog_(t))
	require.NoError(t, err)
	return sb
}

// runIn runs a shell command in image, in the sandbox with default limits.
func runIn(t testing.TB, sb *sandbox.Sandbox, img, cmd string) sandbox.Result {
	t.Helper()
	res, err := sb.Run(context.Background(), sandbox.Spec{Image: img, Cmd: []string{"/bin/bash", "-c", cmd}, Timeout: 5 * time.Minute}, "", nil)
	require.NoError(t, err)
	return res
}

// TestBuildAndTestFixtures builds each fixture repository with an inferred recipe and runs
// its tests in the sandbox: they pass at the fix commit.
func TestBuildAndTestFixtures(t *testing.T) {
	cases := []struct {
		fixture string
		passed  []string
		parser  string
		args    string // what validate appends: test files or packages
	}{
		{"pyflat", []string{"PASSED tests/test_ops.py::test_divide_by_zero", "PASSED tests/test_ops.py::test_add"}, "pytest", " tests/test_ops.py"},
		{"pysrc", []string{"PASSED tests/test_shout.py::test_shout_strips"}, "pytest", ""},
		{"gomod", []string{`"Action":"pass","Package":"example.com/gomod/mathx","Test":"TestAbsNegative"`}, "gotest", " ./mathx"},
	}
	for _, tc := range cases {
		t.Run(tc.fixture, func(t *testing.T) {
			t.Parallel()
			e := newTestEnv(t, nil)
			repo := fixture(t, e.mirror, tc.fixture)
			inst := instanceOf("acme/"+tc.fixture, "6", repo.Commits["fix"])
			res, err := e.builder.Build(t.Context(), inst, e.log)
			require.NoError(t, err, "build log:\n%s", res.Log)
			env := res.Environment
			removeImages(t, e.cli, env.ImageName)
			assert.Equal(t, tc.parser, env.Recipe.LogParser)
			assert.Equal(t, "/testbed", env.WorkDir)
			assert.Contains(t, env.ImageName, "swemill/inst.acme__"+tc.fixture+"-6:")

			sb := newSandbox(t, sandbox.Config{})
			out := runIn(t, sb, env.ImageName, env.Recipe.TestCmd+tc.args)
			for _, p := range tc.passed {
				assert.Contains(t, string(out.Stdout), p, "stderr:\n%s", out.Stderr)
			}
			assert.Equal(t, 0, out.ExitCode, "stdout:\n%s\nstderr:\n%s", out.Stdout, out.Stderr)
			assert.False(t, out.TimedOut)
		})
	}
}

// nonceSpec writes an explicit spec for repo: the inferred recipe plus an environment
// variable unique to this test run, so the env and instance images are new.
func nonceSpec(t testing.TB, specDir, repo string, r pipeline.Recipe, extra func(*envbuild.Spec)) {
	t.Helper()
	s := envbuild.Spec{
		Language: r.Language, LanguageVersion: r.LanguageVersion, SystemPackages: r.SystemPackages,
		PreInstall: r.PreInstall, Install: r.Install, TestCmd: r.TestCmd, LogParser: r.LogParser,
		Env: map[string]string{"TEST_NONCE": nonce()},
	}
	for k, v := range r.Env {
		s.Env[k] = v
	}
	if extra != nil {
		extra(&s)
	}
	data, err := yaml.Marshal(s)
	require.NoError(t, err)
	p := envbuild.SpecPath(specDir, repo)
	require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
	require.NoError(t, os.WriteFile(p, data, 0o644))
}

func inferFixture(t testing.TB, repo string) pipeline.Recipe {
	t.Helper()
	r, err := envbuild.InferRecipe(repo, envbuild.InferOptions{Offline: true})
	require.NoError(t, err)
	return r
}

// TestCacheAndLayering proves that a second build of an instance builds nothing and that two
// instances of one repository share the env image.
func TestCacheAndLayering(t *testing.T) {
	t.Parallel()
	specDir := t.TempDir()
	e := newTestEnv(t, func(c *envbuild.Config) { c.SpecDir = specDir })
	repo := fixture(t, e.mirror, "pyflat")
	nonceSpec(t, specDir, "acme/pyflat", inferFixture(t, repo.Dir), nil)

	a := instanceOf("acme/pyflat", "2", repo.Commits["base"])
	first, err := e.builder.Build(t.Context(), a, e.log)
	require.NoError(t, err, "build log:\n%s", first.Log)
	removeImages(t, e.cli, first.Environment.ImageName)
	assert.False(t, first.Environment.CacheHit)
	assert.False(t, first.EnvCacheHit, "a fresh recipe makes a fresh env image")
	assert.Positive(t, first.Environment.BuildSeconds)

	again, err := e.builder.Build(t.Context(), a, e.log)
	require.NoError(t, err)
	assert.True(t, again.Environment.CacheHit, "same inputs twice must be a cache hit")
	assert.Zero(t, again.Environment.BuildSeconds)
	assert.Empty(t, again.Log, "a cache hit runs no build")
	assert.Equal(t, first.Environment.ImageID, again.Environment.ImageID)
	assert.Equal(t, first.Environment.ImageName, again.Environment.ImageName)

	b := instanceOf("acme/pyflat", "7", repo.Commits["merge"])
	second, err := e.builder.Build(t.Context(), b, e.log)
	require.NoError(t, err, "build log:\n%s", second.Log)
	removeImages(t, e.cli, second.Environment.ImageName, first.Environment.EnvImage)
	assert.False(t, second.Environment.CacheHit)
	assert.True(t, second.EnvCacheHit, "the second instance reuses the env image")
	assert.Equal(t, first.Environment.EnvImage, second.Environment.EnvImage)
	assert.NotEqual(t, first.Environment.ImageID, second.Environment.ImageID)

	// Names and labels carry the hashes, the instance, the base commit and the version.
	ins, err := e.cli.ImageInspect(t.Context(), second.Environment.ImageName)
	require.NoError(t, err)
	l := ins.Config.Labels
	assert.Equal(t, envbuild.LayerInstance, l[envbuild.LabelLayer])
	assert.Equal(t, b.InstanceID, l[envbuild.LabelInstance])
	assert.Equal(t, b.BaseCommit, l[envbuild.LabelBaseCommit])
	assert.Equal(t, "test", l[envbuild.LabelVersion])
	assert.True(t, strings.HasSuffix(second.Environment.ImageName, ":"+l[envbuild.LabelKey][:16]))
	assert.Equal(t, second.Environment.EnvImage, l[envbuild.LabelParent])
	assert.Contains(t, l[envbuild.LabelRecipe], `"TEST_NONCE"`)

	// The work directory is a one-commit git repository at the base commit, no remote, clean.
	sb := newSandbox(t, sandbox.Config{})
	out := runIn(t, sb, second.Environment.ImageName,
		`cd /testbed && git rev-parse HEAD && git rev-list --count HEAD && echo "remotes:$(git remote)" && git status --porcelain && echo x >> README.md && git diff --stat `+b.BaseCommit)
	require.Equal(t, 0, out.ExitCode, "stderr:\n%s", out.Stderr)
	lines := strings.Split(strings.TrimSpace(string(out.Stdout)), "\n")
	require.GreaterOrEqual(t, len(lines), 4, "%s", out.Stdout)
	assert.Equal(t, b.BaseCommit, lines[0])
	assert.Equal(t, "1", lines[1], "the instance layer carries a single commit")
	assert.Equal(t, "remotes:", lines[2])
	assert.Contains(t, lines[3], "README.md", "git diff works in the work directory")

	// The recipe's install ran: the package is installed (editable) into the environment.
	out = runIn(t, sb, second.Environment.ImageName, `cd / && python -c "import calc; print(calc.__file__)" && pip show calc | grep -i '^location'`)
	require.Equal(t, 0, out.ExitCode, "stderr:\n%s", out.Stderr)
	assert.Contains(t, string(out.Stdout), "/testbed/calc/__init__.py")
}

// TestBuildCABundle: an online build's install steps trust the configured CA bundle (the
// usual variables name it), and neither the file nor the variables reach the image.
func TestBuildCABundle(t *testing.T) {
	t.Parallel()
	specDir := t.TempDir()
	ca := filepath.Join(t.TempDir(), "proxy-ca.pem")
	require.NoError(t, os.WriteFile(ca, []byte("-----BEGIN CERTIFICATE-----\nSWEMILL-TEST-CA\n-----END CERTIFICATE-----\n"), 0o600))
	e := newTestEnv(t, func(c *envbuild.Config) {
		c.SpecDir, c.Offline, c.BuildNetwork, c.CABundle = specDir, false, "", ca
	})
	r := fixture(t, e.mirror, "pyflat")
	nonceSpec(t, specDir, "acme/pyflat", inferFixture(t, r.Dir), func(s *envbuild.Spec) {
		// The marker is split so that the recipe, which the image keeps, does not hold it.
		s.Install = []string{`for v in SSL_CERT_FILE PIP_CERT REQUESTS_CA_BUNDLE GIT_SSL_CAINFO; do grep -q "SWEMILL-TEST""-CA" "${!v}" || { echo "no CA in $v"; exit 1; }; done; echo SWEMILL-CA-SEEN`}
	})
	res, err := e.builder.Build(t.Context(), instanceOf("acme/pyflat", "ca", r.Commits["base"]), e.log)
	require.NoError(t, err, "build log:\n%s", res.Log)
	removeImages(t, e.cli, res.Environment.ImageName, res.Environment.EnvImage)
	assert.Contains(t, string(res.Log), "SWEMILL-CA-SEEN")
	out := runIn(t, newSandbox(t, sandbox.Config{}), res.Environment.ImageName,
		`grep -rls SWEMILL-TEST-CA /var/tmp /etc /usr/local /opt /testbed && echo leaked; echo "env:${SSL_CERT_FILE:-}"`)
	require.Equal(t, 0, out.ExitCode, "stderr:\n%s", out.Stderr)
	assert.Equal(t, "env:", strings.TrimSpace(string(out.Stdout)), "the CA bundle stays out of the image")
}

// TestBuildTimeoutIsDropped gives an install more time than the build may take.
func TestBuildTimeoutIsDropped(t *testing.T) {
	t.Parallel()
	specDir := t.TempDir()
	e := newTestEnv(t, func(c *envbuild.Config) { c.SpecDir = specDir; c.BuildTimeout = 5 * time.Second })
	r := fixture(t, e.mirror, "pyflat")
	nonceSpec(t, specDir, "acme/pyflat", inferFixture(t, r.Dir), func(s *envbuild.Spec) {
		s.Install = []string{"echo SWEMILL-SLOW-INSTALL; sleep 600"}
	})
	res, err := e.builder.Build(t.Context(), instanceOf("acme/pyflat", "slow", r.Commits["base"]), e.log)
	d, ok := pipeline.AsDrop(err)
	require.True(t, ok, "want a drop, got %v", err)
	assert.Equal(t, "build_timeout", d.Reason)
	assert.Contains(t, d.Detail, "SWEMILL-SLOW-INSTALL")
	assert.Empty(t, res.Environment.ImageName)
}

// TestBadInputIsDropped checks that bad input becomes a drop with a reason, never an error.
func TestBadInputIsDropped(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		mutate func(*envbuild.Config)
		inst   func(e *testEnv) pipeline.Instance
		reason string
		detail string
	}{
		{
			name: "recipe command fails",
			inst: func(e *testEnv) pipeline.Instance {
				r := fixture(t, e.mirror, "pybroken")
				return instanceOf("acme/pybroken", "1", r.Commits["base"])
			},
			reason: "install_failed", detail: "SWEMILL-FIXTURE-INSTALL-FAILURE",
		},
		{
			name: "base commit missing",
			inst: func(e *testEnv) pipeline.Instance {
				fixture(t, e.mirror, "pyflat")
				return instanceOf("acme/pyflat", "1", strings.Repeat("0123456789", 4))
			},
			reason: "base_commit_not_found",
		},
		{
			name: "base commit not a hash",
			inst: func(e *testEnv) pipeline.Instance {
				return instanceOf("acme/pyflat", "1", "HEAD; rm -rf /")
			},
			reason: "base_commit_not_found",
		},
		{
			name:   "repository missing",
			inst:   func(e *testEnv) pipeline.Instance { return instanceOf("acme/nope", "1", strings.Repeat("a", 40)) },
			reason: "repository_not_found",
		},
		{
			name:   "repository name escapes",
			inst:   func(e *testEnv) pipeline.Instance { return instanceOf("../etc", "1", strings.Repeat("a", 40)) },
			reason: "repository_not_found",
		},
		{
			name:   "repository over the size limit",
			mutate: func(c *envbuild.Config) { c.MaxCheckoutBytes = 100 },
			inst: func(e *testEnv) pipeline.Instance {
				r := fixture(t, e.mirror, "pyflat")
				return instanceOf("acme/pyflat", "1", r.Commits["base"])
			},
			reason: "repo_too_large", detail: "over the limit of 100",
		},
		{
			name:   "image over the size limit",
			mutate: func(c *envbuild.Config) { c.MaxInstanceBytes = 1 },
			inst: func(e *testEnv) pipeline.Instance {
				r := fixture(t, e.mirror, "pysrc")
				return instanceOf("acme/pysrc", "toolarge", r.Commits["base"])
			},
			reason: "image_too_large", detail: "over the limit of 1",
		},
		{
			name: "no recipe",
			inst: func(e *testEnv) pipeline.Instance {
				dir := filepath.Join(e.mirror, "acme", "empty")
				r, err := repotestBuild(dir, "-- commit: a --\n-- README.md --\nnothing to build\n")
				require.NoError(t, err)
				return instanceOf("acme/empty", "1", r.Commits["a"])
			},
			reason: "no_recipe",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newTestEnv(t, tc.mutate)
			inst := tc.inst(e)
			store, err := pipeline.OpenArtifacts(t.TempDir())
			require.NoError(t, err)
			out, err := envbuild.NewStage(e.builder).Process(t.Context(), &pipeline.Item{Instance: inst, Artifacts: store, Log: e.log, Stage: pipeline.StageBuild, Attempt: 1})
			d, ok := pipeline.AsDrop(err)
			require.True(t, ok, "want a drop, got %v", err)
			assert.Equal(t, tc.reason, d.Reason, "detail: %s", d.Detail)
			assert.Contains(t, d.Detail, tc.detail)
			assert.Nil(t, out.Record)
			if tc.reason == "install_failed" {
				require.Len(t, out.Artifacts, 1, "the build log is kept")
				assert.Equal(t, "build.log", out.Artifacts[0].Name)
			}
		})
	}
}

// TestInjectionIsRejectedOrNeutralised feeds hostile recipe specs to the builder.
func TestInjectionIsRejectedOrNeutralised(t *testing.T) {
	t.Parallel()
	rejected := map[string]string{
		"package with shell":       "language: python\ntest_cmd: pytest\nsystem_packages: [\"git; touch /pwned\"]\n",
		"package with dockerfile":  "language: python\ntest_cmd: pytest\nsystem_packages: [\"git\\nRUN touch /pwned\"]\n",
		"env key with dockerfile":  "language: python\ntest_cmd: pytest\nenv: {\"A=1\\nRUN touch /pwned\\nENV B\": x}\n",
		"env value with newline":   "language: python\ntest_cmd: pytest\nenv: {A: \"1\\nRUN touch /pwned\"}\n",
		"install spans lines":      "language: python\ntest_cmd: pytest\ninstall: [\"true\\nRUN touch /pwned\"]\n",
		"version with dockerfile":  "language: python\nlanguage_version: \"3.11\\nRUN touch /pwned\"\ntest_cmd: pytest\n",
		"unknown field":            "language: python\ntest_cmd: pytest\ndockerfile: \"RUN touch /pwned\"\n",
		"unknown parser":           "language: python\ntest_cmd: pytest\nlog_parser: \"x; rm -rf /\"\n",
		"unknown language":         "language: \"python\\nRUN touch /pwned\"\ntest_cmd: pytest\n",
		"test command spans lines": "language: python\ntest_cmd: \"pytest\\nRUN touch /pwned\"\n",
		"reserved env variable":    "language: python\ntest_cmd: pytest\nenv: {SWEMILL_WORKDIR: /}\n",
	}
	for name, spec := range rejected {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			specDir := t.TempDir()
			e := newTestEnv(t, func(c *envbuild.Config) { c.SpecDir = specDir })
			r := fixture(t, e.mirror, "pyflat")
			p := envbuild.SpecPath(specDir, "acme/pyflat")
			require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
			require.NoError(t, os.WriteFile(p, []byte(spec), 0o644))
			_, err := e.builder.Build(t.Context(), instanceOf("acme/pyflat", "1", r.Commits["base"]), e.log)
			d, ok := pipeline.AsDrop(err)
			require.True(t, ok, "want a drop, got %v", err)
			assert.Equal(t, "invalid_recipe", d.Reason)
		})
	}

	// Values that pass validation reach the image verbatim and are never interpreted.
	t.Run("neutralised", func(t *testing.T) {
		t.Parallel()
		specDir := t.TempDir()
		e := newTestEnv(t, func(c *envbuild.Config) { c.SpecDir = specDir })
		r := fixture(t, e.mirror, "pyflat")
		hostile := `$(touch /tmp/pwned) "q" 'x' ${PATH} \ ` + "`id`" + ` ; RUN touch /pwned`
		nonceSpec(t, specDir, "acme/pyflat", inferFixture(t, r.Dir), func(s *envbuild.Spec) {
			s.Env["HOSTILE"] = hostile
			s.PreInstall = []string{`echo 'RUN touch /pwned-by-dockerfile' > /dev/null`, `cat <<EOF`}
			s.Install = append(s.Install, `echo "install ran as $(id -u)" > /testbed/.install-marker`)
		})
		res, err := e.builder.Build(t.Context(), instanceOf("acme/pyflat", "1", r.Commits["base"]), e.log)
		require.NoError(t, err, "build log:\n%s", res.Log)
		removeImages(t, e.cli, res.Environment.ImageName, res.Environment.EnvImage)
		sb := newSandbox(t, sandbox.Config{})
		out := runIn(t, sb, res.Environment.ImageName,
			`printenv HOSTILE; ls / | grep -c pwned; cat /testbed/.install-marker`)
		lines := strings.Split(string(out.Stdout), "\n")
		require.GreaterOrEqual(t, len(lines), 3, "stdout %q stderr %q", out.Stdout, out.Stderr)
		assert.Equal(t, hostile, lines[0])
		assert.Equal(t, "0", lines[1], "no file named pwned was made")
		assert.Equal(t, "install ran as 1000", lines[2], "commands after a heredoc opener still ran")
	})
}

// TestImagesListAndGC lists images by layer and collects an unused instance image.
func TestImagesListAndGC(t *testing.T) {
	t.Parallel()
	specDir := t.TempDir()
	e := newTestEnv(t, func(c *envbuild.Config) { c.SpecDir = specDir })
	r := fixture(t, e.mirror, "pyflat")
	nonceSpec(t, specDir, "acme/pyflat", inferFixture(t, r.Dir), nil)
	a, err := e.builder.Build(t.Context(), instanceOf("acme/pyflat", "gc-a", r.Commits["base"]), e.log)
	require.NoError(t, err)
	b, err := e.builder.Build(t.Context(), instanceOf("acme/pyflat", "gc-b", r.Commits["merge"]), e.log)
	require.NoError(t, err)
	removeImages(t, e.cli, a.Environment.ImageName, b.Environment.ImageName, a.Environment.EnvImage)

	// Image b is in use by a (stopped) container; a is older in use.
	sb := newSandbox(t, sandbox.Config{})
	c, err := sb.Create(t.Context(), sandbox.Spec{Image: b.Environment.ImageName, Cmd: []string{"true"}})
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Remove(context.Background()) })

	usage := filepath.Join(e.cfg.CacheDir, "usage")
	list, err := envbuild.ListImages(t.Context(), e.cli, usage)
	require.NoError(t, err)
	byName := map[string]envbuild.ImageInfo{}
	for _, i := range list {
		for _, tag := range i.Tags {
			byName[tag] = i
		}
	}
	ia, ib, ie := byName[a.Environment.ImageName], byName[b.Environment.ImageName], byName[a.Environment.EnvImage]
	require.Equal(t, envbuild.LayerInstance, ia.Layer)
	require.Equal(t, envbuild.LayerEnv, ie.Layer)
	assert.Equal(t, a.Environment.SizeBytes, ia.UniqueSize)
	assert.True(t, ib.InUse, "a container uses b")
	assert.True(t, ie.InUse, "instances use the env image")
	assert.False(t, ia.InUse)
	assert.False(t, ia.LastUsed.IsZero())

	// Keep-under 1 byte: everything collectable goes, in-use images stay.
	res, err := envbuild.GC(t.Context(), e.cli, envbuild.GCOptions{KeepUnder: 1, UsageDir: usage, DryRun: true}, e.log)
	require.NoError(t, err)
	var names []string
	for _, i := range res.Removed {
		names = append(names, i.Name)
		assert.NotEqual(t, envbuild.LayerBase, i.Layer, "base images are never collected")
		assert.False(t, i.InUse)
	}
	assert.Contains(t, names, a.Environment.ImageName)
	assert.NotContains(t, names, b.Environment.ImageName)
	assert.NotContains(t, names, a.Environment.EnvImage, "the env image still has instance b")

	// Really collect only what this test owns: protect every other image.
	var protect []string
	for _, i := range list {
		if i.ID != ia.ID {
			protect = append(protect, i.ID)
		}
	}
	res, err = envbuild.GC(t.Context(), e.cli, envbuild.GCOptions{KeepUnder: 1, UsageDir: usage, Protect: protect}, e.log)
	require.NoError(t, err)
	require.Len(t, res.Removed, 1)
	_, err = e.cli.ImageInspect(t.Context(), a.Environment.ImageName)
	assert.Error(t, err, "the collected image is gone")
	_, err = e.cli.ImageInspect(t.Context(), b.Environment.ImageName)
	assert.NoError(t, err, "the image in use stays")
}
