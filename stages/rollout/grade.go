package rollout

import (
	"context"
	"path"
	"regexp"
	"sort"
	"strings"

	"swemill/difftext"
	"swemill/grade"
	"swemill/pipeline"
)

// Grader runs an instance's FAIL_TO_PASS and PASS_TO_PASS tests in a fresh container of
// its image, after resetting the test files, applying test_patch and then modelPatch,
// and parses the output with the instance's log parser (item.Validation.LogParser). The
// validate stage's Grader is the real one.
type Grader interface {
	// Grade returns per-test results. A patch that does not apply is a Grade with Applied
	// false, not an error; errors are infrastructure failures (the engine, the store).
	Grade(ctx context.Context, item *pipeline.Item, modelPatch string) (Grade, error)
}

// Grade is the outcome of one grading run, scored by grade.Resolve against the instance's
// validation. A Problem becomes a trajectory flag "grade_problem:<Problem>" (or
// FlagUnsafePatch), a run that did not apply the flag FlagPatchRejected, and Log is stored
// as the artifact "rollout/grade-<k>.log".
type Grade = grade.Run

// GraderFunc adapts a function to Grader.
type GraderFunc func(ctx context.Context, item *pipeline.Item, modelPatch string) (Grade, error)

// Grade calls f.
func (f GraderFunc) Grade(ctx context.Context, item *pipeline.Item, modelPatch string) (Grade, error) {
	return f(ctx, item, modelPatch)
}

// cleanPatch drops the sections of binary files (which cannot be applied from text) and
// returns the patch with the paths it touches. A diff that cannot be parsed is kept whole.
func cleanPatch(diff string) (string, []string) {
	if strings.TrimSpace(diff) == "" {
		return "", nil
	}
	d, err := difftext.Parse(diff)
	if err != nil {
		return diff, nil
	}
	var b strings.Builder
	b.WriteString(d.Preamble)
	var paths []string
	for i := range d.Files {
		f := &d.Files[i]
		if f.Binary || strings.Contains(f.Text, "\nSubproject commit ") {
			continue
		}
		b.WriteString(f.Text)
		paths = append(paths, f.Paths()...)
	}
	out := b.String()
	if out != "" && !strings.HasSuffix(out, "\n") {
		out += "\n"
	}
	return out, paths
}

// Flags of a trajectory.
const (
	FlagEditedTests   = "edited_test_files"
	FlagReadOutside   = "read_outside_workdir"
	FlagEmptyPatch    = "empty_patch"
	FlagNoPatch       = "patch_unavailable"
	FlagPatchRejected = "patch_not_applied"
	FlagGradeProblem  = "grade_problem"
	// FlagDiskLimit says the workspace wrote past the sandbox's disk limit and was killed
	// (its exit status is then runtime_error).
	FlagDiskLimit = "workspace_disk_limit"
)

// testFlags returns FlagEditedTests when the patch touches a test file: one test_patch
// touches or any path the test-path rules recognise.
func testFlags(paths []string, v *pipeline.Validation) []string {
	tests := map[string]bool{}
	for _, t := range v.TestFiles {
		tests[t] = true
	}
	for _, p := range paths {
		if tests[p] || difftext.IsTest(p) {
			return []string{FlagEditedTests}
		}
	}
	return nil
}

var absPathRe = regexp.MustCompile(`(?:^|[\s'"=:(<>|;&])(/[A-Za-z0-9_.+@%,/-]+)`)

// leakWatch notices reads of paths outside the work directory that could hold the answer: a
// copy of a file the gold patch changes (an installed release of the package in
// site-packages or the module cache, say), reached through the editor or named in a shell
// command.
type leakWatch struct {
	// workDirs are the repository's directories: where the agent finds it and, when it was
	// moved there, the image's work directory, which links to it.
	workDirs []string
	// suffixes are "dir/file" endings of the files the gold patch changes.
	suffixes []string
	hits     map[string]bool
}

func newLeakWatch(goldPatch string, workDirs ...string) *leakWatch {
	w := &leakWatch{hits: map[string]bool{}}
	for _, d := range workDirs {
		w.workDirs = append(w.workDirs, path.Clean(d))
	}
	if d, err := difftext.Parse(goldPatch); err == nil {
		for i := range d.Files {
			for _, p := range d.Files[i].Paths() {
				parts := strings.Split(p, "/")
				if len(parts) >= 2 {
					w.suffixes = append(w.suffixes, "/"+strings.Join(parts[len(parts)-2:], "/"))
				} else {
					w.suffixes = append(w.suffixes, "/"+p)
				}
			}
		}
	}
	return w
}

func (w *leakWatch) outside(p string) bool {
	p = path.Clean(p)
	for _, d := range w.workDirs {
		if p == d || strings.HasPrefix(p, d+"/") {
			return false
		}
	}
	return true
}

// path records an editor path.
func (w *leakWatch) path(p string) {
	if !path.IsAbs(p) || !w.outside(p) {
		return
	}
	for _, s := range w.suffixes {
		if strings.HasSuffix(path.Clean(p), s) {
			w.hits[path.Clean(p)] = true
		}
	}
}

// command records the absolute paths a shell command names.
func (w *leakWatch) command(cmd string) {
	for _, m := range absPathRe.FindAllStringSubmatch(cmd, -1) {
		w.path(m[1])
	}
}

// flags returns one flag per suspicious path, sorted.
func (w *leakWatch) flags() []string {
	var out []string
	for p := range w.hits {
		out = append(out, FlagReadOutside+":"+p)
	}
	sort.Strings(out)
	return out
}
