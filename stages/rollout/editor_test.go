package rollout_test

import (
	"encoding/json"
	"fmt"
	"path"
	"sort"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"swemill/codeact"
	"swemill/envbuild/sandbox"
	"swemill/pipeline"
	"swemill/stages/rollout"
	"swemill/stages/rollout/rollouttest"
)

// The editor's observations take the forms of OpenHands 0.32's str_replace_editor
// (openhands-aci 0.2.8). The golden files hold them for a tree outside the repository
// (treeRoot): editor_view.json for viewing, which the Docker workspace must give byte for
// byte as the in-memory one does, and editor_edit.json for the edits.

const treeRoot = "/tmp/tree"

// longOps has twelve lines and ends with a newline.
const longOps = "import math\n\n\ndef add(a, b):\n    return a + b\n\n\ndef divide(a, b):\n    return a / b\n\n\npair = (add, add)\n"

// editorTree is the tree the golden files show, by path below treeRoot: hidden entries in
// the root (a file, a directory, a directory with a subdirectory) and one level down, a
// directory three levels deep, names that sort around a directory's, a file without a
// final newline, an empty file, tabs and CRLF line ends.
var editorTree = map[string]string{
	"README.md":                "# tree\n",
	"Zed.md":                   "upper case sorts first\n",
	"calc-b.txt":               "b\n",
	"calc.py":                  "from calc.ops import add\n",
	"calc/__init__.py":         "",
	"calc/ops.py":              longOps,
	"calc/.flake8":             "[flake8]\n",
	"calc/.cache/v/x":          "1\n",
	"pkg/sub/mod.py":           "X = 1\n",
	"pkg/sub/deep/mod.py":      "Y = 2\n",
	"notes.txt":                "first\nsecond\nlast line without newline",
	"Makefile":                 "all:\n\tgo build ./...\n\nx:\tall\n\t@echo a\tb\n",
	"dos.txt":                  "one\r\ntwo\r\nthree\r\n",
	".env":                     "KEY=value\n",
	".git/HEAD":                "ref: refs/heads/main\n",
	".github/workflows/ci.yml": "on: push\n",
}

func treeFiles() map[string]string {
	files := map[string]string{}
	for p, c := range editorTree {
		files[treeRoot+"/"+p] = c
	}
	return files
}

// treeScript creates editorTree with one shell command.
func treeScript() string {
	var names []string
	for p := range editorTree {
		names = append(names, p)
	}
	sort.Strings(names)
	cmds := []string{"mkdir -p " + treeRoot}
	for _, p := range names {
		f := treeRoot + "/" + p
		cmds = append(cmds, "mkdir -p "+path.Dir(f), "printf '%b' '"+sandbox.EscapePrintf(editorTree[p])+"' > "+f)
	}
	return strings.Join(cmds, " && ")
}

// editorViewCalls view the tree's directories and files.
func editorViewCalls() []string {
	ops, notes := treeRoot+"/calc/ops.py", treeRoot+"/notes.txt"
	view := func(p string, rng ...int) string {
		a := map[string]any{"command": "view", "path": p}
		if len(rng) > 0 {
			a["view_range"] = rng
		}
		b, _ := json.Marshal(a)
		return string(b)
	}
	return []string{
		view(treeRoot),
		view(treeRoot + "/calc"),
		view(treeRoot + "/pkg"),
		view(ops),
		view(notes),
		view(ops, 10, -1),
		view(ops, 3, 5),
		view(notes, 2, -1),
		view(treeRoot + "/calc/__init__.py"),
		view(treeRoot + "/Makefile"),
		view(treeRoot + "/dos.txt"),
		view(ops, 12, 13),
		view(treeRoot+"/calc/__init__.py", 1, 1),
	}
}

// editorEditCalls edit the tree's files.
func editorEditCalls() []string {
	ops, notes, mk := treeRoot+"/calc/ops.py", treeRoot+"/notes.txt", treeRoot+"/Makefile"
	call := func(a map[string]any) string {
		b, _ := json.Marshal(a)
		return string(b)
	}
	return []string{
		// Past the first four lines, the snippet's numbers start one line late.
		call(map[string]any{"command": "str_replace", "path": ops, "old_str": "    return a / b", "new_str": "    if b == 0:\n        return None\n    return a / b"}),
		call(map[string]any{"command": "str_replace", "path": ops, "old_str": "\n\ndef add", "new_str": "\n\ndef plus"}),
		call(map[string]any{"command": "insert", "path": ops, "insert_line": 7, "new_str": "# divide"}),
		call(map[string]any{"command": "str_replace", "path": ops, "old_str": "add", "new_str": "plus"}),
		call(map[string]any{"command": "undo_edit", "path": ops}),
		call(map[string]any{"command": "insert", "path": notes, "insert_line": 3, "new_str": "appended"}),
		// old_str written with the spaces the view showed matches the tab in the file.
		call(map[string]any{"command": "str_replace", "path": mk, "old_str": "        go build ./...", "new_str": "\tgo vet ./...\n\tgo build ./..."}),
		call(map[string]any{"command": "str_replace", "path": mk, "old_str": "echo a b", "new_str": "echo a, b"}),
		call(map[string]any{"command": "str_replace", "path": treeRoot + "/dos.txt", "old_str": "one\ntwo", "new_str": "uno\ndos"}),
		call(map[string]any{"command": "create", "path": treeRoot + "/new.py", "file_text": "N = 1\n"}),
		call(map[string]any{"command": "undo_edit", "path": treeRoot + "/new.py"}),
		call(map[string]any{"command": "undo_edit", "path": treeRoot + "/new.py"}),
	}
}

