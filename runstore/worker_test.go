package runstore_test

import (
	"regexp"
	"testing"

	"github.com/stretchr/testify/require"

	"swemill/pipeline/pipelinetest"
	"swemill/runstore"
)

// TestWorkerPresence registers a worker in one store and asks about it from another store of
// the same run: alive while registered, gone once released; an id that never registered is
// gone. (cmd/swemill's TestLiveWorkerSweepsGoneWorkersContainers kills a registered process.)
func TestWorkerPresence(t *testing.T) {
	t.Parallel()
	t.Run("sqlite", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		checkPresence(t, openStore(t, dir, ""), openStore(t, dir, ""))
	})
	t.Run("postgres", func(t *testing.T) {
		t.Parallel()
		url := pipelinetest.Postgres(t)
		// Workers of a shared run each have their own run directory.
		checkPresence(t, openStore(t, t.TempDir(), url), openStore(t, t.TempDir(), url))
	})
}

func checkPresence(t *testing.T, mine, other *runstore.Store) {
	ctx := t.Context()
	id := runstore.NewWorkerID("host.example-42")
	require.Regexp(t, regexp.MustCompile(`^host\.example-42-[0-9a-f]{8}$`), id)
	require.NotEqual(t, id, runstore.NewWorkerID("host.example-42"), "a restarted worker is another worker")

	release, err := mine.RegisterWorker(ctx, id)
	require.NoError(t, err)
	for _, s := range []*runstore.Store{mine, other} {
		gone, err := s.WorkerGone(ctx, id)
		require.NoError(t, err)
		require.False(t, gone, "a registered worker is alive")
	}
	for _, never := range []string{runstore.NewWorkerID("never"), "../../etc/passwd", ""} {
		gone, err := other.WorkerGone(ctx, never)
		require.NoError(t, err)
		require.True(t, gone, "%q never registered", never)
	}
	_, err = mine.RegisterWorker(ctx, "a/b")
	require.ErrorContains(t, err, "want letters, digits")

	release()
	release() // idempotent
	gone, err := other.WorkerGone(ctx, id)
	require.NoError(t, err)
	require.True(t, gone, "a released worker is gone")
}
