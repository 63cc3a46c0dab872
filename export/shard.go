package export

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"math"
	"os"
	"path"
	"path/filepath"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
)

// File describes one written file of the dataset.
type File struct {
	// Path is relative to Config.Dir, with forward slashes ("data/tasks/train-00000-of-00001.parquet").
	Path string `json:"path"`
	// Config and Split are set for Parquet shards.
	Config string `json:"config,omitempty"`
	Split  string `json:"split,omitempty"`
	Shard  int    `json:"shard"`
	// Rows counts the shard's rows.
	Rows int64 `json:"rows"`
	// UncompressedBytes is the estimated Arrow size of the shard's rows.
	UncompressedBytes int64 `json:"uncompressed_bytes"`
	// Size is the file's size in bytes; SHA256 its hex digest.
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// shardWriter writes the rows of one config and split as Parquet shards whose uncompressed
// size stays under maxShard, in row groups under maxRowGroup. Rows are appended to an Arrow
// record builder that is handed to a buffered row group every batchBytes, so memory holds
// one batch plus one encoded (compressed) row group.
type shardWriter struct {
	config, split string
	dir           string // absolute directory of the shards
	relDir        string // directory relative to the dataset root
	schema        *arrow.Schema
	props         *parquet.WriterProperties
	aprops        pqarrow.ArrowWriterProperties
	mem           memory.Allocator

	maxShard, maxRowGroup, batchLimit int64
	overhead                          int64 // rowGroupOverhead(schema)

	rb *array.RecordBuilder
	// reserve, when set, is called with the builder before each batch's first row, to
	// reserve room for the batch's long text and save the builders' regrowth.
	reserve    func(rb *array.RecordBuilder, bytes int)
	batchBytes int64
	batchRows  int

	f         *os.File
	fw        *pqarrow.FileWriter
	h         hash.Hash
	cw        *countWriter
	rgBytes   int64
	rgRows    int64
	shardRows int64
	shardSize int64 // estimated uncompressed bytes

	shards []File // finished shards, with temporary paths until finish
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// rowLoc says where a row went.
type rowLoc struct {
	Shard int
	Row   int64
}

func newShardWriter(root, config, split string, schema *arrow.Schema, dict map[string]bool, cfg *Config) (*shardWriter, error) {
	relDir := path.Join("data", config)
	dir := filepath.Join(root, filepath.FromSlash(relDir))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("creating %s: %w", dir, err)
	}
	aprops := pqarrow.NewArrowWriterProperties(pqarrow.WithAllocator(cfg.Allocator), pqarrow.WithStoreSchema())
	base := []parquet.WriterProperty{
		parquet.WithAllocator(cfg.Allocator),
		parquet.WithCompression(compress.Codecs.Zstd),
		parquet.WithCompressionLevel(cfg.ZstdLevel),
		parquet.WithPageIndexEnabled(true),
		parquet.WithDictionaryDefault(false),
		parquet.WithMaxRowGroupLength(math.MaxInt32),
		parquet.WithDataPageVersion(parquet.DataPageV1),
	}
	pq, err := pqarrow.ToParquet(schema, parquet.NewWriterProperties(base...), aprops)
	if err != nil {
		return nil, fmt.Errorf("converting the %s schema to Parquet: %w", config, err)
	}
	opts := append([]parquet.WriterProperty(nil), base...)
	for i := 0; i < pq.NumColumns(); i++ {
		col := pq.Column(i)
		leaf := col.Name()
		if dict[leaf] {
			opts = append(opts, parquet.WithDictionaryPath(col.ColumnPath(), true))
		}
		if longColumns[leaf] {
			opts = append(opts, parquet.WithStatsPath(col.ColumnPath(), false))
		}
	}
	return &shardWriter{
		config: config, split: split, dir: dir, relDir: relDir,
		schema: schema, props: parquet.NewWriterProperties(opts...), aprops: aprops,
		mem:      cfg.Allocator,
		maxShard: cfg.MaxShardBytes, maxRowGroup: cfg.MaxRowGroupBytes, batchLimit: cfg.BatchBytes,
		overhead: rowGroupOverhead(schema),
	}, nil
}

// fits reports whether a row of n estimated bytes can be written at all.
func (w *shardWriter) fits(n int64) bool { return w.overhead+n <= w.maxRowGroup }

// begin makes room for a row of n estimated bytes, which must fit, and returns where it
// goes and the builder to append it to. The caller appends exactly one row, then calls end.
func (w *shardWriter) begin(n int64) (rowLoc, *array.RecordBuilder, error) {
	if w.fw != nil && w.shardRows > 0 && w.shardSize+w.overhead+n > w.maxShard {
		if err := w.closeShard(); err != nil {
			return rowLoc{}, nil, err
		}
	}
	if w.fw == nil {
		if err := w.openShard(); err != nil {
			return rowLoc{}, nil, err
		}
	} else if w.rgRows > 0 && w.rgBytes+n > w.maxRowGroup {
		if err := w.flushBatch(); err != nil {
			return rowLoc{}, nil, err
		}
		w.fw.NewBufferedRowGroup()
		w.rgBytes, w.rgRows = w.overhead, 0
		w.shardSize += w.overhead
	}
	if w.rb == nil {
		w.rb = array.NewRecordBuilder(w.mem, w.schema)
	}
	if w.batchRows == 0 && w.reserve != nil {
		w.reserve(w.rb, int(max(w.batchLimit, n)))
	}
	loc := rowLoc{Shard: len(w.shards), Row: w.shardRows}
	w.rgBytes += n
	w.rgRows++
	w.shardSize += n
	w.shardRows++
	w.batchBytes += n
	w.batchRows++
	return loc, w.rb, nil
}

// end flushes the batch once it is large enough.
func (w *shardWriter) end() error {
	if w.batchBytes >= w.batchLimit {
		return w.flushBatch()
	}
	return nil
}

func (w *shardWriter) openShard() error {
	name := filepath.Join(w.dir, fmt.Sprintf(".%s-%05d.partial", w.split, len(w.shards)))
	f, err := os.Create(name)
	if err != nil {
		return fmt.Errorf("creating shard %s: %w", name, err)
	}
	w.f = f
	w.h = sha256.New()
	w.cw = &countWriter{w: io.MultiWriter(f, w.h)}
	fw, err := pqarrow.NewFileWriter(w.schema, w.cw, w.props, w.aprops)
	if err != nil {
		f.Close()
		return fmt.Errorf("starting Parquet writer for %s: %w", name, err)
	}
	w.fw = fw
	w.fw.NewBufferedRowGroup()
	w.rgBytes, w.rgRows, w.shardRows, w.shardSize = w.overhead, 0, 0, w.overhead
	return nil
}

func (w *shardWriter) flushBatch() error {
	if w.batchRows == 0 {
		return nil
	}
	rec := w.rb.NewRecordBatch()
	defer rec.Release()
	w.batchBytes, w.batchRows = 0, 0
	if err := w.fw.WriteBuffered(rec); err != nil {
		return fmt.Errorf("writing %s/%s shard %d: %w", w.config, w.split, len(w.shards), err)
	}
	return nil
}

func (w *shardWriter) closeShard() error {
	if err := w.flushBatch(); err != nil {
		return err
	}
	err := w.fw.Close()
	w.fw = nil
	if cerr := w.f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("closing %s/%s shard %d: %w", w.config, w.split, len(w.shards), err)
	}
	w.shards = append(w.shards, File{
		Path:   w.f.Name(),
		Config: w.config, Split: w.split, Shard: len(w.shards),
		Rows: w.shardRows, UncompressedBytes: w.shardSize,
		Size: w.cw.n, SHA256: hex.EncodeToString(w.h.Sum(nil)),
	})
	w.f, w.h, w.cw = nil, nil, nil
	return nil
}

