package rollout

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"swemill/envbuild/sandbox"
)

// RoleRollout is the sandbox.LabelRole of rollout containers.
const RoleRollout = "rollout"

// LabelSample is added to rollout containers, with sandbox.LabelInstance.
const LabelSample = "swemill.sample"

// DockerRuntime runs each workspace in its own sandbox workspace container
// (sandbox.Sandbox.StartWorkspace: no network, capabilities dropped, no-new-privileges,
// memory, CPU, pids and disk limits, non-root user, labelled with the run), kept alive for
// the whole rollout, with two persistent bash sessions (sandbox.Shell): the agent's shell
// and a private one for file operations and the final diff. It is safe for concurrent use.
type DockerRuntime struct {
	sb  *sandbox.Sandbox
	cfg DockerConfig
}

// DockerConfig configures a DockerRuntime.
type DockerConfig struct {
	// Sandbox sets the containers' limits and run label (Sandbox.RunID is required).
	Sandbox sandbox.Config
	// OutputLimit is how many bytes of a command's output the agent's shell keeps (head and
	// tail). Default 64 KiB.
	OutputLimit int
	// MaxFileBytes is the largest file the editor reads or writes. Default 8 MiB.
	MaxFileBytes int
	// OpTimeout bounds one file operation or the final diff. Default 2 minutes.
	OpTimeout time.Duration
}

func (c DockerConfig) withDefaults() DockerConfig {
	if c.OutputLimit == 0 {
		c.OutputLimit = 64 << 10
	}
	if c.MaxFileBytes == 0 {
		c.MaxFileBytes = 8 << 20
	}
	if c.OpTimeout == 0 {
		c.OpTimeout = 2 * time.Minute
	}
	return c
}

// NewDockerRuntime returns a runtime over api. Call Sweep once at the start of a run.
func NewDockerRuntime(api sandbox.API, cfg DockerConfig, log zerolog.Logger) (*DockerRuntime, error) {
	cfg = cfg.withDefaults()
	if cfg.OutputLimit < 1024 {
		return nil, errors.New("DockerConfig.OutputLimit: below 1024 bytes")
	}
	sb, err := sandbox.New(api, cfg.Sandbox, log)
	if err != nil {
		return nil, fmt.Errorf("DockerConfig.Sandbox: %w", err)
	}
	return &DockerRuntime{sb: sb, cfg: cfg}, nil
}

// Sweep removes the containers that a killed process of the same run left behind (see
// sandbox.Sandbox.Sweep) and returns how many.
func (r *DockerRuntime) Sweep(ctx context.Context) (int, error) { return r.sb.Sweep(ctx) }

// Start starts a workspace container of spec.Image whose main process exits after
// spec.Lifetime, and opens its shells.
func (r *DockerRuntime) Start(ctx context.Context, spec WorkspaceSpec) (Workspace, error) {
	labels := map[string]string{sandbox.LabelRole: RoleRollout}
	for k, v := range spec.Labels {
		labels[k] = v
	}
	ws, err := r.sb.StartWorkspace(ctx, sandbox.WorkspaceSpec{Image: spec.Image, WorkDir: spec.WorkDir, Path: spec.Path, Labels: labels,
		Lifetime: spec.Lifetime, OpTimeout: r.cfg.OpTimeout})
	if err != nil {
		return nil, err
	}
	w := &dockerWorkspace{r: r, ws: ws, workDir: ws.Dir()}
	if w.agent, err = ws.OpenShell(ctx, r.cfg.OutputLimit); err == nil {
		w.tool, err = ws.OpenShell(ctx, w.toolLimit())
	}
	if err != nil {
		_ = w.Close(ctx)
		return nil, err
	}
	return w, nil
}

type dockerWorkspace struct {
	r       *DockerRuntime
	ws      *sandbox.Workspace
	workDir string
	agent   *sandbox.Shell
	tool    *sandbox.Shell
	closed  bool
	// running says the agent's last command goes on (it returned on NoChange or Timeout).
	running bool
}

// toolLimit is the output limit of the private shell: a file in base64 and then some.
func (w *dockerWorkspace) toolLimit() int { return 4*w.r.cfg.MaxFileBytes + (1 << 20) }

// DiskExceeded returns what the workspace's writable layer measured when the disk guard
// (sandbox.Config.DiskLimit) killed it, or 0 when it did not.
func (w *dockerWorkspace) DiskExceeded() int64 { return w.ws.DiskExceeded() }

