package runstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"
	"github.com/rs/zerolog"
	"modernc.org/sqlite"
)

// Every statement swemill writes uses $1-style placeholders, which both PostgreSQL and
// modernc's SQLite accept, so one SQL text serves both databases.

// querier runs statements inside or outside a transaction, on either database.
type querier interface {
	exec(ctx context.Context, query string, args ...any) (int64, error)
	query(ctx context.Context, query string, args ...any) (rowScanner, error)
	queryRow(ctx context.Context, query string, args ...any) scanner
}

type scanner interface{ Scan(dest ...any) error }

type rowScanner interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
	Close()
}

// txn is a write transaction: swemill's tables and River's jobs, committed together.
type txn interface {
	querier
	// insertJob inserts a River job in this transaction and returns its id.
	insertJob(ctx context.Context, args river.JobArgs, opts *river.InsertOpts) (int64, error)
}

// database is one of the two backends. It is generic over River's transaction type behind
// this interface, so the store's SQL is written once.
type database interface {
	kind() string
	// read runs statements outside a transaction.
	read() querier
	// inTx runs fn in a write transaction and commits it when fn returns nil.
	inTx(ctx context.Context, fn func(tx txn) error) error
	// forUpdate is the row-locking suffix for SELECTs in write transactions ("" on SQLite,
	// whose write transactions are exclusive).
	forUpdate() string
	// collateBytes is the suffix that makes text compare bytewise, as Go strings do
	// (PostgreSQL's default collation follows the locale).
	collateBytes() string
	// run works the chain with a River client on this database.
	run(ctx context.Context, r *runner) (RunSummary, error)
	// riverClient is the engine's inserting River client (*river.Client[*sql.Tx] or
	// *river.Client[pgx.Tx]).
	riverClient() any
	// holdWorker records worker id's presence until release or the process's end;
	// workerHeld reports whether a live process holds it (see worker.go).
	holdWorker(ctx context.Context, id string, log zerolog.Logger) (release func(), err error)
	workerHeld(ctx context.Context, id string) (bool, error)
	close()
}

const (
	kindSQLite   = "sqlite"
	kindPostgres = "postgres"
)

// dbOptions says how to open a database.
type dbOptions struct {
	// url is "" for SQLite at sqlitePath, or a postgres:// URL.
	url        string
	sqlitePath string
	// readOnly opens SQLite without creating it and without taking the write lock.
	readOnly bool
}

func isPostgresURL(u string) bool {
	return strings.HasPrefix(u, "postgres://") || strings.HasPrefix(u, "postgresql://")
}

// openDatabase opens (and for writers, migrates) the run's database.
func openDatabase(ctx context.Context, o dbOptions) (database, error) {
	if o.url != "" {
		if !isPostgresURL(o.url) {
			return nil, fmt.Errorf("database %q: only postgres:// URLs are supported (leave it empty for SQLite in the run directory)", RedactURL(o.url))
		}
		return openPostgres(ctx, o)
	}
	return openSQLite(ctx, o)
}

// RedactURL hides the password of a database URL so it can be shown in errors and logs.
func RedactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.User == nil {
		return s
	}
	if _, has := u.User.Password(); has {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.String()
}

// DatabaseKey names the database a postgres:// URL points to, as postgres://host:port/name,
// without user, password or options: what the workers of a run shared on it have in common,
// when they spell the server alike.
func DatabaseKey(u string) string {
	cfg, err := pgconn.ParseConfig(u)
	if err != nil {
		return RedactURL(u)
	}
	return fmt.Sprintf("postgres://%s:%d/%s", strings.ToLower(cfg.Host), cfg.Port, cfg.Database)
}

