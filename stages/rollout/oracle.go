package rollout

import (
	"context"
	"encoding/json"
	"fmt"
	"path"
	"strconv"
	"strings"

	"swemill/codeact"
	"swemill/difftext"
	"swemill/pipeline"
)

// OracleModel is the name the oracle backend records as the model.
const OracleModel = "oracle"

// oracle is a Model that solves the task with the instance's gold patch, through the same
// tools a model uses: it looks at the repository, makes each hunk's change with
// str_replace_editor (a new file with create, a hunk without context with insert), applies
// what the editor cannot express (deletions, renames, binary files, files without a final
// newline) with `git apply` in execute_bash, falls back to that for a file whose edit the
// editor refused (undoing its earlier edits first), shows the diff and finishes. It speaks
// whichever protocol the request uses: tools in the request mean native tool calls,
// otherwise text-protocol calls cut at the stop sequence, as a server would return them.
// It is the harness's self-check: every validated instance must resolve with it.
type oracle struct {
	workDir string
	files   []oracleFile
	fi      int // current file
	hi      int // next hunk of the current file
	edits   int // successful editor edits of the current file
	phase   int
	undoing int // undo_edit calls left before the fallback
	calls   int
	text    bool // the requests use the text protocol, which strips parameter values
}

type oracleFile struct {
	path  string // absolute
	text  string // the file's section of the diff
	apply bool   // apply with git: the editor cannot express it
	new   bool
	hunks []oracleHunk
}

type oracleHunk struct {
	oldText, newText string
	oldStart         int
	oldLines         int
	newLines         int
}

const (
	oraclePhaseLook = iota
	oraclePhaseEdit
	oraclePhaseDiff
	oraclePhaseFinish
	oraclePhaseDone
)

func newOracle(inst *pipeline.Instance, workDir string) (*oracle, error) {
	o := &oracle{workDir: workDir}
	if err := gateGold(inst); err != nil {
		return nil, err
	}
	d, err := difftext.Parse(inst.Patch)
	if err != nil {
		return nil, fmt.Errorf("reading the gold patch of %s: %w", inst.InstanceID, err)
	}
	for i := range d.Files {
		f := &d.Files[i]
		of := oracleFile{path: path.Join(workDir, f.Path()), text: f.Text}
		switch {
		case f.Binary, f.Status == difftext.Deleted, f.Status == difftext.Renamed, f.Status == difftext.Copied,
			strings.Contains(f.Text, "\n\\ No newline at end of file"), strings.Contains(f.Text, "\nold mode "),
			strings.Contains(f.Text, "\nnew file mode 100755"):
			of.apply = true
		default:
			hunks, ok := parseHunks(f.Text)
			if !ok {
				of.apply = true
			}
			of.hunks, of.new = hunks, f.Status == difftext.Added
		}
		o.files = append(o.files, of)
	}
	return o, nil
}

// parseHunks reads a file section's hunks as old and new text.
func parseHunks(section string) ([]oracleHunk, bool) {
	lines := strings.SplitAfter(section, "\n")
	var hunks []oracleHunk
	var cur *oracleHunk
	var oldB, newB strings.Builder
	flush := func() {
		if cur != nil {
			cur.oldText, cur.newText = oldB.String(), newB.String()
			hunks = append(hunks, *cur)
		}
		oldB.Reset()
		newB.Reset()
	}
	for _, l := range lines {
		switch {
		case strings.HasPrefix(l, "@@ "):
			flush()
			h, ok := hunkHeader(l)
			if !ok {
				return nil, false
			}
			cur = &h
		case cur == nil:
			continue
		case strings.HasPrefix(l, " "):
			oldB.WriteString(l[1:])
			newB.WriteString(l[1:])
		case strings.HasPrefix(l, "-"):
			oldB.WriteString(l[1:])
		case strings.HasPrefix(l, "+"):
			newB.WriteString(l[1:])
		case l == "\n" || l == "": // an empty context line written without its space
			oldB.WriteString("\n")
			newB.WriteString("\n")
		default:
			return nil, false
		}
	}
	flush()
	return hunks, len(hunks) > 0
}

