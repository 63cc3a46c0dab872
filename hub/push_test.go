package hub_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"swemill/hub"
	"swemill/hub/hubtest"
)

const token = "hf_testTOKENabcdefghijklmnop"

// dataset writes an export-like directory: a card, a manifest, one small and two larger
// Parquet-named shards (random bytes), and a hidden directory that must not be pushed.
func dataset(t *testing.T) string {
	dir := t.TempDir()
	r := rand.New(rand.NewPCG(7, 8))
	blob := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(r.UintN(256))
		}
		return b
	}
	files := map[string][]byte{
		"README.md":     []byte("---\nlicense: other\n---\n# test\n"),
		"manifest.json": []byte(`{"swemill_version":"v0"}` + "\n"),
		"data/tasks/train-00000-of-00001.parquet":        blob(3000),
		"data/trajectories/train-00000-of-00002.parquet": blob(5000), // multipart with the fake's small threshold
		"data/trajectories/train-00001-of-00002.parquet": blob(4500),
		".swemill-export/leftover":                       []byte("x"),
	}
	for p, b := range files {
		path := filepath.Join(dir, filepath.FromSlash(p))
		require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
		require.NoError(t, os.WriteFile(path, b, 0o644))
	}
	return dir
}

func newFake(t *testing.T) *hubtest.Server {
	s := hubtest.New(t, token)
	s.MultipartThreshold, s.ChunkSize = 4096, 2000
	s.TreePageSize = 2
	return s
}

// waits records the backoffs a push asked for, without waiting.
type waits struct {
	mu sync.Mutex
	d  []time.Duration
}

func (w *waits) wait(_ context.Context, d time.Duration) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.d = append(w.d, d)
	return nil
}

func config(t *testing.T, s *hubtest.Server, logs *bytes.Buffer, w *waits) hub.Config {
	return hub.Config{
		Endpoint: s.Endpoint(), Token: token, Repo: "acme/swe-data",
		HTTPClient: s.Hub.Client(), Wait: w.wait,
		Log: zerolog.New(zerolog.MultiLevelWriter(logs, zerolog.NewTestWriter(t))).Level(zerolog.DebugLevel),
	}
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// checkRepo checks that the repository's main branch holds exactly dir's visible files.
func checkRepo(t *testing.T, s *hubtest.Server, dir string) {
	t.Helper()
	repo := s.Repo("acme/swe-data")
	require.NotNil(t, repo)
	want := map[string][]byte{}
	require.NoError(t, filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && strings.HasPrefix(d.Name(), ".") {
			return filepath.SkipDir
		}
		if d.IsDir() {
			return nil
		}
		b, err := os.ReadFile(p)
		rel, _ := filepath.Rel(dir, p)
		want[filepath.ToSlash(rel)] = b
		return err
	}))
	got := map[string][]byte{}
	for p, f := range repo.Files {
		if p == ".gitattributes" {
			continue
		}
		if f.LFSOID != "" {
			b, ok := s.Object(f.LFSOID)
			require.True(t, ok, p)
			require.Equal(t, f.LFSOID, sha(b))
			got[p] = b
		} else {
			got[p] = f.Content
		}
	}
	assert.Equal(t, want, got)
}

