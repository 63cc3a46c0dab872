package runstore

import (
	"context"
	"database/sql/driver"
	"errors"
	"reflect"
)

// SQLite compiles every statement before running it, and modernc's driver compiles each query
// anew, so on a busy run most of the CPU went to parsing the same few dozen statements (River's
// and swemill's). cachingConnector keeps each connection's compiled statements by query text.
// database/sql never uses one connection from two goroutines at once; a statement whose rows
// are still open is not reused (a fresh one serves that call instead).

// maxCachedStatements bounds the statements kept per connection.
const maxCachedStatements = 256

type cachingConnector struct{ base driver.Connector }

func (c cachingConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.base.Connect(ctx)
	if err != nil {
		return nil, err
	}
	for _, need := range []any{(*driver.ConnBeginTx)(nil), (*driver.ConnPrepareContext)(nil), (*driver.Pinger)(nil), (*driver.SessionResetter)(nil), (*driver.Validator)(nil)} {
		if !reflect.TypeOf(conn).Implements(reflect.TypeOf(need).Elem()) {
			conn.Close()
			return nil, errors.New("the SQLite driver's connections lack an interface swemill relies on")
		}
	}
	return &cachingConn{Conn: conn, stmts: map[string]*cachedStmt{}}, nil
}

func (c cachingConnector) Driver() driver.Driver { return c.base.Driver() }

type cachedStmt struct {
	stmt driver.Stmt
	busy bool
}

type cachingConn struct {
	driver.Conn
	stmts map[string]*cachedStmt
}

func (c *cachingConn) Unwrap() driver.Conn { return c.Conn }

func (c *cachingConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	return c.Conn.(driver.ConnBeginTx).BeginTx(ctx, opts)
}

func (c *cachingConn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	return c.Conn.(driver.ConnPrepareContext).PrepareContext(ctx, query)
}

func (c *cachingConn) Ping(ctx context.Context) error { return c.Conn.(driver.Pinger).Ping(ctx) }

func (c *cachingConn) ResetSession(ctx context.Context) error {
	return c.Conn.(driver.SessionResetter).ResetSession(ctx)
}

func (c *cachingConn) IsValid() bool { return c.Conn.(driver.Validator).IsValid() }

func (c *cachingConn) Close() error {
	for q, cs := range c.stmts {
		cs.stmt.Close()
		delete(c.stmts, q)
	}
	return c.Conn.Close()
}

// stmt returns a compiled statement for query and the function that gives it back: a cached
// one when free, else a fresh one (cached if there is room and none is cached yet).
func (c *cachingConn) stmt(ctx context.Context, query string) (driver.Stmt, func(failed bool), error) {
	if cs, ok := c.stmts[query]; ok && !cs.busy {
		cs.busy = true
		return cs.stmt, func(failed bool) { c.giveBack(query, cs, failed) }, nil
	}
	s, err := c.PrepareContext(ctx, query)
	if err != nil {
		return nil, nil, err
	}
	if _, taken := c.stmts[query]; taken || len(c.stmts) >= maxCachedStatements {
		return s, func(bool) { s.Close() }, nil
	}
	cs := &cachedStmt{stmt: s, busy: true}
	c.stmts[query] = cs
	return s, func(failed bool) { c.giveBack(query, cs, failed) }, nil
}

// giveBack frees a cached statement; one that failed is dropped rather than trusted again.
func (c *cachingConn) giveBack(query string, cs *cachedStmt, failed bool) {
	cs.busy = false
	if failed && c.stmts[query] == cs {
		delete(c.stmts, query)
		cs.stmt.Close()
	}
}

func (c *cachingConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	s, release, err := c.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	res, err := s.(driver.StmtExecContext).ExecContext(ctx, args)
	release(err != nil)
	return res, err
}

func (c *cachingConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	s, release, err := c.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	rows, err := s.(driver.StmtQueryContext).QueryContext(ctx, args)
	if err != nil {
		release(true)
		return nil, err
	}
	return &releasingRows{Rows: rows, release: release}, nil
}

// releasingRows gives its statement back when closed.
type releasingRows struct {
	driver.Rows
	release func(failed bool)
	done    bool
}

func (r *releasingRows) Close() error {
	err := r.Rows.Close()
	if !r.done {
		r.done = true
		r.release(err != nil)
	}
	return err
}

func (r *releasingRows) ColumnTypeDatabaseTypeName(i int) string {
	if t, ok := r.Rows.(driver.RowsColumnTypeDatabaseTypeName); ok {
		return t.ColumnTypeDatabaseTypeName(i)
	}
	return ""
}

func (r *releasingRows) ColumnTypeScanType(i int) reflect.Type {
	if t, ok := r.Rows.(driver.RowsColumnTypeScanType); ok {
		return t.ColumnTypeScanType(i)
	}
	return reflect.TypeFor[any]()
}

func (r *releasingRows) ColumnTypeNullable(i int) (nullable, ok bool) {
	if t, ok := r.Rows.(driver.RowsColumnTypeNullable); ok {
		return t.ColumnTypeNullable(i)
	}
	return false, false
}
