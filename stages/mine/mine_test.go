package mine

import (
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"swemill/difftext"
	"swemill/pipeline"
	"swemill/stages/mine/githubtest"
)

// wantFixture is what the default configuration makes of octo/calc's pull requests (see
// testdata/github/README.md for each one's story).
var wantFixture = map[int]string{
	2:  "kept",
	4:  "kept",
	5:  DropNotMerged,
	6:  DropNoLinkedIssue,
	7:  DropIssueIsPullRequest,
	8:  DropIssueNotFound,
	9:  DropIssueNotFound,
	10: DropNoLinkedIssue,
	11: "kept",
	13: "kept",
	15: DropNoCodeChange,
	17: DropNoTestChange,
	18: DropBinaryOnly,
	19: DropProblemStatementShort,
	21: DropPatchDoesNotApply,
	23: DropTooLarge,
	24: "kept",
	26: DropNoLinkedIssue,
}

func TestMineFixtureFromGitHub(t *testing.T) {
	t.Parallel()
	e := newEnv(t, githubtest.Options{})
	m, err := New(e.cfg)
	require.NoError(t, err)
	ms, cur, calls := mineAll(t, m, e.job("octo/calc", ""))
	require.Equal(t, 1, calls)
	require.Equal(t, wantFixture, outcomes(ms))
	e.gh.Verify(t)

	repo := calcFixture(t)
	k := kept(ms)
	i2 := k[2]
	require.Equal(t, "octo__calc-2", i2.InstanceID)
	require.Equal(t, "octo/calc", i2.Repo)
	require.Equal(t, repo.Commits["init"], i2.BaseCommit)
	require.Equal(t, time.Date(2024, 1, 3, 12, 0, 0, 0, time.UTC), i2.CreatedAt)
	require.Equal(t, "1.4", i2.Version)
	require.Equal(t, "MIT", i2.License)
	require.Equal(t, "python", i2.Language)
	require.Equal(t, SourceGitHub, i2.Source)
	require.Equal(t, []string{"calc.py"}, filesOf(t, i2.Patch))
	require.Equal(t, []string{"tests/test_calc.py"}, filesOf(t, i2.TestPatch))
	require.Equal(t, "add() subtracts instead of adding\nCalling `add(1, 2)` returns -1 instead of 3.\r\n\r\nExpected: the sum of both arguments.\n", i2.ProblemStatement)
	require.Equal(t, "I can reproduce; the operator is wrong.", i2.HintsText, "only comments before the first commit")
	require.Equal(t, []pipeline.LinkedIssue{{Repo: "octo/calc", Number: 1, Evidence: []string{EvidenceBody}}}, i2.Issues)

	require.Equal(t, []pipeline.LinkedIssue{{Repo: "octo/calc", Number: 3, Evidence: []string{EvidenceTitle}}}, k[4].Issues)

	// Two issues, one in another repository, in the order the body names them.
	require.Equal(t, []pipeline.LinkedIssue{
		{Repo: "octo/calc", Number: 12, Evidence: []string{EvidenceBody}},
		{Repo: "other/lib", Number: 7, Evidence: []string{EvidenceBody}},
	}, k[11].Issues)
	require.True(t, strings.HasPrefix(k[11].ProblemStatement, "avg() crashes on an empty list\n"))
	require.Contains(t, k[11].ProblemStatement, "\nDocument what avg of an empty list returns\n")

	// The closing keyword is in a commit message; the patch renames a file and carries a
	// binary file and a Latin-1 file as git binary patches.
	i13 := k[13]
	require.Equal(t, []pipeline.LinkedIssue{{Repo: "octo/calc", Number: 14, Evidence: []string{EvidenceCommit}}}, i13.Issues)
	require.ElementsMatch(t, []string{"latin1.txt", "logo.png", "util.py"}, filesOf(t, i13.Patch))
	require.Contains(t, i13.Patch, "rename from helpers.py\nrename to util.py\n")
	require.Contains(t, i13.Patch, "GIT binary patch")
	require.Equal(t, []string{"tests/test_util.py"}, filesOf(t, i13.TestPatch))
	for _, p := range []string{i13.Patch, i13.TestPatch} {
		require.NoError(t, difftext.CheckApplies(t.Context(), repo.Dir, i13.BaseCommit, p))
	}

	// The head is gone from git: the diff is GitHub's, and hints stop at the PR's creation.
	i24 := k[24]
	require.Equal(t, []string{"calc.py"}, filesOf(t, i24.Patch))
	require.Equal(t, []string{"tests/test_double.py"}, filesOf(t, i24.TestPatch))
	require.Equal(t, "Sounds good; keep it next to dec().", i24.HintsText, "the second comment came after the PR was opened")

	var c cursor
	require.NoError(t, json.Unmarshal([]byte(cur), &c))
	require.Equal(t, time.Date(2024, 1, 24, 12, 0, 0, 0, time.UTC), c.HWM)
	require.Nil(t, c.Walk)
	require.Len(t, c.ListETags, 1)
	require.Equal(t, "MIT", c.Repo.License)

	// Requests: page 1, the repository, then only issues of pull requests that passed every
	// other filter (and their comments when they have some before the first commit).
	st := m.Stats()
	reqs, _ := e.gh.Count()
	require.Equal(t, int64(reqs), st.Requests)
	for _, r := range e.gh.Requests() {
		require.NotContains(t, r.Path, "/events", "closed events are fetched only when asked for")
	}
	require.NotContains(t, e.logs.String(), tokenA)
}

