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
	"sync/atomic"

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
// record builder that is handed to a buffered row group every batchBytes.
//
// The caller's goroutine decides the layout (which shard and row group each row goes to)
// and builds the record batches; an encoding goroutine of the writer's own does the Parquet
// work (encoding, compression, file writes) in the order it was asked, one batch behind. So
// building and encoding use two cores, and several writers (a config each) encode side by
// side, while the files are byte for byte what one goroutine would write. Memory holds at
// most three batches (one built, one queued, one encoding) plus one encoded row group.
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
	serial                            bool  // Config.serialEncode

	// The layout, kept by the caller's goroutine.
	rb *array.RecordBuilder
	// reserve, when set, is called with the builder before each batch's first row, to
	// reserve room for the batch's long text and save the builders' regrowth.
	reserve    func(rb *array.RecordBuilder, bytes int)
	batchBytes int64
	batchRows  int
	open       bool  // a shard is open
	shard      int   // the index of the open shard, or of the next one
	rgBytes    int64 // estimated uncompressed bytes of the open row group
	rgRows     int64
	shardRows  int64
	shardSize  int64 // estimated uncompressed bytes of the open shard
	total      int64 // rows written, over every shard

	// The encoding goroutine takes ops in order; it alone touches the fields below until
	// encDone is closed.
	ops     chan encodeOp
	encDone chan struct{}
	encErr  atomic.Pointer[error] // the first error of an op; later ops are skipped
	f       *os.File
	fw      *pqarrow.FileWriter
	h       hash.Hash
	cw      *countWriter
	shards  []File // finished shards, with temporary paths until finish
}

// encodeOp is one step of the encoding goroutine; rec, when set, is released after it.
type encodeOp struct {
	rec arrow.RecordBatch
	fn  func() error
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
		overhead: rowGroupOverhead(schema), serial: cfg.serialEncode,
	}, nil
}

// fits reports whether a row of n estimated bytes can be written at all.
func (w *shardWriter) fits(n int64) bool { return w.overhead+n <= w.maxRowGroup }

// begin makes room for a row of n estimated bytes, which must fit, and returns where it
// goes and the builder to append it to. The caller appends exactly one row, then calls end.
func (w *shardWriter) begin(n int64) (rowLoc, *array.RecordBuilder, error) {
	if w.open && w.shardRows > 0 && w.shardSize+w.overhead+n > w.maxShard {
		if err := w.closeShard(); err != nil {
			return rowLoc{}, nil, err
		}
	}
	if !w.open {
		if err := w.openShard(); err != nil {
			return rowLoc{}, nil, err
		}
	} else if w.rgRows > 0 && w.rgBytes+n > w.maxRowGroup {
		if err := w.flushBatch(); err != nil {
			return rowLoc{}, nil, err
		}
		if err := w.submit(encodeOp{fn: func() error { w.fw.NewBufferedRowGroup(); return nil }}); err != nil {
			return rowLoc{}, nil, err
		}
		w.rgBytes, w.rgRows = w.overhead, 0
		w.shardSize += w.overhead
	}
	if w.rb == nil {
		w.rb = array.NewRecordBuilder(w.mem, w.schema)
	}
	if w.batchRows == 0 && w.reserve != nil {
		w.reserve(w.rb, int(max(w.batchLimit, n)))
	}
	loc := rowLoc{Shard: w.shard, Row: w.shardRows}
	w.rgBytes += n
	w.rgRows++
	w.shardSize += n
	w.shardRows++
	w.total++
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

// submit hands op to the encoding goroutine, starting it on the first op. It returns the
// error of an earlier op, if one failed, and then releases op's record instead.
func (w *shardWriter) submit(op encodeOp) error {
	if err := w.encodeErr(); err != nil {
		if op.rec != nil {
			op.rec.Release()
		}
		return err
	}
	if w.serial {
		err := op.fn()
		if err != nil {
			w.encErr.Store(&err)
		}
		if op.rec != nil {
			op.rec.Release()
		}
		return err
	}
	if w.ops == nil {
		w.ops, w.encDone = make(chan encodeOp, 1), make(chan struct{})
		go w.encode()
	}
	w.ops <- op
	return nil
}

func (w *shardWriter) encode() {
	defer close(w.encDone)
	for op := range w.ops {
		if w.encodeErr() == nil {
			if err := op.fn(); err != nil {
				w.encErr.Store(&err)
			}
		}
		if op.rec != nil {
			op.rec.Release()
		}
	}
}

func (w *shardWriter) encodeErr() error {
	if p := w.encErr.Load(); p != nil {
		return *p
	}
	return nil
}

// wait lets the encoding goroutine finish every op and returns the first error of one.
func (w *shardWriter) wait() error {
	if w.ops != nil {
		close(w.ops)
		<-w.encDone
		w.ops = nil
	}
	return w.encodeErr()
}

func (w *shardWriter) openShard() error {
	idx := w.shard
	name := filepath.Join(w.dir, fmt.Sprintf(".%s-%05d.partial", w.split, idx))
	w.open = true
	w.rgBytes, w.rgRows, w.shardRows, w.shardSize = w.overhead, 0, 0, w.overhead
	return w.submit(encodeOp{fn: func() error {
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
			w.f = nil
			os.Remove(name)
			return fmt.Errorf("starting Parquet writer for %s: %w", name, err)
		}
		w.fw = fw
		w.fw.NewBufferedRowGroup()
		return nil
	}})
}

