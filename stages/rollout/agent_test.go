package rollout_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"swemill/codeact"
	"swemill/pipeline"
	"swemill/stages/rollout"
	"swemill/stages/rollout/rollouttest"
)

// These tests run the agent loop against the fake model server and the in-memory runtime:
// no containers, so they check the loop's rules quickly. The Docker tests check the same
// loop end to end.

const opsPy = "def add(a, b):\n    return a + b\n\n\ndef divide(a, b):\n    return a / b\n"

func memItem(t testing.TB) *pipeline.Item {
	return newItem(t,
		pipeline.Instance{InstanceID: "acme__calc-1", Repo: "acme/calc", BaseCommit: strings.Repeat("ab", 20),
			ProblemStatement: "divide(1, 0) crashes.",
			Patch:            "diff --git a/calc/ops.py b/calc/ops.py\n--- a/calc/ops.py\n+++ b/calc/ops.py\n@@ -5,2 +5,4 @@\n def divide(a, b):\n+    if b == 0:\n+        return None\n     return a / b\n",
			TestPatch:        "diff --git a/tests/test_ops.py b/tests/test_ops.py\n"},
		pipeline.Environment{ImageName: "swemill/inst.acme__calc-1:0", WorkDir: "/testbed"},
		pipeline.Validation{FailToPass: []string{"tests/test_ops.py::test_zero"}, PassToPass: []string{"tests/test_ops.py::test_add"},
			TestFiles: []string{"tests/test_ops.py"}, LogParser: "pytest"})
}

// patchGrader "grades" by looking for the fix in the patch: these tests are about the
// loop, not the tests (the Docker tests run real ones).
var patchGrader = rollout.GraderFunc(func(ctx context.Context, item *pipeline.Item, patch string) (rollout.Grade, error) {
	g := rollout.Grade{Applied: true, Tests: map[string]pipeline.TestStatus{"tests/test_ops.py::test_add": pipeline.TestPassed,
		"tests/test_ops.py::test_zero": pipeline.TestFailed}, Log: []byte("graded\n")}
	if strings.Contains(patch, "+    if b == 0:") {
		g.Tests["tests/test_ops.py::test_zero"] = pipeline.TestPassed
	}
	return g, nil
})

// memStage returns a stage over the in-memory runtime. Its agent finds the repository at
// the image's /testbed (these tests are about the loop; TestWorkspacePath tests the default).
func memStage(t *testing.T, srv *rollouttest.Server, rt *rollouttest.Runtime, mutate func(*rollout.Config)) *rollout.Stage {
	t.Helper()
	cfg := rollout.Config{Backend: rollout.BackendOracle, Protocol: rollout.ProtocolNative, CommandTimeout: 30 * time.Second, Workspace: "/testbed"}
	if srv != nil {
		cfg.Backend, cfg.Model, cfg.BaseURL, cfg.APIKey, cfg.RetryDelay = rollout.BackendOpenAI, fakeModel, srv.URL(), fakeKey, time.Millisecond
		srv.APIKey = fakeKey
	}
	if mutate != nil {
		mutate(&cfg)
	}
	if rt.Files == nil {
		rt.Files = map[string]string{"/testbed/calc/ops.py": opsPy, "/testbed/calc/__init__.py": "from .ops import add, divide\n",
			"/testbed/tests/test_ops.py": "def test_add():\n    pass\n", "/testbed/.git/HEAD": "ref\n"}
	}
	s, err := rollout.New(cfg, rt, patchGrader)
	require.NoError(t, err)
	t.Cleanup(func() {
		s.Close()
		assert.Zero(t, rt.Open(), "workspaces left open")
	})
	return s
}

func processOne(t *testing.T, s *rollout.Stage, item *pipeline.Item) pipeline.Trajectory {
	t.Helper()
	out, err := s.Process(t.Context(), item)
	require.NoError(t, err)
	trajs := readTrajectories(t, item, out)
	require.Len(t, trajs, 1)
	checkCanonical(t, trajs[0].Messages)
	return trajs[0]
}

