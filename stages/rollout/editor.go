package rollout

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path"
	"strconv"
	"strings"
	"unicode/utf8"

	"swemill/codeact"
)

// The editor follows the conventions of OpenHands' str_replace_editor (openhands-aci): the
// same commands and parameters, `cat -n` numbering, a snippet of four lines around each edit,
// one undo level per edit, output clipped past a length. Files are kept byte for byte
// (tabs are not expanded). Messages are swemill's wording.

const (
	snippetLines = 4
	// editorMaxChars is where the editor clips its output.
	editorMaxChars = 16000
	clippedNote    = "<response clipped><NOTE>Only part of this output is shown, to save context. Search the file with `grep -n` for what you need and view that line range.</NOTE>"
)

// editorArgs are str_replace_editor's parameters.
type editorArgs struct {
	Command    string  `json:"command"`
	Path       string  `json:"path"`
	FileText   *string `json:"file_text"`
	OldStr     *string `json:"old_str"`
	NewStr     *string `json:"new_str"`
	InsertLine *int    `json:"insert_line"`
	ViewRange  []int   `json:"view_range"`
}

// editor holds the undo history of one rollout.
type editor struct {
	ws      Workspace
	workDir string
	history map[string][][]byte
}

func newEditor(ws Workspace, workDir string) *editor {
	return &editor{ws: ws, workDir: workDir, history: map[string][][]byte{}}
}

// toolFailure is a refused editor command: its message goes back to the model.
type toolFailure struct{ msg string }

func (e *toolFailure) Error() string { return e.msg }

func failf(format string, args ...any) error { return &toolFailure{fmt.Sprintf(format, args...)} }

// run executes one editor command. A *toolFailure is the model's mistake; other errors are
// the runtime's.
func (ed *editor) run(ctx context.Context, a editorArgs) (string, error) {
	p := a.Path
	if !path.IsAbs(p) {
		return "", failf("The path %s is not an absolute path; it must start with `/`. Did you mean %s?", p, path.Join(ed.workDir, p))
	}
	p = path.Clean(p)
	info, err := ed.ws.Stat(ctx, p)
	if err != nil {
		return "", ed.fsErr(p, err)
	}
	if a.Command != codeact.EditorCreate && !info.Exists {
		return "", failf("The path %s does not exist. Give a path that exists.", p)
	}
	if info.IsDir && a.Command != codeact.EditorView {
		return "", failf("The path %s is a directory; only `view` works on directories.", p)
	}
	switch a.Command {
	case codeact.EditorView:
		return ed.view(ctx, p, info, a.ViewRange)
	case codeact.EditorCreate:
		if info.Exists {
			return "", failf("A file already exists at %s. `create` does not overwrite files; edit it with `str_replace` instead.", p)
		}
		if a.FileText == nil {
			return "", failf("Parameter `file_text` is required for command `create`.")
		}
		if err := ed.ws.WriteFile(ctx, p, []byte(*a.FileText)); err != nil {
			return "", ed.fsErr(p, err)
		}
		return "File created successfully at: " + p, nil
	case codeact.EditorStrReplace:
		if a.OldStr == nil {
			return "", failf("Parameter `old_str` is required for command `str_replace`.")
		}
		newStr := ""
		if a.NewStr != nil {
			newStr = *a.NewStr
		}
		return ed.strReplace(ctx, p, *a.OldStr, newStr)
	case codeact.EditorInsert:
		if a.InsertLine == nil {
			return "", failf("Parameter `insert_line` is required for command `insert`.")
		}
		if a.NewStr == nil {
			return "", failf("Parameter `new_str` is required for command `insert`.")
		}
		return ed.insert(ctx, p, *a.InsertLine, *a.NewStr)
	case codeact.EditorUndo:
		return ed.undo(ctx, p)
	}
	return "", failf("Unknown command %q: use one of view, create, str_replace, insert, undo_edit.", a.Command)
}

// fsErr turns a workspace error into a failure for the model, or passes a runtime error on.
func (ed *editor) fsErr(p string, err error) error {
	var fe *FileError
	switch {
	case errors.Is(err, ErrNotExist):
		return failf("The path %s does not exist. Give a path that exists.", p)
	case errors.Is(err, ErrIsDir):
		return failf("The path %s is a directory.", p)
	case errors.As(err, &fe):
		return failf("Cannot use %s: %s.", p, fe.Msg)
	}
	return err
}

func (ed *editor) read(ctx context.Context, p string) (string, error) {
	data, err := ed.ws.ReadFile(ctx, p)
	if err != nil {
		return "", ed.fsErr(p, err)
	}
	if bytes.IndexByte(data, 0) >= 0 || !utf8.Valid(data) {
		return "", failf("The file %s is not a text file; the editor only handles text.", p)
	}
	return string(data), nil
}

// splitLines cuts text into lines; a final newline does not start an extra line.
func splitLines(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(strings.TrimSuffix(s, "\n"), "\n")
}

// numbered renders lines as `cat -n` does, the first numbered first.
func numbered(lines []string, first int) string {
	var b strings.Builder
	for i, l := range lines {
		b.WriteString(fmt.Sprintf("%6d\t%s\n", first+i, l))
	}
	return b.String()
}

func clipOutput(s string) string {
	if len(s) <= editorMaxChars {
		return s
	}
	cut := editorMaxChars
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + clippedNote
}

