package mine

import (
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"swemill/difftext"
	"swemill/export/parquetjson/parquetjsontest"
	"swemill/gitexec"
)

// importRows returns SWE-bench rows over the fixture repository: a good one per test-list
// encoding, and rows that must be dropped.
func importRows(t *testing.T) []map[string]any {
	t.Helper()
	repo := calcFixture(t)
	diff, err := difftext.GitDiff(t.Context(), repo.Dir, repo.Commits["init"]+"..."+repo.Commits["pr2-test"])
	require.NoError(t, err)
	s, err := difftext.SplitDiff(diff)
	require.NoError(t, err)
	good := func(id string) map[string]any {
		return map[string]any{
			"instance_id": id, "repo": "octo/calc", "base_commit": repo.Commits["init"],
			"patch": s.Patch, "test_patch": s.TestPatch, "problem_statement": "add() subtracts\n",
			"hints_text": "", "created_at": "2024-01-03T12:00:00Z", "version": "1.0",
			"environment_setup_commit": repo.Commits["init"],
			"FAIL_TO_PASS":             `["tests/test_calc.py::test_add"]`, "PASS_TO_PASS": `["tests/test_calc.py::test_mul"]`,
			"difficulty": "<15 min fix",
		}
	}
	a := good("octo__calc-2")
	b := good("octo__calc-1002")
	b["FAIL_TO_PASS"] = []string{"tests/test_calc.py::test_add"} // a list, nebius style
	b["PASS_TO_PASS"] = []string{}
	b["version"] = "0.9"
	broken := good("octo__calc-1003")
	broken["base_commit"] = repo.Commits["pr2-merge"] // the fix is already there
	gone := good("octo__calc-1004")
	gone["base_commit"] = strings.Repeat("ab", 20)
	invalid := good("octo__calc-1005")
	invalid["FAIL_TO_PASS"] = "not json"
	excluded := good("octo__calc-1006")
	return []map[string]any{a, b, broken, gone, invalid, excluded}
}

func importConfig(t *testing.T, files ...string) Config {
	t.Helper()
	repo := calcFixture(t)
	mirrors := t.TempDir()
	_, err := gitexec.Run(t.Context(), mirrors, "clone", "--quiet", "--mirror", "file://"+repo.Dir, filepath.Join(mirrors, "octo", "calc.git"))
	require.NoError(t, err)
	return Config{
		Source: SourceImport, ImportFiles: files, ImportMirrorDir: mirrors,
		MirrorDir: filepath.Join(t.TempDir(), "mirrors"),
		Filter:    Filter{ExcludeInstances: []string{"octo__calc-1006"}},
	}
}

func checkImported(t *testing.T, cfg Config) {
	t.Helper()
	m, err := New(cfg)
	require.NoError(t, err)
	repos, err := m.SourceRepos(t.Context())
	require.NoError(t, err)
	require.Equal(t, []string{"octo/calc"}, repos)
	e := &env{cfg: cfg}
	ms, _, _ := mineAll(t, m, e.job("octo/calc", ""))
	byID := map[string]string{}
	for _, mi := range ms {
		if mi.Drop != nil {
			byID[mi.Instance.InstanceID] = mi.Drop.Reason
		} else {
			byID[mi.Instance.InstanceID] = "kept"
		}
	}
	require.Equal(t, map[string]string{
		"octo__calc-2": "kept", "octo__calc-1002": "kept", "octo__calc-1003": DropPatchDoesNotApply,
		"octo__calc-1004": DropCommitsUnavailable, "octo__calc-1005": DropImportInvalid, "octo__calc-1006": DropDecontaminated,
	}, byID)
	for _, mi := range ms {
		if mi.Instance.InstanceID == "octo__calc-2" {
			in := mi.Instance
			require.Equal(t, 2, in.PullNumber)
			require.Equal(t, SourceImport, in.Source)
			require.Equal(t, []string{"tests/test_calc.py::test_add"}, in.FailToPass)
			require.Equal(t, []string{"tests/test_calc.py::test_mul"}, in.PassToPass)
			require.Equal(t, time.Date(2024, 1, 3, 12, 0, 0, 0, time.UTC), in.CreatedAt)
			require.Equal(t, "1.0", in.Version)
			require.JSONEq(t, `"<15 min fix"`, string(in.Extra["difficulty"]))
			require.NotContains(t, in.Extra, "FAIL_TO_PASS")
		}
		if mi.Instance.InstanceID == "octo__calc-1002" {
			require.Equal(t, []string{"tests/test_calc.py::test_add"}, mi.Instance.FailToPass)
			require.Empty(t, mi.Instance.PassToPass)
			require.Equal(t, "0.9", mi.Instance.Version)
		}
	}
	// Imports are static: the cursor ends past the last row.
	res, err := m.Mine(t.Context(), e.job("octo/calc", `{"v":1,"offset":6}`))
	require.NoError(t, err)
	require.Empty(t, res.Instances)
	require.Zero(t, m.Stats().Requests)
}

