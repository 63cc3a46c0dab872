package mine

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"swemill/export/parquetjson"
	"swemill/pipeline"
)

// importBatch is how many rows of one repository a Mine call of the import source returns.
const importBatch = 200

// importRow is one task of a SWE-bench-format file, its known columns decoded and every
// column kept raw.
type importRow struct {
	file string
	line int
	raw  map[string]json.RawMessage
}

type importIndex struct {
	byRepo map[string][]importRow // repo (as written) -> rows sorted by instance id
}

func (ix *importIndex) repos() []string {
	out := make([]string, 0, len(ix.byRepo))
	for r := range ix.byRepo {
		out = append(out, r)
	}
	sort.Strings(out)
	return out
}

func (m *Miner) imports() (*importIndex, error) {
	m.importOnce.Do(func() {
		m.importIdx, m.importErr = loadImports(m.cfg.ImportFiles)
	})
	return m.importIdx, m.importErr
}

func (m *Miner) importMirrorDir() string {
	if m.cfg.ImportMirrorDir != "" {
		return m.cfg.ImportMirrorDir
	}
	return m.cfg.MirrorDir
}

// loadImports reads every task file into rows grouped by repository.
func loadImports(files []string) (*importIndex, error) {
	ix := &importIndex{byRepo: map[string][]importRow{}}
	for _, f := range files {
		var rows []importRow
		var err error
		switch ext := strings.ToLower(filepath.Ext(f)); ext {
		case ".jsonl", ".ndjson":
			rows, err = readJSONL(f)
		case ".json":
			rows, err = readJSONArray(f)
		case ".parquet":
			rows, err = readParquet(f)
		default:
			err = fmt.Errorf("unknown task file type %q (want .jsonl, .json or .parquet)", ext)
		}
		if err != nil {
			return nil, fmt.Errorf("importing %s: %w", f, err)
		}
		for _, r := range rows {
			repo := rawString(r.raw["repo"])
			if repo == "" {
				if id := rawString(r.raw["instance_id"]); id != "" {
					repo = repoOfInstanceID(id)
				}
			}
			ix.byRepo[repo] = append(ix.byRepo[repo], r)
		}
	}
	if len(ix.byRepo) == 0 {
		return nil, fmt.Errorf("the import files hold no task rows: %s", strings.Join(files, ", "))
	}
	for _, rows := range ix.byRepo {
		sort.SliceStable(rows, func(i, j int) bool {
			return rawString(rows[i].raw["instance_id"]) < rawString(rows[j].raw["instance_id"])
		})
	}
	return ix, nil
}

// repoOfInstanceID turns "owner__name-123" into "owner/name".
func repoOfInstanceID(id string) string {
	i := strings.LastIndex(id, "-")
	if i < 0 {
		return ""
	}
	return strings.Replace(id[:i], "__", "/", 1)
}

func readJSONL(path string) ([]importRow, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, 1<<20)
	var rows []importRow
	for n := 1; ; n++ {
		line, err := br.ReadBytes('\n')
		if len(bytes.TrimSpace(line)) > 0 {
			var raw map[string]json.RawMessage
			if uerr := json.Unmarshal(line, &raw); uerr != nil {
				return nil, fmt.Errorf("line %d: %w", n, uerr)
			}
			rows = append(rows, importRow{file: path, line: n, raw: raw})
		}
		if errors.Is(err, io.EOF) {
			return rows, nil
		}
		if err != nil {
			return nil, err
		}
	}
}

func readJSONArray(path string) ([]importRow, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var raws []map[string]json.RawMessage
	if err := json.Unmarshal(b, &raws); err != nil {
		return nil, err
	}
	rows := make([]importRow, len(raws))
	for i, r := range raws {
		rows[i] = importRow{file: path, line: i + 1, raw: r}
	}
	return rows, nil
}

// readParquet reads a SWE-bench-format Parquet file (as the Hugging Face Hub serves them):
// every column of every row, rendered as JSON by parquetjson so that rows from Parquet and
// JSONL are handled alike (a list<string> FAIL_TO_PASS becomes a JSON list, a struct column
// a JSON object).
func readParquet(path string) ([]importRow, error) {
	rows, err := parquetjson.ReadFile(path, nil)
	if err != nil {
		return nil, err
	}
	var out []importRow
	for i, raw := range rows {
		out = append(out, importRow{file: path, line: i + 1, raw: raw})
	}
	return out, nil
}

