// Package envbuildtest is the shared set-up of tests that need a Docker engine and swemill's
// base images, in every package that has them (envbuild, stages/validate, stages/rollout,
// cmd/swemill), so that no test outside envbuild uses the Docker client:
//   - Docker: one engine client per test binary, and the one skip rule (a test is skipped,
//     loudly, only when no engine answers and CI is unset);
//   - Bases: one base-image build per test binary, from the debootstrap cache in CacheDir (a
//     cold cache costs a few minutes, a warm one seconds);
//   - Main: the TestMain (child processes, containers left behind, goleak with LeakOptions);
//   - StartChild: the child process a kill test kills mid-work;
//   - SecondEngine: a second Docker daemon beside the machine's, with its own bridge,
//     containerd and data, for a second worker's engine;
//   - Containers, ContainerEvents, RemoveContainer: what the code under test left in the
//     engine, and what it did there.
package envbuildtest

import (
	"context"
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
)

// CacheDir is where the base images' debootstrap output is cached: $SWEMILL_CACHE, else
// $XDG_CACHE_HOME/swemill, else ~/.cache/swemill (as the CLI and the Makefile use).
func CacheDir() string {
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

// GoRoot is the Go installation the Go base image copies: the go command's running the tests.
func GoRoot() string {
	out, err := exec.Command("go", "env", "GOROOT").Output()
	if err != nil {
		return "/usr/local/go"
	}
	return strings.TrimSpace(string(out))
}

// BaseConfig is the configuration of the tests' base images.
func BaseConfig() envbuild.BaseConfig {
	return envbuild.BaseConfig{CacheDir: CacheDir(), GoRoot: GoRoot(), Version: "test"}
}

var (
	dockerOnce sync.Once
	dockerCli  *client.Client
	dockerErr  error
)

// Docker returns the engine client. The test is skipped, loudly, only when no engine is
// reachable and CI is unset; under CI a missing engine fails the test.
func Docker(t testing.TB) *client.Client {
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
	basesOut  map[string]string
	basesErr  error
)

// Bases builds (or finds) the base images once per test binary and returns their names by
// language ("python", "go").
func Bases(t testing.TB) map[string]string {
	t.Helper()
	cli := Docker(t)
	basesOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
		defer cancel()
		imgs, err := envbuild.BuildBases(ctx, cli, BaseConfig(), zerolog.New(os.Stderr).Level(zerolog.WarnLevel))
		basesErr = err
		basesOut = map[string]string{}
		for _, b := range imgs {
			basesOut[b.Language] = b.Name
		}
	})
	require.NoError(t, basesErr, "building base images")
	return basesOut
}
