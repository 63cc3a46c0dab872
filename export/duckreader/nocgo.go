//go:build !cgo

package duckreader

import (
	"database/sql"
	"os"
	"testing"
)

// Open cannot open DuckDB in a build without cgo: it skips the test, loudly, unless CI is
// set, where it fails it.
func Open(t testing.TB) *sql.DB {
	t.Helper()
	const why = "DuckDB, the independent Parquet reader of these tests, needs cgo (CGO_ENABLED=1 and a C compiler)"
	if os.Getenv("CI") != "" {
		t.Fatal(why)
	}
	t.Skip("SKIPPED: " + why)
	return nil
}
