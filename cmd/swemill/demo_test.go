package main

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"swemill/envbuild/envbuildtest"
	"swemill/envbuild/sandbox"
	"swemill/export/duckreader"
	"swemill/pipeline"
	"swemill/runstore"
	"swemill/swebench"
	"swemill/testlog"
)

// demoExpected is testdata/demo/expected.json: what each pull request of the bundled
// snapshot must become.
type demoExpected struct {
	Repositories []struct {
		Repo  string `json:"repo"`
		Drop  string `json:"drop"`
		Pulls []struct {
			InstanceID string   `json:"instance_id"`
			Mine       string   `json:"mine"`
			Build      string   `json:"build"`
			Validate   string   `json:"validate"`
			FailToPass []string `json:"FAIL_TO_PASS"`
			PassToPass []string `json:"PASS_TO_PASS"`
			Flaky      []string `json:"flaky"`
		} `json:"pulls"`
	} `json:"repositories"`
}

// demoConfig writes a run directory's configuration for the bundled snapshot, exporting to
// out, and returns its path.
func demoConfig(t *testing.T, dir, out string) string {
	t.Helper()
	snapshot, err := filepath.Abs("../../testdata/demo")
	require.NoError(t, err)
	cfg := fmt.Sprintf(`mine: {source: snapshot, snapshot_dir: %s}
build: {offline: true}
rollout: {backend: oracle}
workers: {mine: 2, build: 2, validate: 1, rollout: 2}
export: {out: %s}
`, snapshot, out)
	path := filepath.Join(dir, ConfigFile)
	require.NoError(t, os.MkdirAll(dir, 0o755))
	require.NoError(t, os.WriteFile(path, []byte(cfg), 0o644))
	return path
}