func TestMineSnapshotMatchesGitHub(t *testing.T) {
	t.Parallel()
	e := newEnv(t, githubtest.Options{})
	live, err := New(e.cfg)
	require.NoError(t, err)
	liveMs, _, _ := mineAll(t, live, e.job("octo/calc", ""))

	cfg := e.cfg
	cfg.Source = SourceSnapshot
	cfg.SnapshotDir = e.dir
	cfg.Tokens, cfg.BaseURL, cfg.GitURL = nil, "", nil
	cfg.MirrorDir = filepath.Join(t.TempDir(), "mirrors")
	snap, err := New(cfg)
	require.NoError(t, err)
	snapMs, _, _ := mineAll(t, snap, e.job("octo/calc", ""))
	requireSameInstances(t, liveMs, snapMs)
	require.Zero(t, snap.Stats().Requests)

	repos, err := snap.SourceRepos(t.Context())
	require.NoError(t, err)
	require.Equal(t, []string{"octo/calc"}, repos)
}

// requireSameInstances compares two mining results, ignoring Source.
func requireSameInstances(t *testing.T, a, b []pipeline.Mined) {
	t.Helper()
	norm := func(ms []pipeline.Mined) []pipeline.Mined {
		out := append([]pipeline.Mined(nil), ms...)
		for i := range out {
			out[i].Instance.Source = ""
		}
		sort.Slice(out, func(i, j int) bool { return out[i].Instance.InstanceID < out[j].Instance.InstanceID })
		return out
	}
	require.Equal(t, norm(a), norm(b))
}

