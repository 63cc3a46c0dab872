package pipelinetest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Tests reach PostgreSQL through SWEMILL_TEST_POSTGRES (an admin URL of a server to create
// throwaway databases on), or else a private server started from Debian's postgresql
// binaries in a temporary directory for the life of the test binary.

var pg struct {
	once    sync.Once
	url     string // admin URL, database "postgres"
	dataDir string
	bin     string
	asUser  string
	err     error
	seq     int
	mu      sync.Mutex
}

// Postgres returns the URL of a new, empty database. Without a PostgreSQL server it fails the
// test (`make test` installs Debian's postgresql). Call StopPostgres from TestMain.
func Postgres(tb testing.TB) string {
	tb.Helper()
	pg.once.Do(startPostgres)
	if pg.err != nil {
		tb.Fatalf("no PostgreSQL server for this test (%v): run `make deps` (Debian's postgresql) or set SWEMILL_TEST_POSTGRES", pg.err)
	}
	pg.mu.Lock()
	pg.seq++
	name := fmt.Sprintf("swemill_test_%d_%d", os.Getpid(), pg.seq)
	pg.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, pg.url)
	if err != nil {
		tb.Fatalf("connecting to the test PostgreSQL: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		tb.Fatalf("creating test database: %v", err)
	}
	return withDatabase(pg.url, name)
}

func withDatabase(url, name string) string {
	base, query, _ := strings.Cut(url, "?")
	i := strings.LastIndex(base, "/")
	if i < len("postgres://") {
		base += "/"
		i = len(base) - 1
	}
	out := base[:i+1] + name
	if query != "" {
		out += "?" + query
	}
	return out
}

// StopPostgres stops the private server, if one was started.
func StopPostgres() {
	if pg.dataDir == "" {
		return
	}
	cmd := pgCommand(filepath.Join(pg.bin, "pg_ctl"), "-D", pg.dataDir, "-m", "immediate", "-w", "stop")
	_ = cmd.Run()
	_ = os.RemoveAll(filepath.Dir(pg.dataDir))
}

func startPostgres() {
	if u := os.Getenv("SWEMILL_TEST_POSTGRES"); u != "" {
		pg.url = u
		return
	}
	bin, err := findPostgresBin()
	if err != nil {
		pg.err = err
		return
	}
	pg.bin = bin
	if os.Geteuid() == 0 {
		// PostgreSQL refuses to run as root.
		if _, err := user.Lookup("postgres"); err != nil {
			pg.err = fmt.Errorf("running as root and there is no postgres user: %w", err)
			return
		}
		pg.asUser = "postgres"
	}
	root, err := os.MkdirTemp("", "swemill-pg-")
	if err != nil {
		pg.err = err
		return
	}
	data := filepath.Join(root, "data")
	if pg.asUser != "" {
		if err := exec.Command("chown", "-R", pg.asUser, root).Run(); err != nil {
			pg.err = fmt.Errorf("chown %s: %w", root, err)
			return
		}
	}
	if out, err := pgCommand(filepath.Join(bin, "initdb"), "-D", data, "-U", "postgres", "-A", "trust", "--no-sync").CombinedOutput(); err != nil {
		pg.err = fmt.Errorf("initdb: %v: %s", err, out)
		return
	}
	port, err := freePort()
	if err != nil {
		pg.err = err
		return
	}
	opts := fmt.Sprintf("-k %s -p %d -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200", root, port)
	if out, err := pgCommand(filepath.Join(bin, "pg_ctl"), "-D", data, "-o", opts, "-l", filepath.Join(root, "log"), "-w", "-t", "60", "start").CombinedOutput(); err != nil {
		log, _ := os.ReadFile(filepath.Join(root, "log"))
		pg.err = fmt.Errorf("pg_ctl start: %v: %s %s", err, out, log)
		return
	}
	pg.dataDir = data
	pg.url = fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", port)
}

func pgCommand(name string, args ...string) *exec.Cmd {
	if pg.asUser != "" {
		return exec.Command("runuser", append([]string{"-u", pg.asUser, "--", name}, args...)...)
	}
	return exec.Command(name, args...)
}

func findPostgresBin() (string, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return versionOf(dirs[i]) > versionOf(dirs[j]) })
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d, nil
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		return filepath.Dir(p), nil
	}
	return "", fmt.Errorf("no initdb found under /usr/lib/postgresql/*/bin or on PATH")
}

func versionOf(binDir string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return v
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
