package envbuild

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// holdLock takes path's lock through an open file description of its own, as another
// process would, and returns the function that releases it.
func holdLock(t *testing.T, path string) func() {
	t.Helper()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	require.NoError(t, err)
	require.NoError(t, syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB))
	released := false
	release := func() {
		if !released {
			released = true
			require.NoError(t, syscall.Flock(int(f.Fd()), syscall.LOCK_UN))
			f.Close()
		}
	}
	t.Cleanup(release)
	return release
}

// lockAsync runs lockFile in a goroutine and reports its result.
func lockAsync(ctx context.Context, path string) <-chan error {
	done := make(chan error, 1)
	go func() {
		unlock, err := lockFile(ctx, path)
		if err == nil {
			unlock()
		}
		done <- err
	}()
	return done
}

// TestLockWaitEndsOnCancel waits for a lock another holder keeps and cancels the wait after
// 200 ms: lockFile returns context.Canceled at once, though the holder never lets go.
func TestLockWaitEndsOnCancel(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "env.lock")
	holdLock(t, path)
	ctx, cancel := context.WithCancel(t.Context())
	stop := time.AfterFunc(200*time.Millisecond, cancel)
	defer stop.Stop()
	select {
	case err := <-lockAsync(ctx, path):
		require.ErrorIs(t, err, context.Canceled)
		require.ErrorContains(t, err, "locking "+path)
	case <-time.After(10 * time.Second):
		t.Fatal("the wait for the lock did not end when its context was cancelled")
	}
}

// TestLockWaitTakesReleasedLock waits for a lock whose holder lets go after 100 ms, and a
// deadline: the waiter takes the lock; a wait that reaches its deadline says so.
func TestLockWaitTakesReleasedLock(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "inst.lock")
	release := holdLock(t, path)
	released := make(chan struct{})
	stop := time.AfterFunc(100*time.Millisecond, func() { release(); close(released) })
	defer stop.Stop()
	select {
	case err := <-lockAsync(t.Context(), path):
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("the lock was not taken after its holder released it")
	}
	<-released

	other := filepath.Join(t.TempDir(), "held.lock")
	holdLock(t, other)
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	select {
	case err := <-lockAsync(ctx, other):
		require.ErrorIs(t, err, context.DeadlineExceeded)
	case <-time.After(10 * time.Second):
		t.Fatal("the wait for the lock did not end at its deadline")
	}
}