func openSQLite(ctx context.Context, o dbOptions) (*engine[*riversqlite.Driver, *sql.Tx], error) {
	if o.readOnly {
		if _, err := os.Stat(o.sqlitePath); err != nil {
			return nil, fmt.Errorf("opening run database %s: %w", o.sqlitePath, err)
		}
	}
	// Sorts and temporary indexes stay in memory, and the page cache holds 64 MiB: the
	// report's grouped reads over 100,000s of rows spilled to temporary files otherwise.
	dsn := "file:" + filepath.ToSlash(o.sqlitePath) +
		"?_pragma=busy_timeout(30000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_pragma=foreign_keys(1)&_pragma=temp_store(MEMORY)&_pragma=cache_size(-65536)"
	base, err := sqlite.NewConnector(dsn + "&_txlock=immediate")
	if err != nil {
		return nil, fmt.Errorf("opening run database %s: %w", o.sqlitePath, err)
	}
	db := sql.OpenDB(cachingConnector{base: base})
	db.SetMaxOpenConns(1)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("opening run database %s: %w", o.sqlitePath, err)
	}
	// A file that is not a database only fails on first read.
	var n int
	if err := db.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_master").Scan(&n); err != nil {
		db.Close()
		return nil, fmt.Errorf("opening run database %s: %w", o.sqlitePath, err)
	}
	// One connection: SQLite allows one writer, and River's driver asks for a single-connection
	// pool. Write transactions begin IMMEDIATE (_txlock) so writers from other processes wait
	// on busy_timeout instead of failing on a lock upgrade.
	e := &engine[*riversqlite.Driver, *sql.Tx]{
		dbKind:        kindSQLite,
		migrationLock: fileLock(o.sqlitePath + ".migrate-lock"),
		driver:        riversqlite.New(db),
		begin:         func(ctx context.Context) (*sql.Tx, error) { return db.BeginTx(ctx, nil) },
		wrap:          func(tx *sql.Tx) querier { return sqlQuerier{tx} },
		commit:        func(_ context.Context, tx *sql.Tx) error { return tx.Commit() },
		rollback: func(_ context.Context, tx *sql.Tx) error {
			err := tx.Rollback()
			if errors.Is(err, sql.ErrTxDone) {
				return nil
			}
			return err
		},
		reader:  sqlQuerier{db},
		closeFn: func() { db.Close() },
		hold:    holdFileWorker(filepath.Join(filepath.Dir(o.sqlitePath), workersDir)),
		held: func(_ context.Context, id string) (bool, error) {
			return fileWorkerHeld(filepath.Join(filepath.Dir(o.sqlitePath), workersDir, id+".lock"))
		},
	}
	e.group = &txGroup[*riversqlite.Driver, *sql.Tx]{e: e}
	if !o.readOnly {
		if err := e.migrate(ctx); err != nil {
			db.Close()
			return nil, fmt.Errorf("migrating run database %s: %w", o.sqlitePath, err)
		}
	}
	return e, nil
}

func openPostgres(ctx context.Context, o dbOptions) (*engine[*riverpgxv5.Driver, pgx.Tx], error) {
	cfg, err := pgxpool.ParseConfig(o.url)
	if err != nil {
		// pgx's parse errors quote the URL; keep the password out.
		return nil, fmt.Errorf("parsing database URL %s: invalid URL", RedactURL(o.url))
	}
	if cfg.MaxConns < 8 {
		cfg.MaxConns = 8
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connecting to %s: %w", RedactURL(o.url), err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("connecting to %s: %w", RedactURL(o.url), err)
	}
	e := &engine[*riverpgxv5.Driver, pgx.Tx]{
		dbKind:   kindPostgres,
		driver:   riverpgxv5.New(pool),
		begin:    func(ctx context.Context) (pgx.Tx, error) { return pool.Begin(ctx) },
		wrap:     func(tx pgx.Tx) querier { return pgxQuerier{tx} },
		commit:   func(ctx context.Context, tx pgx.Tx) error { return tx.Commit(ctx) },
		rollback: func(ctx context.Context, tx pgx.Tx) error { return ignoreTxClosed(tx.Rollback(ctx)) },
		reader:   pgxQuerier{pool},
		closeFn:  pool.Close,
		hold:     holdPostgresWorker(o.url),
		held:     postgresWorkerHeld(pgxQuerier{pool}),
		migrationLock: func(ctx context.Context) (func(), error) {
			conn, err := pool.Acquire(ctx)
			if err != nil {
				return nil, err
			}
			if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", migrationLockKey); err != nil {
				conn.Release()
				return nil, err
			}
			return func() {
				_, _ = conn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", migrationLockKey)
				conn.Release()
			}, nil
		},
	}
	if !o.readOnly {
		if err := e.migrate(ctx); err != nil {
			pool.Close()
			return nil, fmt.Errorf("migrating database %s: %w", RedactURL(o.url), err)
		}
	}
	return e, nil
}

