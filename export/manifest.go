package export

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"sort"

	"swemill/pipeline"
)

// ManifestName is the manifest's file name in the dataset root.
const ManifestName = "manifest.json"

// The manifest ties each row to what produced it. It is written while rows stream, one
// entry per line, so it never sits in memory; its layout is
//
//	{"swemill_version", "run_config", "export", "tasks": [...], "trajectories": [...],
//	 "problems": [...], "files": [...]}
//
// where a row entry names its shard by config and index and its row within the shard, and
// "files" maps shards to paths, sizes and SHA-256 digests.

type taskEntry struct {
	InstanceID     string                 `json:"instance_id"`
	Shard          int                    `json:"shard"`
	Row            int64                  `json:"row"`
	ImageName      string                 `json:"image_name"`
	ImageDigest    string                 `json:"image_digest"`
	ImageRef       string                 `json:"image_ref,omitempty"`
	EnvImageRef    string                 `json:"env_image_ref,omitempty"`
	EnvImage       string                 `json:"env_image,omitempty"`
	BaseImage      string                 `json:"base_image,omitempty"`
	WorkDir        string                 `json:"workdir,omitempty"`
	Recipe         pipeline.Recipe        `json:"recipe"`
	ValidationLogs []logEntry             `json:"validation_logs"`
	Artifacts      []pipeline.ArtifactRef `json:"artifacts,omitempty"`
	SwemillVersion string                 `json:"swemill_version"`
}

type logEntry struct {
	Side   string `json:"side"`
	Index  int    `json:"index"`
	Name   string `json:"name"`
	Digest string `json:"digest"`
	Size   int64  `json:"size"`
	// Rerun marks a re-run of the FAIL_TO_PASS tests alone; Seed is the run's seed
	// (PYTHONHASHSEED, go test -shuffle), so the run can be repeated.
	Rerun bool   `json:"rerun,omitempty"`
	Seed  uint32 `json:"seed,omitempty"`
}

type trajectoryEntry struct {
	TrajectoryID   string                 `json:"trajectory_id"`
	InstanceID     string                 `json:"instance_id"`
	Shard          int                    `json:"shard"`
	Row            int64                  `json:"row"`
	SFTShard       *int                   `json:"sft_shard,omitempty"`
	SFTRow         *int64                 `json:"sft_row,omitempty"`
	SFTNativeShard *int                   `json:"sft_native_shard,omitempty"`
	SFTNativeRow   *int64                 `json:"sft_native_row,omitempty"`
	Model          string                 `json:"model"`
	Resolved       bool                   `json:"resolved"`
	Flags          []string               `json:"flags,omitempty"`
	Artifacts      []pipeline.ArtifactRef `json:"artifacts,omitempty"`
	SwemillVersion string                 `json:"swemill_version"`

	// SFTMessagesRemoved counts the format-error messages the SFT configs leave out.
	SFTMessagesRemoved int `json:"sft_messages_removed,omitempty"`
	// SFTExcluded names the malformed turn that keeps the trajectory out of the SFT configs.
	SFTExcluded string `json:"sft_excluded,omitempty"`
}

type exportSettings struct {
	Split            string `json:"split"`
	ResolvedOnly     bool   `json:"resolved_only"`
	SFT              bool   `json:"sft"`
	MaxShardBytes    int64  `json:"max_shard_bytes"`
	MaxRowGroupBytes int64  `json:"max_row_group_bytes"`
	ZstdLevel        int    `json:"zstd_level"`
	InvalidUTF8      string `json:"invalid_utf8"`
}

func newTaskEntry(t *Task, loc rowLoc, version string) taskEntry {
	runs := append([]pipeline.TestRun(nil), t.Validation.Runs...)
	sort.SliceStable(runs, func(i, j int) bool {
		if runs[i].Side != runs[j].Side {
			return runs[i].Side > runs[j].Side // "before" first
		}
		return runs[i].Index < runs[j].Index
	})
	logs := make([]logEntry, len(runs))
	for i, r := range runs {
		logs[i] = logEntry{Side: r.Side, Index: r.Index, Name: r.Log.Name, Digest: r.Log.Digest, Size: r.Log.Size, Rerun: r.Rerun, Seed: r.Seed}
	}
	if t.Version != "" {
		version = t.Version
	}
	env := &t.Environment
	return taskEntry{
		InstanceID: t.Instance.InstanceID, Shard: loc.Shard, Row: loc.Row,
		ImageName: env.ImageName, ImageDigest: env.ImageID, ImageRef: env.ImageRef, EnvImageRef: env.EnvImageRef, EnvImage: env.EnvImage, BaseImage: env.BaseImage,
		WorkDir: env.WorkDir, Recipe: env.Recipe, ValidationLogs: logs, Artifacts: t.Artifacts,
		SwemillVersion: version,
	}
}

// manifestWriter streams the manifest.
type manifestWriter struct {
	f       *os.File
	w       *bufio.Writer
	section string
	n       int
	err     error
}

func newManifestWriter(path string, run RunInfo, settings exportSettings) (*manifestWriter, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("creating manifest: %w", err)
	}
	m := &manifestWriter{f: f, w: bufio.NewWriterSize(f, 1<<16)}
	m.raw("{\n")
	m.field("swemill_version", run.Version, false)
	var cfg bytes.Buffer
	if len(bytes.TrimSpace(run.Config)) == 0 {
		cfg.WriteString("null")
	} else if err := json.Indent(&cfg, run.Config, "  ", "  "); err != nil {
		f.Close()
		return nil, fmt.Errorf("reading the run config: %w", err)
	}
	m.raw(`  "run_config": ` + cfg.String() + ",\n")
	m.field("export", settings, false)
	return m, m.err
}

func (m *manifestWriter) raw(s string) {
	if m.err == nil {
		_, m.err = m.w.WriteString(s)
	}
}

func (m *manifestWriter) field(key string, v any, last bool) {
	b, err := marshal(v)
	if err != nil && m.err == nil {
		m.err = err
	}
	m.raw(fmt.Sprintf("  %q: %s", key, b))
	if last {
		m.raw("\n")
	} else {
		m.raw(",\n")
	}
}

// begin opens the array section key.
func (m *manifestWriter) begin(key string) {
	m.raw(fmt.Sprintf("  %q: [", key))
	m.section, m.n = key, 0
}

// entry writes one element of the open section on its own line.
func (m *manifestWriter) entry(v any) {
	b, err := marshal(v)
	if err != nil && m.err == nil {
		m.err = fmt.Errorf("encoding a %s manifest entry: %w", m.section, err)
	}
	if m.n > 0 {
		m.raw(",")
	}
	m.raw("\n    ")
	m.raw(string(b))
	m.n++
}

// end closes the open section.
func (m *manifestWriter) end(last bool) {
	if m.n > 0 {
		m.raw("\n  ")
	}
	m.raw("]")
	if last {
		m.raw("\n}\n")
	} else {
		m.raw(",\n")
	}
}

func (m *manifestWriter) close() error {
	if m.err == nil {
		m.err = m.w.Flush()
	}
	if err := m.f.Close(); m.err == nil {
		m.err = err
	}
	if m.err != nil {
		return fmt.Errorf("writing manifest: %w", m.err)
	}
	return nil
}

func marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}