// TestDemoEndToEnd mills the bundled offline snapshot with the real stages (Docker, the
// oracle model) and checks the exported dataset through DuckDB: the expected instances with
// the expected FAIL_TO_PASS, one resolved oracle trajectory each. A second run, killed in the
// middle of validation and of rollout and started again, exports the same dataset.
func TestDemoEndToEnd(t *testing.T) {
	t.Parallel()
	envbuildtest.Docker(t) // skipped, loudly, only when no engine answers and CI is unset
	// Two whole runs of the demo (14 tasks in five languages; each Java task's validation is
	// 16 Maven runs) and a re-validation: about 45 minutes on 2 cores.
	ctx, cancel := context.WithTimeout(t.Context(), 65*time.Minute)
	defer cancel()
	var want demoExpected
	data, err := os.ReadFile("../../testdata/demo/expected.json")
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(data, &want))

	// The tests waiting for the reference dataset learn it when this one stops without it.
	defer demoReference.publish(t, "", errors.New("TestDemoEndToEnd stopped before its first run ended"), nil)
	root := t.TempDir()
	dirA, outA := filepath.Join(root, "a"), filepath.Join(root, "out-a")
	demoConfig(t, dirA, outA)
	out, err := swemillCmd(ctx, t, "", "base", "build", "--dir", dirA).CombinedOutput()
	require.NoError(t, err, "%s", out)
	out, err = swemillCmd(ctx, t, "", "run", "--dir", dirA, "--progress", "none", "--log-level", "warn").CombinedOutput()
	demoReference.publish(t, outA, err, out)
	require.NoError(t, err, "%s", out)

	// The funnel is the snapshot's, stage by stage.
	s, err := runstore.Open(ctx, runstore.Options{Dir: dirA, ReadOnly: true})
	require.NoError(t, err)
	st, err := s.Status(ctx)
	s.Close()
	require.NoError(t, err)
	kept := map[string][]string{} // instance -> FAIL_TO_PASS
	counts := map[string]map[pipeline.State]int{}
	count := func(stage, outcome string) {
		if counts[stage] == nil {
			counts[stage] = map[pipeline.State]int{}
		}
		if outcome == "kept" {
			counts[stage][pipeline.StateDone]++
		} else {
			counts[stage][pipeline.StateDropped]++
		}
	}
	for _, r := range want.Repositories {
		for _, p := range r.Pulls {
			if p.Mine == "" {
				continue
			}
			count(pipeline.StageMine, p.Mine)
			if p.Mine != "kept" {
				continue
			}
			count(pipeline.StageBuild, p.Build)
			if p.Build != "kept" {
				continue
			}
			count(pipeline.StageValidate, p.Validate)
			if p.Validate == "kept" {
				counts[pipeline.StageRollout] = map[pipeline.State]int{pipeline.StateDone: counts[pipeline.StageRollout][pipeline.StateDone] + 1}
				kept[p.InstanceID] = p.FailToPass
			}
		}
	}
	require.Equal(t, counts, funnelCounts(st), "the demo's funnel")
	require.Len(t, kept, 14)

	// The dataset, read back by DuckDB.
	db := duckreader.Open(t)
	tasks := map[string][]string{}
	rows, err := db.QueryContext(ctx, fmt.Sprintf(`SELECT instance_id, "FAIL_TO_PASS" FROM read_parquet('%s/data/tasks/*.parquet')`, outA))
	require.NoError(t, err)
	for rows.Next() {
		var id, f2p string
		require.NoError(t, rows.Scan(&id, &f2p))
		var list []string
		require.NoError(t, json.Unmarshal([]byte(f2p), &list), "FAIL_TO_PASS of %s is a JSON string", id)
		tasks[id] = list
	}
	require.NoError(t, rows.Err())
	rows.Close()
	require.Equal(t, sortedSets(kept), sortedSets(tasks), "instances and FAIL_TO_PASS")
	checkSWEbenchHarness(ctx, t, db, outA)
	rows, err = db.QueryContext(ctx, fmt.Sprintf(`SELECT instance_id, model, resolved, exit_status FROM read_parquet('%s/data/trajectories/*.parquet')`, outA))
	require.NoError(t, err)
	trajectories := map[string]int{}
	for rows.Next() {
		var id, model, exit string
		var resolved bool
		require.NoError(t, rows.Scan(&id, &model, &resolved, &exit))
		require.Equal(t, "oracle", model)
		require.True(t, resolved, "the oracle resolves %s (exit %s)", id, exit)
		trajectories[id]++
	}
	require.NoError(t, rows.Err())
	rows.Close()
	for id := range kept {
		require.Equal(t, 1, trajectories[id], "one trajectory for %s", id)
	}
	require.Len(t, trajectories, len(kept))

	// An instance image that is gone (collected by `images gc` or the disk budget, or never
	// built on this machine) is rebuilt from the stored recipe when validate needs it again,
	// and the dataset comes out the same.
	var id, img string
	require.NoError(t, db.QueryRowContext(ctx, fmt.Sprintf(`SELECT instance_id, image_name FROM read_parquet('%s/data/tasks/*.parquet') ORDER BY instance_id LIMIT 1`, outA)).Scan(&id, &img))
	tasksFile := filepath.Join(outA, "data/tasks/train-00000-of-00001.parquet")
	before, err := os.ReadFile(tasksFile)
	require.NoError(t, err)
	out, err = exec.CommandContext(ctx, "docker", "image", "rm", img).CombinedOutput()
	require.NoError(t, err, "%s", out)
	out, err = swemillCmd(ctx, t, "", "rerun", "validate", "--dir", dirA, "--instance", id).CombinedOutput()
	require.NoError(t, err, "%s", out)
	out, err = swemillCmd(ctx, t, "", "run", "--dir", dirA, "--progress", "none", "--log-level", "warn").CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.Contains(t, string(out), "rebuilding it from the stored recipe", "the run says why it builds in validate")
	out, err = exec.CommandContext(ctx, "docker", "image", "inspect", "--format", "{{.Id}}", img).CombinedOutput()
	require.NoError(t, err, "the image of %s is back: %s", id, out)
	after, err := os.ReadFile(tasksFile)
	require.NoError(t, err)
	require.Equal(t, before, after, "the tasks after %s was validated again on a rebuilt image", id)

	// Killed twice and started again, a second run exports the same dataset.
	dirB, outB := filepath.Join(root, "b"), filepath.Join(root, "out-b")
	demoConfig(t, dirB, outB)
	for _, stage := range []string{pipeline.StageValidate, pipeline.StageRollout} {
		killWhenWorking(ctx, t, dirB, stage)
	}
	out, err = swemillCmd(ctx, t, "", "run", "--dir", dirB, "--progress", "none", "--log-level", "warn").CombinedOutput()
	require.NoError(t, err, "%s", out)
	for _, f := range []string{"data/tasks/train-00000-of-00001.parquet", "README.md"} {
		a, err := os.ReadFile(filepath.Join(outA, f))
		require.NoError(t, err)
		b, err := os.ReadFile(filepath.Join(outB, f))
		require.NoError(t, err)
		if f == "README.md" {
			a, b = maskTrajectoriesDownloadSize(a), maskTrajectoriesDownloadSize(b)
		}
		require.Equal(t, string(a), string(b), "%s differs after a killed and resumed run", f)
	}
	q := `SELECT * EXCLUDE (created_at, trajectory_id) FROM read_parquet('%s/data/trajectories/*.parquet') ORDER BY instance_id`
	require.Equal(t, queryAll(ctx, t, db, fmt.Sprintf(q, outA)), queryAll(ctx, t, db, fmt.Sprintf(q, outB)),
		"trajectories differ after a killed and resumed run")
	// Other test packages run containers at the same time: look only at this test's two runs.
	for _, dir := range []string{dirA, dirB} {
		abs, err := filepath.Abs(dir)
		require.NoError(t, err)
		run := wiringEnv{cfg: &Config{runDir: abs}}.runID()
		out, err = exec.CommandContext(ctx, "docker", "ps", "-aq", "--filter", "label="+sandbox.LabelRun+"="+run).CombinedOutput()
		require.NoError(t, err)
		require.Empty(t, strings.TrimSpace(string(out)), "no container of the run in %s is left behind", dir)
	}
}

