package export

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"swemill/pipeline"
)

func TestRenderText(t *testing.T) {
	t.Parallel()
	tj := &pipeline.Trajectory{Messages: []pipeline.Message{
		{Role: "system", Content: "You are an agent.\n"},
		{Role: "user", Content: "Fix the bug."},
		{Role: "assistant", Content: "Looking.", ToolCalls: []pipeline.ToolCall{
			{ID: "c1", Type: "function", Function: pipeline.FunctionCall{Name: "execute_bash", Arguments: `{"command":"ls\ncat a.py","is_input":"false"}`}},
			{ID: "c2", Type: "function", Function: pipeline.FunctionCall{Name: "str_replace_editor", Arguments: `{"path":"/a.py","command":"view","view_range":[1, 5]}`}},
		}},
		{Role: "tool", ToolCallID: "c1", Name: "execute_bash", Content: "a.py"},
		{Role: "tool", ToolCallID: "c2", Content: "1 print()"},
		{Role: "assistant", ToolCalls: []pipeline.ToolCall{{ID: "c3", Type: "function", Function: pipeline.FunctionCall{Name: "finish", Arguments: `not json`}}}},
	}}
	got, err := renderText(tj, compactTools(t))
	require.NoError(t, err)
	require.Len(t, got, 7)

	sys := got[0]
	assert.Equal(t, "system", sys.Role)
	assert.True(t, strings.HasPrefix(sys.Content, "You are an agent.\n\nYou have access to the following functions:\n"))
	assert.Contains(t, sys.Content, "---- BEGIN FUNCTION #1: execute_bash ----\nDescription: Run a bash command.\nParameters:\n"+
		"  (1) command (string, required): The command.\n"+
		"  (2) is_input (string, optional): Send input to the running process.\nAllowed values: [`true`, `false`]\n"+
		"---- END FUNCTION #1 ----\n")
	assert.Contains(t, sys.Content, "  (3) view_range (array, optional): Lines to show.\n")
	assert.Contains(t, sys.Content, "<function=function_name>")

	assert.Equal(t, textMessage{"user", "Fix the bug."}, got[1])
	assert.Equal(t, textMessage{"assistant", "Looking.\n\n<function=execute_bash>\n<parameter=command>\nls\ncat a.py\n</parameter>\n<parameter=is_input>false</parameter>\n</function>"}, got[2])
	assert.Equal(t, textMessage{"user", "EXECUTION RESULT of [execute_bash]:\na.py"}, got[3])
	// The second call of the same message follows the first call's result.
	assert.Equal(t, textMessage{"assistant", "<function=str_replace_editor>\n<parameter=path>/a.py</parameter>\n<parameter=command>view</parameter>\n<parameter=view_range>[1, 5]</parameter>\n</function>"}, got[4])
	assert.Equal(t, textMessage{"user", "EXECUTION RESULT of [str_replace_editor]:\n1 print()"}, got[5], "the name comes from the call when the tool message has none")
	assert.Equal(t, textMessage{"assistant", "<function=finish>\nnot json\n</function>"}, got[6], "malformed arguments stay visible")

	// A prompt that already describes the functions is kept; no tools, no block.
	tj.Messages[0].Content = sys.Content
	again, err := renderText(tj, compactTools(t))
	require.NoError(t, err)
	assert.Equal(t, sys.Content, again[0].Content)
	bare, err := renderText(tj, "")
	require.NoError(t, err)
	assert.Equal(t, sys.Content, bare[0].Content)

	// Without a system message the block becomes one.
	tj.Messages = tj.Messages[1:2]
	only, err := renderText(tj, compactTools(t))
	require.NoError(t, err)
	require.Len(t, only, 2)
	assert.Equal(t, "system", only[0].Role)
	assert.True(t, strings.HasPrefix(only[0].Content, "You have access to the following functions:"))

	_, err = renderText(tj, `{"not":"a list"}`)
	require.Error(t, err)
}

func compactTools(t *testing.T) string {
	r, err := newTrajectoryRow(&pipeline.Trajectory{Tools: []byte(toolsJSON)})
	require.NoError(t, err)
	return r.tools
}
