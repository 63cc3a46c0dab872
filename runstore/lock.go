package runstore

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// LockFile is the file in a run directory that the working process holds locked.
const LockFile = "swemill.lock"

// dirLock is an exclusive lock on a run directory, held by one process. The kernel releases
// it when the process dies, however it dies.
type dirLock struct{ f *os.File }

// lockRunDir takes the run directory's lock, or says which process holds it.
func lockRunDir(dir string) (*dirLock, error) {
	path := filepath.Join(dir, LockFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("locking run directory %s: %w", dir, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		holder, _ := os.ReadFile(path)
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			who := strings.TrimSpace(string(holder))
			if who == "" {
				who = "another process"
			} else {
				who = "process " + who
			}
			return nil, &BusyError{Dir: dir, Holder: who}
		}
		return nil, fmt.Errorf("locking run directory %s: %w", dir, err)
	}
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return &dirLock{f: f}, nil
}

func (l *dirLock) release() {
	_ = l.f.Truncate(0)
	_ = syscall.Flock(int(l.f.Fd()), syscall.LOCK_UN)
	l.f.Close()
}

// BusyError says that another process is working the run directory.
type BusyError struct {
	Dir    string
	Holder string
}

func (e *BusyError) Error() string {
	return fmt.Sprintf("run directory %s is in use by %s: a second run on it is refused (wait for it, or stop it)", e.Dir, e.Holder)
}

// fileLock returns a lock function that holds an exclusive flock on path (blocking) until
// unlocked.
func fileLock(path string) func(ctx context.Context) (func(), error) {
	return func(ctx context.Context) (func(), error) {
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
		if err != nil {
			return nil, err
		}
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
			f.Close()
			return nil, err
		}
		return func() {
			_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
			f.Close()
		}, nil
	}
}