func (ed *editor) view(ctx context.Context, p string, info FileInfo, rng []int) (string, error) {
	if info.IsDir {
		if len(rng) > 0 {
			return "", failf("`view_range` cannot be used when `path` is a directory.")
		}
		list, err := ed.ws.ListDir(ctx, p, 2)
		if err != nil {
			return "", ed.fsErr(p, err)
		}
		return clipOutput("Here's the files and directories up to 2 levels deep in " + p + ", excluding hidden items:\n" + list + "\n"), nil
	}
	text, err := ed.read(ctx, p)
	if err != nil {
		return "", err
	}
	lines := splitLines(text)
	first := 1
	if len(rng) > 0 {
		if len(rng) != 2 {
			return "", failf("`view_range` must be two integers, e.g. [11, 20].")
		}
		start, end := rng[0], rng[1]
		n := len(lines)
		shown := fmt.Sprintf("[%d, %d]", start, end)
		switch {
		case start < 1 || start > max(n, 1):
			return "", failf("Invalid `view_range` %s: its first element %d must be between 1 and the number of lines of the file, %d.", shown, start, n)
		case end != -1 && end < start:
			return "", failf("Invalid `view_range` %s: its second element %d must be -1 or at least the first, %d.", shown, end, start)
		case end > n:
			return "", failf("Invalid `view_range` %s: its second element %d is past the last line of the file, %d.", shown, end, n)
		}
		if end == -1 {
			end = n
		}
		if n == 0 {
			lines = nil
		} else {
			lines = lines[start-1 : end]
		}
		first = start
	}
	return clipOutput("Here's the result of running `cat -n` on " + p + ":\n" + numbered(lines, first)), nil
}

func (ed *editor) strReplace(ctx context.Context, p, oldStr, newStr string) (string, error) {
	if oldStr == newStr {
		return "", failf("No replacement was performed: `new_str` and `old_str` are the same.")
	}
	if oldStr == "" {
		return "", failf("No replacement was performed: `old_str` is empty. To add lines, use `insert`.")
	}
	text, err := ed.read(ctx, p)
	if err != nil {
		return "", err
	}
	count := strings.Count(text, oldStr)
	if count == 0 {
		return "", failf("No replacement was performed, old_str `%s` did not appear verbatim in %s.", oldStr, p)
	}
	if count > 1 {
		var at []string
		off := 0
		for {
			i := strings.Index(text[off:], oldStr)
			if i < 0 {
				break
			}
			at = append(at, strconv.Itoa(strings.Count(text[:off+i], "\n")+1))
			off += i + 1
		}
		return "", failf("No replacement was performed. Multiple occurrences of old_str `%s` in lines [%s]. Make it unique with more surrounding lines.", oldStr, strings.Join(at, ", "))
	}
	i := strings.Index(text, oldStr)
	updated := text[:i] + newStr + text[i+len(oldStr):]
	if err := ed.write(ctx, p, text, updated); err != nil {
		return "", err
	}
	line := strings.Count(text[:i], "\n")
	snippet := ed.snippet(updated, line, strings.Count(newStr, "\n"))
	return clipOutput("The file " + p + " has been edited. Here's the result of running `cat -n` on a snippet of " + p + ":\n" +
		snippet + "Review the changes and make sure they are as expected. Edit the file again if necessary."), nil
}

// snippet numbers the lines around an edit that starts at line index at (0-based) and spans
// span+1 lines.
func (ed *editor) snippet(text string, at, span int) string {
	lines := splitLines(text)
	start := max(0, at-snippetLines)
	end := min(len(lines), at+span+snippetLines+1)
	if start > end {
		start = end
	}
	return numbered(lines[start:end], start+1)
}

func (ed *editor) insert(ctx context.Context, p string, after int, newStr string) (string, error) {
	text, err := ed.read(ctx, p)
	if err != nil {
		return "", err
	}
	lines := splitLines(text)
	if after < 0 || after > len(lines) {
		return "", failf("Invalid `insert_line` %d: it must be between 0 and the number of lines of the file, %d.", after, len(lines))
	}
	ins := strings.Split(newStr, "\n")
	out := make([]string, 0, len(lines)+len(ins))
	out = append(out, lines[:after]...)
	out = append(out, ins...)
	out = append(out, lines[after:]...)
	updated := strings.Join(out, "\n")
	if strings.HasSuffix(text, "\n") || text == "" {
		updated += "\n"
	}
	if err := ed.write(ctx, p, text, updated); err != nil {
		return "", err
	}
	snippet := ed.snippet(updated, after, len(ins)-1)
	return clipOutput("The file " + p + " has been edited. Here's the result of running `cat -n` on a snippet of the edited file:\n" +
		snippet + "Review the changes and make sure they are as expected (correct indentation, no duplicate lines, etc). Edit the file again if necessary."), nil
}

func (ed *editor) write(ctx context.Context, p, before, after string) error {
	if err := ed.ws.WriteFile(ctx, p, []byte(after)); err != nil {
		return ed.fsErr(p, err)
	}
	ed.history[p] = append(ed.history[p], []byte(before))
	return nil
}

func (ed *editor) undo(ctx context.Context, p string) (string, error) {
	h := ed.history[p]
	if len(h) == 0 {
		return "", failf("No edit history found for %s.", p)
	}
	prev := h[len(h)-1]
	if err := ed.ws.WriteFile(ctx, p, prev); err != nil {
		return "", ed.fsErr(p, err)
	}
	ed.history[p] = h[:len(h)-1]
	return clipOutput("Last edit to " + p + " undone successfully. Here's the result of running `cat -n` on " + p + ":\n" +
		numbered(splitLines(string(prev)), 1)), nil
}