func TestImportJSONL(t *testing.T) {
	t.Parallel()
	rows := importRows(t)
	path := filepath.Join(t.TempDir(), "tasks.jsonl")
	var b strings.Builder
	for _, r := range rows {
		line, err := json.Marshal(r)
		require.NoError(t, err)
		b.Write(line)
		b.WriteString("\n")
	}
	require.NoError(t, os.WriteFile(path, []byte(b.String()), 0o644))
	checkImported(t, importConfig(t, path))
}

func TestImportParquet(t *testing.T) {
	t.Parallel()
	rows := importRows(t)

	// SWE-bench's columns as strings, FAIL_TO_PASS as list<string> (nebius style), plus an
	// extra column, as the Hub's Parquet files have them.
	columns := []string{"instance_id", "repo", "base_commit", "patch", "test_patch", "problem_statement", "hints_text",
		"created_at", "version", "FAIL_TO_PASS", "PASS_TO_PASS", "difficulty"}
	str := func(v any) any {
		s, ok := v.(string)
		if !ok {
			b, _ := json.Marshal(v)
			s = string(b)
		}
		return s
	}
	var values [][]any
	for _, r := range rows {
		var row []any
		for _, name := range columns {
			if name != "FAIL_TO_PASS" {
				row = append(row, str(r[name]))
				continue
			}
			var f2p []string
			switch v := r[name].(type) {
			case []string:
				f2p = v
			case string:
				if json.Unmarshal([]byte(v), &f2p) != nil {
					f2p = nil
				}
			}
			if f2p == nil {
				row = append(row, nil)
			} else {
				row = append(row, f2p)
			}
		}
		values = append(values, row)
	}
	path := filepath.Join(t.TempDir(), "test-00000-of-00001.parquet")
	parquetjsontest.WriteFile(t, path, columns, values)

	got, err := readParquet(path)
	require.NoError(t, err)
	require.Len(t, got, len(rows))
	require.Equal(t, path, got[0].file)
	require.Equal(t, 5, got[4].line)
	require.JSONEq(t, `["tests/test_calc.py::test_add"]`, string(got[0].raw["FAIL_TO_PASS"]))
	// Row 5's FAIL_TO_PASS was not a list: a null in Parquet, an empty list once decoded.
	require.Equal(t, "null", string(got[4].raw["FAIL_TO_PASS"]))

	cfg := importConfig(t, path)
	m, err := New(cfg)
	require.NoError(t, err)
	ms, _, _ := mineAll(t, m, (&env{cfg: cfg}).job("octo/calc", ""))
	o := map[string]string{}
	for _, mi := range ms {
		o[mi.Instance.InstanceID] = "kept"
		if mi.Drop != nil {
			o[mi.Instance.InstanceID] = mi.Drop.Reason
		}
	}
	require.Equal(t, "kept", o["octo__calc-2"])
	require.Equal(t, "kept", o["octo__calc-1005"], "a null test list is an empty one")
	require.Equal(t, DropPatchDoesNotApply, o["octo__calc-1003"])
}

func TestTestListForms(t *testing.T) {
	t.Parallel()
	for in, want := range map[string][]string{
		`["a", "b"]`:    {"a", "b"},
		`"[\"a\"]"`:     {"a"},
		`""`:            nil,
		`null`:          nil,
		`"[]"`:          {},
		`["x::y[1-2]"]`: {"x::y[1-2]"},
	} {
		got, err := testList(json.RawMessage(in))
		require.NoError(t, err, in)
		require.Equal(t, want, got, in)
	}
	for _, in := range []string{`3`, `"nope"`, `{"a":1}`} {
		_, err := testList(json.RawMessage(in))
		require.Error(t, err, in)
	}
}

// writeJSONL writes rows as a task file and returns its path.
func writeJSONL(t *testing.T, rows ...map[string]any) string {
	t.Helper()
	var b strings.Builder
	for _, r := range rows {
		line, err := json.Marshal(r)
		require.NoError(t, err)
		b.Write(line)
		b.WriteString("\n")
	}
	path := filepath.Join(t.TempDir(), "tasks.jsonl")
	require.NoError(t, os.WriteFile(path, []byte(b.String()), 0o644))
	return path
}

