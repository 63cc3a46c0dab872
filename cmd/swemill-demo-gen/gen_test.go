package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"swemill/difftext"
	"swemill/pipeline"
	"swemill/stages/mine"
)

var demoDir = filepath.Join("..", "..", "testdata", "demo")

// TestCommittedSnapshotIsGenerated regenerates the snapshot into a temporary directory and
// compares it with the committed one, so the two cannot drift apart.
func TestCommittedSnapshotIsGenerated(t *testing.T) {
	t.Parallel()
	out := t.TempDir()
	require.NoError(t, Generate(t.Context(), demoDir, out))
	want, err := snapshotFiles(out)
	require.NoError(t, err)
	have, err := snapshotFiles(demoDir)
	require.NoError(t, err)
	const hint = "; run `go run ./cmd/swemill-demo-gen` and review the diff"
	require.Equal(t, want, have, "the committed files are not the generated ones"+hint)
	for _, f := range want {
		if strings.HasSuffix(f, ".bundle") {
			w, err := BundleHeads(t.Context(), filepath.Join(out, f))
			require.NoError(t, err)
			h, err := BundleHeads(t.Context(), filepath.Join(demoDir, f))
			require.NoError(t, err)
			require.Equal(t, w, h, f+" does not hold the history of repo.txtar"+hint)
			continue
		}
		w, err := os.ReadFile(filepath.Join(out, f))
		require.NoError(t, err)
		h, err := os.ReadFile(filepath.Join(demoDir, f))
		require.NoError(t, err)
		require.Equal(t, string(w), string(h), f+" is out of date"+hint)
	}
}

func TestRunRejectsArguments(t *testing.T) {
	t.Parallel()
	var stderr strings.Builder
	require.Equal(t, 2, run(t.Context(), []string{"extra"}, &stderr))
	require.Contains(t, stderr.String(), "unexpected arguments")
}

func readExpected(t *testing.T) Expected {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(demoDir, ExpectedFile))
	require.NoError(t, err)
	var exp Expected
	require.NoError(t, json.Unmarshal(b, &exp))
	return exp
}

func specOf(t *testing.T, repo string) repoSpec {
	t.Helper()
	for _, s := range demoRepos {
		if s.Owner+"/"+s.Name == repo {
			return s
		}
	}
	t.Fatalf("no spec for %s", repo)
	return repoSpec{}
}

// testName is the function (pytest, Go) or method a test id names: what the test patch must
// contain.
var testNameRE = regexp.MustCompile(`(?:::|^)([A-Za-z_][A-Za-z0-9_]*)(?:\[[^\]]*\])?$`)