func TestFormatErrorsEndTheRollout(t *testing.T) {
	t.Parallel()
	srv := rollouttest.NewServer(t, "/v1",
		rollouttest.Turn{Content: "<function=execute_bash>\n<parameter=command>ls"},
		rollouttest.Turn{Content: "<function=run>\n<parameter=command>ls</parameter>\n"},
		rollouttest.Turn{Content: "   \n"},
	)
	tr := processOne(t, memStage(t, srv, &rollouttest.Runtime{}, func(c *rollout.Config) { c.Protocol = rollout.ProtocolText }), memItem(t))
	srv.Verify(t)
	assert.Equal(t, rollout.ExitFormatError, tr.ExitStatus)
	assert.Equal(t, 3, tr.NumTurns)
	// A malformed reply is left out and answered with the error (OpenHands' error
	// observation form), marked for the SFT exports; an empty reply stays, with its answer.
	assert.Equal(t, "system user user user assistant user", roles(tr.Messages))
	assert.Contains(t, tr.Messages[2].Content, `Parameter "command" of execute_bash is not closed with </parameter>`)
	assert.Contains(t, tr.Messages[3].Content, `There is no function called "run"`)
	for _, m := range tr.Messages[2:4] {
		assert.True(t, m.FormatError)
		assert.True(t, strings.HasSuffix(m.Content, "\n[Error occurred in processing last action]"), m.Content)
	}
	assert.False(t, tr.Messages[5].FormatError)
	assert.Contains(t, tr.Messages[5].Content, "Your last reply was empty.")
	assert.Equal(t, []string{rollout.FlagEmptyPatch}, tr.Flags)
}

// TestMalformedNativeReplyRunsNothing: one call of a native reply that cannot be run spoils
// the reply, as in OpenHands: none of its calls runs, and only the error stays.
func TestMalformedNativeReplyRunsNothing(t *testing.T) {
	t.Parallel()
	srv := rollouttest.NewServer(t, "/v1",
		rollouttest.Turn{Content: "Two things.", ToolCalls: []pipeline.ToolCall{
			nativeCall("c1", codeact.Bash, `{"command":"touch spoiled"}`),
			nativeCall("c2", codeact.Editor, `{"command":"view"}`)}},
		rollouttest.Turn{ToolCalls: []pipeline.ToolCall{nativeCall("c3", codeact.Finish, `{"message":"done","task_completed":"false"}`)}},
	)
	rt := &rollouttest.Runtime{}
	tr := processOne(t, memStage(t, srv, rt, nil), memItem(t))
	srv.Verify(t)
	assert.Equal(t, rollout.ExitFinish, tr.ExitStatus)
	assert.Equal(t, "system user user assistant:finish", roles(tr.Messages))
	assert.True(t, tr.Messages[2].FormatError)
	assert.Contains(t, tr.Messages[2].Content, `Missing required parameter "path"`)
	assert.Empty(t, rt.Workspaces()[0].Commands, "no call of the spoiled reply ran")
}

func TestMaxIterationsAndTalking(t *testing.T) {
	t.Parallel()
	srv := rollouttest.NewServer(t, "/v1")
	n := 0
	srv.Policy = func(req map[string]any) rollouttest.Turn {
		n++
		if n%2 == 0 { // talking is answered but is not a format error
			return rollouttest.Turn{Content: "Still thinking."}
		}
		return rollouttest.Turn{ToolCalls: []pipeline.ToolCall{nativeCall("c", codeact.Bash, `{"command":"true"}`)}}
	}
	rt := &rollouttest.Runtime{}
	tr := processOne(t, memStage(t, srv, rt, func(c *rollout.Config) { c.MaxIterations, c.MaxFormatErrors = 7, 1 }), memItem(t))
	assert.Equal(t, rollout.ExitMaxIterations, tr.ExitStatus)
	assert.Equal(t, 7, tr.NumTurns)
	assert.Equal(t, 7, srv.Calls())
	assert.Len(t, tr.Steps, 7)
}

