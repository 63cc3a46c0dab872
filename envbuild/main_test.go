package envbuild_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/client"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"swemill/envbuild"
	"swemill/repotest"
)

// The Docker tests share base images, built once per test binary from the debootstrap cache
// in cacheDir(): $SWEMILL_CACHE, else $XDG_CACHE_HOME/swemill, else ~/.cache/swemill. A cold
// cache costs a few minutes (debootstrap); a warm one seconds.

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" {
		os.Exit(runChild())
	}
	os.Exit(m.Run())
}

func cacheDir() string {
	if d := os.Getenv("SWEMILL_CACHE"); d != "" {
		return d
	}
	if d := os.Getenv("XDG_CACHE_HOME"); d != "" {
		return filepath.Join(d, "swemill")
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return filepath.Join(os.TempDir(), "swemill-cache")
	}
	return filepath.Join(home, ".cache", "swemill")
}

var (
	dockerOnce sync.Once
	dockerCli  *client.Client
	dockerErr  error
)

// docker returns the engine client, skipping the test only when no engine is reachable and
// CI is unset; on CI a missing engine fails.
func docker(t testing.TB) *client.Client {
	t.Helper()
	dockerOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		dockerCli, dockerErr = envbuild.Connect(ctx, "")
	})
	if dockerErr != nil {
		if os.Getenv("CI") == "" {
			t.Skipf("\n\n*** SKIPPING DOCKER TEST: no Docker engine reachable (%v).\n*** On CI this fails. ***\n\n", dockerErr)
		}
		t.Fatalf("no Docker engine reachable and CI is set: %v", dockerErr)
	}
	return dockerCli
}

var (
	basesOnce sync.Once
	basesOut  []envbuild.BaseImage
	basesErr  error
)

// goRoot is the toolchain running the tests ("go env GOROOT"), copied into the Go base.
func goRoot() string {
	out, err := exec.Command("go", "env", "GOROOT").Output()
	if err != nil {
		return "/usr/local/go"
	}
	return strings.TrimSpace(string(out))
}

func baseConfig() envbuild.BaseConfig {
	return envbuild.BaseConfig{CacheDir: cacheDir(), GoRoot: goRoot(), Version: "test"}
}

// bases builds (or finds) the base images once per test binary.
func bases(t testing.TB) map[string]string {
	t.Helper()
	cli := docker(t)
	basesOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
		defer cancel()
		basesOut, basesErr = envbuild.BuildBases(ctx, cli, baseConfig(), zerolog.New(os.Stderr).Level(zerolog.InfoLevel))
	})
	require.NoError(t, basesErr, "building base images")
	names := map[string]string{}
	for _, b := range basesOut {
		names[b.Language] = b.Name
	}
	return names
}

// fixture materialises testdata/repos/<name>.txtar as repository acme/<name> in a mirror
// directory.
func fixture(t testing.TB, mirror, name string) *repotest.Repo {
	t.Helper()
	r, err := repotest.BuildFile(filepath.Join(mirror, "acme", name), filepath.Join("..", "testdata", "repos", name+".txtar"))
	require.NoError(t, err)
	return r
}

// testEnv is one test's builder over an offline mirror.
type testEnv struct {
	cli     *client.Client
	builder *envbuild.Builder
	cfg     envbuild.Config
	mirror  string
	log     zerolog.Logger
}

func newTestEnv(t testing.TB, mutate func(*envbuild.Config)) *testEnv {
	t.Helper()
	cli := docker(t)
	names := bases(t)
	dir := t.TempDir()
	mirror := filepath.Join(dir, "mirror")
	cfg := envbuild.Config{
		CacheDir: filepath.Join(dir, "cache"), PythonBase: names["python"], GoBase: names["go"],
		Sources: envbuild.SourceConfig{MirrorDir: mirror}, Offline: true, Version: "test",
		BuildNetwork: "none", BuildCPUs: 1, BuildMemory: 2 << 30,
	}
	if mutate != nil {
		mutate(&cfg)
	}
	log := zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.InfoLevel)
	b, err := envbuild.NewBuilder(cli, cfg, log)
	require.NoError(t, err)
	return &testEnv{cli: cli, builder: b, cfg: cfg, mirror: mirror, log: log}
}

func nonce() string {
	return fmt.Sprintf("%d-%d", os.Getpid(), time.Now().UnixNano())
}

// removeImages removes images by name when the test ends (untagging only what it built).
func removeImages(t testing.TB, cli *client.Client, names ...string) {
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		for _, n := range names {
			if n == "" || strings.HasPrefix(n, "swemill/base-") {
				continue
			}
			_, _ = cli.ImageRemove(ctx, n, imageRemoveOpts)
		}
	})
}
