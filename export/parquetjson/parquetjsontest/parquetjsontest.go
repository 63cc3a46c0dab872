// Package parquetjsontest writes small Parquet files for tests of what reads them
// (parquetjson, the miner's import), so that those tests need no Arrow code of their own.
package parquetjsontest

import (
	"fmt"
	"os"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	"github.com/stretchr/testify/require"
)

// WriteFile writes rows as one row group of a Parquet file at path, one nullable column
// per name of columns: list<string> when a value of the column is a []string, string
// otherwise. A value is a string, a []string or nil (a null). Its Arrow buffers come from
// a checked allocator that must be empty once the file is written.
func WriteFile(t testing.TB, path string, columns []string, rows [][]any) {
	t.Helper()
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	fields := make([]arrow.Field, len(columns))
	for c, name := range columns {
		fields[c] = arrow.Field{Name: name, Type: arrow.BinaryTypes.String, Nullable: true}
		for _, r := range rows {
			if _, ok := r[c].([]string); ok {
				fields[c].Type = arrow.ListOf(arrow.BinaryTypes.String)
				break
			}
		}
	}
	schema := arrow.NewSchema(fields, nil)
	bld := array.NewRecordBuilder(mem, schema)
	defer bld.Release()
	for i, r := range rows {
		require.Len(t, r, len(columns), "row %d", i)
		for c, v := range r {
			switch b := bld.Field(c).(type) {
			case *array.StringBuilder:
				switch v := v.(type) {
				case nil:
					b.AppendNull()
				case string:
					b.Append(v)
				default:
					require.Fail(t, fmt.Sprintf("row %d column %s: a %T in a string column", i, columns[c], v))
				}
			case *array.ListBuilder:
				switch v := v.(type) {
				case nil:
					b.AppendNull()
				case []string:
					b.Append(true)
					for _, s := range v {
						b.ValueBuilder().(*array.StringBuilder).Append(s)
					}
				default:
					require.Fail(t, fmt.Sprintf("row %d column %s: a %T in a list column", i, columns[c], v))
				}
			}
		}
	}
	rec := bld.NewRecordBatch()
	defer rec.Release()
	f, err := os.Create(path)
	require.NoError(t, err)
	w, err := pqarrow.NewFileWriter(schema, f, parquet.NewWriterProperties(parquet.WithAllocator(mem)), pqarrow.NewArrowWriterProperties(pqarrow.WithAllocator(mem)))
	require.NoError(t, err)
	require.NoError(t, w.Write(rec))
	require.NoError(t, w.Close())
}
