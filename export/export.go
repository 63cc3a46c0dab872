package export

import (
	"bufio"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/apache/arrow-go/v18/arrow/array"

	"swemill/pipeline"
)

// CardName is the dataset card's file name in the dataset root.
const CardName = "README.md"

// stagingDir is where Export builds the dataset before moving it into Config.Dir, so a
// failed export leaves the previous one in place.
const stagingDir = ".swemill-export"

// maxReportedProblems bounds Report.Problems; the manifest lists every problem.
const maxReportedProblems = 1000

// Problem kinds and actions.
const (
	ProblemInvalidUTF8  = "invalid_utf8"
	ProblemOversizedRow = "oversized_row"
	ProblemInvalidJSON  = "invalid_json"

	ActionRepaired = "repaired"
	ActionLeftOut  = "left_out"
)

// Problem is a row that was repaired or left out, with the instance it came from.
type Problem struct {
	// Config is the config the row belongs to ("tasks", "trajectories", "sft", "sft_native").
	Config       string `json:"config"`
	InstanceID   string `json:"instance_id"`
	TrajectoryID string `json:"trajectory_id,omitempty"`
	// Kind is ProblemInvalidUTF8, ProblemOversizedRow or ProblemInvalidJSON.
	Kind string `json:"kind"`
	// Action is ActionRepaired or ActionLeftOut.
	Action string `json:"action"`
	// Columns names the offending columns ("messages[3].content"), when known.
	Columns []string `json:"columns,omitempty"`
	Detail  string   `json:"detail,omitempty"`
}

// Report says what Export wrote.
type Report struct {
	// Files are the Parquet shards, the manifest and the card, in the order written.
	Files []File
	// Tasks, Trajectories, SFT and SFTNative count the rows written per config.
	Tasks, Trajectories, SFT, SFTNative int64
	// SkippedUnresolved counts trajectories left out by Config.ResolvedOnly.
	SkippedUnresolved int64
	// SFTCleaned counts the trajectories given to the SFT configs without their format-error
	// messages (pipeline.Message.FormatError); SFTMessagesRemoved counts those messages.
	SFTCleaned, SFTMessagesRemoved int64
	// SFTExcluded counts the trajectories left out of both SFT configs because a turn is
	// still malformed: a tool call that names no tool or does not fit its parameters, or, in
	// a text-protocol trajectory, a "<function=" or "<parameter=" in a message that calls
	// nothing. manifest.json names the turn of each.
	SFTExcluded int64
	// Problems lists the first problems (manifest.json has them all); ProblemCount counts
	// them all.
	Problems     []Problem
	ProblemCount int64
}

// Export writes the dataset read from src into cfg.Dir: Parquet shards under data/, the
// manifest and the dataset card. Rows stream from src to the shards; memory holds one
// record batch and one encoded row group per config being written. The same src and cfg
// give byte-identical files. A row that cannot be written (see Problem) is reported, not
// fatal; src errors, an unordered src and file-system errors are.
func Export(ctx context.Context, src Source, cfg Config) (*Report, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.setDefaults()
	run, err := src.Run(ctx)
	if err != nil {
		return nil, fmt.Errorf("reading run info: %w", err)
	}
	funnel, err := src.Funnel(ctx)
	if err != nil {
		return nil, fmt.Errorf("reading the funnel: %w", err)
	}
	stage := filepath.Join(cfg.Dir, stagingDir)
	if err := os.RemoveAll(stage); err != nil {
		return nil, fmt.Errorf("clearing %s: %w", stage, err)
	}
	if err := os.MkdirAll(stage, 0o755); err != nil {
		return nil, fmt.Errorf("creating %s: %w", stage, err)
	}
	e := &exporter{src: src, cfg: &cfg, run: run, stage: stage, report: &Report{}, stats: newStats()}
	err = e.write(ctx)
	if err == nil {
		err = e.finish(funnel)
	}
	if e.problems != nil {
		e.problems.Close()
	}
	if err != nil {
		os.RemoveAll(stage)
		return nil, err
	}
	return e.report, nil
}

type exporter struct {
	src      Source
	cfg      *Config
	run      RunInfo
	stage    string
	report   *Report
	stats    *stats
	manifest *manifestWriter
	problems *os.File
	probBuf  *bufio.Writer
}

