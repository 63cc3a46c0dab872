//go:build demodocker

package main

// The demo's repositories checked in envbuild's base images, by hand (it needs Docker and
// the base images, and is not part of `make test`):
//
//	go test -tags demodocker -run TestDemoInBaseImages -v ./cmd/swemill-demo-gen
//
// For every pull request that reaches build: the recipe envbuild infers (offline) installs,
// or fails as expected. For every one that reaches validate: its tests, run three times at
// the base commit with the test patch and three times with the patch as well, give the
// expected FAIL_TO_PASS, PASS_TO_PASS and flaky tests. The runs of one pull request share
// /tmp, so the deliberately flaky test alternates instead of passing at random.

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-github/v62/github"
	"github.com/stretchr/testify/require"

	"swemill/difftext"
	"swemill/envbuild"
)

const runsPerSide = 3

func newestImage(t *testing.T, repo string) string {
	out, err := exec.Command("docker", "images", "--format", "{{.Repository}}:{{.Tag}}", repo).Output()
	if err != nil {
		t.Skipf("no Docker: %v", err)
	}
	lines := strings.Fields(string(out))
	if len(lines) == 0 {
		t.Skipf("no %s image; build the base images first", repo)
	}
	return lines[0]
}

func TestDemoInBaseImages(t *testing.T) {
	images := map[string]string{"python": newestImage(t, "swemill/base-python"), "go": newestImage(t, "swemill/base-go")}
	t.Logf("images: %v", images)
	for _, spec := range demoRepos {
		if spec.Drop != "" {
			continue
		}
		for _, p := range spec.Pulls {
			if p.Want.Build == notReached {
				continue
			}
			t.Run(fmt.Sprintf("%s/%s#%d", spec.Owner, spec.Name, p.Number), func(t *testing.T) {
				checkInImage(t, spec, p, images)
			})
		}
	}
}

func checkInImage(t *testing.T, spec repoSpec, p pullSpec, images map[string]string) {
	ctx := t.Context()
	snap := filepath.Join(demoDir, spec.Owner, spec.Name)
	var pulls []*github.PullRequest
	b, err := os.ReadFile(filepath.Join(snap, "pulls.json"))
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, &pulls))
	i := slices.IndexFunc(pulls, func(pr *github.PullRequest) bool { return pr.GetNumber() == p.Number })
	require.GreaterOrEqual(t, i, 0)
	base, head := pulls[i].GetBase().GetSHA(), pulls[i].GetHead().GetSHA()

	work := t.TempDir()
	bundle, err := filepath.Abs(filepath.Join(snap, "repo.bundle"))
	require.NoError(t, err)
	_, err = difftext.Git(ctx, work, nil, "", "clone", "-q", bundle, "repo")
	require.NoError(t, err)
	repo := filepath.Join(work, "repo")
	diff, err := difftext.GitDiff(ctx, repo, base+"..."+head)
	require.NoError(t, err)
	split, err := difftext.SplitDiff(diff)
	require.NoError(t, err)

	sides := map[string]string{}
	for _, side := range []string{"a", "b"} {
		dir := filepath.Join(work, side)
		_, err := difftext.Git(ctx, work, nil, "", "clone", "-q", "--no-checkout", repo, side)
		require.NoError(t, err)
		_, err = difftext.Git(ctx, dir, nil, "", "checkout", "-q", "--detach", base)
		require.NoError(t, err)
		_, err = difftext.Git(ctx, dir, nil, split.TestPatch, "apply", "-")
		require.NoError(t, err)
		if side == "b" {
			_, err = difftext.Git(ctx, dir, nil, split.Patch, "apply", "-")
			require.NoError(t, err)
		}
		sides[side] = dir
	}
	recipe, err := envbuild.InferRecipe(sides["a"], envbuild.InferOptions{Offline: true, WorkDir: "/testbed"})
	require.NoError(t, err)
	t.Logf("recipe: %+v", recipe)

	var targets []string
	for _, f := range split.TestFiles {
		if recipe.Language == "go" {
			d := "./" + path.Dir(f)
			if !slices.Contains(targets, d) {
				targets = append(targets, d)
			}
			continue
		}
		targets = append(targets, f)
	}
	script := "set -e\n"
	for _, c := range append(append([]string(nil), recipe.PreInstall...), recipe.Install...) {
		script += "if ! ( " + c + " ) >/tmp/install.log 2>&1; then cat /tmp/install.log; exit 97; fi\n"
	}
	script += "set +e\n" + recipe.TestCmd + " " + strings.Join(targets, " ") + "\n"
	tmp := filepath.Join(work, "tmp")
	require.NoError(t, os.Mkdir(tmp, 0o1777))
	runs := 0
	run := func(dir string) (int, string) {
		runs++
		name := fmt.Sprintf("swemill-demo-check-%d-%s-%d-%d", os.Getpid(), spec.Name, p.Number, runs)
		// Killing the docker client leaves the container running: remove it by name.
		defer exec.Command("docker", "rm", "-f", name).Run()
		args := []string{"run", "--rm", "--name", name, "--network", "none", "-v", dir + ":/testbed", "-v", tmp + ":/tmp", "-w", "/testbed"}
		for k, v := range recipe.Env {
			args = append(args, "-e", k+"="+v)
		}
		args = append(args, images[recipe.Language], "bash", "-c", script)
		rctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
		defer cancel()
		out, err := exec.CommandContext(rctx, "docker", args...).CombinedOutput()
		require.NoError(t, rctx.Err(), "docker run timed out:\n%s", out)
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else {
			require.NoError(t, err)
		}
		return code, string(out)
	}

	if p.Want.Build != kept {
		code, out := run(sides["a"])
		require.Equal(t, 97, code, "install should fail:\n%s", out)
		require.Contains(t, out, "No module named 'Cython'")
		t.Logf("install failed as expected:\n%s", lastLines(out, 6))
		return
	}
	results := map[string][]map[string]string{}
	for _, side := range []string{"a", "b"} {
		for range runsPerSide {
			code, out := run(sides[side])
			require.NotEqual(t, 97, code, "install failed:\n%s", out)
			var res map[string]string
			if recipe.LogParser == "gotest" {
				res = parseGoTest(out)
			} else {
				res = parsePytest(out)
			}
			require.NotEmpty(t, res, "no results:\n%s", out)
			results[side] = append(results[side], res)
		}
	}
	f2p, p2p, flaky := classify(results["a"], results["b"])
	t.Logf("FAIL_TO_PASS %q\nPASS_TO_PASS %q\nflaky %q", f2p, p2p, flaky)
	require.Equal(t, sorted(p.Want.FailToPass), f2p, "FAIL_TO_PASS")
	require.Equal(t, sorted(p.Want.Flaky), flaky, "flaky")
	if p.Want.Validate == kept {
		require.Equal(t, sorted(p.Want.PassToPass), p2p, "PASS_TO_PASS")
	}
}