// A repository with no mirror is dropped whole, naming where it was looked for; the other
// repositories are mined.
func TestImportRepositoryWithoutMirror(t *testing.T) {
	t.Parallel()
	rows := importRows(t)
	lost := maps.Clone(rows[0])
	lost["instance_id"], lost["repo"] = "acme__lost-1", "acme/lost"
	cfg := importConfig(t, writeJSONL(t, rows[0], lost))
	m, err := New(cfg)
	require.NoError(t, err)
	repos, err := m.SourceRepos(t.Context())
	require.NoError(t, err)
	require.Equal(t, []string{"acme/lost", "octo/calc"}, repos)
	e := &env{cfg: cfg}
	res, err := m.Mine(t.Context(), e.job("acme/lost", ""))
	require.NoError(t, err)
	require.NotNil(t, res.Drop)
	require.Equal(t, DropRepositoryNotFound, res.Drop.Reason)
	require.Empty(t, res.Instances)
	for _, want := range []string{cfg.ImportMirrorDir, "acme/lost.git", "acme/lost,", "acme__lost.git", "acme__lost,", "acme/lost/repo.bundle"} {
		require.Contains(t, res.Drop.Detail, want)
	}
	ms, _, _ := mineAll(t, m, e.job("octo/calc", ""))
	require.Len(t, ms, 1)
	require.Nil(t, ms[0].Drop)
}

// Config.ImportMirrors names a repository's mirror directly, without a mirror directory.
func TestImportMirrors(t *testing.T) {
	t.Parallel()
	rows := importRows(t)
	cfg := importConfig(t, writeJSONL(t, rows[0]))
	cfg.ImportMirrors = map[string]string{"octo/calc": filepath.Join(cfg.ImportMirrorDir, "octo", "calc.git")}
	cfg.ImportMirrorDir = ""
	m, err := New(cfg)
	require.NoError(t, err)
	ms, _, _ := mineAll(t, m, (&env{cfg: cfg}).job("octo/calc", ""))
	require.Len(t, ms, 1)
	require.Nil(t, ms[0].Drop)
}

// Mirror settings that cannot work are refused up front, naming the field and the path.
func TestImportMirrorConfigErrors(t *testing.T) {
	t.Parallel()
	files := []string{writeJSONL(t, importRows(t)[0])}
	notGit := t.TempDir()
	for name, tc := range map[string]struct {
		cfg  Config
		want string
	}{
		"missing mirror dir": {Config{ImportMirrorDir: "/nonexistent/mirrors"}, "Config.ImportMirrorDir: /nonexistent/mirrors does not exist"},
		"missing mirror":     {Config{ImportMirrors: map[string]string{"o/n": "/nonexistent/n.git"}}, "Config.ImportMirrors[o/n]: /nonexistent/n.git does not exist"},
		"not a git dir":      {Config{ImportMirrors: map[string]string{"o/n": notGit}}, "Config.ImportMirrors[o/n]: " + notGit + " is not a git directory"},
		"bad repo":           {Config{ImportMirrors: map[string]string{"nope": notGit}}, `"nope" is not owner/name`},
		"nothing to read":    {Config{MirrorDir: "/nonexistent/run/mirrors"}, "Config.MirrorDir /nonexistent/run/mirrors does not exist"},
	} {
		c := tc.cfg
		c.Source, c.ImportFiles = SourceImport, files
		if c.MirrorDir == "" {
			c.MirrorDir = t.TempDir()
		}
		_, err := New(c)
		require.ErrorContains(t, err, tc.want, name)
	}
}

// A source that finds nothing is an error naming what it read.
func TestEmptySourcesAreErrors(t *testing.T) {
	t.Parallel()
	empty := filepath.Join(t.TempDir(), "empty.jsonl")
	require.NoError(t, os.WriteFile(empty, nil, 0o644))
	cfg := importConfig(t, empty)
	m, err := New(cfg)
	require.NoError(t, err)
	_, err = m.SourceRepos(t.Context())
	require.ErrorContains(t, err, "the import files hold no task rows: "+empty)

	for _, dir := range []string{t.TempDir(), filepath.Join(t.TempDir(), "missing")} {
		m, err := New(Config{Source: SourceSnapshot, SnapshotDir: dir, MirrorDir: t.TempDir()})
		require.NoError(t, err)
		_, err = m.SourceRepos(t.Context())
		require.ErrorContains(t, err, "snapshot directory "+dir)
	}
}