// hunkHeader reads "@@ -a,b +c,d @@".
func hunkHeader(l string) (oracleHunk, bool) {
	f := strings.Fields(l)
	if len(f) < 3 || !strings.HasPrefix(f[1], "-") || !strings.HasPrefix(f[2], "+") {
		return oracleHunk{}, false
	}
	num := func(s string) (int, int, bool) {
		a, b, found := strings.Cut(s, ",")
		start, err := strconv.Atoi(a)
		if err != nil {
			return 0, 0, false
		}
		n := 1
		if found {
			if n, err = strconv.Atoi(b); err != nil {
				return 0, 0, false
			}
		}
		return start, n, true
	}
	os, on, ok1 := num(f[1][1:])
	_, nn, ok2 := num(f[2][1:])
	return oracleHunk{oldStart: os, oldLines: on, newLines: nn}, ok1 && ok2
}

// lastResult returns the content of the last tool result in the request, whichever
// protocol it uses.
func lastResult(msgs []pipeline.Message) string {
	if len(msgs) == 0 {
		return ""
	}
	m := msgs[len(msgs)-1]
	if m.Role == "tool" {
		return m.Content
	}
	if m.Role == "user" && strings.HasPrefix(m.Content, codeact.ResultPrefix) {
		if _, rest, ok := strings.Cut(m.Content, "]:\n"); ok {
			return rest
		}
	}
	return ""
}

// Complete returns the oracle's next step.
func (o *oracle) Complete(ctx context.Context, req *Request) (*Reply, error) {
	last := lastResult(req.Messages)
	o.text = len(req.Tools) == 0
	thought, name, args := o.next(last)
	o.calls++
	data, err := json.Marshal(args)
	if err != nil {
		return nil, err
	}
	call := pipeline.FunctionCall{Name: name, Arguments: string(data)}
	if len(req.Tools) > 0 {
		return &Reply{Content: thought, FinishReason: "tool_calls", Attempts: 1,
			ToolCalls: []pipeline.ToolCall{{ID: "oracle_" + strconv.Itoa(o.calls), Type: "function", Function: call}}}, nil
	}
	text := strings.TrimSuffix(codeact.RenderCall(call), "</function>")
	if thought != "" {
		text = thought + "\n" + text
	}
	return &Reply{Content: text, FinishReason: "stop", Attempts: 1}, nil
}

// kv is an argument list that keeps its order.
type kv [][2]any

func (a kv) MarshalJSON() ([]byte, error) {
	var b strings.Builder
	b.WriteByte('{')
	for i, p := range a {
		if i > 0 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(p[0])
		v, err := json.Marshal(p[1])
		if err != nil {
			return nil, err
		}
		b.Write(k)
		b.WriteByte(':')
		b.Write(v)
	}
	b.WriteByte('}')
	return []byte(b.String()), nil
}

func (o *oracle) next(last string) (string, string, kv) {
	for {
		switch o.phase {
		case oraclePhaseLook:
			o.phase = oraclePhaseEdit
			return "I will look at the state of the repository first.", codeact.Bash,
				kv{{"command", "cd " + shQuote(o.workDir) + " && git status --short && git log -1 --format=%H"}}
		case oraclePhaseEdit:
			if thought, name, args, ok := o.edit(last); ok {
				return thought, name, args
			}
			o.phase = oraclePhaseDiff
		case oraclePhaseDiff:
			o.phase = oraclePhaseFinish
			return "All changes are made; let me review them.", codeact.Bash,
				kv{{"command", "cd " + shQuote(o.workDir) + " && git diff --stat"}}
		case oraclePhaseFinish:
			o.phase = oraclePhaseDone
			return "", codeact.Finish, kv{{"message", "I applied the reference fix."}, {"task_completed", "true"}}
		default:
			return "", codeact.Finish, kv{{"message", "Done."}, {"task_completed", "true"}}
		}
	}
}

