package rollout

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path"
	"slices"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"swemill/codeact"
)

// The editor's observations take the forms of OpenHands 0.32's str_replace_editor
// (openhands-aci 0.2.8, the version OpenHands 0.32.0 pins): the same commands and
// parameters; text shown as Python reads it (universal newlines) with tabs expanded to
// 8-column stops; `cat -n` numbering in which the empty piece after a final newline is a
// line too; snippets from four lines before an edit to four past it, numbered as 0.2.8
// numbers them; directory listings two levels deep without hidden entries, with a count of
// the hidden ones; ten undo levels per file, create being one; text clipped past 16000
// characters. old_str is matched against the text as shown, but only the bytes an edit
// replaces are written: tabs and line ends elsewhere in the file are kept. Refusals and
// notes are swemill's wording.

const (
	snippetLines = 4
	tabSize      = 8
	// maxHistory is how many edits of one file undo_edit can take back.
	maxHistory = 10
	// editorMaxChars is where the editor clips a file's or a listing's text, in characters.
	editorMaxChars  = 16000
	fileClippedNote = "<response clipped><NOTE>Only part of this file is shown, to save context. Search the file with `grep -n` for what you need and view that line range.</NOTE>"
	dirClippedNote  = "<response clipped><NOTE>Only part of this directory is shown, to save context. List large directories step by step with `ls -la`.</NOTE>"
	// hiddenNote follows a listing that left out hidden entries of the directory itself.
	hiddenNote = "Hidden entries directly in this directory, not listed: %d. Run `ls -la %s` to see them."
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
	// history holds, per file, what it held before each edit, the last edit last; create
	// adds the text it wrote.
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
		if info.IsDir {
			return ed.viewDir(ctx, p, a.ViewRange)
		}
		return ed.view(ctx, p, a.ViewRange)
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
		ed.remember(p, *a.FileText)
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

// viewDir lists a directory two levels deep as `find -L DIR -maxdepth 2` and `sort` list it,
// without the entries whose path below the directory has a hidden (dot) component; the
// directories are marked with a trailing slash, and a last line counts the hidden entries
// of the directory itself when there are any.
func (ed *editor) viewDir(ctx context.Context, p string, rng []int) (string, error) {
	if len(rng) > 0 {
		return "", failf("`view_range` cannot be used when `path` is a directory.")
	}
	list, err := ed.ws.ListDir(ctx, p, 2)
	if err != nil {
		return "", ed.fsErr(p, err)
	}
	prefix := strings.TrimSuffix(p, "/") + "/"
	var paths []string
	var dirs []bool
	hidden := 0
	for _, line := range strings.Split(list, "\n") {
		if line == "" {
			continue
		}
		name, isDir := strings.CutSuffix(line, "/")
		if rel, below := strings.CutPrefix(name, prefix); below && name != p {
			comps := strings.Split(rel, "/")
			if slices.ContainsFunc(comps, func(c string) bool { return strings.HasPrefix(c, ".") }) {
				if len(comps) == 1 {
					hidden++
				}
				continue
			}
		}
		paths = append(paths, name)
		dirs = append(dirs, isDir)
	}
	// The listing is clipped before the directories are marked: a clipped last line is
	// not marked.
	lines := strings.Split(strings.TrimSpace(clipChars(strings.Join(paths, "\n")+"\n", dirClippedNote)), "\n")
	for i, l := range lines {
		if i < len(paths) && dirs[i] && l == paths[i] {
			lines[i] += "/"
		}
	}
	out := "Here's the files and directories up to 2 levels deep in " + p + ", excluding hidden items:\n" + strings.Join(lines, "\n")
	if hidden > 0 {
		out += "\n\n" + fmt.Sprintf(hiddenNote, hidden, p)
	}
	return out, nil
}

func (ed *editor) view(ctx context.Context, p string, rng []int) (string, error) {
	text, err := ed.read(ctx, p)
	if err != nil {
		return "", err
	}
	lines := fileLines(normalizeNewlines(text))
	first := 1
	if len(rng) > 0 {
		if len(rng) != 2 {
			return "", failf("`view_range` must be two integers, e.g. [11, 20].")
		}
		start, end := rng[0], rng[1]
		n := len(lines)
		shown := fmt.Sprintf("[%d, %d]", start, end)
		switch {
		case start < 1 || start > n:
			return "", failf("Invalid `view_range` %s: its first element %d must be between 1 and the number of lines of the file, %d.", shown, start, n)
		case end > n:
			return "", failf("Invalid `view_range` %s: its second element %d is past the last line of the file, %d.", shown, end, n)
		case end != -1 && end < start:
			return "", failf("Invalid `view_range` %s: its second element %d must be -1 or at least the first, %d.", shown, end, start)
		}
		if end == -1 {
			end = n
		}
		lines, first = lines[start-1:end], start
	}
	return "Here's the result of running `cat -n` on " + p + ":\n" + catN(strings.Join(lines, ""), first), nil
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
	st := showText(text)
	old := expandTabs(oldStr)
	var at []int
	for off := 0; ; {
		i := strings.Index(st.text[off:], old)
		if i < 0 {
			break
		}
		at = append(at, off+i)
		off += i + len(old)
	}
	switch {
	case len(at) == 0:
		return "", failf("No replacement was performed, old_str `%s` did not appear verbatim in %s.", old, p)
	case len(at) > 1:
		// The lines of the matches, each once.
		var lines []string
		for _, i := range at {
			l := strconv.Itoa(strings.Count(st.text[:i], "\n") + 1)
			if len(lines) == 0 || lines[len(lines)-1] != l {
				lines = append(lines, l)
			}
		}
		return "", failf("No replacement was performed. Multiple occurrences of old_str `%s` in lines [%s]. Make it unique with more surrounding lines.", old, strings.Join(lines, ", "))
	}
	from, prefix := st.orig(at[0], false)
	to, suffix := st.orig(at[0]+len(old), true)
	updated := text[:from] + prefix + newStr + suffix + text[to:]
	if err := ed.write(ctx, p, text, updated); err != nil {
		return "", err
	}
	// From four lines before the edited one to four past the new text. Once the edited line
	// is past the fourth, openhands-aci 0.2.8 numbers these lines one too high (0.2.9
	// corrects it); OpenHands 0.32 agents see that form.
	line := strings.Count(st.text[:at[0]], "\n") + 1
	start := max(0, line-snippetLines)
	end := line + snippetLines + strings.Count(newStr, "\n")
	return "The file " + p + " has been edited. Here's the result of running `cat -n` on a snippet of " + p + ":\n" +
		snippet(updated, max(1, start), end, start+1) +
		"Review the changes and make sure they are as expected. Edit the file again if necessary.", nil
}

func (ed *editor) insert(ctx context.Context, p string, after int, newStr string) (string, error) {
	text, err := ed.read(ctx, p)
	if err != nil {
		return "", err
	}
	st := showText(text)
	n := len(fileLines(st.text))
	if after < 0 || after > n {
		return "", failf("Invalid `insert_line` %d: it must be between 0 and the number of lines of the file, %d.", after, n)
	}
	// Each inserted line ends with a newline; a last line without one gets one first.
	at, ins := 0, newStr+"\n"
	if after > 0 {
		i := nthIndex(st.text, '\n', after)
		if i < 0 {
			at, ins = len(text), "\n"+ins
		} else {
			at, _ = st.orig(i+1, false)
		}
	}
	updated := text[:at] + ins + text[at:]
	if err := ed.write(ctx, p, text, updated); err != nil {
		return "", err
	}
	// From four lines before the insertion to four past it, numbered one too high once
	// insert_line is past 4, as in str_replace.
	k := strings.Count(newStr, "\n") + 1
	return "The file " + p + " has been edited. Here's the result of running `cat -n` on a snippet of the edited file:\n" +
		snippet(updated, max(1, after-snippetLines), min(n+k, after+snippetLines+k), max(1, after-snippetLines+1)) +
		"Review the changes and make sure they are as expected (correct indentation, no duplicate lines, etc). Edit the file again if necessary.", nil
}

// snippet numbers lines first to last (1-based, within the file) of text from number.
func snippet(text string, first, last, number int) string {
	lines := fileLines(normalizeNewlines(text))
	last = min(last, len(lines))
	first = min(first, last+1)
	return catN(strings.Join(lines[first-1:last], ""), number)
}

func (ed *editor) write(ctx context.Context, p, before, after string) error {
	if err := ed.ws.WriteFile(ctx, p, []byte(after)); err != nil {
		return ed.fsErr(p, err)
	}
	ed.remember(p, before)
	return nil
}

// remember adds what a file held to its history, forgetting the oldest past maxHistory.
func (ed *editor) remember(p, text string) {
	h := append(ed.history[p], []byte(text))
	if len(h) > maxHistory {
		h = h[len(h)-maxHistory:]
	}
	ed.history[p] = h
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
	return "Last edit to " + p + " undone successfully. Here's the result of running `cat -n` on " + p + ":\n" +
		catN(normalizeNewlines(string(prev)), 1), nil
}

// catN numbers text as openhands-aci does: the text is clipped past editorMaxChars
// characters (the note then ends its last line), tabs are expanded, and every piece
// between newlines is a numbered line, so text that ends with a newline shows an empty
// last line.
func catN(text string, first int) string {
	var b strings.Builder
	for i, l := range strings.Split(expandTabs(clipChars(text, fileClippedNote)), "\n") {
		fmt.Fprintf(&b, "%6d\t%s\n", first+i, l)
	}
	return b.String()
}

// clipChars cuts s past editorMaxChars characters and appends note.
func clipChars(s, note string) string {
	if len(s) <= editorMaxChars {
		return s
	}
	n := 0
	for i := range s {
		if n == editorMaxChars {
			return s[:i] + note
		}
		n++
	}
	return s
}

// fileLines cuts text into lines, each with its newline; a final newline does not start
// another line.
func fileLines(text string) []string {
	return strings.SplitAfter(text, "\n")[:lineCount(text)]
}

func lineCount(text string) int {
	n := strings.Count(text, "\n")
	if text != "" && !strings.HasSuffix(text, "\n") {
		n++
	}
	return n
}

// nthIndex returns the index of the n-th c in s (n >= 1), or -1.
func nthIndex(s string, c byte, n int) int {
	off := 0
	for ; n > 0; n-- {
		i := strings.IndexByte(s[off:], c)
		if i < 0 {
			return -1
		}
		off += i + 1
	}
	return off - 1
}

// normalizeNewlines ends every line with "\n", as Python's universal newlines read "\r\n"
// and "\r".
func normalizeNewlines(s string) string {
	if !strings.Contains(s, "\r") {
		return s
	}
	return strings.ReplaceAll(strings.ReplaceAll(s, "\r\n", "\n"), "\r", "\n")
}

// expandTabs replaces each tab by the spaces up to the next multiple of tabSize columns, a
// column being a character and "\n" or "\r" starting column 0, as Python's str.expandtabs.
func expandTabs(s string) string {
	if !strings.Contains(s, "\t") {
		return s
	}
	var b strings.Builder
	col := 0
	for _, r := range s {
		switch r {
		case '\t':
			n := tabSize - col%tabSize
			b.WriteString(strings.Repeat(" ", n))
			col += n
		case '\n', '\r':
			b.WriteRune(r)
			col = 0
		default:
			b.WriteRune(r)
			col++
		}
	}
	return b.String()
}

// shownText is a file's text as the editor shows it and matches old_str in it (universal
// newlines, tabs expanded), with what maps it back to the file's bytes.
type shownText struct {
	text string
	// changes are the places where text differs from the file, in order: a tab shown as
	// spaces, or "\r\n" or "\r" shown as "\n".
	changes []shownChange
}

// shownChange says that text[at:at+n] shows the file's bytes [orig, orig+on).
type shownChange struct{ at, n, orig, on int }

func showText(file string) shownText {
	var st shownText
	var b strings.Builder
	b.Grow(len(file))
	col := 0
	for i := 0; i < len(file); {
		j := strings.IndexAny(file[i:], "\t\r\n")
		if j < 0 {
			j = len(file) - i
		}
		b.WriteString(file[i : i+j])
		col += utf8.RuneCountInString(file[i : i+j])
		i += j
		if i == len(file) {
			break
		}
		switch file[i] {
		case '\t':
			n := tabSize - col%tabSize
			st.changes = append(st.changes, shownChange{at: b.Len(), n: n, orig: i, on: 1})
			b.WriteString(strings.Repeat(" ", n))
			col += n
			i++
		case '\r':
			on := 1
			if i+1 < len(file) && file[i+1] == '\n' {
				on = 2
			}
			st.changes = append(st.changes, shownChange{at: b.Len(), n: 1, orig: i, on: on})
			b.WriteByte('\n')
			col = 0
			i += on
		default:
			b.WriteByte('\n')
			col = 0
			i++
		}
	}
	st.text = b.String()
	return st
}

// orig maps an offset of the shown text to the file. An offset inside a tab's spaces maps
// to the tab's start (for the start of a match, end false) or end (for its end), and spaces
// returns the part of the tab the match leaves out, to be written back as spaces.
func (st shownText) orig(at int, end bool) (offset int, spaces string) {
	k := sort.Search(len(st.changes), func(i int) bool { return st.changes[i].at > at }) - 1
	if k < 0 {
		return at, ""
	}
	c := st.changes[k]
	switch {
	case at == c.at:
		return c.orig, ""
	case at < c.at+c.n && end:
		return c.orig + c.on, strings.Repeat(" ", c.at+c.n-at)
	case at < c.at+c.n:
		return c.orig, strings.Repeat(" ", at-c.at)
	}
	return c.orig + c.on + at - (c.at + c.n), ""
}