func ignoreTxClosed(err error) error {
	if errors.Is(err, pgx.ErrTxClosed) {
		return nil
	}
	return err
}

// engine binds the store to one River driver. TD is the driver type and TTx its transaction.
type engine[TD riverdriver.Driver[TTx], TTx any] struct {
	dbKind   string
	driver   TD
	begin    func(ctx context.Context) (TTx, error)
	wrap     func(tx TTx) querier
	commit   func(ctx context.Context, tx TTx) error
	rollback func(ctx context.Context, tx TTx) error
	reader   querier
	closeFn  func()
	// migrationLock serialises migrations across processes.
	migrationLock func(ctx context.Context) (unlock func(), err error)
	// hold and held keep and ask about workers' presence (see worker.go).
	hold func(ctx context.Context, id string, log zerolog.Logger) (release func(), err error)
	held func(ctx context.Context, id string) (bool, error)

	// inserter is a River client that only inserts; workers use the running client instead.
	inserter *river.Client[TTx]
	// group, when set, commits write transactions in groups (SQLite).
	group *txGroup[TD, TTx]
}

func (e *engine[TD, TTx]) kind() string  { return e.dbKind }
func (e *engine[TD, TTx]) read() querier { return e.reader }
func (e *engine[TD, TTx]) close()        { e.closeFn() }

func (e *engine[TD, TTx]) holdWorker(ctx context.Context, id string, log zerolog.Logger) (func(), error) {
	return e.hold(ctx, id, log)
}

func (e *engine[TD, TTx]) workerHeld(ctx context.Context, id string) (bool, error) {
	return e.held(ctx, id)
}

func (e *engine[TD, TTx]) forUpdate() string {
	if e.dbKind == kindPostgres {
		return " FOR UPDATE"
	}
	return ""
}

func (e *engine[TD, TTx]) riverClient() any { return e.insertClient() }

func (e *engine[TD, TTx]) collateBytes() string {
	if e.dbKind == kindPostgres {
		return ` COLLATE "C"`
	}
	return ""
}

func (e *engine[TD, TTx]) inTx(ctx context.Context, fn func(tx txn) error) error {
	return e.inTxWith(ctx, e.insertClient(), fn)
}

// inTxWith runs fn in a transaction whose job inserts go through client. On SQLite it joins
// the next group of transactions (see txGroup).
func (e *engine[TD, TTx]) inTxWith(ctx context.Context, client *river.Client[TTx], fn func(tx txn) error) error {
	if e.group != nil {
		return e.group.run(ctx, client, fn)
	}
	tx, err := e.begin(ctx)
	if err != nil {
		return fmt.Errorf("beginning transaction: %w", err)
	}
	t := &engineTx[TD, TTx]{querier: e.wrap(tx), tx: tx, client: client}
	if err := fn(t); err != nil {
		if rerr := e.rollback(context.WithoutCancel(ctx), tx); rerr != nil {
			return errors.Join(err, fmt.Errorf("rolling back: %w", rerr))
		}
		return err
	}
	if err := e.commit(ctx, tx); err != nil {
		_ = e.rollback(context.WithoutCancel(ctx), tx)
		return fmt.Errorf("committing transaction: %w", err)
	}
	return nil
}

func (e *engine[TD, TTx]) insertClient() *river.Client[TTx] {
	if e.inserter == nil {
		c, err := river.NewClient[TTx](e.driver, &river.Config{SkipUnknownJobCheck: true})
		if err != nil {
			// NewClient only fails on invalid configuration, which is fixed above.
			panic(fmt.Sprintf("creating River insert client: %v", err))
		}
		e.inserter = c
	}
	return e.inserter
}

