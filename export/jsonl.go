package export

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
)

// JSONLDir is the directory, beside data/, of the tasks as JSON Lines, one file per split
// (JSONLDir/tasks-SPLIT.jsonl): the same rows and columns as the tasks config, one JSON object
// a line, for tools that read a task file directly (SWE-bench's harness loads a .jsonl path
// given as its dataset name). The card's configs name data/ only, so the Hub does not read
// them twice.
const JSONLDir = "swebench"

// jsonlWriter writes task rows as JSON Lines.
type jsonlWriter struct {
	root, name string
	f          *os.File
	w          *bufio.Writer
	buf        bytes.Buffer
}

func newJSONLWriter(stage, split string) (*jsonlWriter, error) {
	name := filepath.ToSlash(filepath.Join(JSONLDir, "tasks-"+split+".jsonl"))
	p := filepath.Join(stage, filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return nil, fmt.Errorf("creating %s: %w", filepath.Dir(p), err)
	}
	f, err := os.Create(p)
	if err != nil {
		return nil, fmt.Errorf("creating %s: %w", name, err)
	}
	return &jsonlWriter{root: stage, name: name, f: f, w: bufio.NewWriterSize(f, 1<<20)}, nil
}

// write appends one row: its columns in the tasks config's order.
func (j *jsonlWriter) write(r *taskRow) error {
	j.buf.Reset()
	enc := json.NewEncoder(&j.buf)
	enc.SetEscapeHTML(false)
	j.buf.WriteByte('{')
	for i, c := range taskColumns {
		if i > 0 {
			j.buf.WriteByte(',')
		}
		if err := enc.Encode(c); err != nil {
			return err
		}
		j.buf.Truncate(j.buf.Len() - 1) // Encode's newline
		j.buf.WriteByte(':')
		if err := enc.Encode(r[i]); err != nil {
			return err
		}
		j.buf.Truncate(j.buf.Len() - 1)
	}
	j.buf.WriteString("}\n")
	_, err := j.w.Write(j.buf.Bytes())
	return err
}

// finish closes the file and returns its manifest entry; with no row it removes the file
// and returns no entry (ok false).
func (j *jsonlWriter) finish(rows int64) (f File, ok bool, err error) {
	if err := j.w.Flush(); err != nil {
		j.f.Close()
		return File{}, false, fmt.Errorf("writing %s: %w", j.name, err)
	}
	if err := j.f.Close(); err != nil {
		return File{}, false, fmt.Errorf("writing %s: %w", j.name, err)
	}
	if rows == 0 {
		return File{}, false, os.RemoveAll(filepath.Join(j.root, JSONLDir))
	}
	fi, err := fileInfo(j.root, j.name)
	if err != nil {
		return File{}, false, err
	}
	fi.Rows = rows // no Config: the card's configs are the Parquet shards
	return fi, true, nil
}

// abort closes the file without a manifest entry (the staging directory goes as a whole).
func (j *jsonlWriter) abort() { j.f.Close() }
