package export

// DuckDB is the independent reader (see export/duckreader).

import (
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"swemill/export/duckreader"
)

func openDuck(t testing.TB) *sql.DB {
	t.Helper()
	db := duckreader.Open(t)
	db.SetMaxOpenConns(1)
	return db
}

func sqlString(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// queryMaps runs q and returns its rows as column name -> value.
func queryMaps(t testing.TB, db *sql.DB, q string, args ...any) []map[string]any {
	t.Helper()
	rows, err := db.Query(q, args...)
	require.NoError(t, err, q)
	defer rows.Close()
	cols, err := rows.Columns()
	require.NoError(t, err)
	var out []map[string]any
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		require.NoError(t, rows.Scan(ptrs...))
		m := make(map[string]any, len(cols))
		for i, c := range cols {
			m[c] = vals[i]
		}
		out = append(out, m)
	}
	require.NoError(t, rows.Err())
	return out
}

// readParquet returns the rows of one file in file order, without the row number column.
func readParquet(t testing.TB, db *sql.DB, path string) []map[string]any {
	t.Helper()
	rows := queryMaps(t, db, fmt.Sprintf("SELECT * FROM read_parquet(%s, file_row_number=true) ORDER BY file_row_number", sqlString(path)))
	for i, r := range rows {
		require.EqualValues(t, i, r["file_row_number"])
		delete(r, "file_row_number")
	}
	return rows
}

// schemaDump renders a file's Parquet schema as DuckDB reads it, one node per line,
// indented by depth.
func schemaDump(t testing.TB, db *sql.DB, path string) string {
	t.Helper()
	rows := queryMaps(t, db, fmt.Sprintf("SELECT name, type, repetition_type, num_children, converted_type, logical_type, duckdb_type FROM parquet_schema(%s)", sqlString(path)))
	var b strings.Builder
	var stack []int64 // children left at each open level
	for _, r := range rows {
		depth := len(stack)
		fmt.Fprintf(&b, "%s%s %v %v", strings.Repeat("  ", depth), r["name"], nz(r["repetition_type"]), nz(r["type"]))
		if c := nz(r["converted_type"]); c != "" {
			fmt.Fprintf(&b, " converted=%v", c)
		}
		if l := nz(r["logical_type"]); l != "" {
			fmt.Fprintf(&b, " logical=%v", l)
		}
		b.WriteString("\n")
		if len(stack) > 0 {
			stack[len(stack)-1]--
		}
		if n, _ := r["num_children"].(int64); n > 0 {
			stack = append(stack, n)
		}
		for len(stack) > 0 && stack[len(stack)-1] == 0 {
			stack = stack[:len(stack)-1]
		}
	}
	return b.String()
}

func nz(v any) string {
	if v == nil {
		return ""
	}
	return fmt.Sprint(v)
}

// parquetFiles lists the shards of a config in name order.
func parquetFiles(t testing.TB, dir, config string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "data", config, "*.parquet"))
	require.NoError(t, err)
	return files
}
