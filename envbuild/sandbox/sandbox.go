// Package sandbox runs commands in containers that hold untrusted repository code: no
// network, memory (memory + swap), CPU and pids limits, all capabilities dropped,
// no-new-privileges, a non-root user, a tmpfs /tmp, a hard wall-clock timeout that kills the
// container's whole process tree, and capped output. Every container carries the run's label,
// and the label of the worker process that made it, so that what a killed process left
// behind can be swept: by the next start of the run, or by the run's other workers as soon
// as the store says that worker is gone (SweepGone).
//
// A container's life: Create, CopyIn files, Run the command once, ReadFile / CopyOut
// results, Remove. Sandbox.Run does all of it in one call. For many commands in one
// container, Create with a long-running command (sleep infinity), Start, then Exec each
// command. For an agent's workspace, StartWorkspace starts a container that lives for a
// while, with its disk guarded (GuardDisk), whose commands run in persistent bash sessions
// (Workspace.OpenShell): a Shell keeps its directory and variables from one command to the
// next, returns each command's output (capped) and status, and can interrupt or kill what
// it runs. A workspace whose container stopped is ErrWorkspaceGone.
//
// The stages run containers through the sandbox only, and make no Engine call of their own
// (API declares the sandbox's); sizes are written and read as the Docker CLI does
// (FormatBytes, FormatSize, ParseBytes).
package sandbox

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/containerd/errdefs"
	"github.com/docker/docker/api/types"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/client"
	"github.com/docker/docker/pkg/stdcopy"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/rs/zerolog"
)

// API is the part of the Engine API the sandbox uses; *client.Client implements it.
type API interface {
	ContainerCreate(ctx context.Context, config *container.Config, hostConfig *container.HostConfig, networkingConfig *network.NetworkingConfig, platform *ocispec.Platform, containerName string) (container.CreateResponse, error)
	ContainerStart(ctx context.Context, containerID string, options container.StartOptions) error
	ContainerWait(ctx context.Context, containerID string, condition container.WaitCondition) (<-chan container.WaitResponse, <-chan error)
	ContainerKill(ctx context.Context, containerID, signal string) error
	ContainerRemove(ctx context.Context, containerID string, options container.RemoveOptions) error
	ContainerList(ctx context.Context, options container.ListOptions) ([]container.Summary, error)
	ContainerInspect(ctx context.Context, containerID string) (container.InspectResponse, error)
	ContainerAttach(ctx context.Context, containerID string, options container.AttachOptions) (types.HijackedResponse, error)
	CopyToContainer(ctx context.Context, containerID, dstPath string, content io.Reader, options container.CopyToContainerOptions) error
	CopyFromContainer(ctx context.Context, containerID, srcPath string) (io.ReadCloser, container.PathStat, error)
	ContainerExecCreate(ctx context.Context, containerID string, options container.ExecOptions) (container.ExecCreateResponse, error)
	ContainerExecAttach(ctx context.Context, execID string, config container.ExecAttachOptions) (types.HijackedResponse, error)
	ContainerExecInspect(ctx context.Context, execID string) (container.ExecInspect, error)
}

var _ API = (*client.Client)(nil)

// Labels on sandbox containers. The sandbox sets LabelRun, LabelRole and LabelWorker; the
// stages add LabelInstance (and envbuild puts it on instance images too).
const (
	LabelRun      = "swemill.run"      // the run id
	LabelRole     = "swemill.role"     // "sandbox", "build", "workspace" or a stage's role
	LabelWorker   = "swemill.worker"   // the worker process that made it (Config.Worker)
	LabelInstance = "swemill.instance" // the id of the instance whose code it holds
)

