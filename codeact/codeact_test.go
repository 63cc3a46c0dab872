package codeact

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"swemill/pipeline"
)

func TestToolsJSONRoundTrip(t *testing.T) {
	t.Parallel()
	tools := Tools()
	require.Len(t, tools, 4)
	assert.Equal(t, []string{Bash, Think, Finish, Editor}, []string{tools[0].Name, tools[1].Name, tools[2].Name, tools[3].Name})
	data := ToolsJSON(tools)
	require.True(t, json.Valid(data), "%s", data)
	back, err := ParseToolsJSON(data)
	require.NoError(t, err)
	assert.Equal(t, tools, back)

	var generic []map[string]any
	require.NoError(t, json.Unmarshal(data, &generic))
	fn := generic[3]["function"].(map[string]any)
	params := fn["parameters"].(map[string]any)
	assert.Equal(t, []any{"command", "path"}, params["required"])
	vr := params["properties"].(map[string]any)["view_range"].(map[string]any)
	assert.Equal(t, map[string]any{"type": "integer"}, vr["items"])
}

func TestParseText(t *testing.T) {
	t.Parallel()
	tools := Tools()
	cases := []struct {
		name, reply, thought, fn, args, err string
	}{
		{name: "cut at the stop word", reply: "Let me look.\n<function=execute_bash>\n<parameter=command>ls -a</parameter>\n",
			thought: "Let me look.", fn: Bash, args: `{"command":"ls -a"}`},
		{name: "closed", reply: "<function=think>\n<parameter=thought>\nline one\n  line two\n</parameter>\n</function>",
			fn: Think, args: `{"thought":"line one\n  line two"}`},
		// OpenHands 0.32 strips every value, the first line's indentation included.
		{name: "values stripped", reply: "<function=str_replace_editor>\n<parameter=command>str_replace</parameter>\n<parameter=path> /a.py\t</parameter>\n<parameter=old_str>\n    x = 1\n    y = 2\n\n</parameter>\n<parameter=new_str>\n    x = 2\n</parameter>\n",
			fn: Editor, args: `{"command":"str_replace","path":"/a.py","old_str":"x = 1\n    y = 2","new_str":"x = 2"}`},
		{name: "inner indentation kept", reply: "<function=think>\n<parameter=thought>\x1f a\n\n  b \u00a0</parameter>\n",
			fn: Think, args: `{"thought":"a\n\n  b"}`},
		{name: "integers and arrays", reply: "<function=str_replace_editor>\n<parameter=command>view</parameter>\n<parameter=path>/a.py</parameter>\n<parameter=view_range>[3, -1]</parameter>\n</function>",
			fn: Editor, args: `{"command":"view","path":"/a.py","view_range":[3,-1]}`},
		{name: "enum trimmed", reply: "<function=finish>\n<parameter=message>done</parameter>\n<parameter=task_completed> true </parameter>\n",
			fn: Finish, args: `{"message":"done","task_completed":"true"}`},
		{name: "no call", reply: "I think the bug is in ops.py.", thought: "I think the bug is in ops.py.", err: ErrNoCall.Error()},
		{name: "empty", reply: "", err: ErrNoCall.Error()},
		{name: "unknown tool", reply: "<function=browse>\n<parameter=url>x</parameter>\n", err: `There is no function called "browse"`},
		{name: "unknown parameter", reply: "<function=execute_bash>\n<parameter=cmd>ls</parameter>\n", err: `Function execute_bash has no parameter "cmd"`},
		{name: "missing required", reply: "<function=finish>\n<parameter=message>done</parameter>\n", err: `Missing required parameter "task_completed"`},
		{name: "bad enum", reply: "<function=finish>\n<parameter=message>m</parameter>\n<parameter=task_completed>yes</parameter>\n", err: "must be one of [true, false, partial]"},
		{name: "bad integer", reply: "<function=str_replace_editor>\n<parameter=command>insert</parameter>\n<parameter=path>/a</parameter>\n<parameter=insert_line>two</parameter>\n<parameter=new_str>x</parameter>\n", err: "must be an integer"},
		{name: "cut inside a parameter", reply: "<function=str_replace_editor>\n<parameter=command>create</parameter>\n<parameter=path>/a.py</parameter>\n<parameter=file_text>\nimport os\n", err: `Parameter "file_text" of str_replace_editor is not closed`},
		{name: "parameters without function", reply: "<parameter=command>ls</parameter>", err: "no <function=NAME> line"},
		{name: "name not closed", reply: "<function=execute_bash", err: "not closed"},
		{name: "duplicate", reply: "<function=execute_bash>\n<parameter=command>ls</parameter>\n<parameter=command>pwd</parameter>\n", err: "given twice"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			thought, call, err := ParseText(tc.reply, tools)
			if tc.err != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tc.err)
				if !errors.Is(err, ErrNoCall) {
					var ce *CallError
					assert.ErrorAs(t, err, &ce)
				}
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.thought, thought)
			assert.Equal(t, tc.fn, call.Name)
			assert.Equal(t, tc.args, call.Arguments)
		})
	}
}