// rawString decodes a JSON string, or renders a number as its text; anything else is "".
func rawString(raw json.RawMessage) string {
	if len(raw) == 0 {
		return ""
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return s
	}
	var n json.Number
	if err := json.Unmarshal(raw, &n); err == nil {
		return n.String()
	}
	return ""
}

// testList decodes FAIL_TO_PASS / PASS_TO_PASS: a JSON list, or a string holding one.
func testList(raw json.RawMessage) ([]string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var list []string
	if err := json.Unmarshal(raw, &list); err == nil {
		return list, nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, fmt.Errorf("neither a list nor a string: %.40s", raw)
	}
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	if err := json.Unmarshal([]byte(s), &list); err != nil {
		return nil, fmt.Errorf("string does not hold a JSON list: %w", err)
	}
	return list, nil
}

// knownColumns are the SWE-bench columns decoded into pipeline.Instance fields; every other
// column goes to Instance.Extra unchanged.
var knownColumns = map[string]bool{
	"instance_id": true, "repo": true, "base_commit": true, "patch": true, "test_patch": true,
	"problem_statement": true, "hints_text": true, "created_at": true, "version": true,
	"environment_setup_commit": true, "FAIL_TO_PASS": true, "PASS_TO_PASS": true,
}

// rowInstance decodes one row.
func rowInstance(r importRow) (pipeline.Instance, error) {
	inst := pipeline.Instance{
		InstanceID:             rawString(r.raw["instance_id"]),
		Repo:                   rawString(r.raw["repo"]),
		BaseCommit:             rawString(r.raw["base_commit"]),
		Patch:                  rawString(r.raw["patch"]),
		TestPatch:              rawString(r.raw["test_patch"]),
		ProblemStatement:       rawString(r.raw["problem_statement"]),
		HintsText:              rawString(r.raw["hints_text"]),
		Version:                rawString(r.raw["version"]),
		EnvironmentSetupCommit: rawString(r.raw["environment_setup_commit"]),
		Source:                 SourceImport,
	}
	if inst.Repo == "" {
		inst.Repo = repoOfInstanceID(inst.InstanceID)
	}
	if i := strings.LastIndex(inst.InstanceID, "-"); i >= 0 {
		inst.PullNumber, _ = strconv.Atoi(inst.InstanceID[i+1:])
	}
	var err error
	if inst.FailToPass, err = testList(r.raw["FAIL_TO_PASS"]); err != nil {
		return inst, fmt.Errorf("FAIL_TO_PASS: %w", err)
	}
	if inst.PassToPass, err = testList(r.raw["PASS_TO_PASS"]); err != nil {
		return inst, fmt.Errorf("PASS_TO_PASS: %w", err)
	}
	if s := rawString(r.raw["created_at"]); s != "" {
		t, err := parseLooseTime(s)
		if err != nil {
			return inst, fmt.Errorf("created_at: %w", err)
		}
		inst.CreatedAt = t
	}
	for k, v := range r.raw {
		if !knownColumns[k] {
			if inst.Extra == nil {
				inst.Extra = map[string]json.RawMessage{}
			}
			inst.Extra[k] = v
		}
	}
	switch {
	case inst.InstanceID == "":
		return inst, errors.New("instance_id is empty")
	case inst.BaseCommit == "":
		return inst, errors.New("base_commit is empty")
	case inst.Patch == "":
		return inst, errors.New("patch is empty")
	}
	return inst, nil
}

// parseLooseTime reads the timestamps datasets use: RFC 3339, or "2006-01-02 15:04:05"
// (UTC), or milliseconds since the epoch.
func parseLooseTime(s string) (time.Time, error) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02 15:04:05", "2006-01-02 15:04:05Z07:00", "2006-01-02 15:04:05.999999999"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	if ms, err := strconv.ParseInt(s, 10, 64); err == nil {
		return time.UnixMilli(ms).UTC(), nil
	}
	return time.Time{}, fmt.Errorf("cannot read time %q", s)
}

// importMirror returns where the import source clones repo from: its ImportMirrors entry,
// else a mirror found in ImportMirrorDir (or MirrorDir).
func (m *Miner) importMirror(repo string) (string, error) {
	if p, ok := m.cfg.ImportMirrors[repo]; ok {
		return filepath.Abs(p)
	}
	return findImportMirror(m.importMirrorDir(), repo)
}

// importLayouts are the paths, under an import mirror directory, where the mirror of
// OWNER/NAME is looked for, in order: a bare mirror or a clone, by owner directory or with
// the owner joined by "__", or a snapshot's repository.
var importLayouts = []string{
	"{owner}/{name}.git", "{owner}/{name}", "{owner}__{name}.git", "{owner}__{name}",
	"{owner}/{name}/repo.git", "{owner}/{name}/repo.bundle",
}