func TestPushFresh(t *testing.T) {
	t.Parallel()
	s := newFake(t)
	dir := dataset(t)
	var logs bytes.Buffer
	w := &waits{}
	cfg := config(t, s, &logs, w)
	cfg.Private = true
	res, err := hub.Push(t.Context(), dir, cfg)
	require.NoError(t, err)

	checkRepo(t, s, dir)
	repo := s.Repo("acme/swe-data")
	assert.True(t, repo.Private)
	require.Len(t, repo.Commits, 1)
	assert.Equal(t, "Upload dataset with swemill", repo.Commits[0].Summary)
	assert.Equal(t, []string{
		"file README.md",
		"lfsFile data/tasks/train-00000-of-00001.parquet",
		"lfsFile data/trajectories/train-00000-of-00002.parquet",
		"lfsFile data/trajectories/train-00001-of-00002.parquet",
		"file manifest.json",
	}, repo.Commits[0].Ops)
	assert.Equal(t, repo.Commits[0].OID, res.CommitOID)
	assert.Contains(t, res.CommitURL, "/datasets/acme/swe-data/commit/")
	assert.ElementsMatch(t, []string{"data/tasks/train-00000-of-00001.parquet", "data/trajectories/train-00000-of-00002.parquet", "data/trajectories/train-00001-of-00002.parquet"}, res.Uploaded)
	assert.Empty(t, res.Stored)

	// One single PUT (3000 bytes) and two multipart uploads (5000 and 4500 bytes: 3 parts each).
	assert.Equal(t, 7, s.Count("storage", http.MethodPut, "/upload/"))
	assert.Equal(t, 2, s.Count("hub", http.MethodPost, hubtest.Prefix+"/api/complete_multipart"))
	assert.Equal(t, 3, s.Count("hub", http.MethodPost, hubtest.Prefix+"/datasets/acme/swe-data.git/info/lfs/objects/verify"))
	for _, r := range s.Requests() {
		switch {
		case r.Server == "storage", strings.HasSuffix(r.Path, "/api/complete_multipart"):
			assert.Empty(t, r.Auth, "%s %s must not carry the token", r.Method, r.Path)
		default:
			assert.NotEmpty(t, r.Auth, "%s %s", r.Method, r.Path)
		}
	}
	assert.Empty(t, w.d, "nothing failed, nothing waited")
	assert.NotContains(t, logs.String(), token)
	assert.Contains(t, logs.String(), "committed")
}

func TestRePushUploadsNothing(t *testing.T) {
	t.Parallel()
	s := newFake(t)
	dir := dataset(t)
	var logs bytes.Buffer
	cfg := config(t, s, &logs, &waits{})
	_, err := hub.Push(t.Context(), dir, cfg)
	require.NoError(t, err)
	puts := s.Count("storage", http.MethodPut, "/")

	res, err := hub.Push(t.Context(), dir, cfg)
	require.NoError(t, err)
	assert.True(t, res.NoChange)
	assert.Len(t, res.Unchanged, 5)
	assert.Equal(t, puts, s.Count("storage", http.MethodPut, "/"), "no upload")
	assert.Len(t, s.Repo("acme/swe-data").Commits, 1, "no empty commit")

	// A new card only: one regular file in the commit, no LFS upload.
	require.NoError(t, os.WriteFile(filepath.Join(dir, "README.md"), []byte("# new card\n"), 0o644))
	res, err = hub.Push(t.Context(), dir, cfg)
	require.NoError(t, err)
	assert.Equal(t, []string{"README.md"}, res.Committed)
	assert.Equal(t, puts, s.Count("storage", http.MethodPut, "/"))
	assert.Equal(t, 0, s.Count("hub", http.MethodPost, hubtest.Prefix+"/datasets/acme/swe-data.git/info/lfs/objects/batch")-1, "the first push's batch only")
	checkRepo(t, s, dir)
	assert.NotContains(t, logs.String(), token)
}

func TestPushDeletesStaleShards(t *testing.T) {
	t.Parallel()
	s := newFake(t)
	s.AddFile("acme/swe-data", "data/tasks/train-00000-of-00002.parquet", []byte("old shard 0"), true)
	s.AddFile("acme/swe-data", "data/tasks/train-00001-of-00002.parquet", []byte("old shard 1"), true)
	s.AddFile("acme/swe-data", "notes.txt", []byte("kept"), false)
	dir := dataset(t)
	var logs bytes.Buffer
	res, err := hub.Push(t.Context(), dir, config(t, s, &logs, &waits{}))
	require.NoError(t, err)
	assert.Equal(t, []string{"data/tasks/train-00000-of-00002.parquet", "data/tasks/train-00001-of-00002.parquet"}, res.Deleted)
	repo := s.Repo("acme/swe-data")
	assert.NotContains(t, repo.Files, "data/tasks/train-00000-of-00002.parquet")
	assert.Contains(t, repo.Files, "notes.txt", "only data/ is managed")
	assert.Contains(t, repo.Files, "data/tasks/train-00000-of-00001.parquet")
}

