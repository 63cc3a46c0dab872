package sandbox

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/containerd/errdefs"
	"github.com/docker/docker/api/types"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/pkg/stdcopy"
	units "github.com/docker/go-units"
)

// ErrWorkspaceGone says a workspace's container stopped (killed, out of memory, past its
// disk limit) and no longer runs commands.
var ErrWorkspaceGone = errors.New("workspace container is not running")

// RoleWorkspace is the LabelRole of a workspace container whose spec names no role.
const RoleWorkspace = "workspace"

// WorkspaceSpec says what a workspace's container holds.
type WorkspaceSpec struct {
	// Image is the image to run. Required.
	Image string
	// WorkDir is the directory the container and its shells start in; empty means the
	// image's.
	WorkDir string
	// Path, when set and not WorkDir, is where the workspace holds WorkDir's content, as
	// OpenHands' SWE-bench harness lays a repository out (/workspace/<repo>__<version>):
	// once the container runs, the content is copied there by the container's user (the copy
	// counts toward Config.DiskLimit) and WorkDir is replaced by a symbolic link to it, so
	// that what the image points at WorkDir (editable installs, PYTHONPATH) reaches the copy.
	// Path is made for the container's user (a numeric Config.User); it must not exist in
	// the image, or be an empty directory, and its missing parents are made (root's, mode
	// 755). WorkDir is then required, and neither holds the other. The shells start in Path.
	Path string
	// Labels are added to the container's (LabelRole defaults to RoleWorkspace).
	Labels map[string]string
	// Lifetime bounds how long the container may exist at all: its main process exits after
	// it, even if the process that started it was killed. Default 24 hours.
	Lifetime time.Duration
	// OpTimeout bounds each helper command the workspace runs in the container (the kills of
	// Shell.Interrupt and Shell.Kill). Default 2 minutes.
	OpTimeout time.Duration
}

// Workspace is a started container that lives for a while (an agent's), whose commands run
// in persistent shells (OpenShell) rather than by Run or Exec. Its disk use is guarded
// (Container.GuardDisk) while it runs. Its methods are not safe for concurrent use.
type Workspace struct {
	c         *Container
	spec      WorkspaceSpec
	stopGuard func()
	shells    map[*Shell]struct{} // open shells, which Close ends
	closed    bool
}

// StartWorkspace creates and starts a workspace container of spec.Image, in the sandbox's
// limits, whose main process exits after spec.Lifetime. The caller closes it.
func (s *Sandbox) StartWorkspace(ctx context.Context, spec WorkspaceSpec) (*Workspace, error) {
	if spec.Lifetime <= 0 {
		spec.Lifetime = 24 * time.Hour
	}
	if spec.OpTimeout <= 0 {
		spec.OpTimeout = 2 * time.Minute
	}
	labels := map[string]string{LabelRole: RoleWorkspace}
	for k, v := range spec.Labels {
		labels[k] = v
	}
	// bash as PID 1 reaps the orphans of killed commands; sleep bounds the container's life.
	secs := strconv.Itoa(int(spec.Lifetime.Seconds()) + 1)
	c, err := s.Create(ctx, Spec{Image: spec.Image, WorkDir: spec.WorkDir, Labels: labels,
		Cmd: []string{"/bin/bash", "-c", "sleep " + secs + " & wait"}})
	if err != nil {
		return nil, err
	}
	if err := s.api.ContainerStart(ctx, c.ID, container.StartOptions{}); err != nil {
		_ = c.Remove(ctx)
		return nil, fmt.Errorf("starting %s container %s: %w", labels[LabelRole], short(c.ID), err)
	}
	w := &Workspace{c: c, spec: spec, shells: map[*Shell]struct{}{}}
	w.stopGuard = c.GuardDisk(ctx)
	if spec.Path != "" && w.Dir() != path.Clean(spec.WorkDir) {
		if err := w.relocate(ctx); err != nil {
			_ = w.Close(ctx)
			return nil, fmt.Errorf("copying %s to %s in %s container %s: %w", spec.WorkDir, spec.Path, labels[LabelRole], short(c.ID), err)
		}
	}
	return w, nil
}

// Container returns the workspace's container.
func (w *Workspace) Container() *Container { return w.c }