// MirrorNotFoundError says that an import mirror directory holds no mirror of a repository.
type MirrorNotFoundError struct {
	Repo string
	// Dir is the directory searched; Tried the paths under it that were looked for.
	Dir   string
	Tried []string
}

func (e *MirrorNotFoundError) Error() string {
	return fmt.Sprintf("no mirror of %s in %s (looked for %s)", e.Repo, e.Dir, strings.Join(e.Tried, ", "))
}

// findImportMirror finds repo's mirror in dir.
func findImportMirror(dir, repo string) (string, error) {
	owner, name, err := splitRepo(repo)
	if err != nil {
		return "", err
	}
	fill := strings.NewReplacer("{owner}", owner, "{name}", name)
	tried := make([]string, len(importLayouts))
	for i, layout := range importLayouts {
		rel := fill.Replace(layout)
		tried[i] = rel
		p := filepath.Join(dir, filepath.FromSlash(rel))
		if st, err := os.Stat(p); err == nil {
			if abs, err := filepath.Abs(p); err == nil && (st.IsDir() || strings.HasSuffix(p, ".bundle")) {
				return abs, nil
			}
		}
	}
	return "", &MirrorNotFoundError{Repo: repo, Dir: dir, Tried: tried}
}

// mineImport returns the next batch of the repository's imported rows. Imported tasks are
// already curated: only decontamination and the base commit and patches applying are checked.
func (m *Miner) mineImport(ctx context.Context, job *pipeline.RepoJob, cur cursor) (pipeline.MineResult, error) {
	idx, err := m.imports()
	if err != nil {
		return pipeline.MineResult{}, err
	}
	rows := idx.byRepo[job.Repo]
	from := min(cur.Offset, len(rows))
	to := min(from+importBatch, len(rows))
	run := m.newRun(job, nil, nil)
	defer run.mirror.close()
	var res pipeline.MineResult
	var mirrorErr error
	if from < to {
		// A repository with no mirror to clone from is dropped whole; the next run looks again.
		mirrorErr = run.mirror.open(ctx)
		var nf *MirrorNotFoundError
		if errors.As(mirrorErr, &nf) {
			res.Drop = pipeline.Drop(DropRepositoryNotFound, "%v", nf)
			res.Cursor = cur.String()
			return res, nil
		}
	}
	for _, row := range rows[from:to] {
		inst, err := rowInstance(row)
		if inst.InstanceID == "" {
			inst.InstanceID = fmt.Sprintf("%s-row%d", strings.Replace(job.Repo, "/", "__", 1), row.line)
		}
		inst.Repo = job.Repo
		drop := func(reason, format string, args ...any) {
			res.Instances = append(res.Instances, pipeline.Mined{Instance: inst, Drop: pipeline.Drop(reason, format, args...)})
		}
		if err != nil {
			drop(DropImportInvalid, "%s line %d: %v", filepath.Base(row.file), row.line, err)
			continue
		}
		if m.excludedInstance[inst.InstanceID] {
			drop(DropDecontaminated, "instance is on the exclude list")
			continue
		}
		if mirrorErr == nil {
			var miss []string
			miss, mirrorErr = run.mirror.ensure(ctx, inst.BaseCommit)
			if mirrorErr == nil && len(miss) > 0 {
				drop(DropCommitsUnavailable, "base commit %s is not in the mirror", inst.BaseCommit)
				continue
			}
		}
		if mirrorErr != nil {
			if ctx.Err() != nil {
				return pipeline.MineResult{}, ctx.Err()
			}
			drop(DropCommitsUnavailable, "%v", mirrorErr)
			continue
		}
		if reason, detail, err := checkHalves(ctx, run.mirror.dir, inst.BaseCommit, inst.Patch, inst.TestPatch); err != nil || reason != "" {
			if err != nil {
				return pipeline.MineResult{}, err
			}
			drop(reason, "%s", detail)
			continue
		}
		if v, ok := m.cfg.Versions[inst.InstanceID]; ok {
			inst.Version = v
		} else if v, ok := m.cfg.Versions[inst.Repo]; ok {
			inst.Version = v
		} else if inst.Version == "" {
			inst.Version = run.mirror.version(ctx, inst.BaseCommit)
		}
		res.Instances = append(res.Instances, pipeline.Mined{Instance: inst})
	}
	cur.Offset = to
	res.More = to < len(rows)
	res.Cursor = cur.String()
	return res, nil
}
