package export

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"swemill/codeact"
	"swemill/pipeline"
)

// The SFT configs ("sft" and "sft_native") hold the trajectories as training data, with what
// the model must not learn taken out:
//
//   - A message marked FormatError (the agent's answer to a reply it could not parse or
//     validate; the reply itself is not stored) is removed: the trajectory is cleaned.
//   - A trajectory that still holds a malformed turn is left out of both configs: an
//     assistant tool call whose arguments do not fit the tool's parameters
//     (codeact.NormalizeArgs), or names no tool of the trajectory (for a trajectory stored
//     without tools: whose arguments are not a JSON object); or, in a text-protocol
//     trajectory (recorded before format errors were marked), an assistant message that
//     calls nothing but whose text holds "<function=" or "<parameter=".
//
// The trajectories config is not affected: it keeps every message the model saw.

// sftTrajectory is a trajectory prepared for the SFT configs.
type sftTrajectory struct {
	t *pipeline.Trajectory
	// messages are t's messages without the FormatError ones; removed counts those.
	messages []pipeline.Message
	removed  int
	// tools are t's tools, parsed; rawTools their compact JSON ("" for none).
	tools    []codeact.Tool
	rawTools string
	// malformed says which turn keeps the trajectory out of the SFT configs; "" for none.
	malformed string
}

// prepareSFT removes t's FormatError messages and looks for a malformed turn in the rest.
// tools is t's tool list as compact JSON ("" for none); an error means it is not a list of
// tools.
func prepareSFT(t *pipeline.Trajectory, tools string) (*sftTrajectory, error) {
	st := &sftTrajectory{t: t, rawTools: tools, messages: make([]pipeline.Message, 0, len(t.Messages))}
	if tools != "" {
		var err error
		if st.tools, err = codeact.ParseToolsJSON([]byte(tools)); err != nil {
			return nil, err
		}
	}
	text := t.PromptFormat != formatNative
	for i := range t.Messages {
		m := &t.Messages[i]
		if m.FormatError {
			st.removed++
			continue
		}
		st.messages = append(st.messages, *m)
		if st.malformed != "" || m.Role != "assistant" {
			continue
		}
		for _, c := range m.ToolCalls {
			if _, err := st.arguments(c.Function); err != nil {
				st.malformed = fmt.Sprintf("messages[%d]: the %s call: %v", i, c.Function.Name, err)
				break
			}
		}
		if text && len(m.ToolCalls) == 0 && (strings.Contains(m.Content, "<function=") || strings.Contains(m.Content, "<parameter=")) {
			st.malformed = fmt.Sprintf("messages[%d]: a function call in the text of a message that calls nothing", i)
		}
	}
	return st, nil
}

// formatNative is the PromptFormat of trajectories rolled out with native tool calls.
const formatNative = "native"