// Config sets the limits of every container of a Sandbox.
type Config struct {
	// RunID labels every container (LabelRun); Sweep removes what carries it. Required.
	RunID string
	// Worker, when set, labels every container (LabelWorker) with the worker process that
	// makes it: an id unique to one start of one process (runstore.NewWorkerID), which
	// SweepGone asks about. Required by SweepGone.
	Worker string
	// Memory is the memory limit in bytes, swap included (no swap). Default 2 GiB.
	Memory int64
	// CPUs is the CPU limit. Default 1.
	CPUs float64
	// PidsLimit caps the number of processes. Default 1024.
	PidsLimit int64
	// TmpfsBytes is the size of the tmpfs mounted on /tmp. Default 1 GiB.
	TmpfsBytes int64
	// User runs the command: "uid:gid" or a name. Default "1000:1000", the user that owns
	// the work directory of swemill images; "0:0" when a recipe needs root (capabilities stay
	// dropped).
	User string
	// Runtime is the OCI runtime ("runsc" for gVisor); empty means the engine's default.
	Runtime string
	// OutputLimit is how many bytes of stdout, and of stderr, a Result keeps (the head and
	// the tail, half each). Default 1 MiB.
	OutputLimit int
	// Network, when true, leaves the container on the engine's default network. Default
	// false: no network at all.
	Network bool
	// CleanupTimeout bounds killing and removing a container, which runs even when the
	// caller's context is done. Default 15 s.
	CleanupTimeout time.Duration
	// CapAdd gives back capabilities (e.g. CHOWN, SETUID, SETGID for an install that runs
	// apt or drops to another user). Default none: every capability is dropped.
	CapAdd []string
	// UsageDir, when set, records the use of each image (see envbuild.TouchImage).
	UsageDir string
	// DiskLimit, when positive, bounds what a command run by Run may write to the container's
	// writable layer (the work tree included; /tmp has TmpfsBytes): a watchdog kills the
	// container past it (Result.DiskLimited). See disk.go for how the layer is measured.
	DiskLimit int64
	// DiskPoll is how often the watchdog measures. Default 1 s.
	DiskPoll time.Duration
}

var runIDRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$`)
var capRe = regexp.MustCompile(`^[A-Z][A-Z_]{1,30}$`)
var userRe = regexp.MustCompile(`^([0-9]{1,10}(:[0-9]{1,10})?|[a-z_][a-z0-9_-]{0,31})$`)

// Validate reports the first field that is not usable.
func (c Config) Validate() error {
	c = c.withDefaults()
	switch {
	case !runIDRe.MatchString(c.RunID):
		return fmt.Errorf("Config.RunID: %q: want letters, digits, '.', '_' or '-'", c.RunID)
	case c.Worker != "" && !runIDRe.MatchString(c.Worker):
		return fmt.Errorf("Config.Worker: %q: want letters, digits, '.', '_' or '-'", c.Worker)
	case c.Memory < 16<<20:
		return errors.New("Config.Memory: below 16 MiB")
	case c.CPUs <= 0:
		return errors.New("Config.CPUs: not positive")
	case c.PidsLimit <= 0:
		return errors.New("Config.PidsLimit: not positive")
	case c.TmpfsBytes <= 0:
		return errors.New("Config.TmpfsBytes: not positive")
	case !userRe.MatchString(c.User):
		return fmt.Errorf("Config.User: %q: want uid[:gid] or a user name", c.User)
	case c.Runtime != "" && !runIDRe.MatchString(c.Runtime):
		return fmt.Errorf("Config.Runtime: %q is not a runtime name", c.Runtime)
	case c.OutputLimit < 1024:
		return errors.New("Config.OutputLimit: below 1024 bytes")
	case c.CleanupTimeout < time.Second:
		return errors.New("Config.CleanupTimeout: below 1 s")
	case c.DiskLimit < 0:
		return errors.New("Config.DiskLimit: negative")
	case c.DiskLimit > 0 && c.DiskLimit < 16<<20:
		return errors.New("Config.DiskLimit: below 16 MiB")
	case c.DiskPoll < 100*time.Millisecond:
		return errors.New("Config.DiskPoll: below 100 ms")
	}
	for _, cp := range c.CapAdd {
		if !capRe.MatchString(cp) {
			return fmt.Errorf("Config.CapAdd: %q is not a capability name", cp)
		}
	}
	return nil
}

func (c Config) withDefaults() Config {
	if c.Memory == 0 {
		c.Memory = 2 << 30
	}
	if c.CPUs == 0 {
		c.CPUs = 1
	}
	if c.PidsLimit == 0 {
		c.PidsLimit = 1024
	}
	if c.TmpfsBytes == 0 {
		c.TmpfsBytes = 1 << 30
	}
	if c.User == "" {
		c.User = "1000:1000"
	}
	if c.OutputLimit == 0 {
		c.OutputLimit = 1 << 20
	}
	if c.CleanupTimeout == 0 {
		c.CleanupTimeout = 15 * time.Second
	}
	if c.DiskPoll == 0 {
		c.DiskPoll = time.Second
	}
	return c
}

// Sandbox creates limited containers. It is safe for concurrent use.
type Sandbox struct {
	api API
	cfg Config
	log zerolog.Logger
}

// OutputLimit returns how many bytes of a command's output a Result keeps (Config.OutputLimit).
func (s *Sandbox) OutputLimit() int { return s.cfg.OutputLimit }

// New returns a Sandbox. Call Sweep once at the start of a run.
func New(api API, cfg Config, log zerolog.Logger) (*Sandbox, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Sandbox{api: api, cfg: cfg.withDefaults(), log: log}, nil
}

// Spec says what a container runs.
type Spec struct {
	// Image is the image to run. Required.
	Image string
	// Cmd is the command, e.g. {"/bin/bash", "-c", "python -m pytest tests/test_x.py"}.
	Cmd []string
	// Env adds KEY=VALUE variables to the image's.
	Env []string
	// WorkDir is the command's directory; empty means the image's.
	WorkDir string
	// Timeout is the hard wall-clock limit of Run. Default 30 minutes.
	Timeout time.Duration
	// Labels are added to the container's (LabelRole defaults to "sandbox").
	Labels map[string]string
}

// Result is what one command did.
type Result struct {
	ExitCode int
	// Stdout and Stderr are capped at Config.OutputLimit (head and tail); the Truncated
	// flags say when bytes were left out.
	Stdout, Stderr                   []byte
	StdoutTruncated, StderrTruncated bool
	Duration                         time.Duration
	// OOMKilled says the kernel killed a process of the container for memory, as the engine
	// reports it (State.OOMKilled). Exec results never set it: the engine reports OOM kills
	// per container, once it has exited.
	OOMKilled bool
	// Killed says the command died of a SIGKILL (exit 137) that neither Spec.Timeout nor, by
	// the engine's account, the OOM killer sent: a kill from outside the run.
	Killed bool
	// TimedOut says the command ran out of Spec.Timeout and the container was killed.
	TimedOut bool
	// DiskLimited says the container wrote more than Config.DiskLimit to its writable layer
	// and the disk watchdog killed it; DiskUsed is the size it measured then.
	DiskLimited bool
	DiskUsed    int64
}

// Container is one sandboxed container. Its methods are not safe for concurrent use.
type Container struct {
	ID      string
	s       *Sandbox
	spec    Spec
	removed bool
	// diskOver is the size GuardDisk measured when it killed the container (0: it did not).
	diskOver atomic.Int64
}

// Create creates (does not start) a container for spec.
func (s *Sandbox) Create(ctx context.Context, spec Spec) (*Container, error) {
	if spec.Image == "" || len(spec.Cmd) == 0 {
		return nil, errors.New("creating sandbox container: Spec.Image and Spec.Cmd are required")
	}
	if spec.Timeout == 0 {
		spec.Timeout = 30 * time.Minute
	}
	labels := map[string]string{}
	for k, v := range spec.Labels {
		labels[k] = v
	}
	labels[LabelRun] = s.cfg.RunID
	delete(labels, LabelWorker)
	if s.cfg.Worker != "" {
		labels[LabelWorker] = s.cfg.Worker
	}
	if labels[LabelRole] == "" {
		labels[LabelRole] = "sandbox"
	}
	pids, init := s.cfg.PidsLimit, true
	cfg := &container.Config{
		Image: spec.Image, Cmd: spec.Cmd, Env: spec.Env, WorkingDir: spec.WorkDir, User: s.cfg.User,
		Labels: labels, AttachStdout: true, AttachStderr: true,
	}
	host := &container.HostConfig{
		CapDrop: []string{"ALL"},
		CapAdd:  s.cfg.CapAdd,
		// The engine's init (tini) is the container's first process: it reaps orphans and
		// makes the command process 2.
		Init:        &init,
		SecurityOpt: []string{"no-new-privileges"},
		Tmpfs:       map[string]string{"/tmp": fmt.Sprintf("rw,exec,nosuid,nodev,size=%d", s.cfg.TmpfsBytes)},
		Resources: container.Resources{
			Memory: s.cfg.Memory, MemorySwap: s.cfg.Memory, NanoCPUs: int64(s.cfg.CPUs * 1e9), PidsLimit: &pids,
		},
		Runtime:   s.cfg.Runtime,
		LogConfig: container.LogConfig{Type: "json-file", Config: map[string]string{"max-size": "8m", "max-file": "1"}},
	}
	if !s.cfg.Network {
		// Network mode none leaves the loopback interface and the engine's /etc/hosts, so
		// that tests reach servers they start on localhost. (Config.NetworkDisabled would also
		// drop /etc/hosts: localhost then goes to a DNS server that is not there.)
		host.NetworkMode = "none"
	}
	resp, err := s.api.ContainerCreate(ctx, cfg, host, nil, nil, "")
	if err != nil {
		return nil, fmt.Errorf("creating sandbox container from %s: %w", spec.Image, err)
	}
	c := &Container{ID: resp.ID, s: s, spec: spec}
	if s.cfg.UsageDir != "" {
		if ins, err := s.api.ContainerInspect(ctx, resp.ID); err == nil {
			touch(s.cfg.UsageDir, ins.Image)
		}
	}
	return c, nil
}

func touch(dir, id string) {
	p := filepath.Join(dir, strings.TrimPrefix(id, "sha256:"))
	now := time.Now()
	if err := os.Chtimes(p, now, now); err != nil {
		_ = os.WriteFile(p, nil, 0o644)
	}
}

// CopyIn writes files (slash-separated relative paths -> contents) under the directory dir of
// the container, owned by the sandbox user. Before the container starts, dir must not be
// under /tmp (the tmpfs is mounted over it at start).
func (c *Container) CopyIn(ctx context.Context, dir string, files map[string][]byte) error {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	uid, gid := ownerIDs(c.s.cfg.User)
	dirs := map[string]bool{}
	for name, data := range files {
		clean := path.Clean(name)
		if path.IsAbs(clean) || clean == ".." || strings.HasPrefix(clean, "../") {
			return fmt.Errorf("copying %s into container: path leaves the directory", name)
		}
		for d := path.Dir(clean); d != "." && !dirs[d]; d = path.Dir(d) {
			dirs[d] = true
			if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d + "/", Mode: 0o755, Uid: uid, Gid: gid, ModTime: time.Now()}); err != nil {
				return err
			}
		}
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: clean, Mode: 0o644, Size: int64(len(data)), Uid: uid, Gid: gid, ModTime: time.Now()}); err != nil {
			return err
		}
		if _, err := tw.Write(data); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return c.CopyInTar(ctx, dir, &buf)
}

// CopyInTar extracts a tar stream under dir in the container.
func (c *Container) CopyInTar(ctx context.Context, dir string, r io.Reader) error {
	if err := c.s.api.CopyToContainer(ctx, c.ID, dir, r, container.CopyToContainerOptions{}); err != nil {
		return fmt.Errorf("copying into container %s:%s: %w", short(c.ID), dir, err)
	}
	return nil
}

// CopyOut returns a tar stream of path in the container; the caller closes it.
func (c *Container) CopyOut(ctx context.Context, p string) (io.ReadCloser, error) {
	rc, _, err := c.s.api.CopyFromContainer(ctx, c.ID, p)
	if err != nil {
		return nil, fmt.Errorf("copying %s out of container %s: %w", p, short(c.ID), err)
	}
	return rc, nil
}

// ReadFiles copies p (a file or a directory) out of the container, which may have exited,
// and calls fn with each regular file in it: its path relative to p's parent directory
// (slash-separated, e.g. "results/output" for p "/x/results"), its size and a reader of its
// content, valid during the call. fn need not read everything. A p that does not exist is
// an error satisfying errdefs.IsNotFound.
func (c *Container) ReadFiles(ctx context.Context, p string, fn func(name string, size int64, r io.Reader) error) error {
	rc, err := c.CopyOut(ctx, p)
	if err != nil {
		return err
	}
	defer rc.Close()
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading %s out of container %s: %w", p, short(c.ID), err)
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		if err := fn(path.Clean(h.Name), h.Size, tr); err != nil {
			return err
		}
	}
}

// ReadFile returns the content of the regular file p in the container, at most limit bytes
// (truncated beyond).
func (c *Container) ReadFile(ctx context.Context, p string, limit int64) ([]byte, error) {
	rc, err := c.CopyOut(ctx, p)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err != nil {
			return nil, fmt.Errorf("reading %s out of container %s: %w", p, short(c.ID), err)
		}
		if h.Typeflag == tar.TypeReg {
			return io.ReadAll(io.LimitReader(tr, limit))
		}
	}
}

// Run starts the container and waits for its command, at most Spec.Timeout: then, or when
// ctx is done, the container is killed (every process in it) before Run returns. A command
// that fails or times out is a Result, not an error; errors are the engine's.
func (c *Container) Run(ctx context.Context) (Result, error) {
	var res Result
	api := c.s.api
	att, err := api.ContainerAttach(ctx, c.ID, container.AttachOptions{Stream: true, Stdout: true, Stderr: true})
	if err != nil {
		return res, fmt.Errorf("attaching to container %s: %w", short(c.ID), err)
	}
	defer att.Close()
	stdout, stderr := NewHeadTail(c.s.cfg.OutputLimit), NewHeadTail(c.s.cfg.OutputLimit)
	var copyWG sync.WaitGroup
	copyWG.Add(1)
	go func() {
		defer copyWG.Done()
		_, _ = stdcopy.StdCopy(stdout, stderr, att.Reader)
	}()
	defer func() {
		att.Close() // ends the copy if the stream is still open
		copyWG.Wait()
	}()

	waitCtx, cancelWait := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelWait()
	waitCh, waitErr := waitNextExit(waitCtx, api, c.ID)
	start := time.Now()
	if err := api.ContainerStart(ctx, c.ID, container.StartOptions{}); err != nil {
		// A start cancelled mid-request may have started the container all the same.
		c.kill(ctx)
		return res, fmt.Errorf("starting container %s: %w", short(c.ID), err)
	}
	timer := time.NewTimer(c.spec.Timeout)
	defer timer.Stop()
	diskOver := make(chan int64, 1)
	if c.s.cfg.DiskLimit > 0 {
		watchCtx, stopWatch := context.WithCancel(ctx)
		defer stopWatch()
		go c.watchDisk(watchCtx, diskOver)
	}
	exited := false
	select {
	case n := <-diskOver:
		res.DiskLimited, res.DiskUsed = true, n
	case w := <-waitCh:
		exited = true
		res.ExitCode = int(w.StatusCode)
	case err := <-waitErr:
		c.kill(ctx)
		return res, fmt.Errorf("waiting for container %s: %w", short(c.ID), err)
	case <-timer.C:
		res.TimedOut = true
	case <-ctx.Done():
	}
	if !exited {
		c.kill(ctx)
		select {
		case <-waitCh:
		case <-waitErr:
		case <-time.After(c.s.cfg.CleanupTimeout):
		}
	}
	res.Duration = time.Since(start)
	// The output stream ends when the container exits; do not wait for it forever.
	copyDone := make(chan struct{})
	go func() { copyWG.Wait(); close(copyDone) }()
	select {
	case <-copyDone:
	case <-time.After(5 * time.Second):
		att.Close()
		<-copyDone
	}
	res.Stdout, res.StdoutTruncated = stdout.Bytes()
	res.Stderr, res.StderrTruncated = stderr.Bytes()
	if ctx.Err() != nil && !res.TimedOut && !exited {
		return res, fmt.Errorf("running container %s: %w", short(c.ID), context.Cause(ctx))
	}
	ictx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.s.cfg.CleanupTimeout)
	defer cancel()
	ins, err := api.ContainerInspect(ictx, c.ID)
	if err != nil {
		return res, fmt.Errorf("inspecting container %s: %w", short(c.ID), err)
	}
	if ins.State != nil {
		res.OOMKilled = ins.State.OOMKilled
		if !exited {
			res.ExitCode = ins.State.ExitCode
		}
	}
	res.Killed = res.ExitCode == 137 && !res.TimedOut && !res.OOMKilled && !res.DiskLimited
	return res, nil
}

// waitNextExit is ContainerWait whose answer never blocks its sender: the Docker client sends
// the exit on an unbuffered channel, so a caller that stops listening (a cancelled start, a
// kill that outlived CleanupTimeout) would leave its goroutine blocked for good. The
// forwarder ends once the engine answers or ctx is cancelled.
func waitNextExit(ctx context.Context, api API, id string) (<-chan container.WaitResponse, <-chan error) {
	resC, errC := api.ContainerWait(ctx, id, container.WaitConditionNextExit)
	out, outErr := make(chan container.WaitResponse, 1), make(chan error, 1)
	go func() {
		select {
		case r := <-resC:
			out <- r
		case err := <-errC:
			outErr <- err
		}
	}()
	return out, outErr
}

// Start starts the container's command in the background (for Exec); Spec.Timeout does not
// apply to it. Remove ends it.
func (c *Container) Start(ctx context.Context) error {
	if err := c.s.api.ContainerStart(ctx, c.ID, container.StartOptions{}); err != nil {
		return fmt.Errorf("starting container %s: %w", short(c.ID), err)
	}
	return nil
}

// Exec runs cmd in the started container as the sandbox user, in workDir (empty: the
// image's), at most timeout: then the command is killed (GNU timeout) and so is every other
// process of the sandbox user except the container's own command, so run one Exec at a time; if the command has not returned CleanupTimeout after its timeout, the whole
// container is killed. A command that fails or times out is a Result, not an error.
func (c *Container) Exec(ctx context.Context, cmd []string, env []string, workDir string, timeout time.Duration) (Result, error) {
	var res Result
	if len(cmd) == 0 || timeout <= 0 {
		return res, errors.New("executing in container: cmd and a positive timeout are required")
	}
	secs := int64((timeout + time.Second - 1) / time.Second)
	full := append([]string{"timeout", "-s", "KILL", fmt.Sprint(secs)}, cmd...)
	api := c.s.api
	ex, err := api.ContainerExecCreate(ctx, c.ID, container.ExecOptions{
		User: c.s.cfg.User, AttachStdout: true, AttachStderr: true, Env: env, WorkingDir: workDir, Cmd: full,
	})
	if err != nil {
		return res, fmt.Errorf("creating exec in container %s: %w", short(c.ID), err)
	}
	start := time.Now()
	att, err := api.ContainerExecAttach(ctx, ex.ID, container.ExecAttachOptions{})
	if err != nil {
		return res, fmt.Errorf("starting exec in container %s: %w", short(c.ID), err)
	}
	defer att.Close()
	stdout, stderr := NewHeadTail(c.s.cfg.OutputLimit), NewHeadTail(c.s.cfg.OutputLimit)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = stdcopy.StdCopy(stdout, stderr, att.Reader)
	}()
	hard := time.NewTimer(timeout + c.s.cfg.CleanupTimeout)
	defer hard.Stop()
	var cause error
	select {
	case <-done:
	case <-hard.C:
		res.TimedOut = true
		c.kill(ctx)
	case <-ctx.Done():
		cause = context.Cause(ctx)
		c.kill(ctx)
	}
	att.Close()
	<-done
	res.Duration = time.Since(start)
	res.Stdout, res.StdoutTruncated = stdout.Bytes()
	res.Stderr, res.StderrTruncated = stderr.Bytes()
	if cause != nil {
		return res, fmt.Errorf("executing in container %s: %w", short(c.ID), cause)
	}
	ictx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.s.cfg.CleanupTimeout)
	defer cancel()
	ins, err := api.ContainerExecInspect(ictx, ex.ID)
	if err != nil {
		return res, fmt.Errorf("inspecting exec in container %s: %w", short(c.ID), err)
	}
	res.ExitCode = ins.ExitCode
	if res.ExitCode == 137 && res.Duration >= timeout {
		res.TimedOut = true
	} else if res.ExitCode == 137 {
		res.Killed = true
	}
	if res.TimedOut {
		// GNU timeout killed the command, not its children: kill every process of the
		// sandbox user but the container's first one.
		c.killUserProcesses(ictx)
	}
	return res, nil
}

// killOthersScript kills every process older than itself but the engine's init (1) and the
// container's command (the oldest other process). Processes younger than it (the next
// command's) are never touched.
const killOthersScript = `start() { sed 's/.*) //' /proc/$1/stat 2>/dev/null | cut -d' ' -f20; }
self=$(start $$)
main=$(for p in /proc/[0-9]*; do pid=${p#/proc/}; [ "$pid" = 1 ] && continue; echo "$(start $pid) $pid"; done | sort -n | head -n 1 | cut -d' ' -f2)
for p in /proc/[0-9]*; do
	pid=${p#/proc/}
	[ "$pid" = 1 ] || [ "$pid" = "$main" ] || [ "$pid" = $$ ] && continue
	t=$(start $pid)
	if [ -n "$t" ] && [ "$t" -lt "$self" ]; then kill -9 "$pid" 2>/dev/null; fi
done
true`

// killUserProcesses kills, as the sandbox user, every process in the container but its
// first ones.
func (c *Container) killUserProcesses(ctx context.Context) {
	ex, err := c.s.api.ContainerExecCreate(ctx, c.ID, container.ExecOptions{User: c.s.cfg.User, Cmd: []string{"/bin/sh", "-c", killOthersScript}})
	if err == nil {
		var att types.HijackedResponse
		if att, err = c.s.api.ContainerExecAttach(ctx, ex.ID, container.ExecAttachOptions{}); err == nil {
			_, _ = io.Copy(io.Discard, att.Reader)
			att.Close()
		}
	}
	if err != nil {
		c.s.log.Warn().Err(err).Str("container", short(c.ID)).Msg("killing the processes of a timed-out command")
	}
}

// kill sends SIGKILL to the container, even when ctx is done.
func (c *Container) kill(ctx context.Context) {
	kctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.s.cfg.CleanupTimeout)
	defer cancel()
	if err := c.s.api.ContainerKill(kctx, c.ID, "KILL"); err != nil && !errdefs.IsNotFound(err) && !errdefs.IsConflict(err) {
		c.s.log.Warn().Err(err).Str("container", short(c.ID)).Msg("killing container")
	}
}

// Remove kills and removes the container, even when ctx is done (within
// Config.CleanupTimeout). Remove is idempotent.
func (c *Container) Remove(ctx context.Context) error {
	if c.removed {
		return nil
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.s.cfg.CleanupTimeout)
	defer cancel()
	err := c.s.api.ContainerRemove(rctx, c.ID, container.RemoveOptions{Force: true, RemoveVolumes: true})
	if err != nil && !errdefs.IsNotFound(err) {
		return fmt.Errorf("removing container %s: %w", short(c.ID), err)
	}
	c.removed = true
	return nil
}

// Run creates a container for spec, copies files under dir, runs the command and removes
// the container, whatever happens.
func (s *Sandbox) Run(ctx context.Context, spec Spec, dir string, files map[string][]byte) (res Result, err error) {
	c, err := s.Create(ctx, spec)
	if err != nil {
		return res, err
	}
	defer func() {
		if rerr := c.Remove(ctx); rerr != nil && err == nil {
			err = rerr
		}
	}()
	if len(files) > 0 {
		if err := c.CopyIn(ctx, dir, files); err != nil {
			return res, err
		}
	}
	return c.Run(ctx)
}

// Sweep removes the containers a previous process of this run left behind: every container
// labelled with Config.RunID, sandboxes and build containers alike, whatever worker made it.
// Call it at the start of a run that no other process works, before creating containers.
// It returns how many containers it removed.
func (s *Sandbox) Sweep(ctx context.Context) (int, error) {
	return s.sweep(ctx, func(context.Context, string) (bool, error) { return true, nil })
}

// SweepGone removes the containers of this run (Config.RunID) whose worker is gone, as gone
// reports it (runstore.Store.WorkerGone asks the run's record), and returns how many it
// removed: what killed processes of the run left, while the run's live workers go on. It
// keeps the containers of this Sandbox's own worker (Config.Worker, required) and asks gone
// once about each other worker; a container without a worker label (made before workers were
// labelled) has no live worker. Containers of other runs are never looked at.
func (s *Sandbox) SweepGone(ctx context.Context, gone func(ctx context.Context, worker string) (bool, error)) (int, error) {
	if s.cfg.Worker == "" {
		return 0, errors.New("sweeping the containers of gone workers: Config.Worker is not set")
	}
	seen := map[string]bool{s.cfg.Worker: false, "": true}
	return s.sweep(ctx, func(ctx context.Context, worker string) (bool, error) {
		if g, ok := seen[worker]; ok {
			return g, nil
		}
		g, err := gone(ctx, worker)
		if err != nil {
			return false, err
		}
		seen[worker] = g
		return g, nil
	})
}

// sweep removes the run's containers whose worker remove says to.
func (s *Sandbox) sweep(ctx context.Context, remove func(ctx context.Context, worker string) (bool, error)) (int, error) {
	n := 0
	own, err := s.api.ContainerList(ctx, container.ListOptions{All: true,
		Filters: filters.NewArgs(filters.Arg("label", LabelRun+"="+s.cfg.RunID))})
	if err != nil {
		return n, fmt.Errorf("listing containers of run %s: %w", s.cfg.RunID, err)
	}
	for _, c := range own {
		worker := c.Labels[LabelWorker]
		if ok, err := remove(ctx, worker); err != nil || !ok {
			if err != nil {
				return n, fmt.Errorf("sweeping container %s: %w", short(c.ID), err)
			}
			continue
		}
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.CleanupTimeout)
		err := s.api.ContainerRemove(rctx, c.ID, container.RemoveOptions{Force: true, RemoveVolumes: true})
		cancel()
		if err != nil && !errdefs.IsNotFound(err) {
			return n, fmt.Errorf("removing orphan container %s: %w", short(c.ID), err)
		}
		n++
		s.log.Info().Str("container", short(c.ID)).Str("image", c.Image).Str("state", string(c.State)).
			Str("left_by", worker).Msg("removed orphan container")
	}
	return n, nil
}

func short(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

func ownerIDs(user string) (int, int) {
	var uid, gid int
	if n, _ := fmt.Sscanf(user, "%d:%d", &uid, &gid); n == 2 {
		return uid, gid
	}
	if n, _ := fmt.Sscanf(user, "%d", &uid); n == 1 {
		return uid, uid
	}
	return 0, 0
}

// HeadTail is a writer that keeps the first and the last limit/2 bytes written to it: a
// capped log that shows how a command started and how it ended. It is not safe for
// concurrent use.
type HeadTail struct {
	half    int
	head    []byte
	tail    []byte // ring
	tailPos int
	total   int64
}

// NewHeadTail returns a HeadTail that keeps about limit bytes.
func NewHeadTail(limit int) *HeadTail { return &HeadTail{half: limit / 2} }

// Write keeps what fits in the head and the tail; it never fails.
func (b *HeadTail) Write(p []byte) (int, error) {
	n := len(p)
	b.total += int64(n)
	if room := b.half - len(b.head); room > 0 {
		k := min(room, len(p))
		b.head = append(b.head, p[:k]...)
		p = p[k:]
	}
	for len(p) > 0 {
		if len(b.tail) < b.half {
			k := min(b.half-len(b.tail), len(p))
			b.tail = append(b.tail, p[:k]...)
			p = p[k:]
			continue
		}
		k := copy(b.tail[b.tailPos:], p)
		b.tailPos = (b.tailPos + k) % b.half
		p = p[k:]
	}
	return n, nil
}

// Bytes returns the head and the tail, joined by a line that says how many bytes were left
// out between them, and whether any were.
func (b *HeadTail) Bytes() ([]byte, bool) {
	tail := append(append([]byte(nil), b.tail[b.tailPos:]...), b.tail[:b.tailPos]...)
	kept := int64(len(b.head) + len(tail))
	if b.total > kept {
		marker := fmt.Sprintf("\n[... %d bytes omitted ...]\n", b.total-kept)
		return append(append(append([]byte(nil), b.head...), marker...), tail...), true
	}
	return append(append([]byte(nil), b.head...), tail...), false
}

// Total returns how many bytes were written.
func (b *HeadTail) Total() int64 { return b.total }