func TestNormalizeArgs(t *testing.T) {
	t.Parallel()
	tools := Tools()
	got, err := NormalizeArgs(tools, Editor, `{"command":"insert","path":"/a","insert_line":"3","new_str":"x"}`)
	require.NoError(t, err)
	assert.Equal(t, `{"command":"insert","path":"/a","insert_line":3,"new_str":"x"}`, got)
	got, err = NormalizeArgs(tools, Editor, `{"command":"view","path":"/a","view_range":"[1, 2]"}`)
	require.NoError(t, err)
	assert.Equal(t, `{"command":"view","path":"/a","view_range":[1,2]}`, got)
	_, err = NormalizeArgs(tools, Bash, `{"command": "ls"`)
	assert.ErrorContains(t, err, "not a JSON object")
	_, err = NormalizeArgs(tools, "nope", `{}`)
	assert.ErrorContains(t, err, "no function called")
	_, err = NormalizeArgs(tools, Bash, ``)
	assert.ErrorContains(t, err, `Missing required parameter "command"`)
}

func TestRenderText(t *testing.T) {
	t.Parallel()
	tools := Tools()
	msgs := []pipeline.Message{
		{Role: "system", Content: "You are an agent.\n"},
		{Role: "user", Content: "Fix the bug."},
		{Role: "assistant", Content: "Looking.", ToolCalls: []pipeline.ToolCall{
			{ID: "c1", Type: "function", Function: pipeline.FunctionCall{Name: Bash, Arguments: `{"command":"ls\ncat a.py","is_input":"false"}`}},
			{ID: "c2", Type: "function", Function: pipeline.FunctionCall{Name: Editor, Arguments: `{"path":"/a.py","command":"view","view_range":[1,5]}`}},
		}},
		{Role: "tool", ToolCallID: "c1", Name: Bash, Content: "a.py"},
		{Role: "tool", ToolCallID: "c2", Content: "1 print()"},
		{Role: "user", Content: "Please continue."},
	}
	wrap := func(task string) string { return "EXAMPLE\n" + task + "\nEND" }
	got := RenderText(msgs, tools, RenderOptions{WrapTask: wrap})
	require.Len(t, got, 7)
	assert.True(t, strings.HasPrefix(got[0].Content, "You are an agent.\n\nYou have access to the following functions:\n\n---- BEGIN FUNCTION #1: execute_bash ----\n"))
	assert.Contains(t, got[0].Content, "  (2) is_input (string, optional): ")
	assert.Contains(t, got[0].Content, "Allowed values: [`true`, `false`]\n---- END FUNCTION #1 ----\n")
	assert.Equal(t, "EXAMPLE\nFix the bug.\nEND", got[1].Content)
	assert.True(t, strings.HasSuffix(got[0].Content, "\n\n"+FormatRules+"\n"))
	assert.Equal(t, "Looking.\n\n<function=execute_bash>\n<parameter=command>\nls\ncat a.py\n</parameter>\n<parameter=is_input>false</parameter>\n</function>", got[2].Content)
	assert.Equal(t, pipeline.Message{Role: "user", Content: "EXECUTION RESULT of [execute_bash]:\na.py"}, got[3])
	assert.Equal(t, "<function=str_replace_editor>\n<parameter=path>/a.py</parameter>\n<parameter=command>view</parameter>\n<parameter=view_range>[1, 5]</parameter>\n</function>", got[4].Content)
	assert.Equal(t, "EXECUTION RESULT of [str_replace_editor]:\n1 print()", got[5].Content)
	assert.Equal(t, pipeline.Message{Role: "user", Content: "Please continue."}, got[6], "only the first user message carries the example")

	// Every rendered call parses back to itself.
	_, call, err := ParseText(got[2].Content, tools)
	require.NoError(t, err)
	assert.Equal(t, msgs[2].ToolCalls[0].Function, call)

	// A system prompt that already has the block keeps it as it is; no system, the block is one.
	again := RenderText(append([]pipeline.Message{{Role: "system", Content: got[0].Content}}, msgs[1:2]...), tools, RenderOptions{})
	assert.Equal(t, got[0].Content, again[0].Content)
	assert.Equal(t, "Fix the bug.", again[1].Content)
	bare := RenderText(msgs[1:2], tools, RenderOptions{})
	require.Len(t, bare, 2)
	assert.Equal(t, Describe(tools), bare[0].Content)

	// Other format rules end the block in place of FormatRules.
	own := RenderText(msgs[:2], tools, RenderOptions{FormatRules: "Call one function, like this."})
	assert.True(t, strings.HasSuffix(own[0].Content, "---- END FUNCTION #4 ----\n\nCall one function, like this.\n"), "%q", own[0].Content)
	assert.NotContains(t, own[0].Content, FormatRules)
}

// TestPythonRendering pins the forms OpenHands' text protocol gives non-string values when it
// writes a call of the history back (Python's str() of what json.loads returns).
func TestPythonRendering(t *testing.T) {
	t.Parallel()
	for raw, want := range map[string]string{
		`[1,20]`:                         `[1, 20]`,
		`[-1]`:                           `[-1]`,
		`[]`:                             `[]`,
		`3`:                              `3`,
		`-0`:                             `0`,
		`123456789012345678901234567890`: `123456789012345678901234567890`,
		`1.5`:                            `1.5`,
		`2.0`:                            `2.0`,
		`1e5`:                            `100000.0`,
		`1e16`:                           `1e+16`,
		`0.00001`:                        `1e-05`,
		`0.0001`:                         `0.0001`,
		`true`:                           `True`,
		`null`:                           `None`,
		`["a","it's",["x"]]`:             `['a', "it's", ['x']]`,
		`{"k":"v\n","n":1}`:              `{'k': 'v\n', 'n': 1}`,
		`["\u00e9\u00a0\u0001"]`:         `['é\xa0\x01']`,
		`"plain\ntext"`:                  "plain\ntext",
	} {
		assert.Equal(t, want, pyText(json.RawMessage(raw)), raw)
	}
}
