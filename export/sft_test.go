package export

import (
	"cmp"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"swemill/codeact"
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
	tools := parsedTools(t)
	got := renderText(tj.Messages, tools)
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
	again := renderText(tj.Messages, tools)
	assert.Equal(t, sys.Content, again[0].Content)
	bare := renderText(tj.Messages, nil)
	assert.Equal(t, sys.Content, bare[0].Content)

	// Without a system message the block becomes one.
	only := renderText(tj.Messages[1:2], tools)
	require.Len(t, only, 2)
	assert.Equal(t, "system", only[0].Role)
	assert.True(t, strings.HasPrefix(only[0].Content, "You have access to the following functions:"))
}

// TestSFTKeepsStoredToolBlock: the rollout stores a text-protocol system message with the
// tool block and the format rules the model read (a team's own rules, here); sft keeps that
// message byte for byte, and sft_native gives the prompt without the block.
func TestSFTKeepsStoredToolBlock(t *testing.T) {
	t.Parallel()
	tools := parsedTools(t)
	const prompt = "You are an agent.\nWork in /testbed.\n"
	const rules = "Reply with one call, then stop."
	stored := codeact.RenderText([]pipeline.Message{{Role: "system", Content: prompt}}, tools,
		codeact.RenderOptions{FormatRules: rules})[0].Content
	require.Contains(t, stored, codeact.FunctionsMarker)
	require.Contains(t, stored, rules)

	for _, format := range []string{"text", ""} {
		tj := &pipeline.Trajectory{PromptFormat: format, Messages: []pipeline.Message{
			{Role: "system", Content: stored},
			{Role: "user", Content: "Fix the bug."},
		}}
		st, err := prepareSFT(tj, compactTools(t))
		require.NoError(t, err)
		text := renderText(st.messages, st.tools)
		assert.Equal(t, stored, text[0].Content, "the stored block is not appended again")
		assert.Equal(t, 1, strings.Count(text[0].Content, codeact.FunctionsMarker+"1:"))
		assert.NotContains(t, text[0].Content, codeact.FormatRules)

		msgs, _, err := renderNative(st)
		require.NoError(t, err)
		var native []map[string]any
		require.NoError(t, json.Unmarshal([]byte(msgs), &native))
		assert.Equal(t, "You are an agent.\nWork in /testbed.", native[0]["content"], "format %q", format)
	}

	// A native trajectory's system message is kept as it is, whatever it says.
	tj := &pipeline.Trajectory{PromptFormat: "native", Messages: []pipeline.Message{{Role: "system", Content: stored}}}
	st, err := prepareSFT(tj, compactTools(t))
	require.NoError(t, err)
	msgs, _, err := renderNative(st)
	require.NoError(t, err)
	var native []map[string]any
	require.NoError(t, json.Unmarshal([]byte(msgs), &native))
	assert.Equal(t, stored, native[0]["content"])
}

