package main

import (
	"context"
	"errors"
	"flag"
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

	// Global settings, from flags.
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

type command struct {
	name    string
	args    string
	summary string
	run     func(ctx context.Context, a *app, args []string) error
}

// commands lists swemill's commands in the order help shows them.
var commands = []command{
	{"run", "[flags]", "mine, build, validate and roll out: work the chain until nothing is left", cmdRun},
	{"status", "[--json]", "the funnel: per stage, instances by state and the top drop reasons", cmdStatus},
	{"ls", "[flags]", "list instances with their state in each stage", cmdList},
	{"show", "ID [--json]", "one instance: its states, history, artifacts and the log of a failed step", cmdShow},
	{"recipe", "ID | --repo DIR", "print an instance's stored recipe, or the one a checkout would get, as a spec file", cmdRecipe},
	{"rerun", "STAGE selectors", "queue a stage again for the selected instances (and invalidate later stages)", cmdRerun},
	{"base", "build", "bootstrap the base images from Debian's packages (no registry needed)", cmdBase},
	{"images", "ls | gc", "list swemill's images by layer, or collect the least recently used", cmdImages},
	{"snapshot", "--out DIR", "record repositories from GitHub into an offline snapshot (mine.source: snapshot)", cmdSnapshot},
	{"report", "--out FILE", "write the run as one self-contained HTML page (funnel, repositories, timings, flaky tests, rollouts)", cmdReport},
	{"ui", "[--addr HOST:PORT]", "serve the live report and River's web UI on localhost, to watch a long run", cmdUI},
	{"export", "--out DIR", "write the dataset: Parquet shards, card and manifest, laid out for the Hub", cmdExport},
	{"push", "--repo ORG/NAME", "upload an exported dataset to the Hugging Face Hub (token in HF_TOKEN)", cmdPush},
	{"version", "", "print swemill's version", cmdVersion},
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
// here and nowhere else.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string, wire stageWiring) int {
	a := &app{stdin: stdin, stdout: stdout, stderr: stderr, getenv: getenv, wire: wire}
	if f, ok := stderr.(*os.File); ok {
		a.stderrTTY = isatty.IsTerminal(f.Fd())
	}
	a.logOut = &switchWriter{w: stderr}
	err := a.dispatch(ctx, args)
	if err == nil {
		return exitOK
	}
	var ue usageError
	var cause errInterrupted
	var busy *runstore.BusyError
	switch {
	case errors.As(err, &busy):
		fmt.Fprintf(stderr, "swemill: %v\n", err)
		return exitBusy
	case errors.As(context.Cause(ctx), &cause):
		fmt.Fprintf(stderr, "swemill: %v\n", err)
		return exitInterrupted
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "swemill: %v\n", err)
		return exitUsage
	case errors.Is(err, flag.ErrHelp):
		return exitOK
	case errors.Is(err, errIncomplete):
		fmt.Fprintf(stderr, "swemill: %v\n", err)
		return exitIncomplete
	default:
		fmt.Fprintf(stderr, "swemill: %v\n", err)
		return exitError
	}
}

func (a *app) dispatch(ctx context.Context, args []string) error {
	global := a.flagSet("swemill")
	global.Usage = func() { a.usage(a.stderr) }
	if err := global.Parse(args); err != nil {
		return a.flagError(err)
	}
	args = global.Args()
	if len(args) == 0 {
		a.usage(a.stderr)
		return usagef("no command given")
	}
	name, rest := args[0], args[1:]
	if name == "help" {
		if len(rest) > 0 {
			return a.dispatch(ctx, []string{rest[0], "-h"})
		}
		a.usage(a.stdout)
		return nil
	}
	for _, c := range commands {
		if c.name == name {
			return c.run(ctx, a, rest)
		}
	}
	return usagef("unknown command %q (see swemill help)", name)
}

func (a *app) usage(w io.Writer) {
	fmt.Fprintf(w, "swemill mills merged GitHub pull requests into executable SWE training data.\n\n")
	fmt.Fprintf(w, "Usage: swemill [global flags] COMMAND [flags]\n\nCommands:\n")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-8s %-16s %s\n", c.name, c.args, c.summary)
	}
	fmt.Fprintf(w, "\nGlobal flags (before or after the command):\n")
	fs := a.flagSet("swemill")
	fs.SetOutput(w)
	fs.PrintDefaults()
	fmt.Fprintf(w, "\nRun 'swemill help COMMAND' for a command's flags.\n")
}

// flagSet returns a FlagSet carrying the global flags, which every command accepts.
func (a *app) flagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(a.stderr)
	def := a.dir
	if def == "" {
		def = a.getenv("SWEMILL_DIR")
	}
	if def == "" {
		def = "."
	}
	fs.StringVar(&a.dir, "dir", def, "run directory (or $SWEMILL_DIR)")
	fs.StringVar(&a.configPath, "config", a.configPath, "configuration file (default: swemill.yaml in the run directory)")
	fs.StringVar(&a.database, "database", a.database, "postgres:// URL to share a run between machines (default: SQLite in the run directory)")
	fs.StringVar(&a.logLevel, "log-level", a.logLevel, "debug, info, warn or error (default info)")
	fs.StringVar(&a.logFormat, "log-format", a.logFormat, "auto, console or json (default auto: readable on a terminal, JSON otherwise)")
	return fs
}

// parse parses a command's flags; positional arguments may come before or after flags.
func (a *app) parse(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, a.flagError(err)
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		if args[0] == "--" {
			return append(pos, args[1:]...), nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

func (a *app) flagError(err error) error {
	if errors.Is(err, flag.ErrHelp) {
		return err
	}
	return usageError{err.Error()}
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

// stringList is a repeatable string flag.
type stringList []string

func (s *stringList) String() string { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error {
	*s = append(*s, v)
	return nil
}

// stageMap is a repeatable stage=value flag.
type stageMap map[string]string

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
