//go:build cgo

package export

// DuckDB's side of BenchmarkWriteTrajectories (DuckDB is built with cgo).

import (
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/duckdb/duckdb-go/v2"

	"swemill/pipeline"
)

// synthSource is a DuckDB table function yielding the synth rows in TrajectorySchema's
// columns and types.
type synthSource struct {
	s *synth
	t pipeline.Trajectory
}

func typeInfo(b *testing.B, t duckdb.Type) duckdb.TypeInfo {
	ti, err := duckdb.NewTypeInfo(t)
	if err != nil {
		b.Fatal(err)
	}
	return ti
}

func structInfo(b *testing.B, fields ...any) duckdb.TypeInfo {
	var entries []duckdb.StructEntry
	for i := 0; i < len(fields); i += 2 {
		e, err := duckdb.NewStructEntry(fields[i+1].(duckdb.TypeInfo), fields[i].(string))
		if err != nil {
			b.Fatal(err)
		}
		entries = append(entries, e)
	}
	ti, err := duckdb.NewStructInfo(entries[0], entries[1:]...)
	if err != nil {
		b.Fatal(err)
	}
	return ti
}

func listInfo(b *testing.B, t duckdb.TypeInfo) duckdb.TypeInfo {
	ti, err := duckdb.NewListInfo(t)
	if err != nil {
		b.Fatal(err)
	}
	return ti
}

func synthColumns(b *testing.B) []duckdb.ColumnInfo {
	vc, i32, i64 := typeInfo(b, duckdb.TYPE_VARCHAR), typeInfo(b, duckdb.TYPE_INTEGER), typeInfo(b, duckdb.TYPE_BIGINT)
	f64, bl, ts := typeInfo(b, duckdb.TYPE_DOUBLE), typeInfo(b, duckdb.TYPE_BOOLEAN), typeInfo(b, duckdb.TYPE_TIMESTAMP_TZ)
	fn := structInfo(b, "name", vc, "arguments", vc)
	call := structInfo(b, "id", vc, "type", vc, "function", fn)
	msg := structInfo(b, "role", vc, "content", vc, "name", vc, "tool_call_id", vc, "tool_calls", listInfo(b, call))
	types := map[string]duckdb.TypeInfo{
		"rollout_index": i32, "messages": listInfo(b, msg), "resolved": bl, "f2p_passed": i32, "f2p_total": i32,
		"p2p_passed": i32, "p2p_total": i32, "num_turns": i32, "prompt_tokens": i64, "completion_tokens": i64,
		"temperature": f64, "top_p": f64, "seed": i64, "created_at": ts,
	}
	var cols []duckdb.ColumnInfo
	for _, f := range TrajectorySchema.Fields() {
		t, ok := types[f.Name]
		if !ok {
			t = vc
		}
		cols = append(cols, duckdb.ColumnInfo{Name: f.Name, T: t})
	}
	return cols
}

func orNil(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func (s *synthSource) FillRow(row duckdb.Row) (bool, error) {
	if !s.s.next(&s.t) {
		return false, nil
	}
	t := &s.t
	msgs := make([]any, len(t.Messages))
	for i, m := range t.Messages {
		var calls any
		if len(m.ToolCalls) > 0 {
			cs := make([]any, len(m.ToolCalls))
			for j, c := range m.ToolCalls {
				cs[j] = map[string]any{"id": c.ID, "type": c.Type, "function": map[string]any{"name": c.Function.Name, "arguments": c.Function.Arguments}}
			}
			calls = cs
		}
		msgs[i] = map[string]any{"role": m.Role, "content": m.Content, "name": orNil(m.Name), "tool_call_id": orNil(m.ToolCallID), "tool_calls": calls}
	}
	vals := []any{t.TrajectoryID, t.InstanceID, t.Repo, int32(t.RolloutIndex), t.Model, t.Scaffold, t.PromptFormat,
		msgs, string(t.Tools), t.ModelPatch, t.Resolved, int32(t.F2PPassed), int32(t.F2PTotal), int32(t.P2PPassed),
		int32(t.P2PTotal), t.ExitStatus, int32(t.NumTurns), t.PromptTokens, t.CompletionTokens, t.Temperature, t.TopP,
		t.Seed, t.CreatedAt}
	for i, v := range vals {
		if err := row.SetRowValue(i, v); err != nil {
			return false, fmt.Errorf("column %d: %w", i, err)
		}
	}
	return true, nil
}

func benchDuckDB(b *testing.B, rows int) {
	cols := synthColumns(b)
	for b.Loop() {
		dir := b.TempDir()
		db, err := sql.Open("duckdb", "")
		if err != nil {
			b.Fatal(err)
		}
		conn, err := db.Conn(b.Context())
		if err != nil {
			b.Fatal(err)
		}
		var src *synthSource
		err = duckdb.RegisterTableUDF(conn, "synth", duckdb.RowTableFunction{
			BindArguments: func(map[string]any, ...any) (duckdb.RowTableSource, error) {
				src = &synthSource{s: newSynth(rows)}
				return rowSource{src, cols}, nil
			},
		})
		if err != nil {
			b.Fatal(err)
		}
		out := filepath.Join(dir, "train.parquet")
		if _, err := conn.ExecContext(b.Context(), "SET preserve_insertion_order = false"); err != nil {
			b.Fatal(err)
		}
		resetPeakRSS(b)
		start, cpu0 := time.Now(), cpuTime()
		_, err = conn.ExecContext(b.Context(), fmt.Sprintf(`COPY (SELECT * FROM synth()) TO %s
			(FORMAT parquet, COMPRESSION zstd, COMPRESSION_LEVEL %d, ROW_GROUP_SIZE_BYTES '100MB')`, sqlString(out), DefaultZstdLevel))
		elapsed, cpu := time.Since(start), cpuTime()-cpu0
		if err != nil {
			b.Fatal(err)
		}
		report(b, rows, src.s.textBytes, elapsed, cpu)
		b.ReportMetric(float64(dirSize(dir))/1e6, "parquet_MB")
		conn.Close()
		db.Close()
		os.RemoveAll(dir)
	}
}

// rowSource adapts synthSource to duckdb.RowTableSource.
type rowSource struct {
	*synthSource
	cols []duckdb.ColumnInfo
}

func (r rowSource) ColumnInfos() []duckdb.ColumnInfo     { return r.cols }
func (r rowSource) Cardinality() *duckdb.CardinalityInfo { return nil }
func (r rowSource) Init()                                {}
func (r rowSource) FillRow(row duckdb.Row) (bool, error) { return r.synthSource.FillRow(row) }