// editorTurns calls str_replace_editor with each argument string, after the calls before,
// then finishes.
func editorTurns(before []pipeline.ToolCall, calls []string) []rollouttest.Turn {
	var turns []rollouttest.Turn
	for _, c := range before {
		turns = append(turns, rollouttest.Turn{ToolCalls: []pipeline.ToolCall{c}})
	}
	for i, c := range calls {
		turns = append(turns, rollouttest.Turn{ToolCalls: []pipeline.ToolCall{nativeCall(fmt.Sprintf("call_%02d", i), codeact.Editor, c)}})
	}
	return append(turns, rollouttest.Turn{ToolCalls: []pipeline.ToolCall{nativeCall("call_end", codeact.Finish, `{"message":"done","task_completed":"false"}`)}})
}

// editorObservations returns the editor's observations of a trajectory as indented JSON.
func editorObservations(t *testing.T, tr pipeline.Trajectory) []byte {
	t.Helper()
	return indentJSON(t, toolObservations(tr, codeact.Editor))
}

// TestEditorViewForms views directories (hidden entries left out and counted, two levels
// deep, directories marked) and files (the empty line after a final newline numbered,
// view_range up to -1, tabs expanded, CRLF shown as LF) in the in-memory workspace.
func TestEditorViewForms(t *testing.T) {
	t.Parallel()
	calls := editorViewCalls()
	srv := rollouttest.NewServer(t, "/v1", editorTurns(nil, calls)...)
	rt := &rollouttest.Runtime{Files: treeFiles()}
	tr := processOne(t, memStage(t, srv, rt, nil), memItem(t))
	srv.Verify(t)
	golden(t, "editor_view.json", editorObservations(t, tr))
}

// TestEditorEditForms edits files: snippets numbered as openhands-aci 0.2.8 numbers them,
// old_str matched against the text as shown while the tabs and line ends the edit does not
// replace stay in the file, inserts after a last line without a newline, and undo_edit after
// create.
func TestEditorEditForms(t *testing.T) {
	t.Parallel()
	srv := rollouttest.NewServer(t, "/v1", editorTurns(nil, editorEditCalls())...)
	rt := &rollouttest.Runtime{Files: treeFiles()}
	tr := processOne(t, memStage(t, srv, rt, nil), memItem(t))
	srv.Verify(t)
	golden(t, "editor_edit.json", editorObservations(t, tr))

	files := rt.Workspaces()[0].Files
	assert.Equal(t, "import math\n\n\ndef plus(a, b):\n    return a + b\n\n\ndef divide(a, b):\n    if b == 0:\n        return None\n    return a / b\n\n\npair = (add, add)\n",
		string(files[treeRoot+"/calc/ops.py"]))
	assert.Equal(t, "first\nsecond\nlast line without newline\nappended\n", string(files[treeRoot+"/notes.txt"]))
	assert.Equal(t, "all:\n\tgo vet ./...\n\tgo build ./...\n\nx:\tall\n\t@echo a, b\n", string(files[treeRoot+"/Makefile"]),
		"the tabs the edits do not replace are kept")
	assert.Equal(t, "uno\ndos\r\nthree\r\n", string(files[treeRoot+"/dos.txt"]), "the line ends the edit does not replace are kept")
	assert.Equal(t, "N = 1\n", string(files[treeRoot+"/new.py"]))
}

