package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"swemill/envbuild"
	"swemill/envbuild/envbuildtest"
	"swemill/export/duckreader"
	"swemill/pipeline"
	"swemill/pipeline/pipelinetest"
	"swemill/runstore"
)

// twoEngineRepos are the demo's repositories TestTwoEnginesThroughRegistry mills.
var twoEngineRepos = []string{"demo/confparse", "demo/gostr"}

// demoReference is the dataset of TestDemoEndToEnd's first, one-engine run of the demo,
// copied aside once it is written, for the tests that compare another run's with it.
var demoReference = &referenceDataset{done: make(chan struct{})}

type referenceDataset struct {
	once sync.Once
	done chan struct{}
	dir  string
	err  error
}

// publish copies out (the dataset of a run that ended with runErr) aside for wait.
func (r *referenceDataset) publish(t *testing.T, out string, runErr error, log []byte) {
	r.once.Do(func() {
		defer close(r.done)
		if runErr != nil {
			r.err = fmt.Errorf("the one-engine demo run failed: %v: %s", runErr, log)
			return
		}
		dir, err := os.MkdirTemp("", "swemill-demo-reference-")
		if err == nil {
			err = os.CopyFS(dir, os.DirFS(out))
		}
		r.dir, r.err = dir, err
	})
}

// wait returns the reference dataset's directory, waiting for TestDemoEndToEnd to write it.
func (r *referenceDataset) wait(ctx context.Context, t *testing.T) string {
	t.Helper()
	if f := flag.Lookup("test.run"); f != nil && f.Value.String() != "" {
		if ok, _ := regexp.MatchString(strings.Split(f.Value.String(), "/")[0], "TestDemoEndToEnd"); !ok {
			t.Fatalf("%s compares with TestDemoEndToEnd's dataset: run both (-run 'TestDemoEndToEnd|%s')", t.Name(), t.Name())
		}
	}
	select {
	case <-r.done:
	case <-ctx.Done():
		t.Fatal("TestDemoEndToEnd wrote no reference dataset in time")
	}
	require.NoError(t, r.err)
	return r.dir
}

func (r *referenceDataset) cleanup() {
	if r.dir != "" {
		os.RemoveAll(r.dir)
	}
}