func TestContextLengthRefusal(t *testing.T) {
	t.Parallel()
	srv := rollouttest.NewServer(t, "/v1",
		rollouttest.Turn{ToolCalls: []pipeline.ToolCall{nativeCall("c1", codeact.Think, `{"thought":"hm"}`)}},
		rollouttest.Turn{Status: 400, ErrorMessage: "This model's maximum context length is 32768 tokens. However, you requested 33000 tokens (24808 in the messages, 8192 in the completion)."},
	)
	tr := processOne(t, memStage(t, srv, &rollouttest.Runtime{}, nil), memItem(t))
	srv.Verify(t)
	assert.Equal(t, rollout.ExitContextLimit, tr.ExitStatus)
	assert.Equal(t, 1, tr.NumTurns)
}

// TestModelFailuresFailTheItem: an error that retries cannot fix fails the item (the runner
// retries it), and the API key appears nowhere in the error.
func TestModelFailuresFailTheItem(t *testing.T) {
	t.Parallel()
	srv := rollouttest.NewServer(t, "/v1",
		rollouttest.Turn{Status: 503, ErrorMessage: "overloaded"},
		rollouttest.Turn{Status: 502, ErrorMessage: "bad gateway"},
		rollouttest.Turn{Status: 500, ErrorMessage: "key " + fakeKey + " is broken"},
		rollouttest.Turn{Status: 500, ErrorMessage: "still broken"},
	)
	rt := &rollouttest.Runtime{}
	s := memStage(t, srv, rt, func(c *rollout.Config) { c.MaxRetries = 3 })
	_, err := s.Process(t.Context(), memItem(t))
	require.Error(t, err)
	srv.Verify(t)
	assert.Contains(t, err.Error(), "HTTP 500: still broken")

	srv2 := rollouttest.NewServer(t, "/v1", rollouttest.Turn{Status: 401, ErrorMessage: "invalid key " + fakeKey})
	s2 := memStage(t, srv2, &rollouttest.Runtime{}, nil)
	_, err = s2.Process(t.Context(), memItem(t))
	require.Error(t, err)
	srv2.Verify(t)
	assert.Contains(t, err.Error(), "HTTP 401")
	assert.NotContains(t, err.Error(), fakeKey)
	assert.Contains(t, err.Error(), "[redacted]")
}

