package rollout_test

import (
	"encoding/json"
	"path/filepath"
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

const (
	fakeModel = "fake-swe-32b"
	fakeKey   = "sk-test-7c1e0f-secret"
)

// dockerStage returns a stage over a Docker runtime of its own run, against server (nil for
// the oracle backend), grading in fresh sandbox containers. It checks at the end that no
// container of the run is left.
func dockerStage(t *testing.T, server *rollouttest.Server, mutate func(*rollout.Config)) *rollout.Stage {
	t.Helper()
	run := "rollout-" + nonce()
	cfg := rollout.Config{Backend: rollout.BackendOracle, Seed: 7, Temperature: 0.5, TopP: 0.95, MaxOutputTokens: 2048,
		CommandTimeout: time.Minute, RolloutTimeout: 5 * time.Minute}
	if server != nil {
		cfg.Backend, cfg.Model, cfg.BaseURL, cfg.APIKey = rollout.BackendOpenAI, fakeModel, server.URL(), fakeKey
		cfg.RetryDelay, cfg.MaxRetries = time.Millisecond, 3
		server.APIKey = fakeKey
	}
	if mutate != nil {
		mutate(&cfg)
	}
	s, err := rollout.New(cfg, newDockerRuntime(t, run, nil), newSandboxGrader(t, run))
	require.NoError(t, err)
	t.Cleanup(func() {
		s.Close()
		assert.Empty(t, runContainers(t, run), "containers of the run left behind")
	})
	return s
}

func textCall(thought, name string, params ...string) string {
	var b strings.Builder
	if thought != "" {
		b.WriteString(thought + "\n")
	}
	b.WriteString("<function=" + name + ">\n")
	for i := 0; i+1 < len(params); i += 2 {
		v := params[i+1]
		if strings.Contains(v, "\n") {
			v = "\n" + v + "\n"
		}
		b.WriteString("<parameter=" + params[i] + ">" + v + "</parameter>\n")
	}
	return b.String() // cut at the stop sequence, as the server returns it
}

func nativeCall(id, name, args string) pipeline.ToolCall {
	return pipeline.ToolCall{ID: id, Type: "function", Function: pipeline.FunctionCall{Name: name, Arguments: args}}
}

// checkCanonical checks the OpenAI message form: roles, and every tool message answering an
// earlier call of the same name.
func checkCanonical(t *testing.T, msgs []pipeline.Message) {
	t.Helper()
	require.GreaterOrEqual(t, len(msgs), 2)
	assert.Equal(t, "system", msgs[0].Role)
	assert.Equal(t, "user", msgs[1].Role)
	calls := map[string]string{}
	for i, m := range msgs {
		switch m.Role {
		case "system", "user":
		case "assistant":
			for _, c := range m.ToolCalls {
				assert.NotEmpty(t, c.ID)
				assert.Equal(t, "function", c.Type)
				calls[c.ID] = c.Function.Name
			}
		case "tool":
			name, ok := calls[m.ToolCallID]
			assert.True(t, ok, "message %d answers unknown call %q", i, m.ToolCallID)
			assert.Equal(t, name, m.Name, "message %d", i)
		default:
			t.Errorf("message %d has role %q", i, m.Role)
		}
	}
}

func roles(msgs []pipeline.Message) string {
	var r []string
	for _, m := range msgs {
		s := m.Role
		for _, c := range m.ToolCalls {
			s += ":" + c.Function.Name
		}
		r = append(r, s)
	}
	return strings.Join(r, " ")
}

// TestTextProtocolResolves replays a text-protocol conversation that fixes the bug, with a
// reply cut at the stop word, a 429 answered after a retry, a malformed call and an empty
// reply on the way. The requests must match the golden file byte for byte (as JSON).
func TestTextProtocolResolves(t *testing.T) {
	t.Parallel()
	item := fixtureItem(t, "pyflat")
	ws := fixtureWorkspace("pyflat")
	srv := rollouttest.NewServer(t, "/fake-api/v1",
		rollouttest.Turn{Content: textCall("I will look at divide first.", codeact.Bash, "command", `cd `+ws+` && grep -n "def divide" -A 1 calc/ops.py`)},
		rollouttest.Turn{Status: 429, ErrorMessage: "rate limited", Header: map[string]string{"Retry-After": "0"}},
		rollouttest.Turn{Content: textCall("It divides without checking b.", codeact.Editor, "command", "str_replace", "path", ws+"/calc/ops.py",
			"old_str", "def divide(a, b):\n    return a / b", "new_str", "def divide(a, b):\n    if b == 0:\n        return None\n    return a / b") + "</function>"},
		rollouttest.Turn{Content: "<function=str_replace_editor>\n<parameter=command>view</parameter>\n"},
		rollouttest.Turn{Content: ""},
		rollouttest.Turn{Content: textCall("", codeact.Bash, "command", `cd `+ws+` && python -c "from calc import divide; print(divide(1, 0), divide(6, 3))"`)},
		rollouttest.Turn{Content: textCall("Both cases work.", codeact.Finish, "message", "divide() now returns None for a zero divisor.", "task_completed", "true")},
	)
	s := dockerStage(t, srv, nil)
	out, err := s.Process(t.Context(), item)
	require.NoError(t, err)
	srv.Verify(t)
	assert.Equal(t, 7, srv.Calls(), "the 429 was retried")
	golden(t, "text_resolves.requests.json", requestsJSON(t, srv.Requests()))

	trajs := readTrajectories(t, item, out)
	require.Len(t, trajs, 1)
	tr := trajs[0]
	assert.Equal(t, rollout.ExitFinish, tr.ExitStatus)
	assert.True(t, tr.Resolved, "patch:\n%s", tr.ModelPatch)
	assert.Equal(t, [4]int{1, 1, 2, 2}, [4]int{tr.F2PPassed, tr.F2PTotal, tr.P2PPassed, tr.P2PTotal})
	assert.Equal(t, fakeModel, tr.Model)
	assert.Equal(t, "text", tr.PromptFormat)
	assert.Equal(t, rollout.Scaffold, tr.Scaffold)
	assert.Equal(t, int64(7), tr.Seed)
	assert.Equal(t, 0.5, tr.Temperature)
	assert.Equal(t, 0.95, tr.TopP)
	assert.Equal(t, 6, tr.NumTurns)
	require.Len(t, tr.Steps, 6)
	var pt int64
	for _, st := range tr.Steps {
		assert.Positive(t, st.PromptTokens)
		assert.Positive(t, st.ModelSeconds)
		pt += st.PromptTokens
	}
	assert.Equal(t, pt, tr.PromptTokens)
	assert.Empty(t, tr.Flags)
	assert.Contains(t, tr.ModelPatch, "diff --git a/calc/ops.py b/calc/ops.py\n")
	assert.Contains(t, tr.ModelPatch, "+    if b == 0:\n+        return None\n")
	checkCanonical(t, tr.Messages)
	// The malformed view call is left out, its error (marked) kept; the empty reply stays.
	assert.Equal(t, "system user assistant:execute_bash tool assistant:str_replace_editor tool user assistant user assistant:execute_bash tool assistant:finish", roles(tr.Messages))
	assert.Contains(t, tr.Messages[0].Content, codeact.FunctionsMarker, "the stored system message is the one the model read")
	assert.Equal(t, "I will look at divide first.", tr.Messages[2].Content)
	assert.JSONEq(t, `{"command":"cd `+ws+` && grep -n \"def divide\" -A 1 calc/ops.py"}`, tr.Messages[2].ToolCalls[0].Function.Arguments)
	assert.Equal(t, "5:def divide(a, b):\n6-    return a / b\n[The command completed with exit code 0.]\n[Current working directory: "+ws+"]\n[Python interpreter: /opt/venv/bin/python]\n[Command finished with exit code 0]", tr.Messages[3].Content)
	assert.Contains(t, tr.Messages[6].Content, `Missing required parameter "path"`)
	assert.True(t, tr.Messages[6].FormatError)
	assert.Contains(t, tr.Messages[10].Content, "None 2.0\n[The command completed")
	var tools []any
	require.NoError(t, json.Unmarshal(tr.Tools, &tools))
	assert.Len(t, tools, 4)
	assert.False(t, strings.Contains(string(mustJSON(t, tr)), fakeKey), "the API key is in the trajectory")
}

// TestNativeProtocolResolves replays a native tool-call conversation: two calls in one
// message, an unknown tool, arguments that are not JSON and a reply that only talks.
func TestNativeProtocolResolves(t *testing.T) {
	t.Parallel()
	item := fixtureItem(t, "pysrc")
	ws := fixtureWorkspace("pysrc")
	init := ws + "/src/strutil/__init__.py"
	srv := rollouttest.NewServer(t, "/v1-under/prefix/v1",
		rollouttest.Turn{Content: "Let me read the code.", ToolCalls: []pipeline.ToolCall{
			nativeCall("call_a", codeact.Editor, `{"command":"view","path":"`+init+`"}`),
			nativeCall("call_b", codeact.Think, `{"thought":"shout() should strip before upper-casing."}`)}},
		rollouttest.Turn{ToolCalls: []pipeline.ToolCall{nativeCall("call_c", "open_file", `{"path":"`+init+`"}`)}},
		rollouttest.Turn{ToolCalls: []pipeline.ToolCall{nativeCall("call_d", codeact.Editor,
			`{"command":"str_replace","path":"`+init+`","old_str":"return s.upper() + \"!\"","new_str":"return s.strip().upper() + \"!\""}`)}},
		rollouttest.Turn{ToolCalls: []pipeline.ToolCall{nativeCall("call_e", codeact.Bash, `{"command": "cd `+ws+` && `)}},
		rollouttest.Turn{Content: "The change is in place; I think it is complete."},
		rollouttest.Turn{ToolCalls: []pipeline.ToolCall{nativeCall("call_f", codeact.Bash,
			`{"command":"cd `+ws+` && PYTHONPATH=src python -c 'from strutil import shout; print(repr(shout(\"  hi \")))'"}`)}},
		rollouttest.Turn{ToolCalls: []pipeline.ToolCall{nativeCall("call_g", codeact.Finish, `{"message":"shout() strips first.","task_completed":"true"}`)}},
	)
	s := dockerStage(t, srv, func(c *rollout.Config) { c.Protocol = rollout.ProtocolNative })
	out, err := s.Process(t.Context(), item)
	require.NoError(t, err)
	srv.Verify(t)
	golden(t, "native_resolves.requests.json", requestsJSON(t, srv.Requests()))

	tr := readTrajectories(t, item, out)[0]
	assert.Equal(t, rollout.ExitFinish, tr.ExitStatus)
	assert.True(t, tr.Resolved, "patch:\n%s", tr.ModelPatch)
	assert.Equal(t, "native", tr.PromptFormat)
	checkCanonical(t, tr.Messages)
	// The replies calling an unknown tool and with arguments that are not JSON are left
	// out; their errors stay, marked.
	assert.Equal(t, "system user assistant:str_replace_editor:think tool tool user assistant:str_replace_editor tool user assistant user assistant:execute_bash tool assistant:finish", roles(tr.Messages))
	assert.Contains(t, tr.Messages[3].Content, "Here's the result of running `cat -n` on "+init+":\n     1\tdef shout(s):\n")
	assert.Equal(t, "Your thought has been logged.", tr.Messages[4].Content)
	assert.Contains(t, tr.Messages[5].Content, `There is no function called "open_file"`)
	assert.True(t, tr.Messages[5].FormatError)
	assert.Contains(t, tr.Messages[7].Content, "The file "+init+" has been edited.")
	assert.Contains(t, tr.Messages[8].Content, "not a JSON object")
	assert.True(t, tr.Messages[8].FormatError)
	assert.Contains(t, tr.Messages[12].Content, "'HI!'\n[The command completed")
}

// TestUnresolvedAndFlagged replays a wrong fix that also adds a test file and looks for a
// copy of the fixed file outside the work directory: unresolved, and flagged.
func TestUnresolvedAndFlagged(t *testing.T) {
	t.Parallel()
	item := fixtureItem(t, "pyflat")
	srv := rollouttest.NewServer(t, "/fake/v1",
		rollouttest.Turn{Content: textCall("", codeact.Bash, "command", "ls /usr/lib/python3/dist-packages/calc/ops.py")},
		rollouttest.Turn{Content: textCall("", codeact.Editor, "command", "str_replace", "path", fixtureWorkspace("pyflat")+"/calc/ops.py",
			"old_str", "    return a / b", "new_str", "    return a / b if b else 0")},
		rollouttest.Turn{Content: textCall("", codeact.Editor, "command", "create", "path", fixtureWorkspace("pyflat")+"/tests/test_zero.py",
			"file_text", "from calc import divide\n\n\ndef test_zero():\n    assert divide(1, 0) == 0\n")},
		rollouttest.Turn{Content: textCall("", codeact.Finish, "message", "Division by zero returns 0.", "task_completed", "true")},
	)
	s := dockerStage(t, srv, func(c *rollout.Config) { c.NoExample = true })
	out, err := s.Process(t.Context(), item)
	require.NoError(t, err)
	srv.Verify(t)
	golden(t, "text_unresolved.requests.json", requestsJSON(t, srv.Requests()))
	tr := readTrajectories(t, item, out)[0]
	assert.Equal(t, rollout.ExitFinish, tr.ExitStatus)
	assert.False(t, tr.Resolved)
	assert.Equal(t, [4]int{0, 1, 2, 2}, [4]int{tr.F2PPassed, tr.F2PTotal, tr.P2PPassed, tr.P2PTotal})
	assert.Equal(t, []string{rollout.FlagEditedTests, rollout.FlagReadOutside + ":/usr/lib/python3/dist-packages/calc/ops.py"}, tr.Flags)
	assert.Contains(t, tr.ModelPatch, "diff --git a/tests/test_zero.py b/tests/test_zero.py\nnew file mode 100644\n")
	rec := out.Record.(pipeline.Rollouts)
	require.Len(t, rec.Trajectories[0].Artifacts, 1, "the grading log is stored")
	log, err := item.Artifacts.Read(rec.Trajectories[0].Artifacts[0])
	require.NoError(t, err)
	assert.Contains(t, string(log), "FAILED tests/test_ops.py::test_divide_by_zero")
}

// TestContextBudgetAndTimeout ends one rollout on the context budget (the server's usage
// counts) and another on its wall clock, in the middle of a command.
func TestContextBudgetAndTimeout(t *testing.T) {
	t.Parallel()
	item := fixtureItem(t, "pyflat")
	srv := rollouttest.NewServer(t, "/fake/v1",
		rollouttest.Turn{ToolCalls: []pipeline.ToolCall{nativeCall("c1", codeact.Bash, `{"command":"ls"}`)}, PromptTokens: 30000, CompletionTokens: 3000},
		rollouttest.Turn{ToolCalls: []pipeline.ToolCall{nativeCall("c2", codeact.Bash, `{"command":"echo begin; sleep 120; echo end"}`)}},
	)
	s := dockerStage(t, srv, func(c *rollout.Config) {
		c.Protocol, c.Samples, c.RolloutTimeout, c.ContextTokens = rollout.ProtocolNative, 1, 4*time.Second, 32768
	})
	out, err := s.Process(t.Context(), item)
	require.NoError(t, err)
	tr := readTrajectories(t, item, out)[0]
	assert.Equal(t, rollout.ExitContextLimit, tr.ExitStatus)
	assert.Equal(t, 1, tr.NumTurns)
	assert.Equal(t, int64(30000), tr.PromptTokens)
	assert.Equal(t, []string{rollout.FlagEmptyPatch}, tr.Flags)
	assert.False(t, tr.Resolved)
	assert.Equal(t, "tool", tr.Messages[len(tr.Messages)-1].Role, "the last call ran before the budget ended the rollout")

	out, err = s.Process(t.Context(), item)
	require.NoError(t, err)
	srv.Verify(t)
	tr = readTrajectories(t, item, out)[0]
	assert.Equal(t, rollout.ExitTimeout, tr.ExitStatus)
	assert.Equal(t, 1, tr.NumTurns)
	assert.Equal(t, "assistant", tr.Messages[len(tr.Messages)-1].Role)
}

// TestOracleResolvesFixtures runs the oracle backend on every fixture instance, in both
// protocols, with the repository at the default workspace path (a copy of the image's) and
// at the image's own /testbed: each must resolve, with the gold patch as its model patch.
func TestOracleResolvesFixtures(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ fixture, protocol, workspace string }{
		{"pyflat", rollout.ProtocolText, ""}, {"pysrc", rollout.ProtocolText, ""}, {"gomod", rollout.ProtocolText, ""},
		{"pyflat", rollout.ProtocolNative, ""}, {"pysrc", rollout.ProtocolNative, "/testbed"},
	} {
		t.Run(tc.fixture+"/"+tc.protocol+tc.workspace, func(t *testing.T) {
			t.Parallel()
			item := fixtureItem(t, tc.fixture)
			s := dockerStage(t, nil, func(c *rollout.Config) { c.Protocol, c.Workspace = tc.protocol, tc.workspace })
			out, err := s.Process(t.Context(), item)
			require.NoError(t, err)
			tr := readTrajectories(t, item, out)[0]
			assert.Equal(t, rollout.OracleModel, tr.Model)
			assert.Equal(t, rollout.ExitFinish, tr.ExitStatus)
			assert.True(t, tr.Resolved, "patch:\n%s\nmessages: %s", tr.ModelPatch, mustJSON(t, tr.Messages))
			assert.Equal(t, item.Instance.Patch, tr.ModelPatch)
			assert.Empty(t, tr.Flags)
			checkCanonical(t, tr.Messages)
			ws := fixtureWorkspace(tc.fixture)
			if tc.workspace != "" {
				ws = tc.workspace
			}
			assert.Contains(t, tr.Messages[1].Content, "<uploaded_files>\n"+ws+"\n</uploaded_files>")
			assert.Contains(t, tr.Messages[3].Content, "[Current working directory: "+ws+"]", "the oracle's first command runs in the workspace")
			assert.True(t, strings.HasPrefix(tr.Messages[3].Content, item.Instance.BaseCommit+"\n"), "git status shows no change and git log the base: %q", tr.Messages[3].Content)
		})
	}
}

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	data, err := json.Marshal(v)
	require.NoError(t, err)
	return data
}

