// Package gitexec runs git the one way swemill runs it: with a configuration independent of
// the machine's (no user or system configuration, no inherited variables that point git at
// another repository or inject settings), never prompting for credentials, in the C locale,
// in its own process group that is killed whole when the context ends, and with bounded
// output. Every git command of swemill's stages and tools goes through Run or Command.
package gitexec

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"time"
)

// DefaultMaxOutput is the most standard output Run keeps when Options.MaxOutput is 0: far
// above any diff or listing swemill reads, low enough that a runaway command cannot exhaust
// memory.
const DefaultMaxOutput = 256 << 20

// maxStderr is how much of git's standard error an *Error keeps: the first and the last
// maxStderr/2 bytes.
const maxStderr = 2000

// waitDelay bounds how long Wait waits for git's output pipes after git is killed (a
// process git started, such as a credential helper or ssh, may hold them open).
const waitDelay = 5 * time.Second

// ErrOutputTooLarge says that a command wrote more than its Options.MaxOutput bytes of
// standard output; the command was killed.
var ErrOutputTooLarge = errors.New("git output exceeds its limit")

// Options are the optional parts of a run.
type Options struct {
	// Env holds variables added to the cleaned environment ("GIT_INDEX_FILE=...").
	Env []string
	// Stdin is written to git's standard input; empty means none.
	Stdin string
	// MaxOutput is the most bytes of standard output kept; a command that writes more is
	// killed and fails with ErrOutputTooLarge. 0 means DefaultMaxOutput.
	MaxOutput int64
}

// Error is a git command that failed: it exited with a non-zero status, or did not run, or
// was killed (ExitCode -1, Err says why: the context's cause, ErrOutputTooLarge, or the
// reason git could not start).
type Error struct {
	// Args are git's arguments; URLs in them lose any user info in Error().
	Args []string
	// ExitCode is git's exit status, or -1 when git did not run or was killed.
	ExitCode int
	// Stderr is git's standard error, trimmed, with its middle cut when it is long.
	Stderr string
	// Err is why git did not run or was stopped; nil when it exited by itself.
	Err error
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("git ")
	b.WriteString(redact(strings.Join(e.Args, " ")))
	if e.Err != nil {
		fmt.Fprintf(&b, ": %v", e.Err)
	} else {
		fmt.Fprintf(&b, ": exit %d", e.ExitCode)
	}
	if e.Stderr != "" {
		b.WriteString(": ")
		b.WriteString(redact(e.Stderr))
	}
	return b.String()
}

// Unwrap returns Err, so errors.Is(err, context.DeadlineExceeded) holds for a git killed by
// its deadline.
func (e *Error) Unwrap() error { return e.Err }

// Run runs git with args in dir (the work tree, or the git directory of a bare repository;
// "" means the current directory) and returns its standard output. A failure is an *Error.
func Run(ctx context.Context, dir string, args ...string) (string, error) {
	return RunWith(ctx, dir, Options{}, args...)
}