func sorted(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	out := append([]string{}, s...)
	sort.Strings(out)
	return out
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// parsePytest reads the -rA short summary: "PASSED id", "FAILED id - message", ...
func parsePytest(out string) map[string]string {
	res := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		status, rest, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		switch status {
		case "PASSED", "FAILED", "ERROR", "SKIPPED", "XFAIL", "XPASS":
		default:
			continue
		}
		if i := strings.Index(rest, " - "); i >= 0 {
			rest = rest[:i]
		}
		res[rest] = strings.ToLower(status)
	}
	return res
}

// parseGoTest reads go test -json: the final action of every test.
func parseGoTest(out string) map[string]string {
	res := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		var ev struct{ Action, Test string }
		if json.Unmarshal([]byte(line), &ev) != nil || ev.Test == "" {
			continue
		}
		switch ev.Action {
		case "pass":
			res[ev.Test] = "passed"
		case "fail":
			res[ev.Test] = "failed"
		case "skip":
			res[ev.Test] = "skipped"
		}
	}
	return res
}

// classify applies validate's rules: a test counts only if it behaves the same in every
// run of a side.
func classify(a, b []map[string]string) (f2p, p2p, flaky []string) {
	ids := map[string]bool{}
	for _, runs := range [][]map[string]string{a, b} {
		for _, r := range runs {
			for id := range r {
				ids[id] = true
			}
		}
	}
	same := func(runs []map[string]string, id string) (string, bool) {
		first := runs[0][id]
		for _, r := range runs[1:] {
			if r[id] != first {
				return "", false
			}
		}
		return first, true
	}
	for id := range ids {
		sa, okA := same(a, id)
		sb, okB := same(b, id)
		switch {
		case !okA || !okB:
			flaky = append(flaky, id)
		case sb == "passed" && (sa == "failed" || sa == "error" || sa == ""):
			f2p = append(f2p, id)
		case sa == "passed" && sb == "passed":
			p2p = append(p2p, id)
		}
	}
	sort.Strings(f2p)
	sort.Strings(p2p)
	sort.Strings(flaky)
	return f2p, p2p, flaky
}