// killWhenWorking starts `swemill run` on dir and SIGKILLs it once it works an item of stage.
func killWhenWorking(ctx context.Context, t *testing.T, dir, stage string) {
	t.Helper()
	cmd := swemillCmd(ctx, t, "", "run", "--dir", dir, "--progress", "none", "--log-level", "debug")
	stderr, err := cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	sc := bufio.NewScanner(stderr)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	var tail []string
	killed := false
	for sc.Scan() {
		line := sc.Text()
		tail = append(tail, line)
		if len(tail) > 20 {
			tail = tail[1:]
		}
		if strings.Contains(line, `"stage":"`+stage+`"`) && strings.Contains(line, `"message":"working"`) {
			require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
			killed = true
			break
		}
	}
	go func() {
		for sc.Scan() {
		}
	}()
	_ = cmd.Wait()
	require.True(t, killed, "the run never worked a %s item; its last lines:\n%s", stage, strings.Join(tail, "\n"))
}

func sortedSets(m map[string][]string) map[string][]string {
	out := map[string][]string{}
	for k, v := range m {
		v = slices.Clone(v)
		sort.Strings(v)
		out[k] = v
	}
	return out
}

// trajectoriesDownloadSize is the trajectories config's compressed size in the card: the
// trajectories' created_at and trajectory_id differ between two runs (they are compared
// without them below), so their compressed size may too.
var trajectoriesDownloadSize = regexp.MustCompile(`(?s)(\n- config_name: trajectories\n  features:.*?\n  download_size: )\d+`)

func maskTrajectoriesDownloadSize(card []byte) []byte {
	return trajectoriesDownloadSize.ReplaceAll(card, []byte("${1}N"))
}

// queryAll returns every row of q as text.
func queryAll(ctx context.Context, t *testing.T, db *sql.DB, q string) []string {
	t.Helper()
	rows, err := db.QueryContext(ctx, q)
	require.NoError(t, err)
	defer rows.Close()
	cols, err := rows.Columns()
	require.NoError(t, err)
	var out []string
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		require.NoError(t, rows.Scan(ptrs...))
		out = append(out, fmt.Sprint(vals...))
	}
	require.NoError(t, rows.Err())
	return out
}

