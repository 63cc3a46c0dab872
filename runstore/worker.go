package runstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/rs/zerolog"
)

// A worker of a run records its presence in the run's store for as long as its process
// lives, so that the run's other workers can tell a worker that is gone (killed, its machine
// lost) from one that is busy, and remove what the gone one left. Presence is not a
// heartbeat: the store itself ends it when the process dies. On PostgreSQL the worker holds a
// session-level advisory lock on a connection of its own (the server releases it when the
// connection ends; pg_locks and pg_stat_activity, where the connection's application_name
// is "swemill worker ID", name the holder); on SQLite it holds an flock on
// workers/ID.lock in the run directory (the kernel releases it when the process dies).

// NewWorkerID returns the id of this process as a worker of a run: name (host-pid when
// empty) and a random suffix, so that a worker restarted under the same name, or with the
// same pid in a new container, is another worker. It holds letters, digits, '-', '_' and
// '.' only.
func NewWorkerID(name string) string {
	if name == "" {
		host, _ := os.Hostname()
		name = fmt.Sprintf("%s-%d", host, os.Getpid())
	}
	var b [4]byte
	_, _ = rand.Read(b[:])
	safe := safeID(name)
	if len(safe) > 100 {
		safe = safe[:100]
	}
	if !workerIDRe.MatchString(safe) {
		safe = "w" + safe // ids start with a letter or a digit
	}
	return safe + "-" + hex.EncodeToString(b[:])
}

// safeID replaces what is not a letter, a digit, '-', '_' or '.' by '_'.
func safeID(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	return b.String()
}

var workerIDRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$`)

// RegisterWorker records this process as worker id of the run (see NewWorkerID) until
// release is called or the process ends, however it ends. Register before creating anything
// that WorkerGone will be asked about. release is idempotent.
func (s *Store) RegisterWorker(ctx context.Context, id string) (release func(), err error) {
	if !workerIDRe.MatchString(id) {
		return nil, fmt.Errorf("registering worker %q: want letters, digits, '.', '_' or '-' (see NewWorkerID)", id)
	}
	release, err = s.db.holdWorker(ctx, id, s.log.With().Str("worker", id).Logger())
	if err != nil {
		return nil, fmt.Errorf("registering worker %s: %w", id, err)
	}
	return release, nil
}

// WorkerGone reports whether worker id of the run is gone: no live process holds its
// registration (it died, or released it, or never registered in this run's store). It asks
// the store, never a clock.
func (s *Store) WorkerGone(ctx context.Context, id string) (bool, error) {
	if !workerIDRe.MatchString(id) {
		return true, nil // no worker has such an id
	}
	held, err := s.db.workerHeld(ctx, id)
	if err != nil {
		return false, fmt.Errorf("checking whether worker %s is alive: %w", id, err)
	}
	return !held, nil
}

// workerLockClass is the first key of the PostgreSQL advisory locks that hold workers'
// presence: pg_advisory_lock(int4, int4) locks are a key space apart from the bigint keys of
// the migration lock and River's.
const workerLockClass int32 = 7342020

// workerLockKey is the second key of worker id's advisory lock. Two ids with one key can
// only make a gone worker look alive, never the other way round.
func workerLockKey(id string) int32 {
	h := fnv.New32a()
	_, _ = h.Write([]byte(id))
	return int32(h.Sum32())
}

// presencePing is how often a PostgreSQL worker checks the connection that holds its
// presence, and takes it again on a new connection when the old one was lost.
const presencePing = 30 * time.Second

// holdPostgresWorker holds worker id's advisory lock on a connection of its own to url.
func holdPostgresWorker(url string) func(ctx context.Context, id string, log zerolog.Logger) (func(), error) {
	return func(ctx context.Context, id string, log zerolog.Logger) (func(), error) {
		connect := func(ctx context.Context) (*pgx.Conn, error) {
			// The pool's parser, which takes the URL's pool_* settings out.
			pcfg, err := pgxpool.ParseConfig(url)
			if err != nil {
				return nil, errors.New("parsing database URL: invalid URL")
			}
			cfg := pcfg.ConnConfig
			cfg.RuntimeParams["application_name"] = "swemill worker " + id
			conn, err := pgx.ConnectConfig(ctx, cfg)
			if err != nil {
				return nil, err
			}
			if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1, $2)", workerLockClass, workerLockKey(id)); err != nil {
				_ = conn.Close(context.WithoutCancel(ctx))
				return nil, err
			}
			return conn, nil
		}
		conn, err := connect(ctx)
		if err != nil {
			return nil, err
		}
		stop, done := make(chan struct{}), make(chan struct{})
		go func() {
			defer close(done)
			t := time.NewTicker(presencePing)
			defer t.Stop()
			for {
				select {
				case <-stop:
					if conn != nil {
						// Unlock first: the server ends a closed session's locks only when its
						// backend has exited, after Close returns.
						cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
						_, _ = conn.Exec(cctx, "SELECT pg_advisory_unlock($1, $2)", workerLockClass, workerLockKey(id))
						_ = conn.Close(cctx)
						cancel()
					}
					return
				case <-t.C:
					conn = keepConn(conn, connect, log)
				}
			}
		}()
		var once sync.Once
		return func() { once.Do(func() { close(stop); <-done }) }, nil
	}
}

// keepConn returns conn when it still answers, else a new connection from connect (nil
// when that fails too, to be tried again at the next ping).
func keepConn(conn *pgx.Conn, connect func(context.Context) (*pgx.Conn, error), log zerolog.Logger) *pgx.Conn {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if conn != nil {
		if conn.Ping(ctx) == nil {
			return conn
		}
		_ = conn.Close(ctx)
	}
	conn, err := connect(ctx)
	if err != nil {
		log.Warn().Err(err).Msg("the connection that holds this worker's presence is lost: other workers take it for gone until it is back")
		return nil
	}
	log.Info().Msg("this worker's presence is held again, on a new connection")
	return conn
}

// postgresWorkerHeld asks whether worker id's advisory lock is held, by trying to take it
// for the length of one statement.
func postgresWorkerHeld(q querier) func(ctx context.Context, id string) (bool, error) {
	return func(ctx context.Context, id string) (bool, error) {
		var got bool
		err := q.queryRow(ctx, "SELECT pg_try_advisory_xact_lock($1, $2)", workerLockClass, workerLockKey(id)).Scan(&got)
		return !got, err
	}
}

// heldFiles keeps the presence files this process holds open (path -> *os.File).
var heldFiles sync.Map

// workersDir is where SQLite workers' presence files are, in the run directory.
const workersDir = "workers"

// holdFileWorker holds an flock on dir/id.lock. The file is made locked under another name
// and renamed into place, so that no one ever sees it unlocked while its worker lives. It
// removes the files of gone workers as it goes.
func holdFileWorker(dir string) func(ctx context.Context, id string, log zerolog.Logger) (func(), error) {
	return func(_ context.Context, id string, _ zerolog.Logger) (func(), error) {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, err
		}
		f, err := os.CreateTemp(dir, ".new-*")
		if err != nil {
			return nil, err
		}
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
			f.Close()
			os.Remove(f.Name())
			return nil, err
		}
		host, _ := os.Hostname()
		_, _ = fmt.Fprintf(f, "pid %d\nhost %s\nstarted %s\n", os.Getpid(), host, time.Now().UTC().Format(time.RFC3339))
		path := filepath.Join(dir, id+".lock")
		if err := os.Rename(f.Name(), path); err != nil {
			f.Close()
			os.Remove(f.Name())
			return nil, err
		}
		others, _ := filepath.Glob(filepath.Join(dir, "*.lock"))
		for _, p := range others {
			if p != path {
				_, _ = fileWorkerHeld(p)
			}
		}
		// The file must stay open as long as the registration: held here, it is never
		// closed (and its lock dropped) by the garbage collector, whatever the caller keeps.
		heldFiles.Store(path, f)
		var once sync.Once
		return func() {
			once.Do(func() {
				heldFiles.Delete(path)
				os.Remove(path)
				f.Close() // releases the lock
			})
		}, nil
	}
}

// fileWorkerHeld reports whether a live process holds the presence file at path; a file no
// one holds is removed.
func fileWorkerHeld(path string) (bool, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	defer f.Close()
	err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	if errors.Is(err, syscall.EWOULDBLOCK) {
		return true, nil
	}
	if err != nil {
		return false, err
	}
	os.Remove(path)
	return false, nil
}
