package mine

import (
	"context"
	"encoding/json"
	"fmt"
	"os"

	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
)

// readParquet reads a SWE-bench-format Parquet file (as the Hugging Face Hub serves them):
// every column of every row, rendered as JSON so rows from Parquet and JSONL are handled alike
// (a list<string> FAIL_TO_PASS becomes a JSON list, a struct column a JSON object).
func readParquet(path string) ([]importRow, error) {
	return readParquetWith(path, memory.NewGoAllocator())
}

func readParquetWith(path string, mem memory.Allocator) ([]importRow, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	pf, err := file.NewParquetReader(f)
	if err != nil {
		return nil, fmt.Errorf("opening parquet: %w", err)
	}
	defer pf.Close()
	fr, err := pqarrow.NewFileReader(pf, pqarrow.ArrowReadProperties{BatchSize: 256}, mem)
	if err != nil {
		return nil, fmt.Errorf("reading parquet schema: %w", err)
	}
	rr, err := fr.GetRecordReader(context.Background(), nil, nil)
	if err != nil {
		return nil, fmt.Errorf("reading parquet rows: %w", err)
	}
	defer rr.Release()
	var rows []importRow
	schema := rr.Schema()
	for rr.Next() {
		rec := rr.RecordBatch()
		for i := 0; i < int(rec.NumRows()); i++ {
			raw := make(map[string]json.RawMessage, int(rec.NumCols()))
			for c := 0; c < int(rec.NumCols()); c++ {
				col := rec.Column(c)
				if col.IsNull(i) {
					raw[schema.Field(c).Name] = json.RawMessage("null")
					continue
				}
				b, err := json.Marshal(col.GetOneForMarshal(i))
				if err != nil {
					return nil, fmt.Errorf("row %d column %s: %w", len(rows)+1, schema.Field(c).Name, err)
				}
				raw[schema.Field(c).Name] = b
			}
			rows = append(rows, importRow{file: path, line: len(rows) + 1, raw: raw})
		}
	}
	if err := rr.Err(); err != nil {
		return nil, fmt.Errorf("reading parquet rows: %w", err)
	}
	return rows, nil
}
