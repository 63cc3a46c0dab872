package mine

import (
	"bytes"
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"swemill/difftext"
	"swemill/gitexec"
	"swemill/pipeline"
	"swemill/repotest"
	"swemill/stages/mine/githubtest"
)

var fixtureRoot = filepath.Join("..", "..", "testdata", "github")

var (
	calcOnce sync.Once
	calcRepo *repotest.Repo
	calcErr  error
	calcTmp  string
)

func TestMain(m *testing.M) {
	code := func() int {
		defer func() {
			if calcTmp != "" {
				os.RemoveAll(calcTmp)
			}
		}()
		return m.Run()
	}()
	if code == 0 {
		if err := goleak.Find(goleak.IgnoreTopFunction("net/http.(*persistConn).writeLoop"),
			goleak.IgnoreTopFunction("net/http.(*persistConn).readLoop"),
			goleak.IgnoreTopFunction("internal/poll.runtime_pollWait")); err != nil {
			os.Stderr.WriteString("goleak: " + err.Error() + "\n")
			code = 1
		}
	}
	os.Exit(code)
}

// calcFixture builds testdata/github/octo/calc/repo.txtar once per test binary, tagged v1.4.2
// at its first commit so versions come from a real tag.
func calcFixture(t testing.TB) *repotest.Repo {
	t.Helper()
	calcOnce.Do(func() {
		calcTmp, calcErr = os.MkdirTemp("", "swemill-calc-*")
		if calcErr != nil {
			return
		}
		calcRepo, calcErr = repotest.BuildFile(filepath.Join(calcTmp, "calc"), filepath.Join(fixtureRoot, "octo", "calc", "repo.txtar"))
		if calcErr == nil {
			_, calcErr = gitexec.Run(context.Background(), calcRepo.Dir, "tag", "v1.4.2", calcRepo.Commits["init"])
		}
	})
	require.NoError(t, calcErr)
	return calcRepo
}

// snapshotDir assembles a snapshot of the fixture in a temporary directory: the API JSON of
// testdata/github and octo/calc/repo.git, a bare mirror of the built fixture repository.
func snapshotDir(t testing.TB) string {
	t.Helper()
	repo := calcFixture(t)
	dir := t.TempDir()
	require.NoError(t, copyTree(fixtureRoot, dir))
	_, err := gitexec.Run(t.Context(), dir, "clone", "--quiet", "--mirror", "file://"+repo.Dir, filepath.Join(dir, "octo", "calc", "repo.git"))
	require.NoError(t, err)
	return dir
}

func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(target, b, 0o644)
	})
}

// fakeClock starts in the past (so go-github's own wall-clock rate-limit memory never
// blocks) and moves only when Sleep is called, at once.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	sleeps []time.Duration
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2024, 6, 1, 0, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sleeps = append(c.sleeps, d)
	c.now = c.now.Add(d)
	return nil
}

func (c *fakeClock) Sleeps() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.sleeps...)
}

// syncBuffer is a log sink safe for concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// env is a fake GitHub over a fixture snapshot with a Config pointing at it.
type env struct {
	dir   string
	gh    *githubtest.Server
	clock *fakeClock
	cfg   Config
	logs  *syncBuffer
}

const (
	tokenA = "ghp_fixtureTokenAAAAAAAAAAAAAAAAAAAAAAAA"
	tokenB = "ghp_fixtureTokenBBBBBBBBBBBBBBBBBBBBBBBB"
)

func newEnv(t *testing.T, opts githubtest.Options) *env {
	t.Helper()
	dir := snapshotDir(t)
	clock := newFakeClock()
	if opts.Now == nil {
		opts.Now = clock.Now
	}
	if opts.Tokens == nil {
		opts.Tokens = []string{tokenA, tokenB}
	}
	gh := githubtest.New(t, os.DirFS(dir), opts)
	logs := &syncBuffer{}
	log := zerolog.New(zerolog.MultiLevelWriter(logs, zerolog.NewTestWriter(t))).Level(zerolog.DebugLevel)
	return &env{
		dir: dir, gh: gh, clock: clock, logs: logs,
		cfg: Config{
			Tokens:    []string{tokenA},
			BaseURL:   gh.URL,
			WebHosts:  []string{"github.com"},
			MirrorDir: filepath.Join(t.TempDir(), "mirrors"),
			GitURL: func(repo string) string {
				return "file://" + filepath.Join(dir, filepath.FromSlash(repo), "repo.git")
			},
			Clock: clock,
			Log:   log,
		},
	}
}

func (e *env) job(repo, cur string) *pipeline.RepoJob {
	return &pipeline.RepoJob{Repo: repo, Cursor: cur, Attempt: 1, Log: e.cfg.Log.With().Str("repo", repo).Logger()}
}

// mineAll calls Mine until More is false and returns every result and the last cursor.
func mineAll(t testing.TB, m *Miner, job *pipeline.RepoJob) ([]pipeline.Mined, string, int) {
	t.Helper()
	var all []pipeline.Mined
	calls := 0
	for {
		res, err := m.Mine(t.Context(), job)
		require.NoError(t, err)
		calls++
		all = append(all, res.Instances...)
		job.Cursor = res.Cursor
		if !res.More {
			return all, res.Cursor, calls
		}
		require.Less(t, calls, 1000, "Mine keeps asking for more")
	}
}

// outcomes maps pull numbers to "kept" or their drop reason.
func outcomes(ms []pipeline.Mined) map[int]string {
	out := map[int]string{}
	for _, m := range ms {
		if m.Drop != nil {
			out[m.Instance.PullNumber] = m.Drop.Reason
		} else {
			out[m.Instance.PullNumber] = "kept"
		}
	}
	return out
}

func kept(ms []pipeline.Mined) map[int]pipeline.Instance {
	out := map[int]pipeline.Instance{}
	for _, m := range ms {
		if m.Drop == nil {
			out[m.Instance.PullNumber] = m.Instance
		}
	}
	return out
}

// filesOf lists the paths a patch touches.
func filesOf(t *testing.T, patch string) []string {
	t.Helper()
	d, err := difftext.Parse(patch)
	require.NoError(t, err)
	var out []string
	for _, f := range d.Files {
		out = append(out, f.Path())
	}
	return out
}

// TestFixtureNamesRealCommits checks that every commit the JSON fixtures name exists in the
// fixture repository, except the heads the fixtures say are gone.
func TestFixtureNamesRealCommits(t *testing.T) {
	t.Parallel()
	repo := calcFixture(t)
	b, err := os.ReadFile(filepath.Join(fixtureRoot, "octo", "calc", "pulls.json"))
	require.NoError(t, err)
	known := map[string]bool{}
	for _, h := range repo.Commits {
		known[h] = true
	}
	gone := map[string]bool{strings.Repeat("deadbeef", 5): true, strings.Repeat("feedface", 5): true,
		strings.Repeat("5", 40): true, strings.Repeat("2", 40): true, strings.Repeat("3", 40): true}
	for _, field := range []string{`"sha": "`, `"merge_commit_sha": "`} {
		for _, part := range strings.Split(string(b), field)[1:] {
			sha := part[:40]
			require.True(t, known[sha] || gone[sha], "fixture names unknown commit %s", sha)
		}
	}
}