// Dir returns the directory the workspace's shells start in: WorkspaceSpec.Path when set,
// else WorkDir.
func (w *Workspace) Dir() string {
	if w.spec.Path != "" {
		return path.Clean(w.spec.Path)
	}
	return w.spec.WorkDir
}

// relocateTimeout bounds the copy of the work directory to WorkspaceSpec.Path.
const relocateTimeout = 15 * time.Minute

// relocate copies the work directory to WorkspaceSpec.Path and links the work directory to
// the copy. The copy is made by the container's user, so that git finds the repository
// owned by the user who runs it; the directory it goes to, and the link, are made by the
// engine, which may write where that user may not (the root directory).
func (w *Workspace) relocate(ctx context.Context) error {
	from, to := path.Clean(w.spec.WorkDir), path.Clean(w.spec.Path)
	switch {
	case w.spec.WorkDir == "" || !path.IsAbs(from) || !path.IsAbs(to) || from == "/" || to == "/":
		return errors.New("WorkspaceSpec.WorkDir and Path must be absolute paths below /")
	case strings.HasPrefix(to+"/", from+"/") || strings.HasPrefix(from+"/", to+"/"):
		return errors.New("WorkspaceSpec.WorkDir and Path are inside one another")
	}
	out, status, err := w.run(ctx, []string{"/bin/sh", "-c", `[ ! -e "$1" ] && [ ! -L "$1" ] || { [ -d "$1" ] && [ -z "$(ls -A "$1")" ]; }`, "sh", to}, w.spec.OpTimeout)
	switch {
	case err != nil:
		return err
	case status != 0:
		return fmt.Errorf("%s exists in the image and is not an empty directory%s", to, outputNote(out))
	}
	uid, gid := ownerIDs(w.c.s.cfg.User)
	dir := &tar.Header{Typeflag: tar.TypeDir, Name: strings.TrimPrefix(to, "/"), Mode: 0o755, Uid: uid, Gid: gid, ModTime: time.Now()}
	if err := w.copyHeader(ctx, dir, false); err != nil {
		return err
	}
	out, status, err = w.run(ctx, []string{"cp", "-a", "--", from + "/.", to + "/"}, relocateTimeout)
	switch {
	case err != nil && w.Stopped(ctx):
		return w.Gone(err)
	case err != nil:
		return err
	case status != 0:
		if w.Stopped(ctx) {
			return w.Gone(fmt.Errorf("cp exited %d", status))
		}
		return fmt.Errorf("cp exited %d%s", status, outputNote(out))
	}
	link := &tar.Header{Typeflag: tar.TypeSymlink, Name: strings.TrimPrefix(from, "/"), Linkname: to, Mode: 0o777, ModTime: time.Now()}
	return w.copyHeader(ctx, link, true)
}

// copyHeader writes one tar entry without content at / of the container; overwrite lets it
// replace a directory.
func (w *Workspace) copyHeader(ctx context.Context, h *tar.Header, overwrite bool) error {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if err := tw.WriteHeader(h); err != nil {
		return err
	}
	if err := tw.Close(); err != nil {
		return err
	}
	if err := w.c.s.api.CopyToContainer(ctx, w.c.ID, "/", &buf, container.CopyToContainerOptions{AllowOverwriteDirWithFile: overwrite}); err != nil {
		return fmt.Errorf("writing /%s: %w", h.Name, w.gone(err))
	}
	return nil
}

// outputNote is ": " and the end of a command's output, or nothing when it printed nothing.
func outputNote(out []byte) string {
	s := strings.TrimSpace(string(out))
	if s == "" {
		return ""
	}
	if len(s) > 500 {
		s = "..." + s[len(s)-500:]
	}
	return ": " + s
}

// DiskExceeded returns what the workspace's writable layer measured when the disk guard
// (Config.DiskLimit) killed it, or 0 when it did not.
func (w *Workspace) DiskExceeded() int64 { return w.c.DiskExceeded() }

// gone maps the engine's refusal to exec in a stopped container to ErrWorkspaceGone (see
// Gone); other errors are returned as they are.
func (w *Workspace) gone(err error) error {
	if errdefs.IsConflict(err) || errdefs.IsNotFound(err) || strings.Contains(err.Error(), "is not running") {
		return w.Gone(err)
	}
	return err
}

