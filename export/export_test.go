package export

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"iter"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"swemill/pipeline"
)

var update = flag.Bool("update", false, "rewrite golden files")

// smallConfig has limits small enough that the fixture needs several shards and row groups.
func smallConfig(t *testing.T, mem memory.Allocator) Config {
	return Config{
		Dir:              t.TempDir(),
		SFT:              true,
		MaxShardBytes:    256 << 10,
		MaxRowGroupBytes: 64 << 10,
		BatchBytes:       16 << 10,
		Allocator:        mem,
		Log:              zerolog.New(zerolog.NewTestWriter(t)),
	}
}

func runExport(t *testing.T, src Source, cfg Config) *Report {
	t.Helper()
	rep, err := Export(t.Context(), src, cfg)
	require.NoError(t, err)
	return rep
}

// expectTask is a task row as the reader should see it, built from the records.
func expectTask(tk *Task) map[string]any {
	in := tk.Instance
	setup := in.EnvironmentSetupCommit
	if setup == "" {
		setup = in.BaseCommit
	}
	return map[string]any{
		"instance_id": in.InstanceID, "repo": in.Repo, "base_commit": in.BaseCommit,
		"patch": in.Patch, "test_patch": in.TestPatch, "problem_statement": in.ProblemStatement,
		"hints_text": in.HintsText, "created_at": in.CreatedAt.UTC().Format("2006-01-02T15:04:05Z"),
		"version": in.Version, "environment_setup_commit": setup,
		"image_name": cmp.Or(tk.Environment.ImageRef, tk.Environment.ImageName), "test_cmd": tk.Environment.Recipe.TestCmd,
		"swemill_log_parser": tk.Validation.LogParser, "language": in.Language, "license": in.License,
		"image": cmp.Or(tk.Environment.ImageRef, tk.Environment.ImageName), "eval_type": "pass_and_fail",
	}
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func expectTrajectory(tj *pipeline.Trajectory) map[string]any {
	msgs := make([]any, len(tj.Messages))
	for i, m := range tj.Messages {
		var calls any
		if len(m.ToolCalls) > 0 {
			cs := make([]any, len(m.ToolCalls))
			for j, c := range m.ToolCalls {
				cs[j] = map[string]any{"id": c.ID, "type": c.Type, "function": map[string]any{"name": c.Function.Name, "arguments": c.Function.Arguments}}
			}
			calls = cs
		}
		msgs[i] = map[string]any{"role": m.Role, "content": m.Content, "name": nullable(m.Name), "tool_call_id": nullable(m.ToolCallID), "tool_calls": calls}
	}
	var created any
	if !tj.CreatedAt.IsZero() {
		created = tj.CreatedAt.UTC()
	}
	return map[string]any{
		"trajectory_id": tj.TrajectoryID, "instance_id": tj.InstanceID, "repo": tj.Repo,
		"rollout_index": int32(tj.RolloutIndex), "model": tj.Model, "scaffold": tj.Scaffold,
		"prompt_format": tj.PromptFormat, "messages": msgs, "model_patch": tj.ModelPatch,
		"resolved": tj.Resolved, "f2p_passed": int32(tj.F2PPassed), "f2p_total": int32(tj.F2PTotal),
		"p2p_passed": int32(tj.P2PPassed), "p2p_total": int32(tj.P2PTotal), "exit_status": tj.ExitStatus,
		"num_turns": int32(tj.NumTurns), "prompt_tokens": tj.PromptTokens, "completion_tokens": tj.CompletionTokens,
		"temperature": tj.Temperature, "top_p": tj.TopP, "seed": tj.Seed, "created_at": created,
	}
}

// normalizeTimes makes time values comparable (DuckDB returns TIMESTAMPTZ in UTC).
func normalizeTimes(m map[string]any) {
	for k, v := range m {
		if tv, ok := v.(time.Time); ok {
			m[k] = tv.UTC()
		}
	}
}

type manifest struct {
	SwemillVersion string          `json:"swemill_version"`
	RunConfig      json.RawMessage `json:"run_config"`
	Tasks          []struct {
		InstanceID     string `json:"instance_id"`
		Shard          int    `json:"shard"`
		Row            int64  `json:"row"`
		ImageName      string `json:"image_name"`
		ImageDigest    string `json:"image_digest"`
		ImageRef       string `json:"image_ref"`
		Recipe         pipeline.Recipe
		ValidationLogs []logEntry `json:"validation_logs"`
		SwemillVersion string     `json:"swemill_version"`
	} `json:"tasks"`
	Trajectories []struct {
		TrajectoryID string `json:"trajectory_id"`
		Shard        int    `json:"shard"`
		Row          int64  `json:"row"`
		SFTShard     *int   `json:"sft_shard"`
		SFTRow       *int64 `json:"sft_row"`
		// SFTNativeShard and SFTNativeRow locate the sft_native row; SFTExcluded and
		// SFTMessagesRemoved say what the SFT configs left out.
		SFTNativeShard     *int   `json:"sft_native_shard"`
		SFTNativeRow       *int64 `json:"sft_native_row"`
		SFTExcluded        string `json:"sft_excluded"`
		SFTMessagesRemoved int    `json:"sft_messages_removed"`
	} `json:"trajectories"`
	Problems []Problem `json:"problems"`
	Files    []File    `json:"files"`
}

func readManifest(t *testing.T, dir string) manifest {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, ManifestName))
	require.NoError(t, err)
	var m manifest
	require.NoError(t, json.Unmarshal(b, &m))
	return m
}

