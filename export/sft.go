package export

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"swemill/pipeline"
)

// textMessage is one message of the text-protocol rendering.
type textMessage struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// functionsMarker starts the tool block of a text-protocol system prompt; a system message
// that already has it (a rollout made with the text protocol stores the prompt it sent) is
// kept as it is.
const functionsMarker = "---- BEGIN FUNCTION #"

// formatRules tells the model how to call a function in the text protocol. The wording is
// swemill's; the syntax is OpenHands' mock function calling (v0.32).
const formatRules = `To call a function, reply with exactly this format and nothing after it:

<function=function_name>
<parameter=parameter_name>value</parameter>
<parameter=other_parameter>
a value that
spans several lines
</parameter>
</function>

Rules:
- A call starts with <function= and ends with </function>.
- Give every required parameter.
- Call one function per message.
- Any reasoning goes before the call, never after it.
- When no function fits, answer in plain text without mentioning functions.`

// renderText renders t in the OpenHands text function-calling protocol: the tools are
// described at the end of the system prompt, each assistant tool call is written as
// <function=NAME><parameter=K>V</parameter></function> after the message's text (one call
// per message: several calls become several assistant messages, each followed by its
// result), and each tool result becomes a user message "EXECUTION RESULT of [NAME]:".
// The in-context example OpenHands can prepend to the first user message is not added
// (as in SWE-Gym's SFT data).
func renderText(t *pipeline.Trajectory, tools string) ([]textMessage, error) {
	block, err := describeTools(tools)
	if err != nil {
		return nil, err
	}
	out := make([]textMessage, 0, len(t.Messages)+1)
	if block != "" && (len(t.Messages) == 0 || t.Messages[0].Role != "system") {
		out = append(out, textMessage{Role: "system", Content: block})
	}
	names := map[string]string{} // tool call id -> function name
	var pending []pipeline.ToolCall
	for i, m := range t.Messages {
		switch {
		case m.Role == "system" && i == 0:
			c := m.Content
			if block != "" && !strings.Contains(c, functionsMarker) {
				c = strings.TrimRight(c, "\n") + "\n\n" + block
			}
			out = append(out, textMessage{Role: "system", Content: c})
		case m.Role == "assistant" && len(m.ToolCalls) > 0:
			for _, c := range m.ToolCalls {
				names[c.ID] = c.Function.Name
			}
			content := strings.TrimLeft(m.Content+"\n\n"+renderCall(m.ToolCalls[0]), "\n\t ")
			out = append(out, textMessage{Role: "assistant", Content: content})
			pending = m.ToolCalls[1:]
		case m.Role == "tool":
			name := m.Name
			if name == "" {
				name = names[m.ToolCallID]
			}
			out = append(out, textMessage{Role: "user", Content: "EXECUTION RESULT of [" + name + "]:\n" + m.Content})
			if len(pending) > 0 {
				out = append(out, textMessage{Role: "assistant", Content: renderCall(pending[0])})
				pending = pending[1:]
			}
		default:
			out = append(out, textMessage{Role: m.Role, Content: m.Content})
		}
	}
	return out, nil
}

// renderCall writes one call; arguments keep their JSON key order. Arguments that are not
// a JSON object are written as they are, so a malformed call stays visible.
func renderCall(c pipeline.ToolCall) string {
	var b strings.Builder
	b.WriteString("<function=" + c.Function.Name + ">\n")
	args, err := orderedObject([]byte(c.Function.Arguments))
	if err != nil {
		if strings.TrimSpace(c.Function.Arguments) != "" {
			b.WriteString(c.Function.Arguments + "\n")
		}
	}
	for _, kv := range args {
		v := jsonValueText(kv.value)
		b.WriteString("<parameter=" + kv.key + ">")
		if strings.Contains(v, "\n") {
			b.WriteString("\n" + v + "\n")
		} else {
			b.WriteString(v)
		}
		b.WriteString("</parameter>\n")
	}
	b.WriteString("</function>")
	return b.String()
}