// Shell runs a command in the agent's shell, or waits for, feeds or interrupts the one
// running.
func (w *dockerWorkspace) Shell(ctx context.Context, req ShellRequest) (ShellResult, error) {
	var res ShellResult
	newCommand := !req.Interrupt && !req.Input && !req.EOF && req.Command != ""
	if w.running && newCommand {
		out, _, done := w.agent.Poll()
		if !done {
			res.Running, res.ExitCode = true, -1
			res.Output, res.Truncated = out.Text()
			return res, ErrStillRunning
		}
		// It ended since the last result: what it printed last is left out, as a terminal
		// scrolls it away, and the new command runs.
		w.running = false
	}
	if !w.running && !newCommand {
		return res, ErrNothingRunning
	}
	if w.agent == nil {
		sh, err := w.ws.OpenShell(ctx, w.r.cfg.OutputLimit)
		if err != nil {
			return res, err
		}
		w.agent, res.Restarted = sh, true
	}
	sh := w.agent
	switch {
	case req.Interrupt:
		res.Interrupted = true
		w.running = false
		return w.stop(ctx, &res)
	case req.Input:
		if err := w.feed(ctx, req.Command+"\n"); err != nil {
			return res, w.gone(ctx, err)
		}
	case req.EOF:
		if _, _, err := w.toolRun(ctx, closeInput); err != nil {
			return res, w.gone(ctx, err)
		}
	case newCommand:
		// The private shell holds the command's input open for writing, as a terminal
		// would: what the agent sends reaches it, and Ctrl-D ends it.
		if _, _, err := w.toolRun(ctx, closeInput+"; exec {__swemill_w}<>"+shQuote(sh.InputPath())+" || unset __swemill_w; return 0"); err != nil {
			return res, w.gone(ctx, err)
		}
		if err := sh.Send(req.Command); err != nil {
			return res, w.shellDied(ctx, &res, sandbox.ShellOutput{}, fmt.Errorf("sending the command: %w", err))
		}
	}
	w.running = false
	out, mk, st, err := sh.WaitUntil(ctx, time.Now().Add(req.Timeout), req.NoChange)
	switch {
	case errors.Is(err, sandbox.ErrShellExited):
		return res, w.shellDied(ctx, &res, out, nil)
	case err != nil:
		return res, err
	case st == sandbox.WaitTimedOut:
		// Past the call's limit the command goes on: what it printed so far is returned.
		res.TimedOut = true
		out, mk, done := sh.Poll()
		if done {
			res.Output, res.Truncated = out.Text()
			res.ExitCode, res.Cwd, res.PythonPath = mk.Status, mk.Cwd, mk.Python
			res.TimedOut = false
			return res, nil
		}
		w.running, res.Running, res.ExitCode = true, true, -1
		res.Output, res.Truncated = out.Text()
		return res, nil
	case st == sandbox.WaitQuiet:
		w.running, res.Running, res.ExitCode = true, true, -1
		res.Output, res.Truncated = out.Text()
		return res, nil
	}
	res.Output, res.Truncated = out.Text()
	res.ExitCode, res.Cwd, res.PythonPath = mk.Status, mk.Cwd, mk.Python
	return res, nil
}

// gone returns ErrWorkspaceGone for err when the container has stopped.
func (w *dockerWorkspace) gone(ctx context.Context, err error) error {
	if !errors.Is(err, ErrWorkspaceGone) && w.ws.Stopped(ctx) {
		return w.ws.Gone(err)
	}
	return err
}

// closeInput closes the private shell's writing end of the agent's input FIFO, if it holds
// one.
const closeInput = `if [ -n "${__swemill_w-}" ]; then exec {__swemill_w}>&-; unset __swemill_w; fi`

// maxInput bounds the text one request sends to a running command: the FIFO's buffer holds
// 64 KiB, and a command that does not read must not block the private shell.
const maxInput = 4096

// feed writes text to the running command's standard input.
func (w *dockerWorkspace) feed(ctx context.Context, text string) error {
	if len(text) > maxInput {
		text = text[:maxInput]
	}
	_, _, err := w.toolRun(ctx, `[ -n "${__swemill_w-}" ] && printf '%b' '`+sandbox.EscapePrintf(text)+`' >&"$__swemill_w"; return 0`)
	return err
}