// TestEditorObservations drives every editor command and its refusals through the loop; the
// observations must match the golden file.
func TestEditorObservations(t *testing.T) {
	t.Parallel()
	ops := "/testbed/calc/ops.py"
	calls := []struct{ name, args string }{
		{codeact.Editor, `{"command":"view","path":"/testbed"}`},
		{codeact.Editor, `{"command":"view","path":"` + ops + `","view_range":[5,-1]}`},
		{codeact.Editor, `{"command":"view","path":"` + ops + `","view_range":[5,40]}`},
		{codeact.Editor, `{"command":"view","path":"calc/ops.py"}`},
		{codeact.Editor, `{"command":"view","path":"/testbed/nope.py"}`},
		{codeact.Editor, `{"command":"create","path":"` + ops + `","file_text":"x"}`},
		{codeact.Editor, `{"command":"create","path":"/testbed/calc/new.py","file_text":"A = 1\n"}`},
		{codeact.Editor, `{"command":"create","path":"/testbed/nodir/new.py","file_text":"A = 1\n"}`},
		{codeact.Editor, `{"command":"str_replace","path":"` + ops + `","old_str":"return a * b","new_str":"x"}`},
		{codeact.Editor, `{"command":"str_replace","path":"` + ops + `","old_str":"    return a","new_str":"x"}`},
		{codeact.Editor, `{"command":"str_replace","path":"` + ops + `","old_str":"    return a / b","new_str":"    return a / b if b else None"}`},
		{codeact.Editor, `{"command":"insert","path":"` + ops + `","insert_line":0,"new_str":"import math\n"}`},
		{codeact.Editor, `{"command":"insert","path":"` + ops + `","insert_line":99,"new_str":"x"}`},
		{codeact.Editor, `{"command":"undo_edit","path":"` + ops + `"}`},
		{codeact.Editor, `{"command":"undo_edit","path":"` + ops + `"}`},
		{codeact.Editor, `{"command":"undo_edit","path":"` + ops + `"}`},
		{codeact.Editor, `{"command":"str_replace","path":"/testbed/calc","old_str":"a","new_str":"b"}`},
		{codeact.Editor, `{"command":"view","path":"/testbed/blob.bin"}`},
		{codeact.Finish, `{"message":"done","task_completed":"partial"}`},
	}
	var turns []rollouttest.Turn
	for i, c := range calls {
		turns = append(turns, rollouttest.Turn{ToolCalls: []pipeline.ToolCall{nativeCall("call_"+string(rune('a'+i)), c.name, c.args)}})
	}
	srv := rollouttest.NewServer(t, "/v1", turns...)
	rt := &rollouttest.Runtime{
		Files: map[string]string{ops: opsPy, "/testbed/calc/__init__.py": "", "/testbed/.git/HEAD": "ref\n", "/testbed/blob.bin": "\x00\x01"},
	}
	s := memStage(t, srv, rt, func(c *rollout.Config) { c.MaxObservationChars, c.MaxFormatErrors = 2000, 10 })
	tr := processOne(t, s, memItem(t))
	srv.Verify(t)
	assert.Equal(t, rollout.ExitFinish, tr.ExitStatus)
	obs := toolObservations(tr, "")
	require.Len(t, obs, len(calls)-1)
	golden(t, "observations.json", indentJSON(t, obs))
	assert.Contains(t, tr.ModelPatch, "diff --git a/calc/new.py b/calc/new.py")
	assert.NotContains(t, tr.ModelPatch, "calc/ops.py", "every edit of ops.py was undone")
}