func TestPrepareSFT(t *testing.T) {
	t.Parallel()
	call := func(id, name, args string) []pipeline.ToolCall {
		return []pipeline.ToolCall{{ID: id, Type: "function", Function: pipeline.FunctionCall{Name: name, Arguments: args}}}
	}
	start := []pipeline.Message{{Role: "system", Content: "You are an agent."}, {Role: "user", Content: "Fix the bug."}}
	for _, tc := range []struct {
		name      string
		format    string
		tools     string // "-" for the fixture's tools
		msgs      []pipeline.Message
		removed   int
		kept      int
		malformed string // a part of the reason; "" for a clean trajectory
	}{
		{name: "format errors removed", format: "text", tools: "-", msgs: []pipeline.Message{
			{Role: "user", Content: "Your reply could not be parsed.", FormatError: true},
			{Role: "assistant", Content: "Looking.", ToolCalls: call("c1", "execute_bash", `{"command":"ls"}`)},
			{Role: "tool", ToolCallID: "c1", Content: "a.py"},
			{Role: "user", Content: "Missing required parameter.", FormatError: true},
			{Role: "assistant", Content: "Let me think about it."},
		}, removed: 2, kept: 5},
		{name: "unknown function", format: "native", tools: "-", msgs: []pipeline.Message{
			{Role: "assistant", ToolCalls: call("c1", "run_python", `{"code":"1"}`)},
		}, kept: 3, malformed: "messages[2]: the run_python call: There is no function"},
		{name: "missing required parameter", format: "native", tools: "-", msgs: []pipeline.Message{
			{Role: "assistant", ToolCalls: call("c1", "execute_bash", `{"command":"ls"}`)},
			{Role: "tool", ToolCallID: "c1", Content: "a.py"},
			{Role: "assistant", ToolCalls: call("c2", "str_replace_editor", `{"command":"view"}`)},
		}, kept: 5, malformed: "messages[4]: the str_replace_editor call: Missing required parameter \"path\""},
		{name: "arguments not an object", format: "native", tools: "-", msgs: []pipeline.Message{
			{Role: "assistant", ToolCalls: call("c1", "execute_bash", `"ls"`)},
		}, kept: 3, malformed: "not a JSON object"},
		{name: "legacy text call in plain text", format: "text", tools: "-", msgs: []pipeline.Message{
			{Role: "assistant", Content: "<function=execute_bash>\n<parameter=command>ls"},
			{Role: "user", Content: "Parameter \"command\" of execute_bash is not closed with </parameter>."},
		}, kept: 4, malformed: "messages[2]: a function call in the text"},
		{name: "legacy parameter without a function", format: "text", tools: "-", msgs: []pipeline.Message{
			{Role: "assistant", Content: "<parameter=command>ls</parameter>"},
		}, kept: 3, malformed: "messages[2]"},
		{name: "native text is not a call", format: "native", tools: "-", msgs: []pipeline.Message{
			{Role: "assistant", Content: "Write <function=NAME> to call."},
		}, kept: 3},
		{name: "no tools: object arguments pass", format: "native", tools: "", msgs: []pipeline.Message{
			{Role: "assistant", ToolCalls: call("c1", "anything", `{"x":[1, 2]}`)},
		}, kept: 3},
		{name: "empty tool list: object arguments pass", format: "native", tools: "[]", msgs: []pipeline.Message{
			{Role: "assistant", ToolCalls: call("c1", "finish", `{"message":"done"}`)},
		}, kept: 3},
		{name: "no tools: other arguments do not", format: "native", tools: "", msgs: []pipeline.Message{
			{Role: "assistant", ToolCalls: call("c1", "anything", `[1]`)},
		}, kept: 3, malformed: "not a JSON object"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tools := tc.tools
			if tools == "-" {
				tools = compactTools(t)
			}
			tj := &pipeline.Trajectory{PromptFormat: tc.format, Messages: append(slices.Clone(start), tc.msgs...)}
			st, err := prepareSFT(tj, tools)
			require.NoError(t, err)
			assert.Equal(t, tc.removed, st.removed)
			require.Len(t, st.messages, tc.kept)
			for _, m := range st.messages {
				assert.False(t, m.FormatError)
			}
			if tc.malformed == "" {
				assert.Empty(t, st.malformed)
			} else {
				assert.Contains(t, st.malformed, tc.malformed)
			}
			assert.Len(t, tj.Messages, len(start)+len(tc.msgs), "the source's messages are not modified")
		})
	}

	_, err := prepareSFT(&pipeline.Trajectory{}, `{"not":"a list"}`)
	require.Error(t, err)
}

