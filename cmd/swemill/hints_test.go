package main

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"swemill/pipeline"
	"swemill/runstore"
)

// Every reason curableDrops offers to retry is one a stage records: it stands as a string
// literal in the code outside this command.
func TestCurableDropsAreRecorded(t *testing.T) {
	t.Parallel()
	literals := map[string]bool{}
	root := filepath.Join("..", "..")
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if name := d.Name(); p != root && (strings.HasPrefix(name, ".") || name == "testdata" || name == "cmd") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") || strings.Contains(p, "test"+string(filepath.Separator)) {
			return nil
		}
		f, err := parser.ParseFile(token.NewFileSet(), p, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		ast.Inspect(f, func(n ast.Node) bool {
			if lit, ok := n.(*ast.BasicLit); ok && lit.Kind == token.STRING {
				if s, err := strconv.Unquote(lit.Value); err == nil {
					literals[s] = true
				}
			}
			return true
		})
		return nil
	})
	require.NoError(t, err)
	seen := map[string]bool{}
	for _, c := range curableDrops {
		require.True(t, c.Stage == repoStage || pipeline.StageIndex(c.Stage) >= 0, "stage %q", c.Stage)
		require.False(t, seen[c.Stage+"/"+c.Reason], "%s/%s is listed twice", c.Stage, c.Reason)
		seen[c.Stage+"/"+c.Reason] = true
		require.NotEmpty(t, c.Fix, c.Reason)
		require.True(t, literals[c.Reason], "no stage records the drop reason %q that curableDrops lists", c.Reason)
	}
}

func TestRetryHints(t *testing.T) {
	t.Parallel()
	stage := func(name string, failed int, drops ...runstore.ReasonCount) runstore.StageStatus {
		return runstore.StageStatus{Stage: name, Counts: map[pipeline.State]int{pipeline.StateFailed: failed}, Drops: drops}
	}
	st := runstore.Status{Stages: []runstore.StageStatus{
		stage(pipeline.StageMine, 0, runstore.ReasonCount{Reason: "no_linked_issue", Count: 9}, runstore.ReasonCount{Reason: "commits_unavailable", Count: 2}),
		stage(pipeline.StageBuild, 1, runstore.ReasonCount{Reason: "env_build_failed", Count: 3}, runstore.ReasonCount{Reason: "invalid_instance", Count: 1}),
		stage(pipeline.StageValidate, 0, runstore.ReasonCount{Reason: "no_fail_to_pass", Count: 4}, runstore.ReasonCount{Reason: "suite_oom", Count: 1}),
		stage(pipeline.StageRollout, 2),
	}}
	repos := []runstore.RepoProblem{
		{Repo: "a/lost", State: pipeline.StateDropped, Reason: "repository_not_found", Detail: "no mirror of a/lost in /m\nmore"},
		{Repo: "a/policy", State: pipeline.StateDropped, Reason: "license_not_allowed"},
		{Repo: "b/down", State: pipeline.StateFailed, Detail: "cloning: network unreachable"},
	}
	var got []string
	for _, h := range retryHints(st, repos, "--dir 'my run'") {
		got = append(got, h.Command+"  # "+h.Note)
		for _, d := range h.Details {
			got = append(got, "    "+d)
		}
	}
	require.Equal(t, []string{
		"swemill rerun mine --dir 'my run' --dropped commits_unavailable  # 2 instances dropped (commits_unavailable): update the repository's mirror, or check the network",
		"swemill rerun build --dir 'my run' --dropped env_build_failed  # 3 instances dropped (env_build_failed): fix the recipe (build.spec_dir), or build.offline / the network",
		"swemill rerun build --dir 'my run' --failed  # 1 instance failed: swemill ls --dir 'my run' --stage build --state failed lists them",
		"swemill rerun validate --dir 'my run' --dropped suite_oom  # 1 instance dropped (suite_oom): raise sandbox.memory",
		"swemill rerun rollout --dir 'my run' --failed  # 2 instances failed: swemill ls --dir 'my run' --stage rollout --state failed lists them",
		"swemill run --dir 'my run'  # 1 repository dropped (repository_not_found): give the repository's mirror (mine.import_mirrors or mine.import_mirror_dir); 1 repository failed to mine",
		"    a/lost: repository_not_found: no mirror of a/lost in /m",
		"    b/down: cloning: network unreachable",
	}, got)
	require.Empty(t, retryHints(runstore.Status{Stages: []runstore.StageStatus{stage(pipeline.StageBuild, 0, runstore.ReasonCount{Reason: "no_recipe_for_this", Count: 1})}}, nil, "--dir d"))

	a := &app{dir: "runs/x y", configPath: "conf.yaml"}
	require.Equal(t, "--dir 'runs/x y' --config conf.yaml", a.runFlags())
}