// TestMineDemoSnapshot mines the committed snapshot with stages/mine, as `swemill run` does
// with mine.source "snapshot", and checks each pull request's outcome against expected.json.
func TestMineDemoSnapshot(t *testing.T) {
	t.Parallel()
	exp := readExpected(t)
	log := zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.InfoLevel)
	m, err := mine.New(mine.Config{Source: mine.SourceSnapshot, SnapshotDir: demoDir, MirrorDir: t.TempDir(), Log: log})
	require.NoError(t, err)
	repos, err := m.SourceRepos(t.Context())
	require.NoError(t, err)
	var names []string
	for _, r := range exp.Repositories {
		names = append(names, r.Repo)
	}
	sort.Strings(names)
	require.Equal(t, names, repos, "the snapshot's repositories")

	for _, er := range exp.Repositories {
		job := &pipeline.RepoJob{Repo: er.Repo, Attempt: 1, Log: log.With().Str("repo", er.Repo).Logger()}
		var mined []pipeline.Mined
		var repoDrop *pipeline.DropError
		for calls := 0; ; calls++ {
			require.Less(t, calls, 100)
			res, err := m.Mine(t.Context(), job)
			require.NoError(t, err, er.Repo)
			mined = append(mined, res.Instances...)
			if res.Drop != nil {
				repoDrop = res.Drop
			}
			job.Cursor = res.Cursor
			if !res.More {
				break
			}
		}
		if er.Drop != "" {
			require.NotNil(t, repoDrop, er.Repo)
			require.Equal(t, er.Drop, repoDrop.Reason, er.Repo)
			require.Empty(t, mined, er.Repo)
			continue
		}
		require.Nil(t, repoDrop, er.Repo)

		got := map[int]string{}
		instances := map[int]pipeline.Instance{}
		for _, mi := range mined {
			if mi.Drop != nil {
				got[mi.Instance.PullNumber] = mi.Drop.Reason
				continue
			}
			got[mi.Instance.PullNumber] = kept
			instances[mi.Instance.PullNumber] = mi.Instance
		}
		want := map[int]string{}
		for _, p := range er.Pulls {
			want[p.Pull] = p.Mine
		}
		require.Equal(t, want, got, "mine outcomes of %s", er.Repo)

		spec := specOf(t, er.Repo)
		for _, p := range er.Pulls {
			if p.Mine != kept {
				continue
			}
			inst := instances[p.Pull]
			require.Equal(t, p.InstanceID, inst.InstanceID)
			require.Equal(t, p.BaseCommit, inst.BaseCommit, p.InstanceID)
			require.Equal(t, p.Version, inst.Version, p.InstanceID)
			require.Equal(t, er.Language, inst.Language, p.InstanceID)
			require.Equal(t, spec.License, inst.License, p.InstanceID)

			// The problem statement and hints come from the issues the pull request closes;
			// hints are their comments from before it was opened (here, before its first
			// commit too).
			var ps, hints []string
			var linked []int
			var ps0 pullSpec
			for _, sp := range spec.Pulls {
				if sp.Number == p.Pull {
					ps0 = sp
				}
			}
			for _, is := range spec.Issues {
				if is.ClosedByPull != p.Pull {
					continue
				}
				linked = append(linked, is.Number)
				ps = append(ps, is.Title+"\n"+is.Body+"\n")
				for _, c := range is.Comments {
					if c.Created < ps0.Created {
						hints = append(hints, c.Body)
					}
				}
			}
			require.Equal(t, strings.Join(ps, ""), inst.ProblemStatement, p.InstanceID)
			require.Equal(t, strings.Join(hints, "\n"), inst.HintsText, p.InstanceID)
			var gotLinked []int
			for _, li := range inst.Issues {
				require.Equal(t, er.Repo, li.Repo)
				gotLinked = append(gotLinked, li.Number)
			}
			require.Equal(t, linked, gotLinked, p.InstanceID)

			// Both halves hold what they should, and every expected test is in the test
			// patch.
			split, err := difftext.SplitDiff(inst.TestPatch)
			require.NoError(t, err)
			require.NotEmpty(t, split.TestFiles, p.InstanceID)
			require.Empty(t, split.CodeFiles, p.InstanceID)
			split, err = difftext.SplitDiff(inst.Patch)
			require.NoError(t, err)
			require.NotEmpty(t, split.CodeFiles, p.InstanceID)
			require.Empty(t, split.TestFiles, p.InstanceID)
			for _, id := range p.FailToPass {
				if !strings.Contains(id, "::") && strings.Contains(id, " ") {
					// Jest: a full name, the describe titles and then the test's own, which
					// the test patch holds as a string.
					words, found := strings.Fields(id), false
					for i := range words {
						found = found || strings.Contains(inst.TestPatch, "'"+strings.Join(words[i:], " ")+"'")
					}
					require.True(t, found, "%s: the title of %s is in the test patch", p.InstanceID, id)
					continue
				}
				name := id
				if _, method, ok := strings.Cut(id, "#"); ok {
					name = method // Maven: pkg.Class#method
				} else if !strings.Contains(id, "::") {
					name, _, _ = strings.Cut(id, "/") // Go: TestName/subtest
				}
				sm := testNameRE.FindStringSubmatch(name)
				require.NotNil(t, sm, id)
				require.Contains(t, inst.TestPatch, sm[1], "%s: %s", p.InstanceID, id)
			}
		}
	}
}
