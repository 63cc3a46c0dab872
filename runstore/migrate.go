package runstore

import (
	"context"
	"embed"
	"fmt"
	"io"
	"log/slog"
	"path"
	"sort"
	"strconv"
	"strings"
)

//go:embed migrations/sqlite/*.sql migrations/postgres/*.sql
var migrationFS embed.FS

type migration struct {
	version int
	name    string
	sql     string
}

// migrations lists the dialect's migrations, ordered by the number their file name starts with.
func migrations(dbKind string) ([]migration, error) {
	dir := "migrations/" + dbKind
	entries, err := migrationFS.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var ms []migration
	for _, e := range entries {
		num, _, ok := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil {
			return nil, fmt.Errorf("migration file %s does not start with a number", e.Name())
		}
		data, err := migrationFS.ReadFile(path.Join(dir, e.Name()))
		if err != nil {
			return nil, err
		}
		ms = append(ms, migration{version: v, name: e.Name(), sql: string(data)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	return ms, nil
}

// migrateSwemill applies swemill's pending migrations with q, inside the caller's transaction.
// A database newer than this build is refused rather than written to.
func migrateSwemill(ctx context.Context, q querier, dbKind string) error {
	if _, err := q.exec(ctx, `CREATE TABLE IF NOT EXISTS swemill_schema (version BIGINT NOT NULL)`); err != nil {
		return fmt.Errorf("creating swemill_schema: %w", err)
	}
	var current int
	if err := q.queryRow(ctx, `SELECT COALESCE(MAX(version), 0) FROM swemill_schema`).Scan(&current); err != nil {
		return fmt.Errorf("reading schema version: %w", err)
	}
	ms, err := migrations(dbKind)
	if err != nil {
		return err
	}
	if newest := ms[len(ms)-1].version; current > newest {
		return fmt.Errorf("the database has schema version %d, newer than this swemill's %d: upgrade swemill", current, newest)
	}
	for _, m := range ms {
		if m.version <= current {
			continue
		}
		for _, stmt := range splitStatements(m.sql) {
			if _, err := q.exec(ctx, stmt); err != nil {
				return fmt.Errorf("applying migration %s: %w", m.name, err)
			}
		}
		if _, err := q.exec(ctx, `INSERT INTO swemill_schema (version) VALUES ($1)`, m.version); err != nil {
			return fmt.Errorf("recording migration %s: %w", m.name, err)
		}
	}
	return nil
}

// splitStatements splits a migration file on semicolons that end a line; comments are dropped.
func splitStatements(sql string) []string {
	var out []string
	var cur strings.Builder
	for _, line := range strings.Split(sql, "\n") {
		trimmed := strings.TrimSpace(line)
		if trimmed == "" || strings.HasPrefix(trimmed, "--") {
			continue
		}
		cur.WriteString(line)
		cur.WriteByte('\n')
		if strings.HasSuffix(trimmed, ";") {
			out = append(out, strings.TrimSpace(cur.String()))
			cur.Reset()
		}
	}
	if s := strings.TrimSpace(cur.String()); s != "" {
		out = append(out, s)
	}
	return out
}

// discardSlog is River's logger when swemill has nothing to say through it.
func discardSlog() *slog.Logger {
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}
