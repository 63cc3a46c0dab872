package envbuild_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"swemill/envbuild/envbuildtest"

	"github.com/docker/docker/client"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"swemill/envbuild"
	"swemill/repotest"
)

// The Docker tests share base images, built once per test binary from the debootstrap cache
// in envbuildtest.CacheDir(): $SWEMILL_CACHE, else $XDG_CACHE_HOME/swemill, else ~/.cache/swemill. A cold
// cache costs a few minutes (debootstrap); a warm one seconds.

func TestMain(m *testing.M) {
	envbuildtest.Main(m, envbuildtest.Setup{Child: runChild})
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
	cli := envbuildtest.Docker(t)
	names := envbuildtest.Bases(t)
	dir := t.TempDir()
	mirror := filepath.Join(dir, "mirror")
	cfg := envbuild.Config{
		CacheDir: filepath.Join(dir, "cache"), PythonBase: names["python"], GoBase: names["go"], Bases: names,
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