func TestRecordSnapshotThenMine(t *testing.T) {
	t.Parallel()
	for _, bundle := range []bool{false, true} {
		e := newEnv(t, githubtest.Options{})
		live, err := New(e.cfg)
		require.NoError(t, err)
		liveMs, _, _ := mineAll(t, live, e.job("octo/calc", ""))

		out := filepath.Join(t.TempDir(), "snapshot")
		rcfg := e.cfg
		rcfg.MirrorDir = filepath.Join(t.TempDir(), "record-mirrors")
		require.NoError(t, Record(t.Context(), rcfg, RecordOptions{Dir: out, Repos: []string{"octo/calc"}, Bundle: bundle}))
		e.gh.Verify(t)

		// The recorded files are GitHub's bodies: the fixture's files byte for byte (lists
		// joined from pages, element by element).
		for _, f := range []string{"repo.json", "issues/1.json", "issues/12.json", "pulls/24.diff", "pulls/23.too_large"} {
			want, err := os.ReadFile(filepath.Join(fixtureRoot, "octo", "calc", f))
			require.NoError(t, err)
			got, err := os.ReadFile(filepath.Join(out, "octo", "calc", f))
			require.NoError(t, err, f)
			require.Equal(t, string(want), string(got), f)
		}
		_, err = os.Stat(filepath.Join(out, "other", "lib", "issues", "7.json"))
		require.NoError(t, err)
		var pulls []json.RawMessage
		b, err := os.ReadFile(filepath.Join(out, "octo", "calc", "pulls.json"))
		require.NoError(t, err)
		require.NoError(t, json.Unmarshal(b, &pulls))
		require.Len(t, pulls, len(wantFixture))
		gitFile := "repo.git"
		if bundle {
			gitFile = "repo.bundle"
		}
		_, err = os.Stat(filepath.Join(out, "octo", "calc", gitFile))
		require.NoError(t, err)

		scfg := Config{Source: SourceSnapshot, SnapshotDir: out, MirrorDir: filepath.Join(t.TempDir(), "m"), Clock: e.clock, Log: e.cfg.Log}
		snap, err := New(scfg)
		require.NoError(t, err)
		snapMs, _, _ := mineAll(t, snap, e.job("octo/calc", ""))
		requireSameInstances(t, liveMs, snapMs)
		for _, r := range e.gh.Requests() {
			require.NotContains(t, r.Path, "/events", "recording reads no issue events")
		}
	}
}

// TestMiningReadsNoEvents: on GitHub's data an issue closed by a pull request's body has a
// closed event with commit_id null, and one closed by a pushed commit names that commit,
// whose message mining reads from the mirror already (the fixture's events have those
// shapes). Reading events would add no link, so neither mining nor recording asks for them,
// and a mention without a closing keyword does not link.
func TestMiningReadsNoEvents(t *testing.T) {
	t.Parallel()
	e := newEnv(t, githubtest.Options{})
	m, err := New(e.cfg)
	require.NoError(t, err)
	ms, _, _ := mineAll(t, m, e.job("octo/calc", ""))
	k := kept(ms)
	require.Equal(t, []pipeline.LinkedIssue{{Repo: "octo/calc", Number: 14, Evidence: []string{EvidenceCommit}}}, k[13].Issues)
	require.Equal(t, DropNoLinkedIssue, outcomes(ms)[26])
	for _, r := range e.gh.Requests() {
		require.NotContains(t, r.Path, "/events")
	}
	// The fixture's closed events are shaped as GitHub's: null where the pull request's body
	// closed the issue, the commit where a commit's message did.
	for n, want := range map[int]string{1: "", 12: "", 27: "", 14: calcFixture(t).Commits["pr13-b"]} {
		var evs []struct {
			Event    string  `json:"event"`
			CommitID *string `json:"commit_id"`
		}
		b, err := os.ReadFile(filepath.Join(fixtureRoot, "octo", "calc", "issues", strconv.Itoa(n), "events.json"))
		require.NoError(t, err)
		require.NoError(t, json.Unmarshal(b, &evs))
		got := ""
		for _, ev := range evs {
			if ev.Event == "closed" && ev.CommitID != nil {
				got = *ev.CommitID
			}
		}
		require.Equal(t, want, got, "issue %d", n)
	}
}

func TestMineCrossRepoIgnored(t *testing.T) {
	t.Parallel()
	e := newEnv(t, githubtest.Options{})
	cfg := e.cfg
	cfg.CrossRepoIssues = "ignore"
	m, err := New(cfg)
	require.NoError(t, err)
	ms, _, _ := mineAll(t, m, e.job("octo/calc", ""))
	require.Equal(t, []pipeline.LinkedIssue{{Repo: "octo/calc", Number: 12, Evidence: []string{EvidenceBody}}}, kept(ms)[11].Issues)
	for _, r := range e.gh.Requests() {
		require.NotContains(t, r.Path, "other/lib")
	}
}

