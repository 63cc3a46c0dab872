package envbuild_test

import (
	"bytes"
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/pkg/stdcopy"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"swemill/envbuild"
	"swemill/envbuild/envbuildtest"
)

// TestSecondEngine moves a base image from the main engine to a second engine through a
// registry, as a second worker would get it, and runs it there on the second engine's
// default network; the main engine sees none of it and keeps its docker0.
func TestSecondEngine(t *testing.T) {
	t.Parallel()
	first := envbuildtest.Docker(t)
	bases := envbuildtest.Bases(t)
	name := bases["python"]
	require.NotEmpty(t, name, "the python base image")
	_, err := net.InterfaceByName("docker0")
	require.NoError(t, err, "the main engine's docker0 before the test")
	// Registered before the second engine's clean-up, so it runs after it.
	t.Cleanup(func() {
		_, err := net.InterfaceByName("docker0")
		assert.NoError(t, err, "the main engine's docker0 after the second engine stopped")
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		_, err = first.Ping(ctx)
		assert.NoError(t, err, "the main engine answers after the second engine stopped")
	})

	reg := envbuildtest.Registry(t)
	host, second := envbuildtest.SecondEngine(t)
	assert.True(t, strings.HasPrefix(host, "unix:///"), host)
	ctx := t.Context()

	ref := reg + "/swemill/base-test:1"
	byDigest, err := envbuild.PushImage(ctx, first, name, ref)
	require.NoError(t, err)
	t.Cleanup(func() {
		_, _ = first.ImageRemove(context.Background(), ref, imageRemoveOpts)
	})
	want, err := first.ImageInspect(ctx, name)
	require.NoError(t, err)

	got, err := envbuild.PullImage(ctx, second, byDigest, name)
	require.NoError(t, err)
	assert.Equal(t, want.ID, got, "the second engine has the main engine's image")
	info, err := second.ImageInspect(ctx, name)
	require.NoError(t, err)
	assert.Equal(t, want.ID, info.ID, "found by its name on the second engine")

	created, err := second.ContainerCreate(ctx, &container.Config{Image: name, Cmd: []string{"sh", "-c", "echo ok"}},
		&container.HostConfig{}, nil, nil, "")
	require.NoError(t, err)
	require.NoError(t, second.ContainerStart(ctx, created.ID, container.StartOptions{}))
	waitC, errC := second.ContainerWait(ctx, created.ID, container.WaitConditionNotRunning)
	select {
	case w := <-waitC:
		require.Nil(t, w.Error)
		require.Zero(t, w.StatusCode)
	case err := <-errC:
		require.NoError(t, err)
	case <-time.After(time.Minute):
		t.Fatal("the container on the second engine did not exit within a minute")
	}
	inspect, err := second.ContainerInspect(ctx, created.ID)
	require.NoError(t, err)
	assert.Contains(t, inspect.NetworkSettings.Networks, "bridge", "on the second engine's default network")
	logs, err := second.ContainerLogs(ctx, created.ID, container.LogsOptions{ShowStdout: true, ShowStderr: true})
	require.NoError(t, err)
	var stdout, stderr bytes.Buffer
	_, err = stdcopy.StdCopy(&stdout, &stderr, logs)
	logs.Close()
	require.NoError(t, err)
	assert.Equal(t, "ok\n", stdout.String(), "stderr: %s", stderr.String())

	_, err = first.ContainerInspect(ctx, created.ID)
	assert.Error(t, err, "the main engine does not see the second engine's container")
	_, err = net.InterfaceByName("docker0")
	assert.NoError(t, err, "the main engine's docker0 while the second engine runs")
}