// TestShellObservations drives execute_bash through every outcome OpenHands 0.32 gives a
// form to; the observations must match the golden file (shell_observations.json), and only
// the calls OpenHands would run reach the shell.
func TestShellObservations(t *testing.T) {
	t.Parallel()
	calls := []struct{ args string }{
		{`{"command":"  make test  "}`},                                       // output stripped: no blank line before the status line
		{`{"command":"echo one\necho two"}`},                                  // two commands: refused
		{`{"command":"cd /tmp && ls; pwd\nfor f in *; do\n  echo $f\ndone"}`}, // two lines, two commands
		{`{"command":"for f in *; do\n  echo $f\ndone"}`},                     // one command on three lines
		{`{"command":"sleep 1000"}`},                                          // past the hard timeout: left running
		{`{"command":"exit 3"}`},                                              // not run: the previous one still runs
		{`{"command":""}`},                                                    // more of its output, still running
		{`{"command":"y","is_input":"true"}`},                                 // its input; it ends
		{`{"command":""}`},                                                    // nothing runs
		{`{"command":"y","is_input":"true"}`},                                 // nothing to send input to
		{`{"command":"pytest -x"}`},                                           // no new output: left running
		{`{"command":"C-c"}`},                                                 // without is_input a key is a command: not run
		{`{"command":"C-c","is_input":"true"}`},                               // interrupted
		{`{"command":"cat"}`},                                                 // waits for input
		{`{"command":"C-d","is_input":"true"}`},                               // end of input: it ends
		{`{"command":"exit 3"}`},                                              // the shell exits and is started anew
		{`{"command":"   "}`},                                                 // blank is empty: nothing runs
	}
	var turns []rollouttest.Turn
	for i, c := range calls {
		turns = append(turns, rollouttest.Turn{ToolCalls: []pipeline.ToolCall{nativeCall("call_"+string(rune('a'+i)), codeact.Bash, c.args)}})
	}
	turns = append(turns, rollouttest.Turn{ToolCalls: []pipeline.ToolCall{nativeCall("call_end", codeact.Finish, `{"message":"done","task_completed":"partial"}`)}})
	srv := rollouttest.NewServer(t, "/v1", turns...)
	py := "/opt/venv/bin/python"
	rt := &rollouttest.Runtime{
		ShellFunc: func(ctx context.Context, ws *rollouttest.Workspace, cmd string) (rollout.ShellResult, error) {
			switch cmd {
			case "make test":
				return rollout.ShellResult{Output: "\n  ok\n\n", ExitCode: 0, Cwd: "/testbed", PythonPath: py}, nil
			case "for f in *; do\n  echo $f\ndone":
				return rollout.ShellResult{Output: "a\nb\n", ExitCode: 0, Cwd: "/testbed", PythonPath: py}, nil
			case "sleep 1000":
				return rollout.ShellResult{Output: "partial output\n", TimedOut: true, Running: true, ExitCode: -1}, nil
			case "":
				return rollout.ShellResult{Output: "more output\n", Running: true, ExitCode: -1}, nil
			case "input:y":
				return rollout.ShellResult{Output: "accepted\n", ExitCode: 0, Cwd: "/testbed", PythonPath: py}, nil
			case "pytest -x", "cat":
				return rollout.ShellResult{Output: "collecting ...\n", Running: true, ExitCode: -1}, nil
			case "C-c":
				return rollout.ShellResult{Output: "^C\n", Interrupted: true, ExitCode: 130, Cwd: "/testbed", PythonPath: py}, nil
			case "C-d":
				return rollout.ShellResult{Output: "", ExitCode: 0, Cwd: "/testbed"}, nil
			case "exit 3":
				return rollout.ShellResult{ExitCode: 3, Restarted: true, Cwd: "/testbed"}, nil
			}
			return rollout.ShellResult{}, fmt.Errorf("unexpected command %q", cmd)
		},
	}
	s := memStage(t, srv, rt, func(c *rollout.Config) { c.MaxFormatErrors, c.NoChangeTimeout = 10, 30*time.Second })
	tr := processOne(t, s, memItem(t))
	srv.Verify(t)
	assert.Equal(t, rollout.ExitFinish, tr.ExitStatus)
	obs := toolObservations(tr, "")
	require.Len(t, obs, len(calls))
	golden(t, "shell_observations.json", indentJSON(t, obs))
	ws := rt.Workspaces()
	require.Len(t, ws, 1)
	assert.Equal(t, []string{"make test", "for f in *; do\n  echo $f\ndone", "sleep 1000", "", "input:y", "pytest -x", "C-c", "cat", "C-d", "exit 3"}, ws[0].Commands)
	assert.True(t, strings.HasPrefix(obs[0], "ok\n[The command completed with exit code 0.]\n[Current working directory: /testbed]\n"), obs[0])
	assert.True(t, strings.HasSuffix(obs[1], "\n[Error occurred in processing last action]"), obs[1])
	assert.Equal(t, "partial output\n[The command timed out after 30 seconds. You may wait longer to see additional output by sending empty command '', "+
		"send other commands to interact with the current process, or send keys to interrupt/kill the command.]", obs[4])
	assert.True(t, strings.HasPrefix(obs[5], "[Below is the output of the previous command.]\n\n[Your command \"exit 3\" was NOT run"), obs[5])
	assert.True(t, strings.HasPrefix(obs[6], "[Below is the output of the previous command.]\nmore output\n[The command has no new output after 30 seconds."), obs[6])
	assert.True(t, strings.HasPrefix(obs[7], "accepted\n[The command completed with exit code 0.]"), obs[7])
	assert.Contains(t, obs[12], "[The command completed with exit code 130. CTRL+C was sent.]")
	assert.Contains(t, obs[14], "[The command completed with exit code 0. CTRL+D was sent.]")
}

