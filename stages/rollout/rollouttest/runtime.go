package rollouttest

import (
	"context"
	"fmt"
	"path"
	"sort"
	"strings"
	"sync"

	"swemill/stages/rollout"
)

// Runtime is an in-memory rollout.Runtime: each workspace is a map of files plus a shell
// answered by ShellFunc. A workspace whose spec has a Path holds the files seeded under
// WorkDir under Path, and paths under WorkDir reach them there, as through the Docker
// runtime's link. It is safe for concurrent use.
type Runtime struct {
	// Files seeds every workspace: absolute path -> content.
	Files map[string]string
	// ShellFunc answers the agent's commands; nil answers every command with empty output
	// and exit code 0, in the work directory.
	ShellFunc func(ctx context.Context, ws *Workspace, command string) (rollout.ShellResult, error)

	mu         sync.Mutex
	started    int
	closed     int
	workspaces []*Workspace
}

// Start returns a new workspace.
func (r *Runtime) Start(ctx context.Context, spec rollout.WorkspaceSpec) (rollout.Workspace, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	ws := &Workspace{Spec: spec, Files: map[string][]byte{}, orig: map[string][]byte{}, rt: r}
	for p, c := range r.Files {
		p = ws.resolve(p)
		ws.Files[p] = []byte(c)
		ws.orig[p] = []byte(c)
	}
	r.mu.Lock()
	r.started++
	r.workspaces = append(r.workspaces, ws)
	r.mu.Unlock()
	return ws, nil
}

// Workspaces returns the workspaces started, in order.
func (r *Runtime) Workspaces() []*Workspace {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*Workspace(nil), r.workspaces...)
}

// Open counts the workspaces started and not closed.
func (r *Runtime) Open() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.started - r.closed
}

// Workspace is an in-memory rollout.Workspace.
type Workspace struct {
	Spec  rollout.WorkspaceSpec
	Files map[string][]byte
	// Commands are the shell commands run, in order.
	Commands []string
	orig     map[string][]byte
	rt       *Runtime
	closed   bool
	running  bool
}

// Dir is where the workspace holds the repository: Spec.Path when set, else Spec.WorkDir.
func (w *Workspace) Dir() string {
	if w.Spec.Path != "" {
		return w.Spec.Path
	}
	return w.Spec.WorkDir
}

// resolve follows the link from Spec.WorkDir to Spec.Path.
func (w *Workspace) resolve(p string) string {
	d, wd := w.Dir(), w.Spec.WorkDir
	switch {
	case d == wd || wd == "":
		return p
	case p == wd:
		return d
	case strings.HasPrefix(p, wd+"/"):
		return d + p[len(wd):]
	}
	return p
}

// Shell records the command and answers it with the runtime's ShellFunc. A result with
// Running makes the next request a wait (command ""), input (recorded and passed to
// ShellFunc as "input:" and the text), the end of input ("C-d") or an interruption
// ("C-c"); a new command then is refused as the Docker workspace refuses it (with no
// output), and each of those requests is refused when nothing runs.
func (w *Workspace) Shell(ctx context.Context, req rollout.ShellRequest) (rollout.ShellResult, error) {
	if err := ctx.Err(); err != nil {
		return rollout.ShellResult{}, context.Cause(ctx)
	}
	command := req.Command
	newCommand := !req.Interrupt && !req.Input && !req.EOF && req.Command != ""
	switch {
	case w.running && newCommand:
		return rollout.ShellResult{Running: true, ExitCode: -1}, rollout.ErrStillRunning
	case !w.running && !newCommand:
		return rollout.ShellResult{}, rollout.ErrNothingRunning
	case req.Interrupt:
		command = "C-c"
	case req.EOF:
		command = "C-d"
	case req.Input:
		command = "input:" + req.Command
	}
	w.Commands = append(w.Commands, command)
	res := rollout.ShellResult{Cwd: w.Dir()}
	var err error
	if w.rt.ShellFunc != nil {
		res, err = w.rt.ShellFunc(ctx, w, command)
	}
	w.running = err == nil && res.Running
	return res, err
}

func (w *Workspace) isDir(p string) bool {
	prefix := strings.TrimSuffix(p, "/") + "/"
	for f := range w.Files {
		if strings.HasPrefix(f, prefix) {
			return true
		}
	}
	return p == "/" || p == w.Dir() || p == w.Spec.WorkDir
}