// TestRenderNative pins the sft_native JSON of a small trajectory: key order, arguments as
// JSON objects (normalized: an integer array given as text becomes an array), tool result
// names taken from the call when the message has none.
func TestRenderNative(t *testing.T) {
	t.Parallel()
	tj := &pipeline.Trajectory{PromptFormat: "native", Messages: []pipeline.Message{
		{Role: "system", Content: "You are an agent."},
		{Role: "user", Content: "Fix <b> & \"c\"."},
		{Role: "assistant", Content: "", ToolCalls: []pipeline.ToolCall{
			{ID: "c1", Type: "function", Function: pipeline.FunctionCall{Name: "execute_bash", Arguments: `{"command":"ls\ncat a.py","is_input":"false"}`}},
			{ID: "c2", Type: "function", Function: pipeline.FunctionCall{Name: "str_replace_editor", Arguments: `{"path":"/a.py", "command":"view", "view_range":"[1, 5]"}`}},
		}},
		{Role: "tool", ToolCallID: "c1", Name: "execute_bash", Content: "a.py"},
		{Role: "tool", ToolCallID: "c2", Content: "1 print()"},
		{Role: "assistant", Content: "Done."},
	}}
	st, err := prepareSFT(tj, compactTools(t))
	require.NoError(t, err)
	require.Empty(t, st.malformed)
	msgs, tools, err := renderNative(st)
	require.NoError(t, err)
	assert.Equal(t, `[{"role":"system","content":"You are an agent."},`+
		`{"role":"user","content":"Fix <b> & \"c\"."},`+
		`{"role":"assistant","content":"","tool_calls":[`+
		`{"id":"c1","type":"function","function":{"name":"execute_bash","arguments":{"command":"ls\ncat a.py","is_input":"false"}}},`+
		`{"id":"c2","type":"function","function":{"name":"str_replace_editor","arguments":{"path":"/a.py","command":"view","view_range":[1,5]}}}]},`+
		`{"role":"tool","content":"a.py","tool_call_id":"c1","name":"execute_bash"},`+
		`{"role":"tool","content":"1 print()","tool_call_id":"c2","name":"str_replace_editor"},`+
		`{"role":"assistant","content":"Done."}]`, msgs)

	// The stored tools are in OpenAI form already: the same list, compact.
	assert.JSONEq(t, toolsJSON, tools)
	assert.Equal(t, compactTools(t), tools)

	// Bare tool objects are wrapped; missing parameters become an empty object schema.
	bare, err := nativeTools(`[{"name":"think","description":"Think.","parameters":{"type":"object","properties":{"thought":{"type":"string"}},"required":["thought"]}},{"name":"noop"}]`)
	require.NoError(t, err)
	assert.Equal(t, `[{"type":"function","function":{"name":"think","description":"Think.","parameters":{"type":"object","properties":{"thought":{"type":"string"}},"required":["thought"]}}},`+
		`{"type":"function","function":{"name":"noop","description":"","parameters":{"type":"object","properties":{}}}}]`, bare)
	none, err := nativeTools("")
	require.NoError(t, err)
	assert.Equal(t, "[]", none)
}

func parsedTools(t *testing.T) []codeact.Tool {
	tools, err := codeact.ParseToolsJSON([]byte(compactTools(t)))
	require.NoError(t, err)
	return tools
}

func compactTools(t *testing.T) string {
	r, err := newTrajectoryRow(&pipeline.Trajectory{Tools: []byte(toolsJSON)})
	require.NoError(t, err)
	return r.tools
}

// sftFixture is the fixture with what the SFT configs must handle: a text-protocol
// trajectory with two format-error messages (cleaned), a legacy text-protocol trajectory
// with a call written in a message that calls nothing (left out), a native trajectory with a
// call that does not fit its tool and a format-error message (left out, not counted as
// cleaned), a valid native trajectory, and a text-protocol trajectory whose system message
// holds the tool block as the rollout stores it.
type sftFixture struct {
	src                                      *fakeSource
	cleaned, legacy, badNative, native, text *pipeline.Trajectory
	prompt, storedSystem                     string
}

func newSFTFixture(t *testing.T) *sftFixture {
	src := fixture()
	f := &sftFixture{src: src}
	fe := func(s string) pipeline.Message { return pipeline.Message{Role: "user", Content: s, FormatError: true} }

	f.cleaned = &src.rollouts[1].Trajectory
	m := f.cleaned.Messages
	require.Equal(t, "assistant", m[2].Role)
	require.Equal(t, "tool", m[3].Role)
	f.cleaned.Messages = slices.Concat(m[:2], []pipeline.Message{fe("FORMAT-ERROR-1")}, m[2:4], []pipeline.Message{fe("FORMAT-ERROR-2")}, m[4:])

	f.legacy = &src.rollouts[5].Trajectory
	m = f.legacy.Messages
	f.legacy.Messages = slices.Concat(m[:4], []pipeline.Message{
		{Role: "assistant", Content: "Next.\n<function=execute_bash>\n<parameter=command>ls -la"},
		{Role: "user", Content: "Parameter \"command\" of execute_bash is not closed with </parameter>."},
	}, m[4:])

	f.badNative = &src.rollouts[8].Trajectory
	f.badNative.PromptFormat = "native"
	m = f.badNative.Messages
	last := len(m) - 1
	require.Equal(t, "finish", m[last].ToolCalls[0].Function.Name)
	m[last].ToolCalls = []pipeline.ToolCall{{ID: "toolu_99", Type: "function", Function: pipeline.FunctionCall{Name: "finish", Arguments: `{"msg":"done"}`}}}
	f.badNative.Messages = slices.Concat(m[:2], []pipeline.Message{fe("FORMAT-ERROR-3")}, m[2:])

	f.native = &src.rollouts[12].Trajectory
	f.native.PromptFormat = "native"

	f.text = &src.rollouts[10].Trajectory
	f.prompt = "You are a helpful coding agent.\nWork in /testbed."
	tools, err := codeact.ParseToolsJSON([]byte(toolsJSON))
	require.NoError(t, err)
	f.storedSystem = codeact.RenderText([]pipeline.Message{{Role: "system", Content: f.prompt + "\n"}}, tools,
		codeact.RenderOptions{FormatRules: "Reply with one call, then stop."})[0].Content
	f.text.Messages[0].Content = f.storedSystem
	return f
}