// TestOracleFallsBackToGitApply gives the oracle a hunk the editor must refuse (its old
// text is not unique): it undoes the file's earlier edits and applies the file with git.
func TestOracleFallsBackToGitApply(t *testing.T) {
	t.Parallel()
	item := memItem(t)
	item.Instance.Patch = "diff --git a/calc/ops.py b/calc/ops.py\n--- a/calc/ops.py\n+++ b/calc/ops.py\n" +
		"@@ -1 +1 @@\n-def add(a, b):\n+def add(a, b):  # sum\n" +
		"@@ -2 +2 @@\n-    return a + b\n+    return b + a\n" +
		"@@ -6 +6 @@\n-    return a\n+    return a // b\n" +
		"diff --git a/calc/extra.py b/calc/extra.py\nnew file mode 100644\n--- /dev/null\n+++ b/calc/extra.py\n@@ -0,0 +1,2 @@\n+X = 1\n+Y = 2\n"
	rt := &rollouttest.Runtime{}
	var applied string
	rt.ShellFunc = func(ctx context.Context, ws *rollouttest.Workspace, cmd string) (rollout.ShellResult, error) {
		if strings.Contains(cmd, "git apply") {
			applied = cmd
		}
		return rollout.ShellResult{Cwd: "/testbed"}, nil
	}
	// In the text protocol, which strips every value, the oracle applies with git each file
	// whose edits have values starting or ending with whitespace: here all of them.
	tr := processOne(t, memStage(t, nil, rt, func(c *rollout.Config) { c.Protocol = rollout.ProtocolText }), item)
	assert.Equal(t, rollout.ExitFinish, tr.ExitStatus)
	assert.Equal(t, "system user assistant:execute_bash tool assistant:execute_bash tool assistant:execute_bash tool assistant:execute_bash tool assistant:finish", roles(tr.Messages))
	assert.Contains(t, tr.Messages[4].ToolCalls[0].Function.Arguments, `git apply --whitespace=nowarn - <<'SWEMILL_PATCH_EOF'\ndiff --git a/calc/ops.py b/calc/ops.py\n`)
	for _, protocol := range []string{rollout.ProtocolNative} {
		tr := processOne(t, memStage(t, nil, rt, func(c *rollout.Config) { c.Protocol = protocol }), item)
		assert.Equal(t, rollout.ExitFinish, tr.ExitStatus)
		assert.Equal(t, "oracle", tr.Model)
		assert.Equal(t, "system user assistant:execute_bash tool assistant:str_replace_editor tool assistant:str_replace_editor tool "+
			"assistant:str_replace_editor tool assistant:str_replace_editor tool assistant:str_replace_editor tool assistant:execute_bash tool "+
			"assistant:str_replace_editor tool assistant:execute_bash tool assistant:finish", roles(tr.Messages), protocol)
		assert.Contains(t, tr.Messages[9].Content, "did not appear verbatim", "the third hunk is refused: %s", tr.Messages[8].Content)
		assert.Contains(t, tr.Messages[11].Content, "undone successfully")
		assert.Contains(t, tr.Messages[13].Content, "undone successfully")
		assert.Contains(t, applied, "git apply --whitespace=nowarn - <<'SWEMILL_PATCH_EOF'\ndiff --git a/calc/ops.py b/calc/ops.py\n")
		assert.Contains(t, tr.Messages[17].Content, "File created successfully at: /testbed/calc/extra.py")
		assert.NotContains(t, tr.ModelPatch, "calc/ops.py", "the editor's edits were undone; git apply ran in a fake shell")
	}
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		cfg  rollout.Config
		want string
	}{
		{rollout.Config{Backend: "vllm"}, "Config.Backend"},
		{rollout.Config{Backend: "oracle", Protocol: "xml"}, "Config.Protocol"},
		{rollout.Config{Backend: "oracle", Model: "gpt"}, "Config.Model"},
		{rollout.Config{}, "OpenAIConfig.BaseURL"},
		{rollout.Config{BaseURL: "localhost:8000"}, "OpenAIConfig.BaseURL"},
		{rollout.Config{BaseURL: "http://h/v1"}, "OpenAIConfig.Model"},
		{rollout.Config{Backend: "oracle", TopP: 1.5}, "Config.TopP"},
		{rollout.Config{Backend: "oracle", ContextTokens: 100}, "Config.ContextTokens"},
		{rollout.Config{Backend: "oracle", CommandTimeout: time.Millisecond}, "Config.CommandTimeout"},
	} {
		err := tc.cfg.Validate()
		require.Error(t, err, "%+v", tc.cfg)
		assert.Contains(t, err.Error(), tc.want)
	}
	require.NoError(t, rollout.Config{Backend: "oracle"}.Validate())
	require.NoError(t, rollout.Config{BaseURL: "http://localhost:8000/v1", Model: "Skywork-SWE-32B"}.Validate())
	_, err := rollout.New(rollout.Config{Backend: "oracle"}, nil, patchGrader)
	assert.Error(t, err)
}