func TestExportReadBack(t *testing.T) {
	t.Parallel()
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	src := fixture()
	cfg := smallConfig(t, mem)
	rep := runExport(t, src, cfg)
	db := openDuck(t)

	require.EqualValues(t, len(src.tasks), rep.Tasks)
	require.EqualValues(t, len(src.rollouts), rep.Trajectories)
	require.EqualValues(t, len(src.rollouts), rep.SFT)
	require.EqualValues(t, len(src.rollouts), rep.SFTNative)
	require.Zero(t, rep.SFTCleaned+rep.SFTMessagesRemoved+rep.SFTExcluded)
	require.Zero(t, rep.ProblemCount)
	man := readManifest(t, cfg.Dir)
	require.Equal(t, "v0.1.0-test", man.SwemillVersion)

	// tasks: every row equals its record, and the manifest points at it.
	files := parquetFiles(t, cfg.Dir, ConfigTasks)
	require.Greater(t, len(files), 1, "the fixture should need several task shards")
	var got []map[string]any
	var where []rowLoc
	for i, f := range files {
		require.Equal(t, fmt.Sprintf("train-%05d-of-%05d.parquet", i, len(files)), filepath.Base(f))
		rows := readParquet(t, db, f)
		for j, r := range rows {
			got = append(got, r)
			where = append(where, rowLoc{i, int64(j)})
		}
	}
	require.Len(t, got, len(src.tasks))
	require.Len(t, man.Tasks, len(src.tasks))
	for i := range src.tasks {
		tk := &src.tasks[i]
		row := got[i]
		var f2p, p2p []string
		require.NoError(t, json.Unmarshal([]byte(row["FAIL_TO_PASS"].(string)), &f2p))
		require.NoError(t, json.Unmarshal([]byte(row["PASS_TO_PASS"].(string)), &p2p))
		assert.Equal(t, tk.Validation.FailToPass, f2p)
		if tk.Validation.PassToPass == nil {
			assert.Equal(t, "[]", row["PASS_TO_PASS"])
		} else {
			assert.Equal(t, tk.Validation.PassToPass, p2p)
		}
		var recipe pipeline.Recipe
		require.NoError(t, json.Unmarshal([]byte(row["install_config"].(string)), &recipe))
		assert.Equal(t, tk.Environment.Recipe, recipe)
		delete(row, "FAIL_TO_PASS")
		delete(row, "PASS_TO_PASS")
		delete(row, "install_config")
		// The SWE-bench columns: the fixture's patches are not diffs, so there is no eval
		// script, and the note says so (TestSWEbenchColumns checks real ones).
		assert.Empty(t, row["eval_script"])
		assert.Empty(t, row["log_parser"])
		assert.Contains(t, row["log_parser_note"], "reading the test patch")
		delete(row, "eval_script")
		delete(row, "log_parser")
		delete(row, "log_parser_note")
		assert.Equal(t, expectTask(tk), row, "task %s", tk.Instance.InstanceID)

		me := man.Tasks[i]
		assert.Equal(t, tk.Instance.InstanceID, me.InstanceID)
		assert.Equal(t, where[i], rowLoc{me.Shard, me.Row})
		assert.Equal(t, tk.Environment.ImageID, me.ImageDigest)
		assert.Equal(t, tk.Environment.ImageName, me.ImageName)
		assert.Equal(t, tk.Environment.ImageRef, me.ImageRef)
		assert.Equal(t, tk.Environment.Recipe, me.Recipe)
		require.Len(t, me.ValidationLogs, len(tk.Validation.Runs))
		assert.Equal(t, "before", me.ValidationLogs[0].Side)
		assert.Equal(t, 0, me.ValidationLogs[0].Index)
		assert.Equal(t, "v0.1.0-test", me.SwemillVersion)
	}

	// trajectories
	files = parquetFiles(t, cfg.Dir, ConfigTrajectories)
	require.Greater(t, len(files), 1)
	got, where = nil, nil
	for i, f := range files {
		for j, r := range readParquet(t, db, f) {
			got = append(got, r)
			where = append(where, rowLoc{i, int64(j)})
		}
	}
	require.Len(t, got, len(src.rollouts))
	for i := range src.rollouts {
		tj := &src.rollouts[i].Trajectory
		row := got[i]
		normalizeTimes(row)
		if tj.Tools == nil {
			assert.Nil(t, row["tools"])
		} else {
			assert.JSONEq(t, string(tj.Tools), row["tools"].(string))
		}
		delete(row, "tools")
		assert.Equal(t, expectTrajectory(tj), row, "trajectory %s", tj.TrajectoryID)
		assert.Equal(t, tj.TrajectoryID, man.Trajectories[i].TrajectoryID)
		assert.Equal(t, where[i], rowLoc{man.Trajectories[i].Shard, man.Trajectories[i].Row})
	}

	// sft: one row per trajectory, text protocol only.
	files = parquetFiles(t, cfg.Dir, ConfigSFT)
	got, where = nil, nil
	for i, f := range files {
		for j, r := range readParquet(t, db, f) {
			got = append(got, r)
			where = append(where, rowLoc{i, int64(j)})
		}
	}
	require.Len(t, got, len(src.rollouts))
	for i, row := range got {
		tj := &src.rollouts[i].Trajectory
		assert.Equal(t, tj.TrajectoryID, row["trajectory_id"])
		me := man.Trajectories[i]
		require.NotNil(t, me.SFTShard)
		assert.Equal(t, where[i], rowLoc{*me.SFTShard, *me.SFTRow})
		msgs := row["messages"].([]any)
		roles := map[string]int{}
		for _, m := range msgs {
			mm := m.(map[string]any)
			require.Len(t, mm, 2, "sft messages have role and content only")
			roles[mm["role"].(string)]++
			if mm["role"] == "assistant" {
				assert.Equal(t, 1, strings.Count(mm["content"].(string), "<function="), "one call per assistant message")
			}
		}
		assert.Zero(t, roles["tool"], "tool results become user messages")
		calls := 0
		for _, m := range tj.Messages {
			calls += len(m.ToolCalls)
		}
		assert.Equal(t, calls, roles["assistant"])
	}

	checkLayout(t, db, cfg, rep)
}

