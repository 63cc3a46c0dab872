package envbuild_test

import (
	"context"
	"path/filepath"
	"sync"
	"testing"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/client"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"swemill/envbuild"
	"swemill/envbuild/envbuildtest"
	"swemill/envbuild/sandbox"
	"swemill/pipeline"
)

// createdContainer is what recordingAPI saw of one ContainerCreate call.
type createdContainer struct {
	role            string
	networkMode     container.NetworkMode
	networkDisabled bool
}

// recordingAPI is the real engine client, recording the network settings of every container
// it creates.
type recordingAPI struct {
	*client.Client
	mu      sync.Mutex
	created []createdContainer
}

func (r *recordingAPI) ContainerCreate(ctx context.Context, cfg *container.Config, host *container.HostConfig,
	net *network.NetworkingConfig, platform *ocispec.Platform, name string) (container.CreateResponse, error) {
	r.mu.Lock()
	r.created = append(r.created, createdContainer{role: cfg.Labels[sandbox.LabelRole], networkMode: host.NetworkMode, networkDisabled: cfg.NetworkDisabled})
	r.mu.Unlock()
	return r.Client.ContainerCreate(ctx, cfg, host, net, platform, name)
}

func (r *recordingAPI) containers() []createdContainer {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]createdContainer(nil), r.created...)
}

// TestOfflineBuild builds Python fixtures whose files name packages from an index with
// build.offline and no BuildNetwork set: the builds succeed without any index (the steps
// that need one are recorded as skipped), every build container ran with no network, and
// the tests import the package from the work directory.
func TestOfflineBuild(t *testing.T) {
	cases := []struct {
		fixture   string
		pkg       string
		install   []string
		skipped   []pipeline.SkippedStep
		installed bool // pip knows the package (develop mode)
		passed    []string
	}{
		{
			fixture: "pyoffline", pkg: "wordcount",
			skipped: skipped(
				"docs/requirements.txt", "documentation requirements",
				"requirements-rtd.txt", "documentation requirements",
				"python -m pip install -r requirements.txt", "offline: needs a package index",
				"python -m pip install 'mock>=5'", "offline: tox.ini [testenv] deps need a package index",
				"python -m pip install -e '.[test]'",
				"offline: the build backend hatchling.build is not in the base image and needs a package index; the tests import the project from source",
			),
			passed: []string{"PASSED tests/test_count.py::test_count", "PASSED tests/test_count.py::test_imported_from_source"},
		},
		{
			fixture: "pydeps", pkg: "greet",
			install: []string{offlineInstall},
			skipped: skipped("python -m pip install --no-build-isolation -e '.[test]'",
				"offline: the dependencies declared in setup.py and the test extras [test]"+noDeps),
			installed: true,
			passed:    []string{"PASSED tests/test_greet.py::test_hello", "PASSED tests/test_greet.py::test_installed_from_source"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.fixture, func(t *testing.T) {
			t.Parallel()
			names := envbuildtest.Bases(t)
			api := &recordingAPI{Client: envbuildtest.Docker(t)}
			dir := t.TempDir()
			mirror := filepath.Join(dir, "mirror")
			log := zerolog_(t)
			b, err := envbuild.NewBuilder(api, envbuild.Config{
				CacheDir: filepath.Join(dir, "cache"), PythonBase: names["python"], GoBase: names["go"], Bases: names,
				Sources: envbuild.SourceConfig{MirrorDir: mirror}, Offline: true, Version: "test",
				BuildCPUs: 1, BuildMemory: 2 << 30, RunID: "test-" + nonce(),
			}, log)
			require.NoError(t, err)
			repo := fixture(t, mirror, tc.fixture)
			res, err := b.Build(t.Context(), instanceOf("acme/"+tc.fixture, "1", repo.Commits["base"]), log)
			require.NoError(t, err, "build log:\n%s", res.Log)
			env := res.Environment
			removeImages(t, api.Client, env.ImageName)
			assert.Equal(t, tc.install, env.Recipe.Install)
			assert.Equal(t, tc.skipped, env.Recipe.Skipped)
			assert.NotContains(t, string(res.Log), "No matching distribution")

			if len(tc.install) > 0 {
				require.NotEmpty(t, api.containers(), "the install ran in no container to check")
			}
			for _, c := range api.containers() {
				assert.Equal(t, "build", c.role)
				assert.Equal(t, container.NetworkMode("none"), c.networkMode, "an offline build container had a network")
				assert.False(t, c.networkDisabled, "a disabled network has no /etc/hosts: localhost would not resolve")
			}

			sb := newSandbox(t, sandbox.Config{})
			out := runIn(t, sb, env.ImageName, env.Recipe.TestCmd+" tests")
			assert.Equal(t, 0, out.ExitCode, "stdout:\n%s\nstderr:\n%s", out.Stdout, out.Stderr)
			for _, p := range tc.passed {
				assert.Contains(t, string(out.Stdout), p)
			}
			out = runIn(t, sb, env.ImageName, "cd / && pip show "+tc.pkg)
			if tc.installed {
				assert.Equal(t, 0, out.ExitCode, "stderr:\n%s", out.Stderr)
				assert.Contains(t, string(out.Stdout), "/testbed", "installed in develop mode from the work directory")
			} else {
				assert.NotEqual(t, 0, out.ExitCode, "offline, %s must not be installed:\n%s", tc.fixture, out.Stdout)
			}
		})
	}
}