// TestEditorViewClipsCharacters clips a long file's text, and a long listing, at 16000
// characters (not bytes) before numbering or marking: the note ends the last line shown.
// The listing's path lengths put the cut at the end of a directory's path.
func TestEditorViewClipsCharacters(t *testing.T) {
	t.Parallel()
	files := map[string]string{"/tmp/long.txt": strings.Repeat("é\tx\n", 5000)}
	for i := range 1000 {
		files[fmt.Sprintf("/tmp/clipped_big/d%03d/f", i)] = ""
	}
	srv := rollouttest.NewServer(t, "/v1", editorTurns(nil, []string{
		`{"command":"view","path":"/tmp/long.txt"}`,
		`{"command":"view","path":"/tmp/clipped_big"}`,
	})...)
	tr := processOne(t, memStage(t, srv, &rollouttest.Runtime{Files: files}, func(c *rollout.Config) { c.MaxObservationChars = 1 << 20 }), memItem(t))
	srv.Verify(t)
	var obs []string
	require.NoError(t, json.Unmarshal(editorObservations(t, tr), &obs))
	require.Len(t, obs, 2)

	// 4000 lines of four characters (five bytes) fill 16000 characters.
	file := obs[0]
	assert.Contains(t, file, "\n  4000\té       x\n  4001\t<response clipped><NOTE>")
	assert.NotContains(t, file, "  4002\t")
	assert.True(t, strings.HasSuffix(file, "</NOTE>\n"))

	header := "Here's the files and directories up to 2 levels deep in /tmp/clipped_big, excluding hidden items:\n"
	require.True(t, strings.HasPrefix(obs[1], header))
	listing, _, found := strings.Cut(strings.TrimPrefix(obs[1], header), "<response clipped><NOTE>")
	require.True(t, found, "the listing is clipped")
	assert.Equal(t, 16000, utf8.RuneCountInString(strings.ReplaceAll(listing, "/\n", "\n")), "clipped before the directories are marked")
	lines := strings.Split(listing, "\n")
	assert.Equal(t, []string{"/tmp/clipped_big/", "/tmp/clipped_big/d000/", "/tmp/clipped_big/d000/f"}, lines[:3])
	// The cut falls at the end of a directory's path: that line is not marked.
	assert.Equal(t, []string{"/tmp/clipped_big/d346/f", "/tmp/clipped_big/d347"}, lines[len(lines)-2:])
}

// TestDockerEditorViewForms views the same tree in a real workspace: the observations are
// the in-memory workspace's, byte for byte.
func TestDockerEditorViewForms(t *testing.T) {
	t.Parallel()
	item := fixtureItem(t, "pyflat")
	mkTree, err := json.Marshal(map[string]string{"command": treeScript()})
	require.NoError(t, err)
	before := []pipeline.ToolCall{nativeCall("call_tree", codeact.Bash, string(mkTree))}
	srv := rollouttest.NewServer(t, "/v1", editorTurns(before, editorViewCalls())...)
	s := dockerStage(t, srv, func(c *rollout.Config) { c.Protocol = rollout.ProtocolNative })
	out, err := s.Process(t.Context(), item)
	require.NoError(t, err)
	srv.Verify(t)
	tr := readTrajectories(t, item, out)[0]
	require.Equal(t, rollout.ExitFinish, tr.ExitStatus)
	require.Contains(t, tr.Messages[3].Content, "exit code 0", "creating the tree")
	golden(t, "editor_view.json", editorObservations(t, tr))
}

// TestDockerListDir lists a directory in a real workspace: symbolic links are followed
// (a broken one is listed as a file; one that loops back to a directory being listed is
// left out, as find leaves it out), empty directories are marked, hidden entries are listed
// but not descended into, names with spaces stay whole, the order is bytewise.
func TestDockerListDir(t *testing.T) {
	t.Parallel()
	item := fixtureItem(t, "pyflat")
	rt := newDockerRuntime(t, "rollout-ls-"+nonce(), nil)
	ws, err := rt.Start(t.Context(), rollout.WorkspaceSpec{Image: item.Environment.ImageName, WorkDir: "/testbed",
		Lifetime: 10 * time.Minute, Labels: map[string]string{sandbox.LabelInstance: item.Instance.InstanceID}})
	require.NoError(t, err)
	t.Cleanup(func() { _ = ws.Close(t.Context()) })
	res := shell(t, ws, "mkdir -p /tmp/ls/a/b/c /tmp/ls/.hid/in /tmp/ls/a/.h /tmp/ls/empty /tmp/target/t1 && cd /tmp/ls && "+
		"touch a/b/c/deep 'a/with space' .hid/in/f a/.h/f a/.dot Ä.txt B.txt a.txt && ln -s /tmp/target link && ln -s nowhere broken && "+
		"ln -s .. a/up", time.Minute)
	require.Equal(t, 0, res.ExitCode, res.Output)

	list, err := ws.ListDir(t.Context(), "/tmp/ls", 2)
	require.NoError(t, err)
	assert.Equal(t, "/tmp/ls/\n/tmp/ls/.hid/\n/tmp/ls/B.txt\n/tmp/ls/a/\n/tmp/ls/a.txt\n/tmp/ls/a/.dot\n/tmp/ls/a/.h/\n/tmp/ls/a/b/\n"+
		"/tmp/ls/a/with space\n/tmp/ls/broken\n/tmp/ls/empty/\n/tmp/ls/link/\n/tmp/ls/link/t1/\n/tmp/ls/Ä.txt\n", list)
	list, err = ws.ListDir(t.Context(), "/tmp/ls/a", 1)
	require.NoError(t, err)
	assert.Equal(t, "/tmp/ls/a/\n/tmp/ls/a/.dot\n/tmp/ls/a/.h/\n/tmp/ls/a/b/\n/tmp/ls/a/up/\n/tmp/ls/a/with space\n", list)
	_, err = ws.ListDir(t.Context(), "/tmp/ls/a.txt", 2)
	assert.ErrorIs(t, err, rollout.ErrNotExist)
}