// checkLayout checks every shard against the limits and the manifest's file list.
func checkLayout(t *testing.T, db *sql.DB, cfg Config, rep *Report) {
	t.Helper()
	man := readManifest(t, cfg.Dir)
	var shards []File
	for _, f := range rep.Files {
		if f.Config != "" || strings.HasPrefix(f.Path, JSONLDir+"/") {
			shards = append(shards, f)
		}
	}
	require.Equal(t, shards, man.Files)
	checkJSONL(t, db, cfg, rep)
	for _, f := range shards {
		if f.Config == "" {
			continue // the tasks as JSON Lines (checkJSONL)
		}
		path := filepath.Join(cfg.Dir, filepath.FromSlash(f.Path))
		b, err := os.ReadFile(path)
		require.NoError(t, err)
		sum := sha256.Sum256(b)
		assert.Equal(t, hex.EncodeToString(sum[:]), f.SHA256, f.Path)
		assert.EqualValues(t, len(b), f.Size)
		assert.LessOrEqual(t, f.UncompressedBytes, cfg.MaxShardBytes, f.Path)

		rgs := queryMaps(t, db, fmt.Sprintf(`SELECT row_group_id, max(row_group_bytes) AS rg_bytes, sum(total_uncompressed_size) AS col_bytes,
			max(row_group_num_rows) AS num_rows, bool_and(compression = 'ZSTD') AS zstd,
			max(coalesce(dictionary_page_offset, data_page_offset) + total_compressed_size) AS data_end
			FROM parquet_metadata(%s) GROUP BY row_group_id ORDER BY row_group_id`, sqlString(path)))
		var rows, total, dataEnd int64
		for _, rg := range rgs {
			assert.LessOrEqual(t, rg["rg_bytes"].(int64), cfg.MaxRowGroupBytes, "%s row group %v", f.Path, rg["row_group_id"])
			assert.LessOrEqual(t, toInt64(rg["col_bytes"]), cfg.MaxRowGroupBytes, "%s row group %v", f.Path, rg["row_group_id"])
			assert.Equal(t, true, rg["zstd"], f.Path)
			rows += rg["num_rows"].(int64)
			total += toInt64(rg["col_bytes"])
			dataEnd = max(dataEnd, toInt64(rg["data_end"]))
		}
		assert.Equal(t, f.Rows, rows, f.Path)
		assert.LessOrEqual(t, total, cfg.MaxShardBytes, f.Path)
		// The page index (column and offset indexes) sits between the last column chunk and
		// the footer; without it the footer follows the data directly.
		meta := queryMaps(t, db, fmt.Sprintf("SELECT footer_size FROM parquet_file_metadata(%s)", sqlString(path)))
		footerStart := int64(len(b)) - 8 - toInt64(meta[0]["footer_size"])
		assert.Greater(t, footerStart-dataEnd, int64(0), "%s has no page index", f.Path)
	}
}