func TestPushResumesAfterInterruption(t *testing.T) {
	t.Parallel()
	s := newFake(t)
	dir := dataset(t)
	var logs bytes.Buffer
	cfg := config(t, s, &logs, &waits{})

	// The connection dies during the second object's upload (its first part).
	ctx, cancel := context.WithCancel(t.Context())
	var objects sync.Map
	s.FailFunc = func(r *http.Request) (int, string) {
		if r.Method == http.MethodPut && strings.HasPrefix(r.URL.Path, "/upload/") {
			oid := strings.Split(strings.TrimPrefix(r.URL.Path, "/upload/"), "/")[0]
			objects.Store(oid, true)
			n := 0
			objects.Range(func(any, any) bool { n++; return true })
			if n == 2 {
				cancel()
				return http.StatusServiceUnavailable, ""
			}
		}
		return 0, ""
	}
	_, err := hub.Push(ctx, dir, cfg)
	require.ErrorIs(t, err, context.Canceled)
	require.Empty(t, s.Repo("acme/swe-data").Commits)
	firstPuts := s.Requests()

	s.FailFunc = nil
	res, err := hub.Push(t.Context(), dir, cfg)
	require.NoError(t, err)
	checkRepo(t, s, dir)
	require.Len(t, res.Stored, 1, "the object uploaded before the interruption is not sent again")
	require.Len(t, res.Uploaded, 2)
	stored, _ := os.ReadFile(filepath.Join(dir, filepath.FromSlash(res.Stored[0])))
	for _, r := range s.Requests()[len(firstPuts):] {
		if r.Server == "storage" {
			assert.NotContains(t, r.Path, sha(stored), "re-uploaded %s", res.Stored[0])
		}
	}
}

func TestPushUnauthorized(t *testing.T) {
	t.Parallel()
	s := newFake(t)
	var logs bytes.Buffer
	cfg := config(t, s, &logs, &waits{})
	cfg.Token = "hf_wrongTOKEN"
	_, err := hub.Push(t.Context(), dataset(t), cfg)
	require.Error(t, err)
	assert.ErrorIs(t, err, hub.ErrUnauthorized)
	var serr *hub.StatusError
	require.ErrorAs(t, err, &serr)
	assert.Equal(t, http.StatusUnauthorized, serr.StatusCode)
	assert.Equal(t, "Invalid credentials in Authorization header", serr.Message)
	assert.NotContains(t, err.Error(), "hf_wrongTOKEN")
	assert.NotContains(t, logs.String(), "hf_wrongTOKEN")
	assert.Equal(t, 1, s.Count("hub", http.MethodPost, hubtest.Prefix+"/api/repos/create"), "a 401 is not retried")
	assert.Len(t, s.Requests(), 2, "the creation refused, the push looks the repository up once, and stops")
}

func TestPushRetriesServerErrors(t *testing.T) {
	t.Parallel()
	s := newFake(t)
	dir := dataset(t)
	var mu sync.Mutex
	seen := map[string]int{}
	s.FailFunc = func(r *http.Request) (int, string) {
		mu.Lock()
		defer mu.Unlock()
		key := r.Method + " " + r.URL.Path
		seen[key]++
		switch {
		case strings.Contains(key, "/preupload/") && seen[key] <= 2:
			return http.StatusBadGateway, ""
		case strings.HasSuffix(key, "/objects/batch") && seen[key] == 1:
			return http.StatusTooManyRequests, "7"
		case strings.HasPrefix(key, "PUT /upload/") && seen[key] == 1:
			return http.StatusInternalServerError, ""
		case strings.Contains(key, "/commit/") && seen[key] == 1:
			return http.StatusServiceUnavailable, ""
		}
		return 0, ""
	}
	var logs bytes.Buffer
	w := &waits{}
	cfg := config(t, s, &logs, w)
	_, err := hub.Push(t.Context(), dir, cfg)
	require.NoError(t, err)
	checkRepo(t, s, dir)
	require.NotEmpty(t, w.d)
	assertBackoffs(t, []time.Duration{time.Second, 2 * time.Second}, w.d[:2], "preupload backs off exponentially")
	assert.Equal(t, 7*time.Second, w.d[2], "the 429's Retry-After is honoured")
	assert.Equal(t, 2+1+7+1, len(w.d), "2 preupload, 1 batch, 7 first part or object PUTs, 1 commit")
	assert.NotContains(t, logs.String(), token)
}