// Gone returns ErrWorkspaceGone with its cause, and the disk guard's account when it
// killed the container.
func (w *Workspace) Gone(cause error) error {
	if n := w.c.DiskExceeded(); n > 0 {
		return fmt.Errorf("%w: it wrote %s to its container, past the disk limit (%s), and was killed: %v", ErrWorkspaceGone,
			units.BytesSize(float64(n)), units.BytesSize(float64(w.c.s.cfg.DiskLimit)), cause)
	}
	return fmt.Errorf("%w: %v", ErrWorkspaceGone, cause)
}

// Stopped says the workspace's container no longer runs (killed for memory, by the disk
// guard, from outside), so a shell that died will not come back.
func (w *Workspace) Stopped(ctx context.Context) bool {
	if w.c.DiskExceeded() > 0 {
		return true
	}
	ictx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	ins, err := w.c.s.api.ContainerInspect(ictx, w.c.ID)
	return errdefs.IsNotFound(err) || (err == nil && ins.State != nil && !ins.State.Running)
}

// Shell is a persistent bash session in a workspace, running as an exec of its container
// with the container's user, whose directory and variables last from one command to the
// next (see shell for the protocol). Its methods are not safe for concurrent use.
type Shell struct {
	proto  *shell // the protocol over the exec stream
	w      *Workspace
	execID string
	att    types.HijackedResponse
	done   chan struct{}
	closed bool
}

// OpenShell starts a shell in the workspace's work directory that keeps limit bytes of each
// command's output (head and tail). An exec the engine refuses because the container
// stopped is ErrWorkspaceGone.
func (w *Workspace) OpenShell(ctx context.Context, limit int) (*Shell, error) {
	api := w.c.s.api
	resp, err := api.ContainerExecCreate(ctx, w.c.ID, container.ExecOptions{
		AttachStdin: true, AttachStdout: true, AttachStderr: true, WorkingDir: w.Dir(),
		Cmd: []string{"/bin/bash", "--noprofile", "--norc"},
	})
	if err != nil {
		return nil, fmt.Errorf("starting a shell in container %s: %w", short(w.c.ID), w.gone(err))
	}
	// The attachment lives as long as the shell, not as the call that opened it.
	att, err := api.ContainerExecAttach(context.WithoutCancel(ctx), resp.ID, container.ExecAttachOptions{})
	if err != nil {
		return nil, fmt.Errorf("attaching to a shell in container %s: %w", short(w.c.ID), w.gone(err))
	}
	sh := &Shell{proto: newShell(att.Conn, limit), w: w, execID: resp.ID, att: att, done: make(chan struct{})}
	go func() {
		defer close(sh.done)
		_, err := stdcopy.StdCopy(sh.proto, sh.proto, att.Reader)
		sh.proto.closeOutput(err)
	}()
	if err := sh.proto.init(ctx, 30*time.Second); err != nil {
		sh.closeStream()
		return nil, fmt.Errorf("in container %s: %w", short(w.c.ID), err)
	}
	w.shells[sh] = struct{}{}
	return sh, nil
}

// Send writes a command for the shell to run. It runs in the shell itself (cd and export
// last) and reads the shell's input FIFO (InputPath): end-of-file at once unless another
// process holds the FIFO open for writing.
func (sh *Shell) Send(command string) error { return sh.proto.send(command) }

// Wait waits for the end of the command sent last, at most timeout. It returns the output
// before the end (head and tail when it was too long), the shell's Marker, and timedOut
// when the command did not end in time. When the shell exits first it returns the output
// so far and ErrShellExited.
func (sh *Shell) Wait(ctx context.Context, timeout time.Duration) (out ShellOutput, m Marker, timedOut bool, err error) {
	return sh.proto.wait(ctx, timeout)
}

// WaitUntil is Wait until deadline. When quiet is positive and the command prints nothing
// new for that long, it returns what the command printed so far with WaitQuiet; the command
// goes on, and a later call returns the rest.
func (sh *Shell) WaitUntil(ctx context.Context, deadline time.Time, quiet time.Duration) (ShellOutput, Marker, WaitStatus, error) {
	return sh.proto.waitUntil(ctx, deadline, quiet)
}