type engineTx[TD riverdriver.Driver[TTx], TTx any] struct {
	querier
	tx     TTx
	client *river.Client[TTx]
	// detach runs statements whatever their context's cancellation (see txGroup).
	detach bool
	// direct inserts swemill's jobs with a statement of its own (SQLite; see insertDirect).
	direct bool
}

func (t *engineTx[TD, TTx]) insertJob(ctx context.Context, args river.JobArgs, opts *river.InsertOpts) (int64, error) {
	if t.detach {
		ctx = context.WithoutCancel(ctx)
	}
	if t.direct {
		if id, ok, err := insertDirect(ctx, t.querier, args, opts); ok {
			return id, err
		}
	}
	res, err := t.client.InsertTx(ctx, t.tx, args, opts)
	if err != nil {
		return 0, fmt.Errorf("inserting %s job: %w", args.Kind(), err)
	}
	return res.Job.ID, nil
}

// migrationLockKey is the PostgreSQL advisory lock that serialises migrations.
const migrationLockKey = 7342019

// migrate applies River's migrations, version by version (some cannot share a transaction),
// and then swemill's in one transaction, under a lock that serialises processes starting
// together (an advisory lock on PostgreSQL, a file lock beside the SQLite database).
func (e *engine[TD, TTx]) migrate(ctx context.Context) error {
	migrator, err := rivermigrate.New[TTx](e.driver, &rivermigrate.Config{Logger: discardSlog()})
	if err != nil {
		return err
	}
	unlock, err := e.migrationLock(ctx)
	if err != nil {
		return fmt.Errorf("taking the migration lock: %w", err)
	}
	defer unlock()
	if _, err := migrator.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return fmt.Errorf("applying River's migrations: %w", err)
	}
	tx, err := e.begin(ctx)
	if err != nil {
		return err
	}
	if err := migrateSwemill(ctx, e.wrap(tx), e.dbKind); err != nil {
		_ = e.rollback(ctx, tx)
		return err
	}
	return e.commit(ctx, tx)
}

// sqlQuerier adapts database/sql (a *sql.DB or *sql.Tx).
type sqlQuerier struct {
	q interface {
		ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
		QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
		QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	}
}

func (s sqlQuerier) exec(ctx context.Context, query string, args ...any) (int64, error) {
	res, err := s.q.ExecContext(ctx, query, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

func (s sqlQuerier) query(ctx context.Context, query string, args ...any) (rowScanner, error) {
	rows, err := s.q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	return sqlRows{rows}, nil
}

func (s sqlQuerier) queryRow(ctx context.Context, query string, args ...any) scanner {
	return s.q.QueryRowContext(ctx, query, args...)
}

type sqlRows struct{ *sql.Rows }

func (r sqlRows) Close() { _ = r.Rows.Close() }

// pgxQuerier adapts pgx (a pool or a transaction).
type pgxQuerier struct {
	q interface {
		Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
		Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
		QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	}
}

func (p pgxQuerier) exec(ctx context.Context, query string, args ...any) (int64, error) {
	tag, err := p.q.Exec(ctx, query, args...)
	if err != nil {
		return 0, err
	}
	return tag.RowsAffected(), nil
}

func (p pgxQuerier) query(ctx context.Context, query string, args ...any) (rowScanner, error) {
	rows, err := p.q.Query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	return rows, nil
}

func (p pgxQuerier) queryRow(ctx context.Context, query string, args ...any) scanner {
	return pgxRow{p.q.QueryRow(ctx, query, args...)}
}

// pgxRow maps pgx's no-rows error to database/sql's, so callers check one sentinel.
type pgxRow struct{ r pgx.Row }

func (r pgxRow) Scan(dest ...any) error {
	err := r.r.Scan(dest...)
	if errors.Is(err, pgx.ErrNoRows) {
		return sql.ErrNoRows
	}
	return err
}
