// Package parquetjson reads Parquet files as rows of JSON values. The miner's import reads
// SWE-bench-format task files with it (as the Hugging Face Hub serves them), so that rows
// from Parquet and from JSONL are handled alike; like the rest of package export, it is
// where swemill's Arrow code lives.
package parquetjson

import (
	"context"
	"encoding/json"
	"fmt"
	"os"

	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
)

// Row is one row of a file: each column's name and its value as JSON ("null" for a null).
// A list column becomes a JSON list (a list<string> FAIL_TO_PASS reads as ["a", "b"]), a
// struct column a JSON object.
type Row map[string]json.RawMessage

// ReadFile reads every column of every row of the Parquet file at path, in order. mem
// allocates the Arrow buffers; nil means a Go allocator. The rows hold no Arrow memory.
func ReadFile(path string, mem memory.Allocator) ([]Row, error) {
	if mem == nil {
		mem = memory.NewGoAllocator()
	}
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
	var rows []Row
	schema := rr.Schema()
	for rr.Next() {
		rec := rr.RecordBatch()
		for i := 0; i < int(rec.NumRows()); i++ {
			raw := make(Row, int(rec.NumCols()))
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
			rows = append(rows, raw)
		}
	}
	if err := rr.Err(); err != nil {
		return nil, fmt.Errorf("reading parquet rows: %w", err)
	}
	return rows, nil
}
