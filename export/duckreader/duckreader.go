//go:build cgo

// Package duckreader opens DuckDB for tests, as the reader of swemill's Parquet files that
// shares no code with the writer: DuckDB's Parquet reader is C++, and duckdb-go built without
// the duckdb_arrow tag compiles no Arrow Go code. DuckDB needs cgo; built without it, Open
// skips the test on a developer's machine and fails it under CI.
package duckreader

import (
	"database/sql"
	"testing"

	_ "github.com/duckdb/duckdb-go/v2" // registers the "duckdb" driver
)

// Open returns an in-memory DuckDB database, closed when t ends.
func Open(t testing.TB) *sql.DB {
	t.Helper()
	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatalf("opening DuckDB: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}