// TestPromptsFromDirectory rolls out with the prompts of a team's template directory
// (testdata/prompts-team) and a workspace template of its own: the requests must match the
// golden file byte for byte. They show every piece the directory supplies (system prompt,
// instruction, example, no-call message and, from the second one, the give-up hint,
// format-error and empty-reply messages, format rules, the bash and finish tools'
// descriptions) and the built-in texts of the pieces it lacks (think, str_replace_editor).
func TestPromptsFromDirectory(t *testing.T) {
	t.Parallel()
	item := fixtureItem(t, "pyflat")
	item.Instance.HintsText = "divide() is in calc/ops.py."
	const ws = "/repo/acme-pyflat"
	srv := rollouttest.NewServer(t, "/team/v1",
		rollouttest.Turn{Content: "Let me think about the issue first."},
		rollouttest.Turn{Content: "I am still thinking."},
		rollouttest.Turn{Content: "<function=execute_bash>\n<parameter=cmd>ls</parameter>\n"},
		rollouttest.Turn{Content: ""},
		rollouttest.Turn{Content: textCall("", codeact.Bash, "command", "cd "+ws+" && readlink /testbed && git status --short")},
		rollouttest.Turn{Content: textCall("", codeact.Editor, "command", "str_replace", "path", ws+"/calc/ops.py",
			"old_str", "def divide(a, b):\n    return a / b", "new_str", "def divide(a, b):\n    if b == 0:\n        return None\n    return a / b")},
		rollouttest.Turn{Content: textCall("", codeact.Finish, "message", "divide() returns None for b == 0.", "task_completed", "true")},
	)
	s := dockerStage(t, srv, func(c *rollout.Config) {
		c.Prompts, c.Workspace = filepath.Join("testdata", "prompts-team"), `/repo/{{.Repo | replace "/" "-"}}`
	})
	out, err := s.Process(t.Context(), item)
	require.NoError(t, err)
	srv.Verify(t)
	golden(t, "text_team_prompts.requests.json", requestsJSON(t, srv.Requests()))

	tr := readTrajectories(t, item, out)[0]
	assert.Equal(t, rollout.ExitFinish, tr.ExitStatus)
	assert.True(t, tr.Resolved, "patch:\n%s", tr.ModelPatch)
	assert.True(t, strings.HasPrefix(tr.Messages[0].Content, "TEAM SYSTEM: you are the Acme repair bot for acme/pyflat, working in "+ws+", with at most 100 turns (text protocol).\n"+
		"Make one function call per turn.\n\nYou have access to the following functions:\n"), "the stored system prompt is the one the model read: %q", tr.Messages[0].Content)
	assert.True(t, strings.HasSuffix(tr.Messages[0].Content, "\nTEAM FORMAT RULES: write <function=NAME>, then one <parameter=NAME>VALUE</parameter> per parameter, then </function>.\n"))
	assert.Equal(t, "TEAM INSTRUCTION for acme__pyflat-rollout (version 0.1, language python).\nThe repository is in "+ws+", at "+
		item.Instance.BaseCommit[:7]+".\nIssue:\n"+problemStatements["pyflat"]+"\nHints: divide() is in calc/ops.py.", tr.Messages[1].Content,
		"the stored instruction has no example around it")
	assert.Equal(t, "TEAM NO CALL: call a function, please.\n", tr.Messages[3].Content)
	assert.Equal(t, "TEAM NO CALL: call a function, please.\nTEAM GIVE UP: when you are stuck, call finish.", tr.Messages[5].Content)
	assert.Equal(t, "TEAM FORMAT ERROR: Function execute_bash has no parameter \"cmd\".\n[Error occurred in processing last action]", tr.Messages[6].Content)
	assert.Equal(t, "TEAM EMPTY REPLY: your reply was empty.", tr.Messages[8].Content)
	assert.True(t, strings.HasPrefix(tr.Messages[10].Content, ws+"\n"), "/testbed links to the workspace: %q", tr.Messages[10].Content)
	assert.Contains(t, tr.Messages[10].Content, "[The command completed with exit code 0.]\n[Current working directory: "+ws+"]", "git sees no change")
	tools, err := codeact.ParseToolsJSON(tr.Tools)
	require.NoError(t, err)
	require.Len(t, tools, 4)
	assert.Equal(t, "TEAM BASH: runs a command; 60 s at most, 30 s of silence returns it.", tools[0].Description)
	assert.Equal(t, "TEAM BASH COMMAND: the command line.", tools[0].Params[0].Description)
	assert.NotContains(t, tools[0].Params[1].Description, "TEAM", "is_input keeps the built-in text")
	assert.Equal(t, "TEAM FINISH: ends the task.", tools[2].Description)
	assert.Contains(t, tools[3].Params[1].Description, "`"+ws+"/pkg/module.py`", "the built-in editor text names the workspace")
}