// expectNative is a trajectory's sft_native messages as JSON values, built from the
// records: format-error messages left out, arguments the canonical call's, as JSON objects.
func expectNative(t *testing.T, tj *pipeline.Trajectory, prompt string) []any {
	var out []any
	names := map[string]string{}
	for i, m := range tj.Messages {
		if m.FormatError {
			continue
		}
		content := m.Content
		if i == 0 && prompt != "" {
			content = prompt
		}
		msg := map[string]any{"role": m.Role, "content": content}
		if len(m.ToolCalls) > 0 {
			var calls []any
			for _, c := range m.ToolCalls {
				var args any
				require.NoError(t, json.Unmarshal([]byte(c.Function.Arguments), &args))
				calls = append(calls, map[string]any{"id": c.ID, "type": "function",
					"function": map[string]any{"name": c.Function.Name, "arguments": args}})
				names[c.ID] = c.Function.Name
			}
			msg["tool_calls"] = calls
		}
		if m.Role == "tool" {
			msg["tool_call_id"] = m.ToolCallID
			msg["name"] = cmp.Or(m.Name, names[m.ToolCallID])
		}
		out = append(out, msg)
	}
	return out
}

func TestExportSFT(t *testing.T) {
	t.Parallel()
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	f := newSFTFixture(t)
	src := f.src
	cfg := smallConfig(t, mem)
	rep := runExport(t, src, cfg)
	db := openDuck(t)

	n := len(src.rollouts)
	assert.EqualValues(t, n, rep.Trajectories, "the trajectories config keeps every trajectory")
	assert.EqualValues(t, n-2, rep.SFT)
	assert.EqualValues(t, n-2, rep.SFTNative)
	assert.EqualValues(t, 1, rep.SFTCleaned)
	assert.EqualValues(t, 2, rep.SFTMessagesRemoved, "the excluded trajectory's format-error message is not counted")
	assert.EqualValues(t, 2, rep.SFTExcluded)
	assert.Zero(t, rep.ProblemCount)
	checkLayout(t, db, cfg, rep)

	// sft_native: one row per kept trajectory, in order, equal to the records.
	byID := map[string]*pipeline.Trajectory{}
	for i := range src.rollouts {
		byID[src.rollouts[i].Trajectory.TrajectoryID] = &src.rollouts[i].Trajectory
	}
	man := readManifest(t, cfg.Dir)
	entries := map[string]int{}
	for i, e := range man.Trajectories {
		entries[e.TrajectoryID] = i
	}
	var ids []string
	for shard, file := range parquetFiles(t, cfg.Dir, ConfigSFTNative) {
		for row, r := range readParquet(t, db, file) {
			id := r["trajectory_id"].(string)
			ids = append(ids, id)
			tj := byID[id]
			require.NotNil(t, tj, id)
			assert.Equal(t, tj.InstanceID, r["instance_id"])
			e := man.Trajectories[entries[id]]
			require.NotNil(t, e.SFTNativeShard, id)
			assert.Equal(t, rowLoc{shard, int64(row)}, rowLoc{*e.SFTNativeShard, *e.SFTNativeRow}, id)

			var msgs []any
			require.NoError(t, json.Unmarshal([]byte(r["messages"].(string)), &msgs), id)
			prompt := ""
			if tj == f.text {
				prompt = f.prompt
			}
			assert.Equal(t, expectNative(t, tj, prompt), msgs, id)
			for _, m := range msgs {
				for _, c := range asSlice(m.(map[string]any)["tool_calls"]) {
					args := c.(map[string]any)["function"].(map[string]any)["arguments"]
					assert.IsType(t, map[string]any{}, args, "arguments are a JSON object, not a string")
				}
			}

			var tools, want any
			require.NoError(t, json.Unmarshal([]byte(r["tools"].(string)), &tools))
			if tj.Tools == nil {
				assert.Equal(t, []any{}, tools)
			} else {
				require.NoError(t, json.Unmarshal(tj.Tools, &want))
				assert.Equal(t, want, tools)
			}
		}
	}
	require.Len(t, ids, n-2)
	assert.NotContains(t, ids, f.legacy.TrajectoryID)
	assert.NotContains(t, ids, f.badNative.TrajectoryID)
	assert.Contains(t, ids, f.native.TrajectoryID)

	// sft: the same trajectories; the cleaned one without its format-error messages, the
	// stored tool block kept as it is.
	var sft []map[string]any
	for shard, file := range parquetFiles(t, cfg.Dir, ConfigSFT) {
		for row, r := range readParquet(t, db, file) {
			e := man.Trajectories[entries[r["trajectory_id"].(string)]]
			require.NotNil(t, e.SFTShard)
			assert.Equal(t, rowLoc{shard, int64(row)}, rowLoc{*e.SFTShard, *e.SFTRow}, r["trajectory_id"])
			sft = append(sft, r)
		}
	}
	require.Len(t, sft, n-2)
	var sftIDs []string
	for _, r := range sft {
		id := r["trajectory_id"].(string)
		sftIDs = append(sftIDs, id)
		msgs := r["messages"].([]any)
		for _, m := range msgs {
			assert.NotContains(t, m.(map[string]any)["content"], "FORMAT-ERROR", id)
		}
		if id == f.text.TrajectoryID {
			assert.Equal(t, f.storedSystem, msgs[0].(map[string]any)["content"])
		}
	}
	assert.ElementsMatch(t, ids, sftIDs)

	// trajectories: unchanged, format-error messages included.
	got := queryMaps(t, db, fmt.Sprintf("SELECT len(messages) AS n, list_contains(list_transform(messages, m -> m.content), 'FORMAT-ERROR-2') AS fe FROM read_parquet(%s) WHERE trajectory_id = ?",
		sqlString(filepath.Join(cfg.Dir, "data", ConfigTrajectories, "*.parquet"))), f.cleaned.TrajectoryID)
	require.Len(t, got, 1)
	assert.EqualValues(t, len(f.cleaned.Messages), got[0]["n"])
	assert.Equal(t, true, got[0]["fe"])

	// The manifest says why a trajectory is missing and what was removed.
	for _, c := range []struct {
		tj      *pipeline.Trajectory
		removed int
		reason  string
	}{
		{f.cleaned, 2, ""},
		{f.legacy, 0, "messages[4]: a function call in the text of a message that calls nothing"},
		{f.badNative, 0, "the finish call: Function finish has no parameter \"msg\""},
		{f.native, 0, ""},
	} {
		e := man.Trajectories[entries[c.tj.TrajectoryID]]
		assert.Equal(t, c.removed, e.SFTMessagesRemoved, c.tj.TrajectoryID)
		if c.reason == "" {
			assert.Empty(t, e.SFTExcluded)
			assert.NotNil(t, e.SFTShard)
			continue
		}
		assert.Contains(t, e.SFTExcluded, c.reason)
		assert.Nil(t, e.SFTShard)
		assert.Nil(t, e.SFTNativeShard)
	}

	// The card gives the counts and says how to read sft_native.
	card, err := os.ReadFile(filepath.Join(cfg.Dir, CardName))
	require.NoError(t, err)
	for _, want := range []string{
		fmt.Sprintf("| `sft` rows | %d |\n", n-2),
		fmt.Sprintf("| `sft_native` rows | %d |\n", n-2),
		"| trajectories cleaned | 1 |\n",
		"| messages removed from them | 2 |\n",
		"| trajectories left out for a malformed turn | 2 |\n",
		fmt.Sprintf("| `sft_native` | train | %d |", n-2),
		`tokenizer.apply_chat_template(json.loads(row["messages"]), tools=json.loads(row["tools"])`,
	} {
		assert.Contains(t, string(card), want)
	}

	// The same records give the same bytes.
	again := smallConfig(t, mem)
	runExport(t, newSFTFixture(t).src, again)
	assert.Equal(t, hashTree(t, cfg.Dir), hashTree(t, again.Dir))
}

