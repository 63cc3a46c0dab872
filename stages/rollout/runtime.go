package rollout

import (
	"context"
	"errors"
	"time"

	"swemill/envbuild/sandbox"
)

// Runtime starts the workspaces agents work in. The Docker implementation (NewDockerRuntime)
// gives each rollout its own sandboxed container of the instance image; tests and
// benchmarks may pass anything else.
type Runtime interface {
	// Start returns a running workspace. The caller closes it.
	Start(ctx context.Context, spec WorkspaceSpec) (Workspace, error)
}

// WorkspaceSpec says what a workspace holds.
type WorkspaceSpec struct {
	// Image is the instance image; WorkDir the repository's directory in it.
	Image   string
	WorkDir string
	// Path, when set and not WorkDir, is where the agent finds the repository: the runtime
	// puts a copy of WorkDir there, links WorkDir to it (what the image points at WorkDir,
	// such as editable installs, then finds the agent's changes), starts the shells in it
	// and takes the diff there.
	Path string
	// Lifetime bounds how long the workspace may exist at all: a Docker container stops by
	// itself after it, even if the process that started it was killed.
	Lifetime time.Duration
	// Labels are added to the container's (instance, rollout index...).
	Labels map[string]string
}

// ShellResult is what one command did in the agent's shell.
type ShellResult struct {
	// Output is stdout and stderr interleaved, capped (head and tail kept): what the
	// command printed since the last result.
	Output string
	// Truncated says bytes were left out of Output.
	Truncated bool
	// ExitCode is the command's status; -1 while it runs or when the shell died.
	ExitCode int
	// Cwd is the shell's directory after the command; PythonPath the python on PATH then
	// ("" if none).
	Cwd        string
	PythonPath string
	// Running says the command goes on: it printed nothing new for the request's NoChange,
	// or (TimedOut) the call ran past its Timeout. Output is what it printed so far; the
	// next request waits for more, feeds its input or interrupts it.
	Running bool
	// TimedOut says the call ran past its Timeout; the command was left running (Running).
	TimedOut bool
	// Interrupted says the request interrupted the command (Ctrl-C).
	Interrupted bool
	// Restarted says the shell ended (the command exited it, or it had to be killed) and a
	// new one was started in the work directory.
	Restarted bool
}

// ShellRequest is one call to the agent's shell: a new command, or, while the last one is
// still running, a wait for more of its output (Command empty), text for its standard
// input (Input), the end of its input (EOF) or its interruption.
type ShellRequest struct {
	Command string
	// Input sends Command and a newline to the running command's standard input.
	Input bool
	// EOF closes the running command's standard input (Ctrl-D).
	EOF       bool
	Interrupt bool
	// Timeout bounds the call, counted from its start: past it the call returns with the
	// command still running (TimedOut), as OpenHands' hard timeout does.
	Timeout time.Duration
	// NoChange, when positive, returns the call once the command has printed nothing new for
	// that long, leaving it running (Running), as OpenHands' no-change timeout does.
	NoChange time.Duration
}

// ErrNothingRunning is returned for a wait, input or an interruption when no command is
// running, and ErrStillRunning for a new command while one is: then the result holds what
// the running command printed since the last result (Running set), without waiting.
var (
	ErrNothingRunning = errors.New("no command is running")
	ErrStillRunning   = errors.New("the previous command is still running")
)

// FileInfo describes a path in a workspace.
type FileInfo struct {
	Exists, IsDir bool
}

// Workspace is a running container with a persistent shell. Its methods are not safe for
// concurrent use: an agent does one thing at a time.
type Workspace interface {
	// Shell runs a command in the agent's shell, which keeps its directory and variables
	// between commands, or waits for or interrupts the command still running (see
	// ShellRequest). A command reads what Input requests send it; a command started while
	// nothing is fed to it waits for input as at a terminal, until EOF or an interruption.
	// Errors are the runtime's, not the command's, but for ErrNothingRunning and
	// ErrStillRunning, which change nothing.
	Shell(ctx context.Context, req ShellRequest) (ShellResult, error)
	// Stat, ReadFile, WriteFile and ListDir work on absolute paths with the permissions of
	// the agent. ReadFile returns ErrNotExist, ErrIsDir or a *FileError for other
	// refusals; WriteFile creates the file (not its directory) or truncates it.
	Stat(ctx context.Context, path string) (FileInfo, error)
	ReadFile(ctx context.Context, path string) ([]byte, error)
	WriteFile(ctx context.Context, path string, data []byte) error
	// ListDir lists a directory and the entries below it up to depth levels (symbolic links
	// followed), one path a line in bytewise order, the directory itself first, directories
	// with a trailing slash; a hidden entry (its name starts with a dot) is listed but not
	// descended into.
	ListDir(ctx context.Context, path string, depth int) (string, error)
	// Diff stages every change of the work directory and returns `git diff --cached base`
	// (text; binary files as "Binary files ... differ").
	Diff(ctx context.Context, base string) (string, error)
	// Close removes the workspace, even when ctx is done. It is idempotent.
	Close(ctx context.Context) error
}

// Errors of Workspace file operations.
var (
	ErrNotExist = errors.New("no such file or directory")
	ErrIsDir    = errors.New("is a directory")
)

// FileError is a file operation the workspace refused (permissions, not a regular file,
// missing directory); Msg is the tool's message.
type FileError struct {
	Path string
	Msg  string
}

func (e *FileError) Error() string { return e.Path + ": " + e.Msg }

// ErrWorkspaceGone says the workspace's container stopped (killed, out of memory, past its
// disk limit) and no longer runs commands. It is sandbox.ErrWorkspaceGone, which the Docker
// runtime's workspaces return.
var ErrWorkspaceGone = sandbox.ErrWorkspaceGone