func TestMineFiltersAndExcludes(t *testing.T) {
	t.Parallel()
	e := newEnv(t, githubtest.Options{})

	cfg := e.cfg
	cfg.Filter.ExcludeInstances = []string{"octo__calc-2"}
	cfg.Filter.MinProblemStatement = -1
	cfg.Filter.MaxLines = 5
	cfg.Versions = map[string]string{"octo__calc-4": "9.9", "octo/calc": "2.0"}
	m, err := New(cfg)
	require.NoError(t, err)
	ms, _, _ := mineAll(t, m, e.job("octo/calc", ""))
	o := outcomes(ms)
	require.Equal(t, DropDecontaminated, o[2])
	require.Equal(t, "kept", o[19], "no minimum problem statement")
	require.Equal(t, DropTooLarge, o[11], "avg's fix is longer than 5 lines")
	require.Equal(t, "9.9", kept(ms)[4].Version)
	require.Equal(t, "2.0", kept(ms)[13].Version)

	// A repository on the exclude list, or with a licence outside the allow-list, is
	// dropped as a whole.
	cfg = e.cfg
	cfg.Filter.ExcludeRepos = []string{"octo/calc"}
	m, err = New(cfg)
	require.NoError(t, err)
	res, err := m.Mine(t.Context(), e.job("octo/calc", ""))
	require.NoError(t, err)
	require.Empty(t, res.Instances)
	require.Equal(t, DropDecontaminated, res.Drop.Reason)

	cfg = e.cfg
	cfg.Filter.Licenses = []string{"Apache-2.0"}
	m, err = New(cfg)
	require.NoError(t, err)
	res, err = m.Mine(t.Context(), e.job("octo/calc", ""))
	require.NoError(t, err)
	require.Empty(t, res.Instances)
	require.Equal(t, DropLicenseNotAllowed, res.Drop.Reason)
	require.Contains(t, res.Drop.Detail, "MIT")
	// The licence is checked before any pull request: a rerun costs one 304.
	e.gh.Reset()
	res, err = m.Mine(t.Context(), e.job("octo/calc", res.Cursor))
	require.NoError(t, err)
	require.Empty(t, res.Instances)
	reqs, nm := e.gh.Count()
	require.Equal(t, 1, reqs)
	require.Equal(t, 1, nm)
}

func TestDefaultExcludesSWEBench(t *testing.T) {
	t.Parallel()
	m, err := New(Config{MirrorDir: t.TempDir()})
	require.NoError(t, err)
	res, err := m.Mine(t.Context(), &pipeline.RepoJob{Repo: "django/django"})
	require.NoError(t, err)
	require.Equal(t, DropDecontaminated, res.Drop.Reason)
	require.Zero(t, m.Stats().Requests)
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	for name, cfg := range map[string]Config{
		"no mirror":      {},
		"bad source":     {Source: "ftp", MirrorDir: "m"},
		"no snapshot":    {Source: SourceSnapshot, MirrorDir: "m"},
		"no import":      {Source: SourceImport, MirrorDir: "m"},
		"bad base":       {BaseURL: "not a url", MirrorDir: "m"},
		"bad token":      {Tokens: []string{"a b"}, MirrorDir: "m"},
		"bad cross":      {CrossRepoIssues: "maybe", MirrorDir: "m"},
		"bad exclude":    {Filter: Filter{ExcludeRepos: []string{"nope"}}, MirrorDir: "m"},
		"negative pages": {PagesPerCall: -1, MirrorDir: "m"},
	} {
		err := cfg.Validate()
		require.Error(t, err, name)
		require.Contains(t, err.Error(), "Config.", name)
	}
	require.NoError(t, (&Config{MirrorDir: "m"}).Validate())
}

func TestReadRepoList(t *testing.T) {
	t.Parallel()
	repos, err := ReadRepoList(strings.NewReader("# repos\nocto/calc\n\nhttps://github.com/big/repo.git  # a comment\n"))
	require.NoError(t, err)
	require.Equal(t, []string{"octo/calc", "big/repo"}, repos)
	_, err = ReadRepoList(strings.NewReader("octo\n"))
	require.ErrorContains(t, err, "line 1")
}