func toInt64(v any) int64 {
	switch v := v.(type) {
	case int64:
		return v
	case uint64:
		return int64(v)
	case int32:
		return int64(v)
	case float64:
		return int64(v)
	case interface{ Int64() int64 }:
		return v.Int64()
	}
	panic(fmt.Sprintf("not an integer: %T %v", v, v))
}

func hashTree(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	require.NoError(t, filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		sum := sha256.Sum256(b)
		out[filepath.ToSlash(rel)] = hex.EncodeToString(sum[:])
		return nil
	}))
	return out
}

func TestExportDeterministic(t *testing.T) {
	t.Parallel()
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	a, b := smallConfig(t, mem), smallConfig(t, mem)
	runExport(t, fixture(), a)
	runExport(t, fixture(), b)
	ha, hb := hashTree(t, a.Dir), hashTree(t, b.Dir)
	require.NotEmpty(t, ha)
	assert.Equal(t, ha, hb)

	// Exporting again into the same directory replaces the files with the same bytes and
	// leaves nothing behind (no staging directory, no stale shards).
	runExport(t, fixture(), a)
	assert.Equal(t, ha, hashTree(t, a.Dir))
}

// TestPipelinedEncodingBytes checks that encoding on the shard writers' own goroutines writes
// the files, byte for byte, that encoding on the caller's goroutine does, over several shards
// and row groups per config.
func TestPipelinedEncodingBytes(t *testing.T) {
	t.Parallel()
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	piped, serial := smallConfig(t, mem), smallConfig(t, mem)
	serial.serialEncode = true
	runExport(t, fixture(), piped)
	runExport(t, fixture(), serial)
	require.Greater(t, len(parquetFiles(t, piped.Dir, ConfigTrajectories)), 1)
	assert.Equal(t, hashTree(t, serial.Dir), hashTree(t, piped.Dir))
}

func TestExportReplacesStaleShards(t *testing.T) {
	t.Parallel()
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	cfg := smallConfig(t, mem)
	runExport(t, fixture(), cfg)
	before := len(parquetFiles(t, cfg.Dir, ConfigTasks))
	require.NoError(t, os.WriteFile(filepath.Join(cfg.Dir, "keep.txt"), []byte("mine"), 0o644))
	cfg.MaxShardBytes = 10 << 20 // one shard now
	runExport(t, fixture(), cfg)
	files := parquetFiles(t, cfg.Dir, ConfigTasks)
	require.Greater(t, before, 1)
	require.Len(t, files, 1)
	assert.Equal(t, "train-00000-of-00001.parquet", filepath.Base(files[0]))
	assert.FileExists(t, filepath.Join(cfg.Dir, "keep.txt"))
}

func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		require.NoError(t, os.MkdirAll("testdata", 0o755))
		require.NoError(t, os.WriteFile(path, got, 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "run go test -update to create %s", path)
	assert.Equal(t, string(want), string(got), "%s differs; run go test -update and review the diff", path)
}