func (e *exporter) write(ctx context.Context) (err error) {
	settings := exportSettings{
		Split: e.cfg.Split, ResolvedOnly: e.cfg.ResolvedOnly, SFT: e.cfg.SFT,
		MaxShardBytes: e.cfg.MaxShardBytes, MaxRowGroupBytes: e.cfg.MaxRowGroupBytes,
		ZstdLevel: e.cfg.ZstdLevel, InvalidUTF8: e.cfg.InvalidUTF8.String(),
	}
	if e.manifest, err = newManifestWriter(filepath.Join(e.stage, ManifestName), e.run, settings); err != nil {
		return err
	}
	if e.problems, err = os.Create(filepath.Join(e.stage, ".problems")); err != nil {
		e.manifest.close()
		return fmt.Errorf("creating the problem list: %w", err)
	}
	e.probBuf = bufio.NewWriter(e.problems)
	if err := e.writeTasks(ctx); err != nil {
		e.manifest.close()
		return err
	}
	if err := e.writeTrajectories(ctx); err != nil {
		e.manifest.close()
		return err
	}
	return nil
}

func (e *exporter) problem(p Problem) {
	e.report.ProblemCount++
	if len(e.report.Problems) < maxReportedProblems {
		e.report.Problems = append(e.report.Problems, p)
	}
	e.stats.problems[p.Kind+" ("+p.Action+")"]++
	b, _ := marshal(p) // a Problem always encodes
	e.probBuf.Write(b)
	e.probBuf.WriteByte('\n')
	ev := e.cfg.Log.Warn().Str("config", p.Config).Str("instance", p.InstanceID).Str("kind", p.Kind).Str("action", p.Action)
	if p.TrajectoryID != "" {
		ev = ev.Str("trajectory", p.TrajectoryID)
	}
	if len(p.Columns) > 0 {
		ev = ev.Strs("columns", p.Columns)
	}
	ev.Msg(p.Detail)
}