// arguments returns a call's arguments as a compact JSON object: normalized against the
// trajectory's tools (codeact.NormalizeArgs), or, for a trajectory stored without tools (no
// list, or an empty one), as they are if they are a JSON object.
func (st *sftTrajectory) arguments(f pipeline.FunctionCall) (string, error) {
	if len(st.tools) > 0 {
		return codeact.NormalizeArgs(st.tools, f.Name, f.Arguments)
	}
	args := strings.TrimSpace(f.Arguments)
	if args == "" {
		return "{}", nil
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal([]byte(args), &obj); err != nil {
		return "", fmt.Errorf("the arguments are not a JSON object: %w", err)
	}
	var b bytes.Buffer
	if err := json.Compact(&b, []byte(args)); err != nil {
		return "", err
	}
	return b.String(), nil
}

// textMessage is one message of the text-protocol rendering.
type textMessage struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// renderText renders msgs in the OpenHands text function-calling protocol, exactly as the
// rollout stage speaks it (codeact.RenderText): the tools described at the end of the system
// prompt, one <function=NAME>...</function> call per assistant message, tool results as
// "EXECUTION RESULT of [NAME]:" user messages. A system message that already holds the tool
// block (the rollout stores text-protocol trajectories that way, with the format rules the
// model read) is kept as it is; otherwise the block is appended with codeact's format rules.
// The in-context example OpenHands can prepend to the first user message is not added (as in
// SWE-Gym's SFT data).
func renderText(msgs []pipeline.Message, tools []codeact.Tool) []textMessage {
	rendered := codeact.RenderText(msgs, tools, codeact.RenderOptions{})
	out := make([]textMessage, len(rendered))
	for i, m := range rendered {
		out[i] = textMessage{Role: m.Role, Content: m.Content}
	}
	return out
}

// toolBlockIntro starts the tool block codeact appends to a text-protocol system message.
const toolBlockIntro = "You have access to the following functions:\n"

// withoutToolBlock returns a system message's text without the text protocol's tool block
// (the tools' descriptions and the <function=...> format rules), which codeact appends at
// its end; a text without the block is returned as it is.
func withoutToolBlock(s string) string {
	marker := strings.Index(s, codeact.FunctionsMarker)
	if marker < 0 {
		return s
	}
	start := strings.LastIndex(s[:marker], toolBlockIntro)
	if start < 0 {
		return s
	}
	return strings.TrimRight(s[:start], "\n")
}

// renderNative renders st in OpenAI chat form for Hugging Face chat templates: messages is a
// JSON array of {"role","content"[,"tool_calls"][,"tool_call_id","name"]} objects, where each
// tool call is {"id","type":"function","function":{"name","arguments"}} and arguments is a
// JSON object (templates write it with tojson); tools is a JSON array of
// {"type":"function","function":{"name","description","parameters"}}, the form
// apply_chat_template(tools=...) takes, "[]" for none. Keys are written in that order,
// arguments and parameters in their stored order, so the same trajectory gives the same
// bytes. A text-protocol trajectory's system message loses its tool block: the chat
// template describes the tools. Every call must have passed prepareSFT's check.
func renderNative(st *sftTrajectory) (messages, tools string, err error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	str := func(s string) {
		_ = enc.Encode(s) // a string always encodes
		b.Truncate(b.Len() - 1)
	}
	names := map[string]string{} // tool call id -> function name
	text := st.t.PromptFormat != formatNative
	b.WriteByte('[')
	for i := range st.messages {
		m := &st.messages[i]
		if i > 0 {
			b.WriteByte(',')
		}
		content := m.Content
		if i == 0 && m.Role == "system" && text {
			content = withoutToolBlock(content)
		}
		b.WriteString(`{"role":`)
		str(m.Role)
		b.WriteString(`,"content":`)
		str(content)
		if m.Role == "assistant" && len(m.ToolCalls) > 0 {
			b.WriteString(`,"tool_calls":[`)
			for j, c := range m.ToolCalls {
				args, err := st.arguments(c.Function)
				if err != nil {
					return "", "", fmt.Errorf("the %s call %s: %w", c.Function.Name, c.ID, err)
				}
				names[c.ID] = c.Function.Name
				if j > 0 {
					b.WriteByte(',')
				}
				b.WriteString(`{"id":`)
				str(c.ID)
				b.WriteString(`,"type":"function","function":{"name":`)
				str(c.Function.Name)
				b.WriteString(`,"arguments":`)
				b.WriteString(args)
				b.WriteString(`}}`)
			}
			b.WriteByte(']')
		}
		if m.Role == "tool" {
			if m.ToolCallID != "" {
				b.WriteString(`,"tool_call_id":`)
				str(m.ToolCallID)
			}
			name := m.Name
			if name == "" {
				name = names[m.ToolCallID]
			}
			if name != "" {
				b.WriteString(`,"name":`)
				str(name)
			}
		}
		b.WriteByte('}')
	}
	b.WriteByte(']')
	messages = b.String()
	if tools, err = nativeTools(st.rawTools); err != nil {
		return "", "", err
	}
	return messages, tools, nil
}

// nativeTools rewrites a stored tool list (OpenAI form, or bare {"name","description",
// "parameters"} objects) as {"type":"function","function":{"name","description",
// "parameters"}} objects, parameters as stored (compacted); "" gives "[]".
func nativeTools(raw string) (string, error) {
	if raw == "" {
		return "[]", nil
	}
	type function struct {
		Name        string          `json:"name"`
		Description string          `json:"description"`
		Parameters  json.RawMessage `json:"parameters"`
	}
	var list []struct {
		Function *function `json:"function"`
		function
	}
	if err := json.Unmarshal([]byte(raw), &list); err != nil {
		return "", fmt.Errorf("reading tools: %w", err)
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	str := func(s string) {
		_ = enc.Encode(s)
		b.Truncate(b.Len() - 1)
	}
	b.WriteByte('[')
	for i, t := range list {
		f := t.function
		if t.Function != nil {
			f = *t.Function
		}
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`{"type":"function","function":{"name":`)
		str(f.Name)
		b.WriteString(`,"description":`)
		str(f.Description)
		b.WriteString(`,"parameters":`)
		if p := bytes.TrimSpace(f.Parameters); len(p) == 0 || bytes.Equal(p, []byte("null")) {
			b.WriteString(`{"type":"object","properties":{}}`)
		} else if err := json.Compact(&b, p); err != nil {
			return "", fmt.Errorf("reading the parameters of tool %s: %w", f.Name, err)
		}
		b.WriteString(`}}`)
	}
	b.WriteByte(']')
	return b.String(), nil
}