// jsonValueText is a parameter value as text: a string's contents, or the compact JSON of
// anything else.
func jsonValueText(raw json.RawMessage) string {
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return s
	}
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		return string(raw)
	}
	return b.String()
}

type keyValue struct {
	key   string
	value json.RawMessage
}

// orderedObject parses a JSON object keeping its key order.
func orderedObject(data []byte) ([]keyValue, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, errors.New("not a JSON object")
	}
	var out []keyValue
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		key, ok := tok.(string)
		if !ok {
			return nil, errors.New("object key is not a string")
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, err
		}
		out = append(out, keyValue{key, v})
	}
	if _, err := dec.Token(); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("data after the JSON object")
	}
	return out, nil
}

// toolSpec is one tool of the trajectory's tools column, in OpenAI form
// ({"type":"function","function":{...}}) or bare ({"name",...}).
type toolSpec struct {
	Type     string          `json:"type"`
	Function *toolFunction   `json:"function"`
	Name     string          `json:"name"`
	Desc     string          `json:"description"`
	Params   json.RawMessage `json:"parameters"`
}

type toolFunction struct {
	Name   string          `json:"name"`
	Desc   string          `json:"description"`
	Params json.RawMessage `json:"parameters"`
}

type paramSpec struct {
	Type string            `json:"type"`
	Desc string            `json:"description"`
	Enum []json.RawMessage `json:"enum"`
}

// describeTools renders the tool block appended to the system prompt; "" when there are no
// tools.
func describeTools(tools string) (string, error) {
	if tools == "" {
		return "", nil
	}
	var specs []toolSpec
	if err := json.Unmarshal([]byte(tools), &specs); err != nil {
		return "", fmt.Errorf("reading tools: %w", err)
	}
	if len(specs) == 0 {
		return "", nil
	}
	var b strings.Builder
	b.WriteString("You have access to the following functions:\n")
	for i, s := range specs {
		name, desc, params := s.Name, s.Desc, s.Params
		if s.Function != nil {
			name, desc, params = s.Function.Name, s.Function.Desc, s.Function.Params
		}
		fmt.Fprintf(&b, "\n%s%d: %s ----\n", functionsMarker, i+1, name)
		fmt.Fprintf(&b, "Description: %s\n", desc)
		b.WriteString("Parameters:\n")
		if err := describeParams(&b, params); err != nil {
			return "", fmt.Errorf("reading the parameters of tool %s: %w", name, err)
		}
		fmt.Fprintf(&b, "---- END FUNCTION #%d ----\n", i+1)
	}
	b.WriteString("\n" + formatRules + "\n")
	return b.String(), nil
}

func describeParams(b *strings.Builder, raw json.RawMessage) error {
	if len(bytes.TrimSpace(raw)) == 0 {
		return nil
	}
	var schema struct {
		Properties json.RawMessage `json:"properties"`
		Required   []string        `json:"required"`
	}
	if err := json.Unmarshal(raw, &schema); err != nil {
		return err
	}
	if len(schema.Properties) == 0 {
		return nil
	}
	props, err := orderedObject(schema.Properties)
	if err != nil {
		return err
	}
	required := map[string]bool{}
	for _, r := range schema.Required {
		required[r] = true
	}
	for j, p := range props {
		var ps paramSpec
		if err := json.Unmarshal(p.value, &ps); err != nil {
			return fmt.Errorf("parameter %s: %w", p.key, err)
		}
		typ := ps.Type
		if typ == "" {
			typ = "any"
		}
		need := "optional"
		if required[p.key] {
			need = "required"
		}
		fmt.Fprintf(b, "  (%d) %s (%s, %s): %s\n", j+1, p.key, typ, need, ps.Desc)
		if len(ps.Enum) > 0 {
			vals := make([]string, len(ps.Enum))
			for k, e := range ps.Enum {
				vals[k] = "`" + jsonValueText(e) + "`"
			}
			fmt.Fprintf(b, "Allowed values: [%s]\n", strings.Join(vals, ", "))
		}
	}
	return nil
}