func (w *shardWriter) flushBatch() error {
	if w.batchRows == 0 {
		return nil
	}
	rec := w.rb.NewRecordBatch()
	w.batchBytes, w.batchRows = 0, 0
	idx := w.shard
	return w.submit(encodeOp{rec: rec, fn: func() error {
		if err := w.fw.WriteBuffered(rec); err != nil {
			return fmt.Errorf("writing %s/%s shard %d: %w", w.config, w.split, idx, err)
		}
		return nil
	}})
}

func (w *shardWriter) closeShard() error {
	if err := w.flushBatch(); err != nil {
		return err
	}
	idx, rows, size := w.shard, w.shardRows, w.shardSize
	w.open = false
	w.shard++
	return w.submit(encodeOp{fn: func() error {
		err := w.fw.Close()
		w.fw = nil
		if cerr := w.f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("closing %s/%s shard %d: %w", w.config, w.split, idx, err)
		}
		w.shards = append(w.shards, File{
			Path:   w.f.Name(),
			Config: w.config, Split: w.split, Shard: idx,
			Rows: rows, UncompressedBytes: size,
			Size: w.cw.n, SHA256: hex.EncodeToString(w.h.Sum(nil)),
		})
		w.f, w.h, w.cw = nil, nil, nil
		return nil
	}})
}

// finish closes the last shard, waits for the encoding, renames every shard to its final
// name (now that the count is known) and returns them with paths relative to the dataset
// root.
func (w *shardWriter) finish() ([]File, error) {
	var err error
	if w.open {
		err = w.closeShard()
	}
	if werr := w.wait(); err == nil {
		err = werr
	}
	w.release()
	if err != nil {
		return nil, err
	}
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

// abort waits for the encoding, releases memory and removes a partial shard after an
// error. After finish it does nothing.
func (w *shardWriter) abort() {
	w.wait()
	if w.fw != nil {
		_ = w.fw.Close()
		w.fw = nil
	}
	if w.f != nil {
		w.f.Close()
		os.Remove(w.f.Name())
		w.f = nil
	}
	w.open = false
	w.release()
}

func (w *shardWriter) release() {
	if w.rb != nil {
		w.rb.Release()
		w.rb = nil
	}
}

// rows returns the rows written so far, over every shard.
func (w *shardWriter) rows() int64 { return w.total }