// RunWith is Run with options.
func RunWith(ctx context.Context, dir string, opt Options, args ...string) (string, error) {
	limit := opt.MaxOutput
	if limit <= 0 {
		limit = DefaultMaxOutput
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	cmd := Command(ctx, dir, args...)
	cmd.Env = append(cmd.Env, opt.Env...)
	if opt.Stdin != "" {
		cmd.Stdin = strings.NewReader(opt.Stdin)
	}
	out := &limitedBuffer{limit: limit, exceeded: func() { cancel(ErrOutputTooLarge) }}
	errb := &headTail{n: maxStderr / 2}
	cmd.Stdout, cmd.Stderr = out, errb
	err := cmd.Run()
	if err == nil {
		return out.buf.String(), nil
	}
	ge := &Error{Args: args, ExitCode: -1, Stderr: errb.String()}
	var ee *exec.ExitError
	switch {
	case context.Cause(ctx) != nil:
		ge.Err = context.Cause(ctx)
	case errors.As(err, &ee) && ee.Exited():
		ge.ExitCode = ee.ExitCode()
	default:
		ge.Err = err
	}
	return out.buf.String(), ge
}

// Command returns an unstarted git command set up as Run's are (environment, process group
// killed when ctx ends, bounded wait for its pipes), for callers that stream its input or
// output themselves (git cat-file --batch). The caller sets Stdin, Stdout and Stderr or
// their pipes, and may append to Env.
func Command(ctx context.Context, dir string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Dir = dir
	cmd.Env = Environ(os.Environ())
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error {
		// The whole group: a credential helper or transport git started goes too.
		return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
	cmd.WaitDelay = waitDelay
	return cmd
}

// inherited lists the variables dropped from the parent's environment: those that point git
// at another repository, index or object store, and those that inject configuration.
var inherited = []string{
	"GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY",
	"GIT_ALTERNATE_OBJECT_DIRECTORIES", "GIT_COMMON_DIR", "GIT_NAMESPACE",
	"GIT_CONFIG", "GIT_CONFIG_PARAMETERS", "GIT_CONFIG_COUNT",
}

// Environ returns environ (the parent's environment, as os.Environ gives it) cleaned for
// git: without the variables that would make git read another repository or configuration,
// plus no user or system configuration, no prompts (GIT_TERMINAL_PROMPT=0,
// GIT_ASKPASS=/bin/false) and the C locale.
func Environ(environ []string) []string {
	out := make([]string, 0, len(environ)+6)
	for _, kv := range environ {
		k, _, _ := strings.Cut(kv, "=")
		if dropped(k) {
			continue
		}
		out = append(out, kv)
	}
	return append(out, "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1",
		"GIT_TERMINAL_PROMPT=0", "GIT_ASKPASS=/bin/false", "LC_ALL=C")
}

func dropped(k string) bool {
	for _, d := range inherited {
		if k == d {
			return true
		}
	}
	// GIT_CONFIG_KEY_<n> and GIT_CONFIG_VALUE_<n> go with GIT_CONFIG_COUNT.
	return strings.HasPrefix(k, "GIT_CONFIG_KEY_") || strings.HasPrefix(k, "GIT_CONFIG_VALUE_")
}

// urlUser matches the user info of a URL.
var urlUser = regexp.MustCompile(`(://)[^/@\s]+@`)

// redact removes user info (which may hold a token) from URLs in s.
func redact(s string) string {
	return urlUser.ReplaceAllString(s, "${1}***@")
}

// limitedBuffer keeps up to limit bytes; past that it calls exceeded once and refuses writes.
type limitedBuffer struct {
	buf      bytes.Buffer
	limit    int64
	exceeded func()
	over     bool
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if b.over {
		return 0, ErrOutputTooLarge
	}
	if int64(b.buf.Len())+int64(len(p)) > b.limit {
		b.over = true
		b.exceeded()
		return 0, ErrOutputTooLarge
	}
	return b.buf.Write(p)
}

// headTail keeps the first n and the last n bytes written to it.
type headTail struct {
	n       int
	head    []byte
	tail    []byte
	skipped bool
}

func (h *headTail) Write(p []byte) (int, error) {
	written := len(p)
	if room := h.n - len(h.head); room > 0 {
		k := min(room, len(p))
		h.head = append(h.head, p[:k]...)
		p = p[k:]
	}
	if len(p) == 0 {
		return written, nil
	}
	if len(p) >= h.n {
		h.skipped = h.skipped || len(h.tail) > 0 || len(p) > h.n
		h.tail = append(h.tail[:0], p[len(p)-h.n:]...)
		return written, nil
	}
	h.tail = append(h.tail, p...)
	if over := len(h.tail) - h.n; over > 0 {
		h.tail = append(h.tail[:0], h.tail[over:]...)
		h.skipped = true
	}
	return written, nil
}

// String returns what was kept, trimmed, with "..." where bytes were left out.
func (h *headTail) String() string {
	if h.skipped {
		return strings.TrimSpace(string(h.head)) + " ... " + strings.TrimSpace(string(h.tail))
	}
	return strings.TrimSpace(string(h.head) + string(h.tail))
}