// Poll returns what the command sent last printed since the last Wait or Poll, without
// waiting, and done when it has ended (with the shell's Marker).
func (sh *Shell) Poll() (out ShellOutput, m Marker, done bool) { return sh.proto.poll() }

// InputPath is the FIFO the shell's commands read as their standard input. A process that
// opens it for writing (before the command starts: the shell must not be the only writer)
// feeds the running command; closing it gives the command end-of-file.
func (sh *Shell) InputPath() string { return sh.proto.dir + "/in" }

// PID returns the shell's process id in the container.
func (sh *Shell) PID() int { return sh.proto.pid }

// Interrupt stops what the shell runs: SIGINT to the shell (its trap returns from the
// command, so the rest of the command line does not run once the running child is gone),
// then SIGKILL to every descendant. Wait then returns the command's end.
func (sh *Shell) Interrupt(ctx context.Context) { sh.kill(ctx, false) }

// Kill kills the shell and every descendant of it; the shell's output ends
// (ErrShellExited).
func (sh *Shell) Kill(ctx context.Context) { sh.kill(ctx, true) }

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

// kill stops what the shell runs, and the shell itself when self is set.
func (sh *Shell) kill(ctx context.Context, self bool) {
	pid := strconv.Itoa(sh.proto.pid)
	// SIGINT first: the shell's trap returns from the sourced command once its running
	// child is gone, so the rest of the command line does not run.
	script := killScript + "kill -INT " + pid + "\nkill_desc " + pid + "\n"
	if self {
		script = killScript + "kill_desc " + pid + "\nkill -9 " + pid + "\n"
	}
	w := sh.w
	if _, _, err := w.execOutput(ctx, []string{"/bin/sh", "-c", script}); err != nil {
		w.c.s.log.Warn().Err(err).Str("container", short(w.c.ID)).Msg("killing a timed-out command")
	}
}

// execOutputLimit bounds the output execOutput keeps (head and tail): the container runs
// untrusted code, so what a command prints is not trusted.
const execOutputLimit = 64 << 10

// execOutput runs a command to its end, within OpTimeout even when ctx is done, and returns
// its output (at most execOutputLimit bytes) and status.
func (w *Workspace) execOutput(ctx context.Context, cmd []string) ([]byte, int, error) {
	return w.run(context.WithoutCancel(ctx), cmd, w.spec.OpTimeout)
}

// run runs a command with the container's user to its end, within timeout, and returns its
// output (at most execOutputLimit bytes) and status.
func (w *Workspace) run(ctx context.Context, cmd []string, timeout time.Duration) ([]byte, int, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	api := w.c.s.api
	resp, err := api.ContainerExecCreate(ctx, w.c.ID, container.ExecOptions{AttachStdout: true, AttachStderr: true, Cmd: cmd})
	if err != nil {
		return nil, -1, w.gone(err)
	}
	att, err := api.ContainerExecAttach(ctx, resp.ID, container.ExecAttachOptions{})
	if err != nil {
		return nil, -1, w.gone(err)
	}
	defer att.Close()
	out := NewHeadTail(execOutputLimit)
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

// ExitCode returns the exit status of a shell whose output ended, -1 when unknown.
func (sh *Shell) ExitCode(ctx context.Context) int {
	ictx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	for range 20 {
		ins, err := sh.w.c.s.api.ContainerExecInspect(ictx, sh.execID)
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

// Close detaches from the shell and waits for its output stream to end. It is idempotent.
func (sh *Shell) Close() {
	if sh.closed {
		return
	}
	delete(sh.w.shells, sh)
	sh.closeStream()
}

// closeStream closes the attachment and waits for the copy of the output.
func (sh *Shell) closeStream() {
	sh.closed = true
	sh.att.Close()
	<-sh.done
}

// Close ends the workspace's shells and the disk guard and removes the container, even
// when ctx is done (see Container.Remove). It is idempotent.
func (w *Workspace) Close(ctx context.Context) error {
	if w.closed {
		return nil
	}
	w.closed = true
	w.stopGuard()
	var wg sync.WaitGroup
	for sh := range w.shells {
		delete(w.shells, sh)
		sh.closed = true
		wg.Add(1)
		go func() { defer wg.Done(); sh.att.Close(); <-sh.done }()
	}
	err := w.c.Remove(ctx) // killing the container ends the exec streams too
	wg.Wait()
	return err
}
