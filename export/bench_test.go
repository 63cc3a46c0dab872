package export

// Benchmarks for `make bench`: writing synthetic trajectories of realistic size (median
// about 60 KB, long tail to 600 KB) with Export, and DuckDB writing the same rows (fed
// through a Go table function) to Parquet with zstd in the same process. Run each once:
//
//	go test ./export -run '^$' -bench WriteTrajectories -benchtime 1x
//
// Metrics: rows/s, MB/s (text bytes of the rows), peak_rss_MB (the process's resident
// high-water mark during the run, reset before it) and, for swemill, arrow_peak_MB (the
// most Arrow memory held at once). The rows=10000 and rows=100000 runs show whether peak
// memory grows with the number of rows.

import (
	"context"
	"database/sql"
	"fmt"
	"iter"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/duckdb/duckdb-go/v2"

	"swemill/pipeline"
)

var (
	corpusOnce sync.Once
	corpus     string
)

// benchCorpus is 16 MiB of ASCII word salad that message contents are cut from.
func benchCorpus() string {
	corpusOnce.Do(func() {
		ws := strings.Fields(`the a def return if else for while import from class self test assert value error
			patch file line path assertEqual None True False raise except try with open print len range
			Traceback File line module TypeError ValueError int str dict list tuple kwargs args pytest
			passed failed collected session starts diff git index --- +++ @@ function method`)
		r := rand.New(rand.NewPCG(3, 4))
		var b strings.Builder
		b.Grow(16 << 20)
		for b.Len() < 16<<20 {
			b.WriteString(ws[r.IntN(len(ws))])
			if r.IntN(10) == 0 {
				b.WriteByte('\n')
			} else {
				b.WriteByte(' ')
			}
		}
		corpus = b.String()
	})
	return corpus
}

// synth generates trajectories one at a time, deterministically.
type synth struct {
	r         *rand.Rand
	corpus    string
	rows, i   int
	textBytes int64
	tools     []byte
}

func newSynth(rows int) *synth {
	return &synth{r: rand.New(rand.NewPCG(5, 6)), corpus: benchCorpus(), rows: rows, tools: []byte(toolsJSON)}
}

func (s *synth) cut(n int) string {
	off := s.r.IntN(len(s.corpus) - n)
	s.textBytes += int64(n)
	return s.corpus[off : off+n]
}

// next fills t with the next trajectory, reusing its message slice.
func (s *synth) next(t *pipeline.Trajectory) bool {
	if s.i == s.rows {
		return false
	}
	i := s.i
	s.i++
	size := int(60_000 * math.Exp(0.8*s.r.NormFloat64()))
	size = min(max(size, 8_000), 600_000)
	turns := 10 + s.r.IntN(30)
	msgs := t.Messages[:0]
	msgs = append(msgs,
		pipeline.Message{Role: "system", Content: s.cut(1500)},
		pipeline.Message{Role: "user", Content: s.cut(1500)})
	left := size - 3000
	for k := 0; k < turns; k++ {
		id := "toolu_" + strconv.Itoa(k)
		args := `{"command":"` + s.cut(40) + `"}`
		msgs = append(msgs, pipeline.Message{Role: "assistant", Content: s.cut(100 + s.r.IntN(300)),
			ToolCalls: []pipeline.ToolCall{{ID: id, Type: "function", Function: pipeline.FunctionCall{Name: "execute_bash", Arguments: args}}}})
		n := max(left/(turns-k)*(50+s.r.IntN(100))/100, 10)
		if k == turns-1 {
			n = max(left, 10)
		}
		left -= n
		msgs = append(msgs, pipeline.Message{Role: "tool", Name: "execute_bash", ToolCallID: id, Content: s.cut(n)})
	}
	*t = pipeline.Trajectory{
		TrajectoryID: fmt.Sprintf("bench__repo-%06d.r%d", i/3, i%3),
		InstanceID:   fmt.Sprintf("bench__repo-%06d", i/3), Repo: "bench/repo", RolloutIndex: i % 3,
		Model: "Skywork-SWE-32B", Scaffold: "openhands-codeact-v0.32", PromptFormat: "text",
		Messages: msgs, Tools: s.tools, ModelPatch: s.cut(500 + s.r.IntN(3000)),
		Resolved: s.r.IntN(2) == 0, F2PPassed: 1, F2PTotal: 2, P2PPassed: 3, P2PTotal: 3,
		ExitStatus: "finish", NumTurns: turns, PromptTokens: int64(size), CompletionTokens: int64(turns * 150),
		Temperature: 0.7, TopP: 0.95, Seed: int64(i), CreatedAt: time.Unix(1_700_000_000+int64(i), 0).UTC(),
	}
	return true
}