// checkSWEbenchHarness runs every exported task as SWE-bench's evaluation harness does: in
// its image as root, the patch applied in /testbed with git apply, then the eval script as
// the harness rewrites it, the output between the markers read by the port of the parser
// the row's log_parser names. With the gold patch every FAIL_TO_PASS test passes and every
// PASS_TO_PASS test is kept; with no patch every FAIL_TO_PASS test fails.
func checkSWEbenchHarness(ctx context.Context, t *testing.T, db *sql.DB, out string) {
	t.Helper()
	rows, err := db.QueryContext(ctx, fmt.Sprintf(`SELECT instance_id, image, log_parser, log_parser_note, swemill_log_parser, eval_type, eval_script, patch, "FAIL_TO_PASS", "PASS_TO_PASS" FROM read_parquet('%s/data/tasks/*.parquet') ORDER BY instance_id`, out))
	require.NoError(t, err)
	type task struct{ id, image, parser, note, ours, evalType, script, patch, f2p, p2p string }
	var tasks []task
	for rows.Next() {
		var k task
		require.NoError(t, rows.Scan(&k.id, &k.image, &k.parser, &k.note, &k.ours, &k.evalType, &k.script, &k.patch, &k.f2p, &k.p2p))
		tasks = append(tasks, k)
	}
	require.NoError(t, rows.Err())
	rows.Close()
	require.NotEmpty(t, tasks)
	for _, k := range tasks {
		if k.ours == testlog.Jest || k.ours == testlog.Maven {
			// No SWE-bench parser yields Jest's full names or one pkg.Class#method per
			// test from a single Maven run: the row says so rather than naming one.
			require.Empty(t, k.parser, k.id)
			require.Contains(t, k.note, map[string]string{testlog.Jest: "parse_log_jest", testlog.Maven: "parse_log_maven"}[k.ours], k.id)
			continue
		}
		require.NotEmpty(t, k.parser, "%s names no SWE-bench parser: %s", k.id, k.note)
		require.Equal(t, swebench.EvalPassAndFail, k.evalType)
		var f2p, p2p []string
		require.NoError(t, json.Unmarshal([]byte(k.f2p), &f2p))
		require.NoError(t, json.Unmarshal([]byte(k.p2p), &p2p))
		gold := sweHarness(ctx, t, k.image, k.parser, k.patch, k.script)
		for _, id := range f2p {
			require.True(t, swebench.Passed(gold, id), "%s: FAIL_TO_PASS %q with the gold patch: %q", k.id, id, gold[id])
		}
		for _, id := range p2p {
			require.True(t, swebench.Maintained(gold, id), "%s: PASS_TO_PASS %q with the gold patch: %q", k.id, id, gold[id])
		}
		none := sweHarness(ctx, t, k.image, k.parser, "", k.script)
		for _, id := range f2p {
			require.True(t, swebench.Failed(none, id), "%s: FAIL_TO_PASS %q without a patch: %q", k.id, id, none[id])
		}
	}
}

// sweHarness runs an eval script as SWE-bench's harness does and returns the named parser's
// reading of its test output.
func sweHarness(ctx context.Context, t *testing.T, image, parser, patch, script string) map[string]string {
	t.Helper()
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "patch.diff"), []byte(patch), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "eval.sh"), []byte(swebench.HarnessScript(script)), 0o644))
	cmd := exec.CommandContext(ctx, "docker", "run", "--rm", "--network", "none", "--user", "root", "--label", "swemill.test=harness",
		"-v", dir+":/swe:ro", image, "/bin/bash", "-c",
		`cd /testbed && if [ -s /swe/patch.diff ]; then git apply --verbose /swe/patch.diff || exit 99; fi && /bin/bash /swe/eval.sh`)
	outb, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		require.NoError(t, err)
	}
	require.NotEqual(t, 99, cmd.ProcessState.ExitCode(), "the patch did not apply in %s: %s", image, outb)
	text, ok := swebench.TestOutput(string(outb))
	require.True(t, ok, "no test output between the markers in %s:\n%s", image, outb)
	statuses, ok := testlog.SWEbenchStatuses(parser, text)
	require.True(t, ok, "unknown parser %s", parser)
	require.NotEmpty(t, statuses, "%s read no test from:\n%s", parser, text)
	return statuses
}
