package rollout

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/containerd/errdefs"
	"github.com/docker/docker/api/types"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/client"
	"github.com/docker/docker/pkg/stdcopy"
	units "github.com/docker/go-units"
	"github.com/rs/zerolog"

	"swemill/envbuild/sandbox"
)

// DockerAPI is the part of the Engine API the Docker runtime uses: the sandbox's calls
// (containers are created, limited, labelled and swept by envbuild/sandbox) plus exec, which
// the sandbox does not do yet. *client.Client implements it.
type DockerAPI interface {
	sandbox.API
	ContainerExecCreate(ctx context.Context, containerID string, options container.ExecOptions) (container.ExecCreateResponse, error)
	ContainerExecAttach(ctx context.Context, execID string, config container.ExecAttachOptions) (types.HijackedResponse, error)
	ContainerExecInspect(ctx context.Context, execID string) (container.ExecInspect, error)
}

var _ DockerAPI = (*client.Client)(nil)

// RoleRollout is the sandbox.LabelRole of rollout containers.
const RoleRollout = "rollout"

// LabelInstance and LabelSample are added to rollout containers.
const (
	LabelInstance = "swemill.instance"
	LabelSample   = "swemill.sample"
)

// DockerRuntime runs each workspace in its own container, created by the sandbox (no
// network, capabilities dropped, no-new-privileges, memory, CPU and pids limits, non-root
// user, labelled with the run), kept alive for the whole rollout, with two persistent bash
// sessions started by exec: the agent's shell and a private one for file operations and the
// final diff. It is safe for concurrent use.
type DockerRuntime struct {
	api DockerAPI
	sb  *sandbox.Sandbox
	cfg DockerConfig
	log zerolog.Logger
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
func NewDockerRuntime(api DockerAPI, cfg DockerConfig, log zerolog.Logger) (*DockerRuntime, error) {
	cfg = cfg.withDefaults()
	if cfg.OutputLimit < 1024 {
		return nil, errors.New("DockerConfig.OutputLimit: below 1024 bytes")
	}
	sb, err := sandbox.New(api, cfg.Sandbox, log)
	if err != nil {
		return nil, fmt.Errorf("DockerConfig.Sandbox: %w", err)
	}
	return &DockerRuntime{api: api, sb: sb, cfg: cfg, log: log}, nil
}

// Sweep removes the containers that a killed process of the same run left behind (see
// sandbox.Sandbox.Sweep) and returns how many.
func (r *DockerRuntime) Sweep(ctx context.Context) (int, error) { return r.sb.Sweep(ctx) }

// Start creates and starts a container of spec.Image whose main process exits after
// spec.Lifetime, and opens its shells.
func (r *DockerRuntime) Start(ctx context.Context, spec WorkspaceSpec) (Workspace, error) {
	if spec.Lifetime <= 0 {
		spec.Lifetime = 24 * time.Hour
	}
	labels := map[string]string{sandbox.LabelRole: RoleRollout}
	for k, v := range spec.Labels {
		labels[k] = v
	}
	// bash as PID 1 reaps the orphans of killed commands; sleep bounds the container's life.
	secs := strconv.Itoa(int(spec.Lifetime.Seconds()) + 1)
	c, err := r.sb.Create(ctx, sandbox.Spec{Image: spec.Image, WorkDir: spec.WorkDir, Labels: labels,
		Cmd: []string{"/bin/bash", "-c", "sleep " + secs + " & wait"}})
	if err != nil {
		return nil, err
	}
	w := &dockerWorkspace{r: r, c: c, workDir: spec.WorkDir}
	if err := r.api.ContainerStart(ctx, c.ID, container.StartOptions{}); err != nil {
		_ = c.Remove(ctx)
		return nil, fmt.Errorf("starting rollout container %s: %w", shortID(c.ID), err)
	}
	w.stopGuard = c.GuardDisk(ctx)
	if w.agent, err = w.startShell(ctx, r.cfg.OutputLimit); err == nil {
		w.tool, err = w.startShell(ctx, 4*r.cfg.MaxFileBytes+(1<<20))
	}
	if err != nil {
		_ = w.Close(ctx)
		return nil, err
	}
	return w, nil
}

type dockerWorkspace struct {
	r       *DockerRuntime
	c       *sandbox.Container
	workDir string
	agent   *execShell
	tool    *execShell
	closed  bool
	// stopGuard ends the disk guard (sandbox.Container.GuardDisk).
	stopGuard func()
	// running says the agent's last command goes on (it returned on NoChange); deadline is
	// when its Timeout ends.
	running  bool
	deadline time.Time
}

// execShell is a shell running as a Docker exec.
type execShell struct {
	*shell
	execID string
	att    types.HijackedResponse
	done   chan struct{}
}

func (e *execShell) close() {
	e.att.Close()
	<-e.done
}

func shortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

// gone maps the engine's refusal to exec in a stopped container to ErrWorkspaceGone, saying
// so when the disk guard stopped it.
func (w *dockerWorkspace) gone(err error) error {
	if errdefs.IsConflict(err) || errdefs.IsNotFound(err) || strings.Contains(err.Error(), "is not running") {
		return w.goneErr(err)
	}
	return err
}

// goneErr is ErrWorkspaceGone with its cause, and the disk guard's account when it killed
// the container.
func (w *dockerWorkspace) goneErr(cause error) error {
	if n := w.c.DiskExceeded(); n > 0 {
		return fmt.Errorf("%w: it wrote %s to its container, past the disk limit (%s), and was killed: %v", ErrWorkspaceGone,
			units.BytesSize(float64(n)), units.BytesSize(float64(w.r.sb.DiskLimit())), cause)
	}
	return fmt.Errorf("%w: %v", ErrWorkspaceGone, cause)
}

// stopped says the workspace's container no longer runs (killed for memory, by the disk
// guard, from outside), so a shell that died will not come back.
func (w *dockerWorkspace) stopped(ctx context.Context) bool {
	if w.c.DiskExceeded() > 0 {
		return true
	}
	ictx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	ins, err := w.r.api.ContainerInspect(ictx, w.c.ID)
	return errdefs.IsNotFound(err) || (err == nil && ins.State != nil && !ins.State.Running)
}

// DiskExceeded returns what the workspace's writable layer measured when the disk guard
// (sandbox.Config.DiskLimit) killed it, or 0 when it did not.
func (w *dockerWorkspace) DiskExceeded() int64 { return w.c.DiskExceeded() }

func (w *dockerWorkspace) startShell(ctx context.Context, limit int) (*execShell, error) {
	api := w.r.api
	resp, err := api.ContainerExecCreate(ctx, w.c.ID, container.ExecOptions{
		AttachStdin: true, AttachStdout: true, AttachStderr: true, WorkingDir: w.workDir,
		Cmd: []string{"/bin/bash", "--noprofile", "--norc"},
	})
	if err != nil {
		return nil, fmt.Errorf("starting a shell in container %s: %w", shortID(w.c.ID), w.gone(err))
	}
	// The attachment lives as long as the shell, not as the call that opened it.
	att, err := api.ContainerExecAttach(context.WithoutCancel(ctx), resp.ID, container.ExecAttachOptions{})
	if err != nil {
		return nil, fmt.Errorf("attaching to a shell in container %s: %w", shortID(w.c.ID), w.gone(err))
	}
	e := &execShell{shell: newShell(att.Conn, limit), execID: resp.ID, att: att, done: make(chan struct{})}
	go func() {
		defer close(e.done)
		_, err := stdcopy.StdCopy(e.shell, e.shell, att.Reader)
		e.closeOutput(err)
	}()
	if err := e.init(ctx, 30*time.Second); err != nil {
		e.close()
		return nil, fmt.Errorf("in container %s: %w", shortID(w.c.ID), err)
	}
	return e, nil
}

// exitCode returns the exit status of a finished shell, -1 when unknown.
func (w *dockerWorkspace) exitCode(ctx context.Context, e *execShell) int {
	ictx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	for range 20 {
		ins, err := w.r.api.ContainerExecInspect(ictx, e.execID)
		if err != nil {
			return -1
		}
		if !ins.Running {
			return ins.ExitCode
		}
		t := time.NewTimer(50 * time.Millisecond)
		select {
		case <-t.C:
		case <-ictx.Done():
			t.Stop()
			return -1
		}
	}
	return -1
}

// Shell runs a command in the agent's shell, or waits for or interrupts the one running.
func (w *dockerWorkspace) Shell(ctx context.Context, req ShellRequest) (ShellResult, error) {
	var res ShellResult
	switch {
	case !w.running && (req.Command == "" || req.Interrupt):
		return res, ErrNothingRunning
	case w.running && !req.Interrupt && req.Command != "":
		return res, ErrStillRunning
	}
	if w.agent == nil {
		sh, err := w.startShell(ctx, w.r.cfg.OutputLimit)
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
	case !w.running:
		if err := sh.send(req.Command); err != nil {
			return res, w.shellDied(ctx, &res, output{}, fmt.Errorf("sending the command: %w", err))
		}
		w.deadline = time.Now().Add(req.Timeout)
	}
	w.running = false
	out, mk, st, err := sh.waitUntil(ctx, w.deadline, req.NoChange)
	switch {
	case errors.Is(err, errShellExited):
		return res, w.shellDied(ctx, &res, out, nil)
	case err != nil:
		return res, err
	case st == waitQuiet:
		w.running, res.Running, res.ExitCode = true, true, -1
		res.Output, res.Truncated = out.text()
		return res, nil
	case st == waitTimedOut:
		res.TimedOut, res.ExitCode = true, -1
		return w.stop(ctx, &res)
	}
	res.Output, res.Truncated = out.text()
	res.ExitCode, res.Cwd, res.PythonPath = mk.status, mk.cwd, mk.python
	return res, nil
}

// stop kills what the agent's shell runs (Ctrl-C first, then its processes) and returns
// what it printed until then with the shell's state after; a shell that does not come back
// (a builtin loop) is killed and started anew.
func (w *dockerWorkspace) stop(ctx context.Context, res *ShellResult) (ShellResult, error) {
	sh := w.agent
	w.kill(ctx, sh.pid, false)
	out, mk, timedOut, err := sh.wait(ctx, 10*time.Second)
	if errors.Is(err, errShellExited) {
		return *res, w.shellDied(ctx, res, out, nil)
	}
	if err != nil {
		return *res, err
	}
	if timedOut {
		w.kill(ctx, sh.pid, true)
		out, _, _, _ = sh.wait(ctx, 10*time.Second)
		return *res, w.shellDied(ctx, res, out, nil)
	}
	res.Output, res.Truncated = out.text()
	res.Cwd, res.PythonPath = mk.cwd, mk.python
	if res.Interrupted {
		res.ExitCode = mk.status
	}
	return *res, nil
}

// shellDied records a dead agent shell in res and starts a new one in the work directory.
func (w *dockerWorkspace) shellDied(ctx context.Context, res *ShellResult, out output, cause error) error {
	sh := w.agent
	w.agent = nil
	sh.close()
	res.Output, res.Truncated = out.text()
	if !res.TimedOut {
		res.ExitCode = w.exitCode(ctx, sh)
	}
	res.Restarted = true
	next, err := w.startShell(ctx, w.r.cfg.OutputLimit)
	if err != nil && !errors.Is(err, ErrWorkspaceGone) && w.stopped(ctx) {
		err = w.goneErr(err)
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

// killScript defines kill_desc, which kills the descendants of a process (parents first:
// the list of parents is read once, so reparented children are still found). It reads
// /proc only, so it needs no procps in the image.
const killScript = `pairs=""
for d in /proc/[0-9]*; do
	read -r s < "$d/stat" 2>/dev/null || continue
	s=${s##*) }
	set -- $s
	pairs="$pairs ${d#/proc/}:$2"
done
kill_desc() {
	for p in $pairs; do
		if [ "${p#*:}" = "$1" ]; then
			c=${p%%:*}
			kill -9 "$c" 2>/dev/null
			kill_desc "$c"
		fi
	done
}
`

// kill stops what the agent's shell (pid) runs, and the shell itself when self is set.
func (w *dockerWorkspace) kill(ctx context.Context, pid int, self bool) {
	// SIGINT first: the shell's trap returns from the sourced command once its running
	// child is gone, so the rest of the command line does not run.
	script := killScript + "kill -INT " + strconv.Itoa(pid) + "\nkill_desc " + strconv.Itoa(pid) + "\n"
	if self {
		script = killScript + "kill_desc " + strconv.Itoa(pid) + "\nkill -9 " + strconv.Itoa(pid) + "\n"
	}
	if _, _, err := w.execOnce(ctx, []string{"/bin/sh", "-c", script}); err != nil {
		w.r.log.Warn().Err(err).Str("container", shortID(w.c.ID)).Msg("killing a timed-out command")
	}
}

// execOutputLimit bounds the output execOnce keeps (head and tail): the container is the
// model's, so what a command prints is not trusted.
const execOutputLimit = 64 << 10

// execOnce runs a command to its end and returns its output (at most execOutputLimit bytes)
// and status.
func (w *dockerWorkspace) execOnce(ctx context.Context, cmd []string) ([]byte, int, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), w.r.cfg.OpTimeout)
	defer cancel()
	api := w.r.api
	resp, err := api.ContainerExecCreate(ctx, w.c.ID, container.ExecOptions{AttachStdout: true, AttachStderr: true, Cmd: cmd})
	if err != nil {
		return nil, -1, w.gone(err)
	}
	att, err := api.ContainerExecAttach(ctx, resp.ID, container.ExecAttachOptions{})
	if err != nil {
		return nil, -1, w.gone(err)
	}
	defer att.Close()
	out := sandbox.NewHeadTail(execOutputLimit)
	_, err = stdcopy.StdCopy(out, out, att.Reader)
	data, _ := out.Bytes()
	if err != nil {
		return data, -1, err
	}
	ins, err := api.ContainerExecInspect(ctx, resp.ID)
	if err != nil {
		return data, -1, err
	}
	return data, ins.ExitCode, nil
}

// toolRun runs a script in the private shell and returns its output and status. Scripts
// end with return, never exit (they are sourced).
func (w *dockerWorkspace) toolRun(ctx context.Context, script string) ([]byte, int, error) {
	if w.tool == nil {
		sh, err := w.startShell(ctx, 4*w.r.cfg.MaxFileBytes+(1<<20))
		if err != nil {
			return nil, -1, err
		}
		w.tool = sh
	}
	if err := w.tool.send(script); err != nil {
		return nil, -1, w.toolDied(err)
	}
	out, mk, timedOut, err := w.tool.wait(ctx, w.r.cfg.OpTimeout)
	switch {
	case err != nil:
		return nil, -1, w.toolDied(err)
	case timedOut:
		return nil, -1, w.toolDied(errors.New("file operation timed out"))
	case out.dropped > 0:
		return nil, -1, errors.New("file operation output too large")
	}
	return out.head, mk.status, nil
}

func (w *dockerWorkspace) toolDied(err error) error {
	w.tool.close()
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
		shQuote(path), fsNoParent, fsIsDir, fsNotRegular, escapeB(string(data)), fsDenied)
	_, status, err := w.toolRun(ctx, script)
	if err != nil {
		return err
	}
	if status != 0 {
		return fileError(path, status, 0)
	}
	return nil
}

func (w *dockerWorkspace) ListDir(ctx context.Context, path string, depth int) (string, error) {
	script := fmt.Sprintf(`p=%s
[ -d "$p" ] || return %d
find "$p" -maxdepth %d -not -path '*/.*' 2>/dev/null | LC_ALL=C sort`, shQuote(path), fsNotExist, depth)
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
	if w.stopGuard != nil {
		w.stopGuard()
	}
	var wg sync.WaitGroup
	for _, sh := range []*execShell{w.agent, w.tool} {
		if sh != nil {
			wg.Add(1)
			go func() { defer wg.Done(); sh.close() }()
		}
	}
	err := w.c.Remove(ctx) // killing the container ends the exec streams too
	wg.Wait()
	w.agent, w.tool = nil, nil
	return err
}

func clipText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