// stop kills what the agent's shell runs (Ctrl-C first, then its processes) and returns
// what it printed until then with the shell's state after; a shell that does not come back
// (a builtin loop) is killed and started anew.
func (w *dockerWorkspace) stop(ctx context.Context, res *ShellResult) (ShellResult, error) {
	sh := w.agent
	sh.Interrupt(ctx)
	out, mk, timedOut, err := sh.Wait(ctx, 10*time.Second)
	if errors.Is(err, sandbox.ErrShellExited) {
		return *res, w.shellDied(ctx, res, out, nil)
	}
	if err != nil {
		return *res, err
	}
	if timedOut {
		sh.Kill(ctx)
		out, _, _, _ = sh.Wait(ctx, 10*time.Second)
		return *res, w.shellDied(ctx, res, out, nil)
	}
	res.Output, res.Truncated = out.Text()
	res.Cwd, res.PythonPath = mk.Cwd, mk.Python
	if res.Interrupted {
		res.ExitCode = mk.Status
	}
	return *res, nil
}

// shellDied records a dead agent shell in res and starts a new one in the work directory.
func (w *dockerWorkspace) shellDied(ctx context.Context, res *ShellResult, out sandbox.ShellOutput, cause error) error {
	sh := w.agent
	w.agent = nil
	sh.Close()
	res.Output, res.Truncated = out.Text()
	if !res.TimedOut {
		res.ExitCode = sh.ExitCode(ctx)
	}
	res.Restarted = true
	next, err := w.ws.OpenShell(ctx, w.r.cfg.OutputLimit)
	if err != nil && !errors.Is(err, ErrWorkspaceGone) && w.ws.Stopped(ctx) {
		err = w.ws.Gone(err)
	}
	if err != nil {
		if cause != nil {
			return fmt.Errorf("%v; restarting the shell: %w", cause, err)
		}
		return fmt.Errorf("restarting the shell: %w", err)
	}
	w.agent = next
	res.Cwd, res.PythonPath = w.workDir, ""
	return nil
}

// toolRun runs a script in the private shell and returns its output and status. Scripts
// end with return, never exit (they are sourced).
func (w *dockerWorkspace) toolRun(ctx context.Context, script string) ([]byte, int, error) {
	if w.tool == nil {
		sh, err := w.ws.OpenShell(ctx, w.toolLimit())
		if err != nil {
			return nil, -1, err
		}
		w.tool = sh
	}
	if err := w.tool.Send(script); err != nil {
		return nil, -1, w.toolDied(err)
	}
	out, mk, timedOut, err := w.tool.Wait(ctx, w.r.cfg.OpTimeout)
	switch {
	case err != nil:
		return nil, -1, w.toolDied(err)
	case timedOut:
		return nil, -1, w.toolDied(errors.New("file operation timed out"))
	case out.Dropped > 0:
		return nil, -1, errors.New("file operation output too large")
	}
	return out.Head, mk.Status, nil
}

func (w *dockerWorkspace) toolDied(err error) error {
	w.tool.Close()
	w.tool = nil
	return err
}

// shQuote quotes s for the shell.
func shQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// Status codes of the file scripts.
const (
	fsNotExist   = 3
	fsIsDir      = 4
	fsNotRegular = 5
	fsTooLarge   = 6
	fsDenied     = 7
	fsNoParent   = 8
)

func fileError(path string, status int, max int) error {
	switch status {
	case fsNotExist:
		return ErrNotExist
	case fsIsDir:
		return ErrIsDir
	case fsNotRegular:
		return &FileError{Path: path, Msg: "not a regular file"}
	case fsTooLarge:
		return &FileError{Path: path, Msg: fmt.Sprintf("larger than %d bytes", max)}
	case fsDenied:
		return &FileError{Path: path, Msg: "permission denied"}
	case fsNoParent:
		return &FileError{Path: path, Msg: "the parent directory does not exist"}
	}
	return &FileError{Path: path, Msg: fmt.Sprintf("failed (status %d)", status)}
}

func (w *dockerWorkspace) Stat(ctx context.Context, path string) (FileInfo, error) {
	out, status, err := w.toolRun(ctx, "p="+shQuote(path)+"\nif [ -d \"$p\" ]; then echo D; elif [ -e \"$p\" ]; then echo F; else echo N; fi")
	if err != nil {
		return FileInfo{}, err
	}
	if status != 0 {
		return FileInfo{}, fileError(path, status, 0)
	}
	switch strings.TrimSpace(string(out)) {
	case "D":
		return FileInfo{Exists: true, IsDir: true}, nil
	case "F":
		return FileInfo{Exists: true}, nil
	}
	return FileInfo{}, nil
}