// finish closes the last shard, renames every shard to its final name (now that the count
// is known) and returns them with paths relative to the dataset root.
func (w *shardWriter) finish() ([]File, error) {
	if w.fw != nil {
		if err := w.closeShard(); err != nil {
			return nil, err
		}
	}
	w.release()
	out := make([]File, len(w.shards))
	for i, s := range w.shards {
		name := fmt.Sprintf("%s-%05d-of-%05d.parquet", w.split, i, len(w.shards))
		if err := os.Rename(s.Path, filepath.Join(w.dir, name)); err != nil {
			return nil, fmt.Errorf("naming shard %s: %w", name, err)
		}
		s.Path = path.Join(w.relDir, name)
		out[i] = s
	}
	return out, nil
}

// abort releases memory and removes a partial shard after an error.
func (w *shardWriter) abort() {
	if w.fw != nil {
		_ = w.fw.Close()
		w.fw = nil
	}
	if w.f != nil {
		w.f.Close()
		os.Remove(w.f.Name())
		w.f = nil
	}
	w.release()
}

func (w *shardWriter) release() {
	if w.rb != nil {
		w.rb.Release()
		w.rb = nil
	}
}

// rows returns the rows written so far, over every shard.
func (w *shardWriter) rows() int64 {
	n := w.shardRows
	if w.fw == nil {
		n = 0
	}
	for _, s := range w.shards {
		n += s.Rows
	}
	return n
}
