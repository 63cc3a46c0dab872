package export

import (
	"errors"
	"fmt"
	"regexp"

	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/rs/zerolog"
)

// Size defaults, as the datasets library writes (config.MAX_SHARD_SIZE and MAX_ROW_GROUP_SIZE).
const (
	DefaultMaxShardBytes    = 500 << 20
	DefaultMaxRowGroupBytes = 100 << 20
	DefaultBatchBytes       = 8 << 20
)

// DefaultZstdLevel is zstd's own default level. At level 1 the Go encoder's fastest speed
// made trajectory shards about 5% larger than libzstd's level 1 (DuckDB's writer, measured
// by BenchmarkWriteTrajectories); level 3 made them smaller than that for about 5% of the
// writing speed.
const DefaultZstdLevel = 3

// UTF8Policy says what Export does with a string that is not valid UTF-8.
type UTF8Policy int

const (
	// UTF8Repair replaces each invalid byte sequence with U+FFFD and keeps the row.
	UTF8Repair UTF8Policy = iota
	// UTF8Reject leaves the row out.
	UTF8Reject
)

// String returns "repair" or "reject".
func (p UTF8Policy) String() string {
	switch p {
	case UTF8Repair:
		return "repair"
	case UTF8Reject:
		return "reject"
	}
	return fmt.Sprintf("UTF8Policy(%d)", int(p))
}

// Config configures Export.
type Config struct {
	// Dir is the output directory, laid out as a Hugging Face dataset repository. Export
	// replaces what it owns there (README.md, manifest.json, data/tasks, data/trajectories,
	// data/sft, data/sft_native, swebench/) and leaves other files alone. Required.
	Dir string
	// Split names the split every row goes to. Default "train".
	Split string
	// ResolvedOnly keeps only resolved trajectories (SFT data).
	ResolvedOnly bool
	// SFT also writes two configs of training data: "sft", the trajectories rendered in the
	// OpenHands text function-calling protocol (messages with role and content only), and
	// "sft_native", the trajectories in OpenAI chat form for chat templates (messages and
	// tools as JSON texts). Both leave out format-error messages and trajectories with a
	// malformed turn (see Report.SFTCleaned and Report.SFTExcluded).
	SFT bool
	// MaxShardBytes bounds the uncompressed (Arrow) bytes of one Parquet file. Default
	// 500 MiB.
	MaxShardBytes int64
	// MaxRowGroupBytes bounds the uncompressed bytes of one row group. A row larger than
	// this is left out and reported. Default 100 MiB.
	MaxRowGroupBytes int64
	// BatchBytes is the size of the Arrow record batches handed to the Parquet writer; it
	// bounds memory beside the row group being encoded. Default 8 MiB, capped at
	// MaxRowGroupBytes.
	BatchBytes int64
	// ZstdLevel is the zstd compression level, 1 (fastest, largest files) to 22. Default
	// DefaultZstdLevel. The Go zstd encoder has four speeds, and levels map onto them:
	// 1-2 its fastest, 3-5 its default, 6-9 its better and 10 up its best compression.
	ZstdLevel int
	// InvalidUTF8 says what to do with invalid UTF-8 text. Default UTF8Repair.
	InvalidUTF8 UTF8Policy
	// License is the card's licence, a Hub licence identifier ("mit", "apache-2.0",
	// "other"). Default "other": the rows come from repositories under several licences,
	// which the card lists.
	License string
	// PrettyName is the card's title. Default "swemill dataset".
	PrettyName string
	// Allocator allocates every Arrow buffer. Default memory.DefaultAllocator.
	Allocator memory.Allocator
	// Log receives progress and one warning per problem row. The zero value logs nothing.
	Log zerolog.Logger

	// serialEncode makes every shard writer encode on the caller's goroutine: what the
	// pipelined writer's files are compared with in the tests.
	serialEncode bool
}

var splitRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.]*$`)

func (c *Config) setDefaults() {
	if c.Split == "" {
		c.Split = "train"
	}
	if c.MaxShardBytes == 0 {
		c.MaxShardBytes = DefaultMaxShardBytes
	}
	if c.MaxRowGroupBytes == 0 {
		c.MaxRowGroupBytes = DefaultMaxRowGroupBytes
	}
	if c.BatchBytes == 0 {
		c.BatchBytes = DefaultBatchBytes
	}
	if c.BatchBytes > c.MaxRowGroupBytes {
		c.BatchBytes = c.MaxRowGroupBytes
	}
	if c.ZstdLevel == 0 {
		c.ZstdLevel = DefaultZstdLevel
	}
	if c.License == "" {
		c.License = "other"
	}
	if c.PrettyName == "" {
		c.PrettyName = "swemill dataset"
	}
	if c.Allocator == nil {
		c.Allocator = memory.DefaultAllocator
	}
}

// Validate reports the first invalid field, after defaults are applied.
func (c Config) Validate() error {
	c.setDefaults()
	switch {
	case c.Dir == "":
		return errors.New("export config: Dir is required")
	case !splitRe.MatchString(c.Split):
		return fmt.Errorf("export config: Split %q must match %s (the Hub splits file names on '-')", c.Split, splitRe)
	case c.MaxRowGroupBytes < 1024:
		return fmt.Errorf("export config: MaxRowGroupBytes %d is below 1024", c.MaxRowGroupBytes)
	case c.MaxShardBytes < c.MaxRowGroupBytes:
		return fmt.Errorf("export config: MaxShardBytes %d is below MaxRowGroupBytes %d", c.MaxShardBytes, c.MaxRowGroupBytes)
	case c.ZstdLevel < 1 || c.ZstdLevel > 22:
		return fmt.Errorf("export config: ZstdLevel %d is not in 1..22", c.ZstdLevel)
	case c.BatchBytes < 0:
		return fmt.Errorf("export config: BatchBytes %d is negative", c.BatchBytes)
	case c.InvalidUTF8 != UTF8Repair && c.InvalidUTF8 != UTF8Reject:
		return fmt.Errorf("export config: InvalidUTF8 %d is not a policy", int(c.InvalidUTF8))
	}
	return nil
}
