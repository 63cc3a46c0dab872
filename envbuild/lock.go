package envbuild

import (
	"context"
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"
)

// Lock polling: the first retry after lockPollMin, doubling up to lockPollMax.
const (
	lockPollMin = 5 * time.Millisecond
	lockPollMax = 200 * time.Millisecond
)

// lockFile takes an exclusive flock on path (created if needed), waiting until the holder,
// another goroutine or process, releases it or ctx is done. A blocking flock(2) cannot be
// cancelled (on Linux, closing the file does not end a waiting call: it waits for the
// holder), so the wait polls a non-blocking lock (LOCK_EX|LOCK_NB) with a backoff of
// lockPollMin to lockPollMax: a cancel ends it within lockPollMax, with context.Cause(ctx)
// wrapped. The returned function releases the lock.
func lockFile(ctx context.Context, path string) (func(), error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("locking %s: %w", path, context.Cause(ctx))
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	fd := int(f.Fd())
	var t *time.Timer
	for delay := lockPollMin; ; delay = min(2*delay, lockPollMax) {
		err := syscall.Flock(fd, syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			if t != nil {
				t.Stop()
			}
			return func() { _ = syscall.Flock(fd, syscall.LOCK_UN); f.Close() }, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) && !errors.Is(err, syscall.EINTR) {
			f.Close()
			return nil, fmt.Errorf("locking %s: %w", path, err)
		}
		if t == nil {
			t = time.NewTimer(delay)
		} else {
			t.Reset(delay)
		}
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			f.Close()
			return nil, fmt.Errorf("locking %s: %w", path, context.Cause(ctx))
		}
	}
}
