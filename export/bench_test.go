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