func asSlice(v any) []any {
	s, _ := v.([]any)
	return s
}

// TestExportSFTBadTools: a tool list that is JSON but not a list of tools keeps the
// trajectory out of both SFT configs, reported per config, and in the trajectories config.
func TestExportSFTBadTools(t *testing.T) {
	t.Parallel()
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	src := fixture()
	bad := &src.rollouts[2].Trajectory
	bad.Tools = json.RawMessage(`{"not":"a list"}`)
	cfg := smallConfig(t, mem)
	rep := runExport(t, src, cfg)
	assert.EqualValues(t, len(src.rollouts), rep.Trajectories)
	assert.EqualValues(t, len(src.rollouts)-1, rep.SFT)
	assert.EqualValues(t, len(src.rollouts)-1, rep.SFTNative)
	require.EqualValues(t, 2, rep.ProblemCount)
	for i, c := range []string{ConfigSFT, ConfigSFTNative} {
		p := rep.Problems[i]
		assert.Equal(t, Problem{Config: c, InstanceID: bad.InstanceID, TrajectoryID: bad.TrajectoryID,
			Kind: ProblemInvalidJSON, Action: ActionLeftOut, Detail: p.Detail}, p)
	}
}

// TestExportSFTRowLocations: a row too large for one SFT config only (control characters
// grow sixfold as JSON escapes) is left out of that config alone, and the manifest still
// locates every row of both.
func TestExportSFTRowLocations(t *testing.T) {
	t.Parallel()
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	src := fixture()
	big := &src.rollouts[4].Trajectory
	require.Equal(t, "tool", big.Messages[3].Role)
	big.Messages[3].Content = strings.Repeat("\x01", 20<<10)
	cfg := smallConfig(t, mem)
	rep := runExport(t, src, cfg)
	n := len(src.rollouts)
	assert.EqualValues(t, n, rep.SFT)
	assert.EqualValues(t, n-1, rep.SFTNative)
	require.EqualValues(t, 1, rep.ProblemCount)
	p := rep.Problems[0]
	assert.Equal(t, Problem{Config: ConfigSFTNative, InstanceID: big.InstanceID, TrajectoryID: big.TrajectoryID,
		Kind: ProblemOversizedRow, Action: ActionLeftOut, Detail: p.Detail}, p)

	db := openDuck(t)
	man := readManifest(t, cfg.Dir)
	entries := map[string]int{}
	for i, e := range man.Trajectories {
		entries[e.TrajectoryID] = i
	}
	for _, c := range []string{ConfigSFT, ConfigSFTNative} {
		rows := 0
		for shard, file := range parquetFiles(t, cfg.Dir, c) {
			for row, r := range readParquet(t, db, file) {
				rows++
				e := man.Trajectories[entries[r["trajectory_id"].(string)]]
				s, i := e.SFTShard, e.SFTRow
				if c == ConfigSFTNative {
					s, i = e.SFTNativeShard, e.SFTNativeRow
				}
				require.NotNil(t, s, "%s %s", c, r["trajectory_id"])
				assert.Equal(t, rowLoc{shard, int64(row)}, rowLoc{*s, *i}, "%s %s", c, r["trajectory_id"])
			}
		}
		assert.Equal(t, map[string]int{ConfigSFT: n, ConfigSFTNative: n - 1}[c], rows)
	}
	assert.Nil(t, man.Trajectories[entries[big.TrajectoryID]].SFTNativeShard)
	checkLayout(t, db, cfg, rep)
}

// TestScaffoldClaims: the card states what each scaffold label matches, and nothing for a
// label it does not know.
func TestScaffoldClaims(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	writeScaffolds(&b, map[string]int64{"openhands-codeact-v0.32-forms": 3, "my-agent": 1})
	out := b.String()
	assert.Contains(t, out, "Scaffold `openhands-codeact-v0.32-forms` (3 trajectories): OpenHands 0.32's CodeAct agent in its tools")
	assert.Contains(t, out, "not OpenHands'")
	assert.Contains(t, out, "Scaffold `my-agent` (1 trajectories): no claim about other agents is made for it.")
}