// TestGolden pins the Parquet schemas as DuckDB reads them, the card and the manifest.
func TestGolden(t *testing.T) {
	t.Parallel()
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	cfg := smallConfig(t, mem)
	cfg.MaxShardBytes, cfg.MaxRowGroupBytes = DefaultMaxShardBytes, DefaultMaxRowGroupBytes
	runExport(t, fixture(), cfg)
	db := openDuck(t)
	for _, c := range []string{ConfigTasks, ConfigTrajectories, ConfigSFT, ConfigSFTNative} {
		files := parquetFiles(t, cfg.Dir, c)
		require.Len(t, files, 1)
		checkGolden(t, "schema_"+c+".golden", []byte(schemaDump(t, db, files[0])))
	}
	card, err := os.ReadFile(filepath.Join(cfg.Dir, CardName))
	require.NoError(t, err)
	checkGolden(t, "README.md.golden", card)
	man, err := os.ReadFile(filepath.Join(cfg.Dir, ManifestName))
	require.NoError(t, err)
	checkGolden(t, "manifest.json.golden", man)
}

// cardHeader parses the YAML between the card's --- lines.
func cardHeader(t *testing.T, dir string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, CardName))
	require.NoError(t, err)
	parts := strings.SplitN(string(b), "---\n", 3)
	require.Len(t, parts, 3)
	require.Empty(t, parts[0])
	var h map[string]any
	require.NoError(t, yaml.Unmarshal([]byte(parts[1]), &h))
	return h
}

func node(depth int, parts ...string) string {
	var keep []string
	for _, p := range parts {
		if p != "" {
			keep = append(keep, p)
		}
	}
	return strings.Repeat("  ", depth) + strings.Join(keep, " ")
}

// featureNodes renders a card feature as the Parquet nodes it must be written as, in the
// depth-first order parquet_schema lists them: name, repetition, and the physical type with
// its annotation. The names of a list's inner nodes are left out (writers call them
// list/element or list/item).
func featureNodes(t *testing.T, name string, f map[string]any, depth int, out *[]string) {
	switch {
	case f["dtype"] != nil:
		phys := map[string]string{
			"string": "BYTE_ARRAY UTF8", "bool": "BOOLEAN", "int32": "INT32", "int64": "INT64",
			"float64": "DOUBLE", "timestamp[us, tz=UTC]": "INT64 TIMESTAMP_MICROS",
		}[f["dtype"].(string)]
		require.NotEmpty(t, phys, "dtype %v", f["dtype"])
		*out = append(*out, node(depth, name, "OPTIONAL", phys))
	case f["list"] != nil:
		*out = append(*out, node(depth, name, "OPTIONAL", "LIST"), node(depth+1, "REPEATED"))
		switch l := f["list"].(type) {
		case []any:
			*out = append(*out, node(depth+2, "OPTIONAL", "STRUCT"))
			for _, c := range l {
				cm := c.(map[string]any)
				featureNodes(t, cm["name"].(string), cm, depth+3, out)
			}
		case string:
			featureNodes(t, "", map[string]any{"dtype": l}, depth+2, out)
		}
	case f["struct"] != nil:
		*out = append(*out, node(depth, name, "OPTIONAL", "STRUCT"))
		for _, c := range f["struct"].([]any) {
			cm := c.(map[string]any)
			featureNodes(t, cm["name"].(string), cm, depth+1, out)
		}
	default:
		t.Fatalf("feature %s has no type: %v", name, f)
	}
}

// parquetNodes reads a file's schema with DuckDB in featureNodes' form.
func parquetNodes(t *testing.T, db *sql.DB, path string) []string {
	rows := queryMaps(t, db, fmt.Sprintf("SELECT name, type, repetition_type, num_children, converted_type, logical_type FROM parquet_schema(%s)", sqlString(path)))
	type frame struct {
		left int64
		list bool // a LIST group or its repeated child: its children's names are the writer's
	}
	var stack []frame
	var out []string
	for i, r := range rows {
		n, _ := r["num_children"].(int64)
		if i == 0 { // the root
			stack = append(stack, frame{left: n})
			continue
		}
		parent := stack[len(stack)-1]
		name := nz(r["name"])
		if parent.list {
			name = ""
		}
		rep, conv, logical := nz(r["repetition_type"]), nz(r["converted_type"]), nz(r["logical_type"])
		var kind string
		switch {
		case conv == "LIST":
			kind = "LIST"
		case n > 0 && rep == "REPEATED":
		case n > 0:
			kind = "STRUCT"
		case conv == "UTF8":
			kind = nz(r["type"]) + " UTF8"
		case strings.Contains(logical, "TimestampType") && strings.Contains(logical, "isAdjustedToUTC=1") && strings.Contains(logical, "MICROS=MicroSeconds()"):
			kind = "INT64 TIMESTAMP_MICROS"
		default:
			kind = nz(r["type"])
		}
		out = append(out, node(len(stack)-1, name, rep, kind))
		stack[len(stack)-1].left--
		if n > 0 {
			stack = append(stack, frame{left: n, list: conv == "LIST" || rep == "REPEATED"})
		}
		for len(stack) > 0 && stack[len(stack)-1].left == 0 {
			stack = stack[:len(stack)-1]
		}
	}
	return out
}