// Stat reports files and the directories that hold them.
func (w *Workspace) Stat(ctx context.Context, p string) (rollout.FileInfo, error) {
	p = w.resolve(p)
	if _, ok := w.Files[p]; ok {
		return rollout.FileInfo{Exists: true}, nil
	}
	if w.isDir(p) {
		return rollout.FileInfo{Exists: true, IsDir: true}, nil
	}
	return rollout.FileInfo{}, nil
}

// ReadFile returns a file's content.
func (w *Workspace) ReadFile(ctx context.Context, p string) ([]byte, error) {
	p = w.resolve(p)
	if data, ok := w.Files[p]; ok {
		return append([]byte(nil), data...), nil
	}
	if w.isDir(p) {
		return nil, rollout.ErrIsDir
	}
	return nil, rollout.ErrNotExist
}

// WriteFile writes a file whose directory exists.
func (w *Workspace) WriteFile(ctx context.Context, p string, data []byte) error {
	p = w.resolve(p)
	if w.isDir(p) {
		return rollout.ErrIsDir
	}
	if _, ok := w.Files[p]; !ok && !w.isDir(path.Dir(p)) {
		return &rollout.FileError{Path: p, Msg: "the parent directory does not exist"}
	}
	w.Files[p] = append([]byte(nil), data...)
	return nil
}

// ListDir lists the files under p and the directories that hold them, as the Docker
// workspace lists a directory: up to depth levels, hidden entries listed but not descended
// into, bytewise order, directories with a trailing slash. Like find -L, it follows the link
// at Spec.WorkDir.
func (w *Workspace) ListDir(ctx context.Context, p string, depth int) (string, error) {
	dir := w.resolve(p)
	if !w.isDir(dir) {
		return "", rollout.ErrNotExist
	}
	isDir := map[string]bool{p: true}
	prefix, shown := strings.TrimSuffix(dir, "/")+"/", strings.TrimSuffix(p, "/")+"/"
	for f := range w.Files {
		rel, ok := strings.CutPrefix(f, prefix)
		if !ok {
			continue
		}
		parts := strings.Split(rel, "/")
		for i := 1; i <= len(parts) && i <= depth; i++ {
			e := shown + strings.Join(parts[:i], "/")
			isDir[e] = isDir[e] || i < len(parts)
			if strings.HasPrefix(parts[i-1], ".") {
				break
			}
		}
	}
	list := make([]string, 0, len(isDir))
	for e := range isDir {
		list = append(list, e)
	}
	sort.Strings(list)
	var b strings.Builder
	for _, e := range list {
		b.WriteString(e)
		if isDir[e] {
			b.WriteString("/")
		}
		b.WriteString("\n")
	}
	return b.String(), nil
}

// Diff returns a whole-file diff of every file that changed under Dir.
func (w *Workspace) Diff(ctx context.Context, base string) (string, error) {
	var paths []string
	for p := range w.Files {
		if string(w.Files[p]) != string(w.orig[p]) {
			paths = append(paths, p)
		}
	}
	sort.Strings(paths)
	var b strings.Builder
	for _, p := range paths {
		rel := strings.TrimPrefix(p, strings.TrimSuffix(w.Dir(), "/")+"/")
		old, isOld := w.orig[p]
		oldLines, newLines := lines(string(old)), lines(string(w.Files[p]))
		fmt.Fprintf(&b, "diff --git a/%s b/%s\n", rel, rel)
		if !isOld {
			b.WriteString("new file mode 100644\n--- /dev/null\n")
		} else {
			fmt.Fprintf(&b, "--- a/%s\n", rel)
		}
		fmt.Fprintf(&b, "+++ b/%s\n@@ -%d,%d +1,%d @@\n", rel, min(1, len(oldLines)), len(oldLines), len(newLines))
		for _, l := range oldLines {
			b.WriteString("-" + l + "\n")
		}
		for _, l := range newLines {
			b.WriteString("+" + l + "\n")
		}
	}
	return b.String(), nil
}

func lines(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(strings.TrimSuffix(s, "\n"), "\n")
}

// Close marks the workspace closed; it is idempotent.
func (w *Workspace) Close(ctx context.Context) error {
	if !w.closed {
		w.closed = true
		w.rt.mu.Lock()
		w.rt.closed++
		w.rt.mu.Unlock()
	}
	return nil
}
