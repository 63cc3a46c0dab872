package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"swemill/gitexec"
)

// Row is one task in SWE-bench's format, as swemill's import source reads it. FAIL_TO_PASS
// and PASS_TO_PASS are left out: computing them is what is measured.
type Row struct {
	InstanceID             string `json:"instance_id"`
	Repo                   string `json:"repo"`
	BaseCommit             string `json:"base_commit"`
	Patch                  string `json:"patch"`
	TestPatch              string `json:"test_patch"`
	ProblemStatement       string `json:"problem_statement"`
	HintsText              string `json:"hints_text"`
	CreatedAt              string `json:"created_at"`
	Version                string `json:"version"`
	EnvironmentSetupCommit string `json:"environment_setup_commit"`
}

// mirrorPath finds repo's bare mirror in dir: OWNER/NAME.git, or OWNER/NAME.
func mirrorPath(dir, repo string) (string, error) {
	for _, p := range []string{filepath.Join(dir, repo+".git"), filepath.Join(dir, repo)} {
		if st, err := os.Stat(p); err == nil && st.IsDir() {
			return filepath.Abs(p)
		}
	}
	return "", fmt.Errorf("finding the mirror of %s: no %s.git in %s", repo, repo, dir)
}

// buildRow computes the case's row from the repository's git mirror: patch is the diff of
// every changed path that is not a test path, test_patch the diff of the test paths, the
// problem statement the fix commit's message and created_at its author date.
func buildRow(ctx context.Context, mirror string, k Case) (Row, error) {
	g := gitDir(mirror)
	parent, err := g.run(ctx, "rev-parse", "--verify", k.FixCommit+"^1")
	if err != nil {
		return Row{}, fmt.Errorf("reading the parent of %s's fix commit: %w", k.InstanceID, err)
	}
	if strings.TrimSpace(parent) != k.BaseCommit {
		return Row{}, fmt.Errorf("checking %s: base_commit %s is not the fix commit's first parent (%s)", k.InstanceID, k.BaseCommit, strings.TrimSpace(parent))
	}
	names, err := g.run(ctx, "diff", "--no-renames", "--name-only", "-z", k.BaseCommit, k.FixCommit)
	if err != nil {
		return Row{}, fmt.Errorf("listing the files %s changes: %w", k.InstanceID, err)
	}
	var code []string
	changed := strings.Split(strings.TrimSuffix(names, "\x00"), "\x00")
	for _, p := range changed {
		if !slices.Contains(k.TestPaths, p) {
			code = append(code, p)
		}
	}
	for _, p := range k.TestPaths {
		if !slices.Contains(changed, p) {
			return Row{}, fmt.Errorf("checking %s: test path %s is not changed by the fix commit", k.InstanceID, p)
		}
	}
	diff := func(paths []string) (string, error) {
		if len(paths) == 0 {
			return "", nil
		}
		args := append([]string{"diff", "--no-color", "--no-ext-diff", "--no-textconv", "--full-index", "--no-renames",
			"--src-prefix=a/", "--dst-prefix=b/", k.BaseCommit, k.FixCommit, "--"}, paths...)
		return g.run(ctx, args...)
	}
	r := Row{InstanceID: k.InstanceID, Repo: k.Repo, BaseCommit: k.BaseCommit, EnvironmentSetupCommit: k.BaseCommit}
	if r.Patch, err = diff(code); err != nil {
		return Row{}, fmt.Errorf("diffing %s's code: %w", k.InstanceID, err)
	}
	if r.TestPatch, err = diff(k.TestPaths); err != nil {
		return Row{}, fmt.Errorf("diffing %s's tests: %w", k.InstanceID, err)
	}
	msg, err := g.run(ctx, "show", "-s", "--format=%B", k.FixCommit)
	if err != nil {
		return Row{}, fmt.Errorf("reading %s's commit message: %w", k.InstanceID, err)
	}
	r.ProblemStatement = strings.TrimRight(msg, "\n")
	date, err := g.run(ctx, "show", "-s", "--format=%aI", k.FixCommit)
	if err != nil {
		return Row{}, fmt.Errorf("reading %s's commit date: %w", k.InstanceID, err)
	}
	t, err := time.Parse(time.RFC3339, strings.TrimSpace(date))
	if err != nil {
		return Row{}, fmt.Errorf("reading %s's commit date: %w", k.InstanceID, err)
	}
	r.CreatedAt = t.UTC().Format(time.RFC3339)
	return r, nil
}

// gitDir runs git in a repository (bare or not) with literal pathspecs.
type gitDir string

func (g gitDir) run(ctx context.Context, args ...string) (string, error) {
	return gitexec.RunWith(ctx, string(g), gitexec.Options{Env: []string{"GIT_LITERAL_PATHSPECS=1"}},
		append([]string{"-c", "core.quotepath=off"}, args...)...)
}