func TestCardFeaturesMatchParquet(t *testing.T) {
	t.Parallel()
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	cfg := smallConfig(t, mem)
	rep := runExport(t, fixture(), cfg)
	db := openDuck(t)
	h := cardHeader(t, cfg.Dir)

	configs := h["configs"].([]any)
	require.Len(t, configs, 4)
	// tasks is the default config: SWE-bench's tools load the default (or a named) config.
	assert.Equal(t, "tasks", configs[0].(map[string]any)["config_name"])
	assert.Equal(t, true, configs[0].(map[string]any)["default"])
	info := h["dataset_info"].([]any)
	require.Len(t, info, 4)
	rows := map[string]int64{ConfigTasks: rep.Tasks, ConfigTrajectories: rep.Trajectories, ConfigSFT: rep.SFT, ConfigSFTNative: rep.SFTNative}
	for i, ci := range info {
		c := ci.(map[string]any)
		name := c["config_name"].(string)
		assert.Equal(t, configs[i].(map[string]any)["config_name"], name, "dataset_info follows configs' order")
		df := configs[i].(map[string]any)["data_files"].([]any)[0].(map[string]any)
		assert.Equal(t, "train", df["split"])
		matched, err := filepath.Glob(filepath.Join(cfg.Dir, filepath.FromSlash(df["path"].(string))))
		require.NoError(t, err)
		files := parquetFiles(t, cfg.Dir, name)
		assert.Equal(t, files, matched, "data_files of %s", name)

		var want []string
		for _, f := range c["features"].([]any) {
			fm := f.(map[string]any)
			featureNodes(t, fm["name"].(string), fm, 0, &want)
		}
		for _, f := range files {
			assert.Equal(t, want, parquetNodes(t, db, f), "features of %s vs %s", name, f)
		}

		split := c["splits"].([]any)[0].(map[string]any)
		assert.Equal(t, "train", split["name"])
		assert.EqualValues(t, rows[name], split["num_examples"])
		var size, numBytes int64
		for _, f := range rep.Files {
			if f.Config == name {
				size += f.Size
				numBytes += f.UncompressedBytes
			}
		}
		assert.EqualValues(t, numBytes, split["num_bytes"])
		assert.EqualValues(t, size, c["download_size"])
	}
	assert.Equal(t, "other", h["license"])
}