func (e *exporter) writeTasks(ctx context.Context) error {
	w, err := newShardWriter(e.stage, ConfigTasks, e.cfg.Split, TaskSchema, taskDictionary, e.cfg)
	if err != nil {
		return err
	}
	defer w.abort()
	jw, err := newJSONLWriter(e.stage, e.cfg.Split)
	if err != nil {
		return err
	}
	defer jw.abort()
	e.manifest.begin("tasks")
	prev := ""
	first := true
	for t, err := range e.src.Tasks(ctx) {
		if err != nil {
			return fmt.Errorf("reading tasks: %w", err)
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		id := t.Instance.InstanceID
		if !first && id <= prev {
			return fmt.Errorf("reading tasks: instance %q comes after %q: %w", id, prev, ErrUnordered)
		}
		first, prev = false, id
		row, err := newTaskRow(t)
		if err != nil {
			e.problem(Problem{Config: ConfigTasks, InstanceID: id, Kind: ProblemInvalidJSON, Action: ActionLeftOut, Detail: err.Error()})
			continue
		}
		if bad := row.badUTF8(); len(bad) > 0 {
			if e.cfg.InvalidUTF8 == UTF8Reject {
				e.problem(Problem{Config: ConfigTasks, InstanceID: id, Kind: ProblemInvalidUTF8, Action: ActionLeftOut, Columns: bad})
				continue
			}
			row.repair()
			e.problem(Problem{Config: ConfigTasks, InstanceID: id, Kind: ProblemInvalidUTF8, Action: ActionRepaired, Columns: bad,
				Detail: "invalid byte sequences replaced with U+FFFD"})
		}
		n := row.size()
		if !w.fits(n) {
			e.problem(Problem{Config: ConfigTasks, InstanceID: id, Kind: ProblemOversizedRow, Action: ActionLeftOut,
				Detail: fmt.Sprintf("row is %d bytes, over the %d-byte row group limit", n, e.cfg.MaxRowGroupBytes)})
			continue
		}
		loc, rb, err := w.begin(n)
		if err != nil {
			return err
		}
		appendTask(rb, &row)
		if err := w.end(); err != nil {
			return err
		}
		if err := jw.write(&row); err != nil {
			return fmt.Errorf("writing %s: %w", jw.name, err)
		}
		e.manifest.entry(newTaskEntry(t, loc, e.run.Version))
		e.stats.addTask(t, &row)
	}
	e.manifest.end(false)
	files, err := w.finish()
	if err != nil {
		return err
	}
	jf, ok, err := jw.finish(w.rows())
	if err != nil {
		return err
	}
	e.report.Files = append(e.report.Files, files...)
	if ok {
		e.report.Files = append(e.report.Files, jf)
	}
	e.report.Tasks = w.rows()
	return nil
}

// ErrUnordered is returned when the source does not yield rows in the order Source
// documents.
var ErrUnordered = errors.New("source rows are not in the documented order")

func rolloutLess(a, b *pipeline.Trajectory) int {
	return cmp.Or(
		strings.Compare(a.InstanceID, b.InstanceID),
		cmp.Compare(a.RolloutIndex, b.RolloutIndex),
		strings.Compare(a.TrajectoryID, b.TrajectoryID),
	)
}

func (e *exporter) writeTrajectories(ctx context.Context) error {
	w, err := newShardWriter(e.stage, ConfigTrajectories, e.cfg.Split, TrajectorySchema, trajectoryDictionary, e.cfg)
	if err != nil {
		return err
	}
	defer w.abort()
	w.reserve = func(rb *array.RecordBuilder, n int) {
		msgs := rb.Field(tjMessages).(*array.ListBuilder).ValueBuilder().(*array.StructBuilder)
		msgs.FieldBuilder(1).(*array.StringBuilder).ReserveData(n)
	}
	var sw *sftWriters
	if e.cfg.SFT {
		sw = &sftWriters{}
		if sw.text, err = newShardWriter(e.stage, ConfigSFT, e.cfg.Split, SFTSchema, trajectoryDictionary, e.cfg); err != nil {
			return err
		}
		defer sw.text.abort()
		sw.text.reserve = func(rb *array.RecordBuilder, n int) {
			msgs := rb.Field(2).(*array.ListBuilder).ValueBuilder().(*array.StructBuilder)
			msgs.FieldBuilder(1).(*array.StringBuilder).ReserveData(n)
		}
		if sw.native, err = newShardWriter(e.stage, ConfigSFTNative, e.cfg.Split, SFTNativeSchema, sftNativeDictionary, e.cfg); err != nil {
			return err
		}
		defer sw.native.abort()
		sw.native.reserve = func(rb *array.RecordBuilder, n int) {
			rb.Field(2).(*array.StringBuilder).ReserveData(n)
		}
	}
	var builders *trajectoryBuilders
	e.manifest.begin("trajectories")
	var prev pipeline.Trajectory
	first := true
	for r, err := range e.src.Rollouts(ctx) {
		if err != nil {
			return fmt.Errorf("reading trajectories: %w", err)
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		t := &r.Trajectory
		if !first && rolloutLess(&prev, t) >= 0 {
			return fmt.Errorf("reading trajectories: %s (instance %s, rollout %d) comes after %s (instance %s, rollout %d): %w",
				t.TrajectoryID, t.InstanceID, t.RolloutIndex, prev.TrajectoryID, prev.InstanceID, prev.RolloutIndex, ErrUnordered)
		}
		first = false
		prev = pipeline.Trajectory{InstanceID: t.InstanceID, RolloutIndex: t.RolloutIndex, TrajectoryID: t.TrajectoryID}
		if e.cfg.ResolvedOnly && !t.Resolved {
			e.report.SkippedUnresolved++
			continue
		}
		p := Problem{Config: ConfigTrajectories, InstanceID: t.InstanceID, TrajectoryID: t.TrajectoryID}
		row, err := newTrajectoryRow(t)
		if err != nil {
			p.Kind, p.Action, p.Detail = ProblemInvalidJSON, ActionLeftOut, err.Error()
			e.problem(p)
			continue
		}
		if bad := row.badUTF8(); len(bad) > 0 {
			p.Kind, p.Columns = ProblemInvalidUTF8, bad
			if e.cfg.InvalidUTF8 == UTF8Reject {
				p.Action = ActionLeftOut
				e.problem(p)
				continue
			}
			row.repair()
			p.Action, p.Detail = ActionRepaired, "invalid byte sequences replaced with U+FFFD"
			e.problem(p)
			p.Columns, p.Detail = nil, ""
		}
		n := row.size()
		if !w.fits(n) {
			p.Kind, p.Action = ProblemOversizedRow, ActionLeftOut
			p.Detail = fmt.Sprintf("row is %d bytes, over the %d-byte row group limit", n, e.cfg.MaxRowGroupBytes)
			e.problem(p)
			continue
		}
		loc, rb, err := w.begin(n)
		if err != nil {
			return err
		}
		if builders == nil || builders.rb != rb {
			builders = newTrajectoryBuilders(rb)
		}
		builders.append(&row)
		if err := w.end(); err != nil {
			return err
		}
		entry := trajectoryEntry{
			TrajectoryID: t.TrajectoryID, InstanceID: t.InstanceID, Shard: loc.Shard, Row: loc.Row,
			Model: t.Model, Resolved: t.Resolved, Flags: t.Flags, Artifacts: r.Artifacts,
			SwemillVersion: cmp.Or(r.Version, e.run.Version),
		}
		if sw != nil {
			if err := e.writeSFT(sw, &row, &entry); err != nil {
				return err
			}
		}
		e.manifest.entry(entry)
		e.stats.addTrajectory(row.t)
	}
	e.manifest.end(false)
	files, err := w.finish()
	if err != nil {
		return err
	}
	e.report.Files = append(e.report.Files, files...)
	e.report.Trajectories = w.rows()
	if sw != nil {
		for _, x := range []struct {
			w    *shardWriter
			rows *int64
		}{{sw.text, &e.report.SFT}, {sw.native, &e.report.SFTNative}} {
			files, err := x.w.finish()
			if err != nil {
				return err
			}
			e.report.Files = append(e.report.Files, files...)
			*x.rows = x.w.rows()
		}
	}
	return nil
}

// sftWriters are the shard writers of the SFT configs.
type sftWriters struct {
	text, native *shardWriter // the sft and sft_native configs
}

// writeSFT writes row's trajectory to the SFT configs, without its format-error messages,
// unless a turn of it is malformed; entry records where it went, or why not.
func (e *exporter) writeSFT(sw *sftWriters, row *trajectoryRow, entry *trajectoryEntry) error {
	t := row.t
	st, err := prepareSFT(t, row.tools)
	if err != nil {
		for _, c := range []string{ConfigSFT, ConfigSFTNative} {
			e.problem(Problem{Config: c, InstanceID: t.InstanceID, TrajectoryID: t.TrajectoryID,
				Kind: ProblemInvalidJSON, Action: ActionLeftOut, Detail: err.Error()})
		}
		return nil
	}
	if st.malformed != "" {
		e.report.SFTExcluded++
		entry.SFTExcluded = st.malformed
		e.cfg.Log.Debug().Str("instance", t.InstanceID).Str("trajectory", t.TrajectoryID).
			Msg("left out of the SFT configs: " + st.malformed)
		return nil
	}
	if st.removed > 0 {
		e.report.SFTCleaned++
		e.report.SFTMessagesRemoved += int64(st.removed)
		entry.SFTMessagesRemoved = st.removed
	}

	srow := sftRow{trajectoryID: t.TrajectoryID, instanceID: t.InstanceID, messages: renderText(st.messages, st.tools)}
	tloc, ok, err := e.writeSFTRow(sw.text, ConfigSFT, t, srow.size(), func(rb *array.RecordBuilder) { appendSFT(rb, &srow) })
	if err != nil {
		return err
	}
	if ok {
		entry.SFTShard, entry.SFTRow = &tloc.Shard, &tloc.Row
	}

	msgs, tools, err := renderNative(st)
	if err != nil {
		e.problem(Problem{Config: ConfigSFTNative, InstanceID: t.InstanceID, TrajectoryID: t.TrajectoryID,
			Kind: ProblemInvalidJSON, Action: ActionLeftOut, Detail: err.Error()})
		return nil
	}
	nrow := sftNativeRow{trajectoryID: t.TrajectoryID, instanceID: t.InstanceID, messages: msgs, tools: tools}
	nloc, ok, err := e.writeSFTRow(sw.native, ConfigSFTNative, t, nrow.size(), func(rb *array.RecordBuilder) { appendSFTNative(rb, &nrow) })
	if err != nil {
		return err
	}
	if ok {
		entry.SFTNativeShard, entry.SFTNativeRow = &nloc.Shard, &nloc.Row
	}
	return nil
}

// writeSFTRow writes one row of n estimated bytes with appendRow, or reports it as too large.
func (e *exporter) writeSFTRow(w *shardWriter, config string, t *pipeline.Trajectory, n int64, appendRow func(*array.RecordBuilder)) (rowLoc, bool, error) {
	if !w.fits(n) {
		e.problem(Problem{Config: config, InstanceID: t.InstanceID, TrajectoryID: t.TrajectoryID,
			Kind: ProblemOversizedRow, Action: ActionLeftOut,
			Detail: fmt.Sprintf("row is %d bytes, over the %d-byte row group limit", n, e.cfg.MaxRowGroupBytes)})
		return rowLoc{}, false, nil
	}
	loc, rb, err := w.begin(n)
	if err != nil {
		return rowLoc{}, false, err
	}
	appendRow(rb)
	return loc, true, w.end()
}

// finish writes the end of the manifest and the card, then moves the dataset into place.
func (e *exporter) finish(funnel Funnel) error {
	if err := e.probBuf.Flush(); err != nil {
		e.manifest.close()
		return fmt.Errorf("writing the problem list: %w", err)
	}
	if _, err := e.problems.Seek(0, io.SeekStart); err != nil {
		e.manifest.close()
		return fmt.Errorf("reading the problem list: %w", err)
	}
	e.manifest.begin("problems")
	sc := bufio.NewScanner(e.problems)
	sc.Buffer(make([]byte, 0, 1<<16), 64<<20)
	for sc.Scan() {
		e.manifest.entry(rawJSON(sc.Bytes()))
	}
	if err := sc.Err(); err != nil {
		e.manifest.close()
		return fmt.Errorf("reading the problem list: %w", err)
	}
	e.problems.Close()
	os.Remove(e.problems.Name())
	e.problems = nil
	e.manifest.end(false)
	e.manifest.begin("files")
	for _, f := range e.report.Files {
		e.manifest.entry(f)
	}
	e.manifest.end(true)
	if err := e.manifest.close(); err != nil {
		return err
	}
	mf, err := fileInfo(e.stage, ManifestName)
	if err != nil {
		return err
	}
	card, err := renderCard(e.cfg, e.run, funnel, e.report, e.stats)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(e.stage, CardName), card, 0o644); err != nil {
		return fmt.Errorf("writing the card: %w", err)
	}
	cf, err := fileInfo(e.stage, CardName)
	if err != nil {
		return err
	}
	e.report.Files = append(e.report.Files, mf, cf)
	return e.install()
}

// install replaces the outputs Export owns in Dir with the staged ones.
func (e *exporter) install() error {
	dir := e.cfg.Dir
	for _, name := range []string{CardName, ManifestName} {
		if err := os.Rename(filepath.Join(e.stage, name), filepath.Join(dir, name)); err != nil {
			return fmt.Errorf("installing %s: %w", name, err)
		}
	}
	for _, c := range []string{"data/" + ConfigTasks, "data/" + ConfigTrajectories, "data/" + ConfigSFT, "data/" + ConfigSFTNative, JSONLDir} {
		dst := filepath.Join(dir, filepath.FromSlash(c))
		if err := os.RemoveAll(dst); err != nil {
			return fmt.Errorf("removing the previous %s: %w", dst, err)
		}
		src := filepath.Join(e.stage, filepath.FromSlash(c))
		entries, err := os.ReadDir(src)
		if errors.Is(err, os.ErrNotExist) || (err == nil && len(entries) == 0) {
			continue
		}
		if err != nil {
			return fmt.Errorf("reading %s: %w", src, err)
		}
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return fmt.Errorf("creating %s: %w", filepath.Dir(dst), err)
		}
		if err := os.Rename(src, dst); err != nil {
			return fmt.Errorf("installing %s: %w", dst, err)
		}
	}
	return os.RemoveAll(e.stage)
}

type rawJSON []byte

func (r rawJSON) MarshalJSON() ([]byte, error) { return r, nil }

func fileInfo(dir, name string) (File, error) {
	f, err := os.Open(filepath.Join(dir, name))
	if err != nil {
		return File{}, err
	}
	defer f.Close()
	sum, size, err := sha256File(f)
	if err != nil {
		return File{}, fmt.Errorf("hashing %s: %w", name, err)
	}
	return File{Path: name, Size: size, SHA256: sum}, nil
}