// ReadFile reads a file in the private shell with the agent's permissions. A text file
// under the size limit is read by bash's read builtin (no process started); a file with NUL
// bytes or past the limit goes through stat and base64.
func (w *dockerWorkspace) ReadFile(ctx context.Context, path string) ([]byte, error) {
	max := w.r.cfg.MaxFileBytes
	script := fmt.Sprintf(`p=%s
[ -e "$p" ] || return %d
[ -d "$p" ] && return %d
[ -f "$p" ] || return %d
[ -r "$p" ] || return %d
__c=
LC_ALL=C IFS= read -r -d '' -n %d __c < "$p" && return 1
printf '%%s' "$__c"; __c=`,
		shQuote(path), fsNotExist, fsIsDir, fsNotRegular, fsDenied, max+1)
	out, status, err := w.toolRun(ctx, script)
	if err != nil {
		return nil, err
	}
	switch status {
	case 0:
		return out, nil
	case 1: // a NUL byte or the limit: read it whole, in base64
	default:
		return nil, fileError(path, status, max)
	}
	script = fmt.Sprintf(`p=%s
[ "$(stat -L -c %%s -- "$p")" -le %d ] || return %d
base64 -w0 -- "$p"`, shQuote(path), max, fsTooLarge)
	out, status, err = w.toolRun(ctx, script)
	if err != nil {
		return nil, err
	}
	if status != 0 {
		return nil, fileError(path, status, max)
	}
	data, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(out)))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	return data, nil
}

func (w *dockerWorkspace) WriteFile(ctx context.Context, path string, data []byte) error {
	if len(data) > w.r.cfg.MaxFileBytes {
		return &FileError{Path: path, Msg: fmt.Sprintf("content larger than %d bytes", w.r.cfg.MaxFileBytes)}
	}
	script := fmt.Sprintf(`p=%s
[ -d "${p%%/*}/" ] || return %d
[ -d "$p" ] && return %d
[ -e "$p" ] && [ ! -f "$p" ] && return %d
{ printf '%%b' '%s' > "$p"; } 2>/dev/null || return %d`,
		shQuote(path), fsNoParent, fsIsDir, fsNotRegular, sandbox.EscapePrintf(string(data)), fsDenied)
	_, status, err := w.toolRun(ctx, script)
	if err != nil {
		return err
	}
	if status != 0 {
		return fileError(path, status, 0)
	}
	return nil
}

// ListDir lists with `find -L` (hidden entries printed, then pruned) sorted bytewise, as
// sort does in the C.UTF-8 locale, and marks the directories (links followed). What find
// cannot read, or a link that loops back, is left out without an error.
func (w *dockerWorkspace) ListDir(ctx context.Context, path string, depth int) (string, error) {
	script := fmt.Sprintf(`p=%s
[ -d "$p" ] || return %d
{ printf '%%s\n' "$p"; find -L "$p" -mindepth 1 -maxdepth %d \( -name '.*' -print -prune -o -print \) 2>/dev/null; } | LC_ALL=C sort |
while IFS= read -r f; do if [ -d "$f" ]; then printf '%%s/\n' "$f"; else printf '%%s\n' "$f"; fi; done`, shQuote(path), fsNotExist, depth)
	out, status, err := w.toolRun(ctx, script)
	if err != nil {
		return "", err
	}
	if status != 0 {
		return "", fileError(path, status, 0)
	}
	return string(out), nil
}

func (w *dockerWorkspace) Diff(ctx context.Context, base string) (string, error) {
	script := fmt.Sprintf(`cd %s || return 9
export GIT_CONFIG_GLOBAL=/dev/null GIT_CONFIG_NOSYSTEM=1 GIT_PAGER=cat LC_ALL=C
git add -A >/dev/null 2>&1 || { git add -A 2>&1 | tail -5; return 10; }
git -c core.quotepath=false -c diff.noprefix=false -c diff.mnemonicprefix=false diff --cached --no-color --no-ext-diff %s -- 2>&1`,
		shQuote(w.workDir), shQuote(base))
	out, status, err := w.toolRun(ctx, script)
	if err != nil {
		return "", fmt.Errorf("taking the diff: %w", err)
	}
	if status != 0 {
		return "", fmt.Errorf("taking the diff: git exited %d: %s", status, clipText(string(out), 500))
	}
	return string(out), nil
}

// Close ends the shells and removes the container, even when ctx is done.
func (w *dockerWorkspace) Close(ctx context.Context) error {
	if w.closed {
		return nil
	}
	w.closed = true
	err := w.ws.Close(ctx)
	w.agent, w.tool = nil, nil
	return err
}

func clipText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