func TestInvalidUTF8(t *testing.T) {
	t.Parallel()
	for _, policy := range []UTF8Policy{UTF8Repair, UTF8Reject} {
		t.Run(policy.String(), func(t *testing.T) {
			t.Parallel()
			mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
			defer mem.AssertSize(t, 0)
			src := fixture()
			src.tasks[2].Instance.ProblemStatement = "bad \xff\xfe bytes"
			badT := &src.rollouts[4].Trajectory
			badT.Messages[3].Content = "tool said \xc3\x28"
			var logs bytes.Buffer
			cfg := smallConfig(t, mem)
			cfg.InvalidUTF8 = policy
			cfg.Log = zerolog.New(&logs)
			rep := runExport(t, src, cfg)
			require.EqualValues(t, 2, rep.ProblemCount) // a repaired trajectory renders a valid sft row
			p0, p1 := rep.Problems[0], rep.Problems[1]
			assert.Equal(t, Problem{Config: ConfigTasks, InstanceID: src.tasks[2].Instance.InstanceID, Kind: ProblemInvalidUTF8,
				Action:  map[UTF8Policy]string{UTF8Repair: ActionRepaired, UTF8Reject: ActionLeftOut}[policy],
				Columns: []string{"problem_statement"}, Detail: p0.Detail}, p0)
			assert.Equal(t, badT.TrajectoryID, p1.TrajectoryID)
			assert.Equal(t, badT.InstanceID, p1.InstanceID)
			assert.Equal(t, []string{"messages[3].content"}, p1.Columns)
			assert.Contains(t, logs.String(), src.tasks[2].Instance.InstanceID)
			assert.Contains(t, logs.String(), badT.TrajectoryID)
			man := readManifest(t, cfg.Dir)
			require.Len(t, man.Problems, int(rep.ProblemCount))

			db := openDuck(t)
			rows := queryMaps(t, db, fmt.Sprintf("SELECT instance_id, problem_statement FROM read_parquet(%s)", sqlString(filepath.Join(cfg.Dir, "data/tasks/*.parquet"))))
			traj := queryMaps(t, db, fmt.Sprintf("SELECT messages[4].content AS c FROM read_parquet(%s) WHERE trajectory_id = ?", sqlString(filepath.Join(cfg.Dir, "data/trajectories/*.parquet"))), badT.TrajectoryID)
			found := false
			for _, r := range rows {
				if r["instance_id"] == src.tasks[2].Instance.InstanceID {
					found = true
					assert.Equal(t, "bad \uFFFD bytes", r["problem_statement"])
				}
			}
			if policy == UTF8Repair {
				assert.True(t, found)
				assert.Len(t, rows, len(src.tasks))
				require.Len(t, traj, 1)
				assert.Equal(t, "tool said \uFFFD(", traj[0]["c"])
				assert.Equal(t, "tool said \xc3\x28", badT.Messages[3].Content, "the source's record is not modified")
			} else {
				assert.False(t, found)
				assert.Len(t, rows, len(src.tasks)-1)
				assert.Empty(t, traj)
			}
		})
	}
}

func TestOversizedTrajectory(t *testing.T) {
	t.Parallel()
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	src := fixture()
	big := &src.rollouts[7].Trajectory
	big.Messages[2].Content = strings.Repeat("x", 600<<10) // 600 KB, over the 64 KiB row group
	cfg := smallConfig(t, mem)
	cfg.SFT = false
	// Just under the limit: written, alone in its row group.
	near := &src.rollouts[9].Trajectory
	near.Messages = near.Messages[:2]
	r, err := newTrajectoryRow(near)
	require.NoError(t, err)
	limit := cfg.MaxRowGroupBytes - rowGroupOverhead(TrajectorySchema)
	near.Messages[1].Content += strings.Repeat("y", int(limit-r.size()-100))
	rep := runExport(t, src, cfg)
	require.EqualValues(t, 1, rep.ProblemCount)
	p := rep.Problems[0]
	assert.Equal(t, ProblemOversizedRow, p.Kind)
	assert.Equal(t, ActionLeftOut, p.Action)
	assert.Equal(t, big.InstanceID, p.InstanceID)
	assert.Equal(t, big.TrajectoryID, p.TrajectoryID)
	assert.EqualValues(t, len(src.rollouts)-1, rep.Trajectories)
	db := openDuck(t)
	checkLayout(t, db, cfg, rep)
	got := queryMaps(t, db, fmt.Sprintf("SELECT count(*) AS n FROM read_parquet(%s) WHERE trajectory_id = ?", sqlString(filepath.Join(cfg.Dir, "data/trajectories/*.parquet"))), near.TrajectoryID)
	assert.EqualValues(t, 1, got[0]["n"])
}

func TestResolvedOnly(t *testing.T) {
	t.Parallel()
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	src := fixture()
	cfg := smallConfig(t, mem)
	cfg.ResolvedOnly = true
	rep := runExport(t, src, cfg)
	var resolved []string
	for _, r := range src.rollouts {
		if r.Trajectory.Resolved {
			resolved = append(resolved, r.Trajectory.TrajectoryID)
		}
	}
	require.NotEmpty(t, resolved)
	require.Less(t, len(resolved), len(src.rollouts))
	assert.EqualValues(t, len(resolved), rep.Trajectories)
	assert.EqualValues(t, len(src.rollouts)-len(resolved), rep.SkippedUnresolved)
	db := openDuck(t)
	for _, c := range []string{ConfigTrajectories, ConfigSFT, ConfigSFTNative} {
		rows := queryMaps(t, db, fmt.Sprintf("SELECT trajectory_id FROM read_parquet(%s) ORDER BY trajectory_id", sqlString(filepath.Join(cfg.Dir, "data", c, "*.parquet"))))
		var ids []string
		for _, r := range rows {
			ids = append(ids, r["trajectory_id"].(string))
		}
		sort.Strings(resolved)
		assert.Equal(t, resolved, ids, c)
	}
}