// TestTwoEnginesThroughRegistry mills the demo on PostgreSQL with two Docker engines and a
// registry: worker A builds on the machine's engine and pushes; workers B validate and roll
// out on a second engine, which starts with no image at all. The first B is killed while it
// pulls; the job is rescued and the survivor pulls every image by digest (the very images A
// built) and rebuilds nothing. The dataset equals the one-engine run's, but for the image
// columns, which name the images by digest in the registry.
func TestTwoEnginesThroughRegistry(t *testing.T) {
	t.Parallel()
	envbuildtest.Docker(t) // skipped, loudly, only when no engine answers and CI is unset
	ctx, cancel := context.WithTimeout(t.Context(), 40*time.Minute)
	defer cancel()
	url := pipelinetest.Postgres(t)
	registry := envbuildtest.Registry(t)
	host2, engine2 := envbuildtest.SecondEngine(t)
	prefix := registry + "/swemill-demo"
	shared, out := t.TempDir(), filepath.Join(t.TempDir(), "out")
	snapshot, err := filepath.Abs("../../testdata/demo")
	require.NoError(t, err)
	// Two of the demo's repositories, one Python and one Go. The killed worker's job comes
	// back after the shortest stage timeout (River's rescue): validate's, which still leaves
	// a loaded machine room to validate an instance.
	conf := fmt.Sprintf(`database: %s
artifacts_dir: %s
repos: [%s]
mine: {source: snapshot, snapshot_dir: %s}
build: {offline: true, registry: %s}
rollout: {backend: oracle}
workers: {mine: 2, build: 2, validate: 2, rollout: 2}
timeouts: {validate: 4m}
export: {out: %s}
`, url, shared, strings.Join(twoEngineRepos, ", "), snapshot, prefix, out)
	worker := func(engine string, args ...string) *exec.Cmd {
		dir := t.TempDir()
		require.NoError(t, os.WriteFile(filepath.Join(dir, ConfigFile), []byte(conf), 0o644))
		cmd := swemillCmd(ctx, t, "", append([]string{"run", "--dir", dir, "--progress", "none"}, args...)...)
		if engine != "" {
			cmd.Env = append(cmd.Env, "DOCKER_HOST="+engine)
		}
		return cmd
	}

	// Worker A: mine and build on this machine's engine, pushing every image.
	outA, err := worker("", "--until", "build", "--log-level", "warn").CombinedOutput()
	require.NoError(t, err, "worker A:\n%s", outA)

	// The first B is killed as it pulls its first image.
	b1 := worker(host2, "--stages", "validate,rollout", "--log-level", "info")
	stderr, err := b1.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, b1.Start())
	sc := bufio.NewScanner(stderr)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	var b1log strings.Builder
	killed := false
	for sc.Scan() {
		b1log.WriteString(sc.Text() + "\n")
		if strings.Contains(sc.Text(), "pulling the instance image from the registry") {
			require.NoError(t, b1.Process.Signal(syscall.SIGKILL))
			killed = true
			break
		}
	}
	go func() {
		for sc.Scan() {
		}
	}()
	_ = b1.Wait()
	require.True(t, killed, "worker B never pulled:\n%s", b1log.String())

	// The survivor: the killed worker's job comes back to it after the stage's timeout.
	b2 := worker(host2, "--stages", "validate,rollout", "--log-level", "info")
	outB, err := b2.CombinedOutput()
	require.NoError(t, err, "worker B:\n%s", outB)
	require.NotContains(t, string(outB), "rebuilding it from the stored recipe", "the second engine rebuilds nothing")
	pulls := strings.Count(string(outB), "instance image pulled from the registry")

	// The second engine holds instance images only: pulled, not built (no env or base image).
	list, err := envbuild.ListImages(ctx, engine2, "")
	require.NoError(t, err)
	instances := 0
	for _, im := range list {
		require.Equal(t, envbuild.LayerInstance, im.Layer, "engine 2 holds %s (%s): it built something", im.Name, im.Layer)
		instances++
	}

	// The dataset: the one-engine run's rows of the same repositories, but for the image
	// columns.
	ref := demoReference.wait(ctx, t)
	db := duckreader.Open(t)
	in := "'" + strings.Join(twoEngineRepos, "', '") + "'"
	q := `SELECT * EXCLUDE (image, image_name) FROM read_parquet('%s/data/tasks/*.parquet') WHERE repo IN (` + in + `) ORDER BY instance_id`
	want := queryAll(ctx, t, db, fmt.Sprintf(q, ref))
	require.Len(t, want, 4, "the reference has the two repositories' tasks")
	require.Equal(t, want, queryAll(ctx, t, db, fmt.Sprintf(q, out)), "tasks")
	q = `SELECT * EXCLUDE (created_at, trajectory_id) FROM read_parquet('%s/data/trajectories/*.parquet') WHERE repo IN (` + in + `) ORDER BY instance_id`
	require.Equal(t, queryAll(ctx, t, db, fmt.Sprintf(q, ref)), queryAll(ctx, t, db, fmt.Sprintf(q, out)), "trajectories")

	// Every task names its image by digest in the registry, and engine 2 has exactly that
	// image (the id the build recorded): complete, whatever the kill interrupted.
	s, err := runstore.Open(ctx, runstore.Options{Dir: t.TempDir(), Database: url, ArtifactsDir: shared, ReadOnly: true})
	require.NoError(t, err)
	built, err := s.Built(ctx, runstore.Selector{All: true})
	s.Close()
	require.NoError(t, err)
	byID := map[string]pipeline.Environment{}
	for _, b := range built {
		byID[b.InstanceID] = b.Environment
	}
	rows, err := db.QueryContext(ctx, fmt.Sprintf(`SELECT instance_id, image, image_name FROM read_parquet('%s/data/tasks/*.parquet')`, out))
	require.NoError(t, err)
	refRe := regexp.MustCompile(`^` + regexp.QuoteMeta(prefix) + `/inst\.[a-z0-9_.-]+@sha256:[0-9a-f]{64}$`)
	tasks := 0
	for rows.Next() {
		var id, image, name string
		require.NoError(t, rows.Scan(&id, &image, &name))
		tasks++
		env := byID[id]
		require.Regexp(t, refRe, image, id)
		require.Equal(t, env.ImageRef, image, id)
		require.Equal(t, image, name, id)
		info, err := engine2.ImageInspect(ctx, env.ImageName)
		require.NoError(t, err, "engine 2 has the image of %s", id)
		require.Equal(t, env.ImageID, info.ID, "engine 2's image of %s is the one A built", id)
		require.Contains(t, info.RepoDigests, env.ImageRef, id)
	}
	require.NoError(t, rows.Err())
	rows.Close()
	require.Positive(t, tasks)
	require.GreaterOrEqual(t, instances, tasks, "every task's image is on engine 2")
	require.GreaterOrEqual(t, pulls, tasks-1, "the survivor pulled the images (the killed worker may have pulled one)")
	card, err := os.ReadFile(filepath.Join(out, "README.md"))
	require.NoError(t, err)
	require.Contains(t, string(card), fmt.Sprintf("The images of %d tasks are in the registry `%s`", tasks, registry))

	// `images pull` pre-warms an engine; `images push` pushes and records elsewhere.
	var some string
	for id := range byID {
		some = id
		break
	}
	rm, err := exec.CommandContext(ctx, "docker", "-H", host2, "image", "rm", byID[some].ImageName).CombinedOutput()
	require.NoError(t, err, "%s", rm)
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, ConfigFile), []byte(conf), 0o644))
	cmd := swemillCmd(ctx, t, "", "images", "pull", "--dir", dir, "--all")
	cmd.Env = append(cmd.Env, "DOCKER_HOST="+host2)
	pulled, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", pulled)
	require.Contains(t, string(pulled), fmt.Sprintf("swemill images pull: %d instances: %d already here, 1 pulled", len(byID), len(byID)-1))
	info, err := engine2.ImageInspect(ctx, byID[some].ImageName)
	require.NoError(t, err)
	require.Equal(t, byID[some].ImageID, info.ID)

	cmd = swemillCmd(ctx, t, "", "images", "push", "--dir", dir, "--instance", some, "--registry", registry+"/elsewhere")
	cmd.Env = append(cmd.Env, "DOCKER_HOST="+host2)
	pushed, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", pushed)
	require.Contains(t, string(pushed), "swemill images push: 1 instances: 1 pushed")
	s, err = runstore.Open(ctx, runstore.Options{Dir: t.TempDir(), Database: url, ArtifactsDir: shared, ReadOnly: true})
	require.NoError(t, err)
	again, err := s.Built(ctx, runstore.Selector{Instances: []string{some}})
	s.Close()
	require.NoError(t, err)
	require.Len(t, again, 1)
	require.True(t, strings.HasPrefix(again[0].Environment.ImageRef, registry+"/elsewhere/inst."), again[0].Environment.ImageRef)
	require.Equal(t, byID[some].EnvImageRef, again[0].Environment.EnvImageRef, "engine 2 has no env image: its reference stays")
}