// TestWorkspaceGoneIsARuntimeError: a container that dies under the agent ends the rollout
// with runtime_error; the trajectory is kept.
func TestWorkspaceGoneIsARuntimeError(t *testing.T) {
	t.Parallel()
	srv := rollouttest.NewServer(t, "/v1",
		rollouttest.Turn{ToolCalls: []pipeline.ToolCall{nativeCall("c1", codeact.Bash, `{"command":"python -c 'x = bytearray(10**11)'"}`)}})
	rt := &rollouttest.Runtime{ShellFunc: func(ctx context.Context, ws *rollouttest.Workspace, cmd string) (rollout.ShellResult, error) {
		return rollout.ShellResult{}, fmt.Errorf("%w: the container was OOM-killed", rollout.ErrWorkspaceGone)
	}}
	tr := processOne(t, memStage(t, srv, rt, nil), memItem(t))
	srv.Verify(t)
	assert.Equal(t, rollout.ExitRuntimeError, tr.ExitStatus)
	assert.Equal(t, 1, tr.NumTurns)
}

// TestSamplesHaveTheirOwnSeeds: N samples of an instance, each with seed Seed+k, recorded in
// order of their index.
func TestSamplesHaveTheirOwnSeeds(t *testing.T) {
	t.Parallel()
	srv := rollouttest.NewServer(t, "/v1")
	srv.Policy = func(req map[string]any) rollouttest.Turn {
		return rollouttest.Turn{ToolCalls: []pipeline.ToolCall{nativeCall("f", codeact.Finish, `{"message":"done","task_completed":"false"}`)}}
	}
	item := memItem(t)
	s := memStage(t, srv, &rollouttest.Runtime{}, func(c *rollout.Config) { c.Samples, c.Parallel, c.Seed = 3, 2, 40 })
	out, err := s.Process(t.Context(), item)
	require.NoError(t, err)
	trajs := readTrajectories(t, item, out)
	require.Len(t, trajs, 3)
	seeds := map[float64]bool{}
	for _, b := range srv.Requests() {
		var req map[string]any
		require.NoError(t, json.Unmarshal(b, &req))
		seeds[req["seed"].(float64)] = true
	}
	assert.Equal(t, map[float64]bool{40: true, 41: true, 42: true}, seeds)
	for k, tr := range trajs {
		assert.Equal(t, k, tr.RolloutIndex)
		assert.Equal(t, int64(40+k), tr.Seed)
	}
	assert.NotEqual(t, trajs[0].TrajectoryID, trajs[1].TrajectoryID)
	assert.Len(t, out.Artifacts, 3)
}