func TestUnorderedSource(t *testing.T) {
	t.Parallel()
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	src := fixture()
	src.rollouts[3], src.rollouts[4] = src.rollouts[4], src.rollouts[3]
	cfg := smallConfig(t, mem)
	_, err := Export(t.Context(), src, cfg)
	require.ErrorIs(t, err, ErrUnordered)
	_, statErr := os.Stat(filepath.Join(cfg.Dir, stagingDir))
	assert.True(t, errors.Is(statErr, fs.ErrNotExist), "the staging directory is removed")
	_, statErr = os.Stat(filepath.Join(cfg.Dir, CardName))
	assert.True(t, errors.Is(statErr, fs.ErrNotExist), "nothing is installed")
}

func TestSourceError(t *testing.T) {
	t.Parallel()
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	src := fixture()
	boom := errors.New("store gone")
	src.RolloutsFunc = func(ctx context.Context) iter.Seq2[*Rollout, error] {
		return func(yield func(*Rollout, error) bool) {
			for i := range src.rollouts[:5] {
				if !yield(&src.rollouts[i], nil) {
					return
				}
			}
			yield(nil, boom)
		}
	}
	_, err := Export(t.Context(), src, smallConfig(t, mem))
	require.ErrorIs(t, err, boom)
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{}, "Dir"},
		{Config{Dir: "x", Split: "train-1"}, "Split"},
		{Config{Dir: "x", MaxRowGroupBytes: 10}, "MaxRowGroupBytes"},
		{Config{Dir: "x", MaxShardBytes: 2048, MaxRowGroupBytes: 4096}, "MaxShardBytes"},
		{Config{Dir: "x", InvalidUTF8: 7}, "InvalidUTF8"},
	} {
		err := tc.cfg.Validate()
		require.Error(t, err)
		assert.Contains(t, err.Error(), tc.want)
	}
	require.NoError(t, Config{Dir: "x"}.Validate())
}

// TestContextCanceled stops an export whose context ends.
func TestContextCanceled(t *testing.T) {
	t.Parallel()
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	ctx, cancel := context.WithCancel(t.Context())
	src := fixture()
	src.TasksFunc = func(context.Context) iter.Seq2[*Task, error] {
		return func(yield func(*Task, error) bool) {
			for i := range src.tasks {
				if i == 3 {
					cancel()
				}
				if !yield(&src.tasks[i], nil) {
					return
				}
			}
		}
	}
	_, err := Export(ctx, src, smallConfig(t, mem))
	require.ErrorIs(t, err, context.Canceled)
}

// checkJSONL checks the tasks' JSON Lines against the tasks' Parquet rows: the same rows, in
// the same order, with the same values in every column.
func checkJSONL(t *testing.T, db *sql.DB, cfg Config, rep *Report) {
	t.Helper()
	var name string
	for _, f := range rep.Files {
		if strings.HasPrefix(f.Path, JSONLDir+"/") {
			name = f.Path
		}
	}
	require.NotEmpty(t, name, "the tasks as JSON Lines are in the report's files")
	b, err := os.ReadFile(filepath.Join(cfg.Dir, filepath.FromSlash(name)))
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	if rep.Tasks == 0 {
		lines = nil
	}
	require.Len(t, lines, int(rep.Tasks))
	rows, err := db.Query(fmt.Sprintf(`SELECT * FROM read_parquet('%s/data/tasks/*.parquet') ORDER BY instance_id`, cfg.Dir))
	require.NoError(t, err)
	defer rows.Close()
	cols, err := rows.Columns()
	require.NoError(t, err)
	for i := 0; rows.Next(); i++ {
		vals := make([]sql.NullString, len(cols))
		ptrs := make([]any, len(cols))
		for k := range vals {
			ptrs[k] = &vals[k]
		}
		require.NoError(t, rows.Scan(ptrs...))
		var obj map[string]string
		require.NoError(t, json.Unmarshal([]byte(lines[i]), &obj))
		require.Len(t, obj, len(cols))
		for k, c := range cols {
			assert.Equal(t, vals[k].String, obj[c], "line %d, column %s", i+1, c)
		}
	}
	require.NoError(t, rows.Err())
}