func TestPushGivesUp(t *testing.T) {
	t.Parallel()
	s := newFake(t)
	s.FailFunc = func(r *http.Request) (int, string) { return http.StatusInternalServerError, "" }
	var logs bytes.Buffer
	w := &waits{}
	cfg := config(t, s, &logs, w)
	cfg.MaxAttempts = 3
	_, err := hub.Push(t.Context(), dataset(t), cfg)
	var serr *hub.StatusError
	require.ErrorAs(t, err, &serr)
	assert.Equal(t, http.StatusInternalServerError, serr.StatusCode)
	assert.Contains(t, err.Error(), "giving up after 3 tries")
	assert.Len(t, s.Requests(), 3)
	assertBackoffs(t, []time.Duration{time.Second, 2 * time.Second}, w.d)
}

// assertBackoffs checks waits against backoffs: each wait is its backoff less its jitter (up
// to a quarter).
func assertBackoffs(t *testing.T, want, got []time.Duration, msgAndArgs ...any) {
	t.Helper()
	require.Len(t, got, len(want), msgAndArgs...)
	for i := range want {
		assert.LessOrEqual(t, got[i], want[i], msgAndArgs...)
		assert.GreaterOrEqual(t, got[i], want[i]*3/4, msgAndArgs...)
	}
}

func TestPushCreatePR(t *testing.T) {
	t.Parallel()
	s := newFake(t)
	dir := dataset(t)
	var logs bytes.Buffer
	cfg := config(t, s, &logs, &waits{})
	_, err := hub.Push(t.Context(), dir, cfg)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "README.md"), []byte("# proposed\n"), 0o644))
	cfg.CreatePR = true
	res, err := hub.Push(t.Context(), dir, cfg)
	require.NoError(t, err)
	assert.Contains(t, res.PullRequestURL, "/datasets/acme/swe-data/discussions/1")
	repo := s.Repo("acme/swe-data")
	require.Len(t, repo.PRs, 1)
	assert.Equal(t, []string{"file README.md"}, repo.PRs[0].Ops)
	assert.Len(t, repo.Commits, 1, "main is untouched")
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		cfg  hub.Config
		want string
	}{
		{hub.Config{Repo: "a/b"}, "Token"},
		{hub.Config{Token: "t", Repo: "nameonly"}, "Repo"},
		{hub.Config{Token: "t", Repo: "a/b/c"}, "Repo"},
		{hub.Config{Token: "t", Repo: "a/b", Endpoint: "ftp://x"}, "Endpoint"},
		{hub.Config{Token: "t", Repo: "a/b", MaxAttempts: -1}, "MaxAttempts"},
	} {
		err := tc.cfg.Validate()
		require.Error(t, err)
		assert.Contains(t, err.Error(), tc.want)
		assert.NotContains(t, err.Error(), `"t"`)
	}
	require.NoError(t, hub.Config{Token: "t", Repo: "a/b"}.Validate())
}

func TestPushTransportErrorHidesToken(t *testing.T) {
	t.Parallel()
	var logs bytes.Buffer
	w := &waits{}
	cfg := hub.Config{Endpoint: "http://127.0.0.1:1/hf", Token: token, Repo: "acme/x", Wait: w.wait, MaxAttempts: 2,
		Log: zerolog.New(&logs).Level(zerolog.DebugLevel)}
	_, err := hub.Push(t.Context(), dataset(t), cfg)
	require.Error(t, err)
	assert.False(t, errors.Is(err, hub.ErrUnauthorized))
	assert.NotContains(t, err.Error(), token)
	assert.NotContains(t, logs.String(), token)
	assert.Len(t, w.d, 1, "a transport error is retried")
}

// TestPushGoesOnWhenCreatingIsRefused: the Hub answers 401, 402 or 403 rather than 409 when
// the token may not create repositories in the namespace; the push looks the repository up
// and goes on when it is there (a pull request to another namespace's repository too).
func TestPushGoesOnWhenCreatingIsRefused(t *testing.T) {
	t.Parallel()
	for _, status := range []int{http.StatusUnauthorized, http.StatusPaymentRequired, http.StatusForbidden} {
		t.Run(strconv.Itoa(status), func(t *testing.T) {
			t.Parallel()
			s := newFake(t)
			dir := dataset(t)
			var logs bytes.Buffer
			cfg := config(t, s, &logs, &waits{})
			_, err := hub.Push(t.Context(), dir, cfg)
			require.NoError(t, err)
			s.ExistingCreateStatus = status
			require.NoError(t, os.WriteFile(filepath.Join(dir, "README.md"), []byte("# proposed\n"), 0o644))
			cfg.CreatePR = true
			res, err := hub.Push(t.Context(), dir, cfg)
			require.NoError(t, err)
			assert.Contains(t, res.PullRequestURL, "/discussions/1")
			assert.Len(t, s.Repo("acme/swe-data").PRs, 1)
		})
	}
	t.Run("missing", func(t *testing.T) {
		t.Parallel()
		s := newFake(t)
		s.FailFunc = func(r *http.Request) (int, string) {
			if strings.HasSuffix(r.URL.Path, "/api/repos/create") {
				return http.StatusForbidden, ""
			}
			return 0, ""
		}
		_, err := hub.Push(t.Context(), dataset(t), config(t, s, &bytes.Buffer{}, &waits{}))
		require.ErrorIs(t, err, hub.ErrForbidden, "the repository is not there: the refusal stands")
		assert.Contains(t, err.Error(), "creating repo")
	})
}