// edit returns the next editing call, or ok false when every file is done. last is the
// result of the previous call, checked for an editor refusal.
func (o *oracle) edit(last string) (string, string, kv, bool) {
	for o.fi < len(o.files) {
		f := &o.files[o.fi]
		if o.undoing > 0 {
			o.undoing--
			return "", codeact.Editor, kv{{"command", codeact.EditorUndo}, {"path", f.path}}, true
		}
		if o.hi > 0 && !f.apply && strings.HasPrefix(last, "ERROR:") {
			// The editor refused the last edit: undo this file's edits, then apply with git.
			f.apply = true
			o.hi = 0
			if o.edits > 0 {
				o.undoing = o.edits - 1
				o.edits = 0
				return "That edit did not go through; I undo my edits of this file and apply the change with git instead.",
					codeact.Editor, kv{{"command", codeact.EditorUndo}, {"path", f.path}}, true
			}
		} else if o.hi > 0 && !f.apply {
			o.edits++
		}
		if f.apply {
			o.fi, o.hi, o.edits = o.fi+1, 0, 0
			delim := "SWEMILL_PATCH_EOF"
			for strings.Contains(f.text, delim) {
				delim += "_"
			}
			return "I apply the change to " + f.path + " with git.", codeact.Bash,
				kv{{"command", "cd " + shQuote(o.workDir) + " && git apply --whitespace=nowarn - <<'" + delim + "'\n" + f.text + delim}}, true
		}
		if o.hi >= len(f.hunks) {
			o.fi, o.hi, o.edits = o.fi+1, 0, 0
			continue
		}
		h := f.hunks[o.hi]
		if o.text {
			var ok bool
			if h, ok = textSafe(f, h); !ok {
				// The text protocol would strip what the edit needs (a new file's final
				// newline, indentation the old text does not share): apply the file with git,
				// undoing its edits first.
				f.apply, o.hi = true, 0
				if o.edits > 0 {
					o.undoing, o.edits = o.edits-1, 0
					return "", codeact.Editor, kv{{"command", codeact.EditorUndo}, {"path", f.path}}, true
				}
				continue
			}
		}
		o.hi++
		switch {
		case f.new:
			return "I create " + f.path + ".", codeact.Editor,
				kv{{"command", codeact.EditorCreate}, {"path", f.path}, {"file_text", h.newText}}, true
		case h.oldText == "":
			// Lines added without context: insert after the line before them, shifted by
			// what earlier hunks of the file added or removed.
			shift := 0
			for _, p := range f.hunks[:o.hi-1] {
				shift += p.newLines - p.oldLines
			}
			return "", codeact.Editor, kv{{"command", codeact.EditorInsert}, {"path", f.path},
				{"insert_line", h.oldStart + shift}, {"new_str", strings.TrimSuffix(h.newText, "\n")}}, true
		default:
			return "", codeact.Editor, kv{{"command", codeact.EditorStrReplace}, {"path", f.path},
				{"old_str", h.oldText}, {"new_str", h.newText}}, true
		}
	}
	return "", "", nil, false
}

// textSafe says whether a hunk's edit survives the text protocol, which strips parameter
// values: only when no value starts or ends with whitespace. Leaving the whitespace both
// texts share to the file is not safe: without its line ends an old text can match inside
// another line, and the edit lands in the wrong place.
func textSafe(f *oracleFile, h oracleHunk) (oracleHunk, bool) {
	vals := []string{h.newText}
	if h.oldText == "" && !f.new {
		vals[0] = strings.TrimSuffix(h.newText, "\n") // insert drops the final newline itself
	} else {
		vals = append(vals, h.oldText)
	}
	for _, v := range vals {
		if codeact.StripValue(v) != v {
			return h, false
		}
	}
	return h, true
}
