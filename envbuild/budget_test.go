package envbuild_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"
	"github.com/stretchr/testify/require"

	"swemill/envbuild"
	"swemill/pipeline"
)

// ownImagesOnly is the engine as a builder sees it, except that it refuses to remove images
// whose names lack mark, as the engine refuses an image in use: the disk budget then
// collects this test's images and leaves those of tests running beside it alone.
type ownImagesOnly struct {
	*client.Client
	mark string
}

func (o ownImagesOnly) ImageRemove(ctx context.Context, ref string, opts image.RemoveOptions) ([]image.DeleteResponse, error) {
	if !strings.Contains(ref, o.mark) {
		return nil, errdefs.ErrConflict.WithMessage("not this test's image: " + ref)
	}
	return o.Client.ImageRemove(ctx, ref, opts)
}

// TestDiskBudgetAndRestore builds under a budget that holds no more than the image just
// built, so every build collects the instance image before it; Restore then rebuilds a
// collected image from its stored recipe under the same name, leaves an image that is there
// alone, and refuses a recipe that no longer gives the recorded image.
func TestDiskBudgetAndRestore(t *testing.T) {
	t.Parallel()
	specDir := t.TempDir()
	e := newTestEnv(t, func(c *envbuild.Config) { c.SpecDir = specDir })
	r := fixture(t, e.mirror, "pyflat")
	nonceSpec(t, specDir, "acme/pyflat", inferFixture(t, r.Dir), nil)
	mark := "budget-" + strings.ReplaceAll(nonce(), "-", "")
	cfg := e.cfg
	cfg.DiskBudget = 1
	b, err := envbuild.NewBuilder(ownImagesOnly{Client: e.cli, mark: mark}, cfg, e.log)
	require.NoError(t, err)
	instA := instanceOf("acme/pyflat", mark+"-a", r.Commits["base"])
	instB := instanceOf("acme/pyflat", mark+"-b", r.Commits["merge"])
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		for _, inst := range []pipeline.Instance{instA, instB} {
			list, _ := e.cli.ImageList(ctx, image.ListOptions{Filters: filters.NewArgs(filters.Arg("label", envbuild.LabelInstance+"="+inst.InstanceID))})
			for _, i := range list {
				for _, tag := range i.RepoTags {
					_, _ = e.cli.ImageRemove(ctx, tag, imageRemoveOpts)
				}
			}
		}
	})
	exists := func(name string) bool {
		t.Helper()
		_, err := e.cli.ImageInspect(t.Context(), name)
		if errdefs.IsNotFound(err) {
			return false
		}
		require.NoError(t, err)
		return true
	}

	a, err := b.Build(t.Context(), instA, e.log)
	require.NoError(t, err, "build log:\n%s", a.Log)
	t.Cleanup(func() { removeImages(t, e.cli, a.Environment.EnvImage) })
	bb, err := b.Build(t.Context(), instB, e.log)
	require.NoError(t, err, "build log:\n%s", bb.Log)
	require.NotEqual(t, a.Environment.ImageName, bb.Environment.ImageName)
	require.False(t, exists(a.Environment.ImageName), "the budget collected the older instance image")
	require.True(t, exists(bb.Environment.ImageName), "the image just built is kept")
	require.True(t, exists(a.Environment.EnvImage), "the env image of a kept instance is kept")

	rebuilt, err := b.Restore(t.Context(), instA, a.Environment, e.log)
	require.NoError(t, err)
	require.True(t, rebuilt)
	require.True(t, exists(a.Environment.ImageName), "restored under its recorded name")
	require.False(t, exists(bb.Environment.ImageName), "the budget holds after a restore too")
	rebuilt, err = b.Restore(t.Context(), instA, a.Environment, e.log)
	require.NoError(t, err)
	require.False(t, rebuilt, "an image that is there is not rebuilt")

	// The stored recipe, not the spec file, makes the image: a recipe that differs from what
	// build recorded names another image, and Restore says to run build again.
	changed := bb.Environment
	changed.Recipe.TestCmd += " -q"
	_, err = b.Restore(t.Context(), instB, changed, e.log)
	require.ErrorContains(t, err, "rerun build --instance "+instB.InstanceID)
	require.False(t, exists(bb.Environment.ImageName))

	// Through the stage wrapper: the processor sees its item only once the image is back.
	seen := false
	p := envbuild.WithImages(pipeline.ProcessorFunc(func(ctx context.Context, item *pipeline.Item) (pipeline.Output, error) {
		seen = exists(item.Environment.ImageName)
		return pipeline.Output{}, nil
	}), b)
	env := bb.Environment
	_, err = p.Process(t.Context(), &pipeline.Item{Instance: instB, Environment: &env, Log: e.log})
	require.NoError(t, err)
	require.True(t, seen, "the wrapped processor ran with the image restored")
}