// peakAllocator records the most memory held at once.
type peakAllocator struct {
	memory.Allocator
	cur, peak atomic.Int64
}

func (a *peakAllocator) add(n int) {
	c := a.cur.Add(int64(n))
	for p := a.peak.Load(); c > p && !a.peak.CompareAndSwap(p, c); p = a.peak.Load() {
	}
}

func (a *peakAllocator) Allocate(n int) []byte { a.add(n); return a.Allocator.Allocate(n) }
func (a *peakAllocator) Reallocate(n int, b []byte) []byte {
	a.add(n - len(b))
	return a.Allocator.Reallocate(n, b)
}
func (a *peakAllocator) Free(b []byte) { a.add(-len(b)); a.Allocator.Free(b) }

// resetPeakRSS returns memory to the OS and resets the kernel's resident high-water mark.
func resetPeakRSS(b *testing.B) {
	runtime.GC()
	debug.FreeOSMemory()
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
		b.Logf("cannot reset the RSS high-water mark: %v", err)
	}
}

func peakRSSMB(b *testing.B) float64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(data), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmHWM:" {
			kb, _ := strconv.ParseFloat(f[1], 64)
			return kb / 1024
		}
	}
	return 0
}

// cpuTime is the process's user plus system CPU time; on a shared machine it measures the
// work better than the wall clock.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func report(b *testing.B, rows int, textBytes int64, elapsed, cpu time.Duration) {
	b.ReportMetric(float64(rows)/elapsed.Seconds(), "rows/s")
	b.ReportMetric(float64(textBytes)/1e6/elapsed.Seconds(), "MB/s")
	b.ReportMetric(float64(rows)/cpu.Seconds(), "rows/cpu_s")
	b.ReportMetric(float64(textBytes)/1e6/cpu.Seconds(), "MB/cpu_s")
	b.ReportMetric(peakRSSMB(b), "peak_rss_MB")
}

func dirSize(dir string) int64 {
	var n int64
	filepath.Walk(dir, func(_ string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			n += fi.Size()
		}
		return nil
	})
	return n
}

func BenchmarkWriteTrajectories(b *testing.B) {
	for _, rows := range []int{10_000, 100_000} {
		b.Run(fmt.Sprintf("writer=swemill/rows=%d", rows), func(b *testing.B) { benchSwemill(b, rows) })
		b.Run(fmt.Sprintf("writer=duckdb/rows=%d", rows), func(b *testing.B) { benchDuckDB(b, rows) })
	}
}

func benchSwemill(b *testing.B, rows int) {
	for b.Loop() {
		dir := b.TempDir()
		s := newSynth(rows)
		src := &fakeSource{
			TasksFunc: func(context.Context) iter.Seq2[*Task, error] { return func(func(*Task, error) bool) {} },
			RolloutsFunc: func(context.Context) iter.Seq2[*Rollout, error] {
				return func(yield func(*Rollout, error) bool) {
					var r Rollout
					for s.next(&r.Trajectory) {
						if !yield(&r, nil) {
							return
						}
					}
				}
			},
		}
		mem := &peakAllocator{Allocator: memory.NewGoAllocator()}
		resetPeakRSS(b)
		start, cpu0 := time.Now(), cpuTime()
		rep, err := Export(b.Context(), src, Config{Dir: dir, Allocator: mem})
		elapsed, cpu := time.Since(start), cpuTime()-cpu0
		if err != nil {
			b.Fatal(err)
		}
		if rep.Trajectories != int64(rows) {
			b.Fatalf("wrote %d rows, want %d", rep.Trajectories, rows)
		}
		report(b, rows, s.textBytes, elapsed, cpu)
		b.ReportMetric(float64(mem.peak.Load())/(1<<20), "arrow_peak_MB")
		b.ReportMetric(float64(dirSize(filepath.Join(dir, "data")))/1e6, "parquet_MB")
		os.RemoveAll(dir)
	}
}

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
			(FORMAT parquet, COMPRESSION zstd, COMPRESSION_LEVEL 1, ROW_GROUP_SIZE_BYTES '100MB')`, sqlString(out)))
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