func TestPushLeavesVisibilityToTheNamespace(t *testing.T) {
	t.Parallel()
	s := newFake(t)
	cfg := config(t, s, &bytes.Buffer{}, &waits{})
	_, err := hub.Push(t.Context(), dataset(t), cfg)
	require.NoError(t, err)
	assert.False(t, s.Repo("acme/swe-data").VisibilityGiven, "without --private the namespace's default applies")
	cfg.Repo = "acme/private-data"
	cfg.Private = true
	_, err = hub.Push(t.Context(), dataset(t), cfg)
	require.NoError(t, err)
	r := s.Repo("acme/private-data")
	assert.True(t, r.VisibilityGiven && r.Private)
}

// TestLostCommitAnswerCommitsOnce: a commit whose answer is lost after it landed is not sent
// again (that would make a second commit); the push reads the revision instead.
func TestLostCommitAnswerCommitsOnce(t *testing.T) {
	t.Parallel()
	s := newFake(t)
	dir := dataset(t)
	s.LostCommitAnswers = 1
	var logs bytes.Buffer
	res, err := hub.Push(t.Context(), dir, config(t, s, &logs, &waits{}))
	require.NoError(t, err)
	checkRepo(t, s, dir)
	repo := s.Repo("acme/swe-data")
	require.Len(t, repo.Commits, 1, "one commit, not two")
	assert.Equal(t, repo.Commits[0].OID, res.CommitOID, "the commit's id, read from the revision")
	assert.Contains(t, res.CommitURL, repo.Commits[0].OID)
	assert.Equal(t, 1, s.Count("hub", http.MethodPost, hubtest.Prefix+"/api/datasets/acme/swe-data/commit/"))
	assert.Contains(t, logs.String(), "answer to the commit was lost")

	t.Run("pull request", func(t *testing.T) {
		require.NoError(t, os.WriteFile(filepath.Join(dir, "README.md"), []byte("# proposed\n"), 0o644))
		s.LostCommitAnswers = 1
		cfg := config(t, s, &bytes.Buffer{}, &waits{})
		cfg.CreatePR = true
		_, err := hub.Push(t.Context(), dir, cfg)
		require.Error(t, err)
		assert.Contains(t, err.Error(), "may have opened the pull request")
		assert.Len(t, s.Repo("acme/swe-data").PRs, 1, "no second pull request")
	})
}

// TestPushWaitsOutTheHubsRateLimit: a 429 with the Hub's RateLimit header and no Retry-After
// waits until the 5-minute window resets, past the backoff's cap, and does not give up.
func TestPushWaitsOutTheHubsRateLimit(t *testing.T) {
	t.Parallel()
	s := newFake(t)
	dir := dataset(t)
	w := &waits{}
	waited := func() time.Duration {
		w.mu.Lock()
		defer w.mu.Unlock()
		var total time.Duration
		for _, d := range w.d {
			total += d
		}
		return total
	}
	s.RateLimitFunc = func(r *http.Request) int {
		if left := 200*time.Second - waited(); strings.Contains(r.URL.Path, "/preupload/") && left > 0 {
			return int(left.Seconds())
		}
		return 0
	}
	_, err := hub.Push(t.Context(), dir, config(t, s, &bytes.Buffer{}, w))
	require.NoError(t, err)
	checkRepo(t, s, dir)
	assert.Equal(t, []time.Duration{201 * time.Second}, w.d, "one wait: the window's reset and a second")
}
