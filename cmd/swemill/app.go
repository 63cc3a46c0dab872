package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"sync"

	"github.com/mattn/go-isatty"
	"github.com/rs/zerolog"

	"swemill/pipeline"
	"swemill/runstore"
)

// app is one invocation of swemill: its streams, environment and global settings.
type app struct {
	stdout, stderr io.Writer
	stdin          io.Reader
	getenv         func(string) string
	wire           stageWiring

	// Global settings, from the root command's persistent flags (newRootCmd).
	dir        string
	configPath string
	database   string
	logLevel   string
	logFormat  string

	// stderrTTY is whether stderr is a terminal (readable logs, progress bars).
	stderrTTY bool
	// logOut is where log lines go; progress bars redirect it above themselves.
	logOut *switchWriter
}

// usageError is a mistake in the command line or the configuration: exit code 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

// Exit codes.
const (
	exitOK          = 0
	exitError       = 1
	exitUsage       = 2
	exitIncomplete  = 3 // the run stopped before its work was done (not by a signal)
	exitBusy        = 4 // another process is working the run directory
	exitInterrupted = 130
)

// errIncomplete says a run stopped with work left (e.g. its context ended).
var errIncomplete = errors.New("the run stopped before its work was done")

// run executes swemill with args and returns the process's exit code. Exit codes are decided
// here and nowhere else; the commands only return errors.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string, wire stageWiring) int {
	a := &app{stdin: stdin, stdout: stdout, stderr: stderr, getenv: getenv, wire: wire}
	if f, ok := stderr.(*os.File); ok {
		a.stderrTTY = isatty.IsTerminal(f.Fd())
	}
	a.logOut = &switchWriter{w: stderr}
	root := newRootCmd(a)
	if args == nil {
		args = []string{} // nil would make cobra read os.Args
	}
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	fmt.Fprintf(stderr, "swemill: %v\n", err)
	var ue usageError
	var cause errInterrupted
	var busy *runstore.BusyError
	switch {
	case errors.As(err, &busy):
		return exitBusy
	case errors.As(context.Cause(ctx), &cause):
		return exitInterrupted
	case errors.As(err, &ue):
		return exitUsage
	case errors.Is(err, errIncomplete):
		return exitIncomplete
	default:
		return exitError
	}
}

// setup loads the configuration and makes the logger.
func (a *app) setup() (*Config, zerolog.Logger, error) {
	cfg, _, err := loadConfig(a.configPath, a.dir)
	if err != nil {
		return nil, zerolog.Nop(), usageError{err.Error()}
	}
	if a.database != "" {
		cfg.Database = a.database
	}
	if a.logLevel != "" {
		cfg.Log.Level = a.logLevel
	}
	if a.logFormat != "" {
		cfg.Log.Format = a.logFormat
	}
	if err := cfg.validate(); err != nil {
		return nil, zerolog.Nop(), usageError{err.Error()}
	}
	return cfg, a.logger(cfg.Log), nil
}

func (a *app) logger(c LogConfig) zerolog.Logger {
	level := zerolog.InfoLevel
	if c.Level != "" {
		level, _ = zerolog.ParseLevel(c.Level)
	}
	var w io.Writer = a.logOut
	if c.Format == "console" || (c.Format == "" || c.Format == "auto") && a.stderrTTY {
		w = zerolog.ConsoleWriter{Out: a.logOut, TimeFormat: "15:04:05"}
	}
	return zerolog.New(w).Level(level).With().Timestamp().Logger()
}

// openStore opens the run's store; readOnly for commands that only look.
func (a *app) openStore(ctx context.Context, cfg *Config, log zerolog.Logger, readOnly bool) (*runstore.Store, error) {
	return runstore.Open(ctx, runstore.Options{
		Dir: a.dir, Create: !readOnly, Database: cfg.Database, ArtifactsDir: cfg.ArtifactsDir,
		ReadOnly: readOnly, Log: log,
	})
}

// readStore loads the configuration and opens the run's store for reading.
func (a *app) readStore(ctx context.Context) (*runstore.Store, error) {
	cfg, log, err := a.setup()
	if err != nil {
		return nil, err
	}
	return a.openStore(ctx, cfg, log, true)
}

// stageMap is a repeatable STAGE=VALUE flag (pflag.Value); one use may also give several,
// comma-separated. A later value for a stage replaces an earlier one.
type stageMap map[string]string

func (m stageMap) Type() string { return "STAGE=VALUE" }

func (m stageMap) String() string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k+"="+m[k])
	}
	sort.Strings(keys)
	return strings.Join(keys, ",")
}

func (m stageMap) Set(v string) error {
	for _, part := range strings.Split(v, ",") {
		k, val, ok := strings.Cut(part, "=")
		if !ok || pipeline.StageIndex(k) < 0 || val == "" {
			return fmt.Errorf("%q is not STAGE=VALUE with a stage among %s", part, strings.Join(pipeline.Stages, ", "))
		}
		m[k] = val
	}
	return nil
}

// switchWriter is an io.Writer whose destination can change (log lines go above progress
// bars while they are shown). It is safe for concurrent use.
type switchWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *switchWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

// set changes the destination and returns the previous one.
func (s *switchWriter) set(w io.Writer) io.Writer {
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.w
	s.w = w
	return old
}
