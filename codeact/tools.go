// Package codeact defines the tool set of OpenHands' CodeAct agent (v0.32, as its SWE-bench
// harness configures it: execute_bash, think, finish, str_replace_editor) and its text
// function-calling protocol: the tool block appended to the system prompt, calls written as
// <function=NAME><parameter=K>V</parameter></function>, and tool results sent back as user
// messages "EXECUTION RESULT of [NAME]:". Names, parameters and conventions are OpenHands';
// the tools' descriptions and the prompts are not here but the rollout stage's templates
// (swemill's own wording unless a team supplies its own).
//
// The rollout stage uses it to speak to a model; the export stage can use it to render
// stored trajectories (canonical OpenAI messages) as text-protocol SFT data, so both sides
// produce the same bytes.
package codeact

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Tool names, as OpenHands spells them.
const (
	Bash   = "execute_bash"
	Think  = "think"
	Finish = "finish"
	Editor = "str_replace_editor"
)

// Editor commands.
const (
	EditorView       = "view"
	EditorCreate     = "create"
	EditorStrReplace = "str_replace"
	EditorInsert     = "insert"
	EditorUndo       = "undo_edit"
)

// Param is one parameter of a tool.
type Param struct {
	Name string
	// Type is the JSON-schema type: "string", "integer" or "array" (of Items).
	Type        string
	Items       string
	Description string
	// Enum lists the allowed values of a string parameter; empty means any.
	Enum     []string
	Required bool
}

// Tool is a function the agent can call.
type Tool struct {
	Name        string
	Description string
	Params      []Param
}

// Param returns the parameter called name, or nil.
func (t *Tool) Param(name string) *Param {
	for i := range t.Params {
		if t.Params[i].Name == name {
			return &t.Params[i]
		}
	}
	return nil
}

// Tools returns the four tools in OpenHands' order (execute_bash, think, finish,
// str_replace_editor) with their parameters: names, types, allowed values and which are
// required. Descriptions are left empty: they are prose, which the caller gives (the rollout
// stage renders them from its prompt templates).
func Tools() []Tool {
	return []Tool{
		{
			Name: Bash,
			Params: []Param{
				{Name: "command", Type: "string", Required: true},
				{Name: "is_input", Type: "string", Enum: []string{"true", "false"}},
			},
		},
		{
			Name:   Think,
			Params: []Param{{Name: "thought", Type: "string", Required: true}},
		},
		{
			Name: Finish,
			Params: []Param{
				{Name: "message", Type: "string", Required: true},
				{Name: "task_completed", Type: "string", Required: true, Enum: []string{"true", "false", "partial"}},
			},
		},
		{
			Name: Editor,
			Params: []Param{
				{Name: "command", Type: "string", Required: true, Enum: []string{EditorView, EditorCreate, EditorStrReplace, EditorInsert, EditorUndo}},
				{Name: "path", Type: "string", Required: true},
				{Name: "file_text", Type: "string"},
				{Name: "old_str", Type: "string"},
				{Name: "new_str", Type: "string"},
				{Name: "insert_line", Type: "integer"},
				{Name: "view_range", Type: "array", Items: "integer"},
			},
		},
	}
}

// Schema returns the tool's parameters as a JSON schema object, keys in declaration order.
func (t *Tool) Schema() json.RawMessage {
	var b bytes.Buffer
	b.WriteString(`{"type":"object","properties":{`)
	var required []string
	for i, p := range t.Params {
		if i > 0 {
			b.WriteByte(',')
		}
		writeJSON(&b, p.Name)
		b.WriteString(`:{"type":`)
		writeJSON(&b, p.Type)
		if p.Items != "" {
			b.WriteString(`,"items":{"type":`)
			writeJSON(&b, p.Items)
			b.WriteByte('}')
		}
		b.WriteString(`,"description":`)
		writeJSON(&b, p.Description)
		if len(p.Enum) > 0 {
			b.WriteString(`,"enum":`)
			writeJSON(&b, p.Enum)
		}
		b.WriteByte('}')
		if p.Required {
			required = append(required, p.Name)
		}
	}
	b.WriteString(`},"required":`)
	if required == nil {
		required = []string{}
	}
	writeJSON(&b, required)
	b.WriteByte('}')
	return b.Bytes()
}

// ToolsJSON returns the tools in OpenAI form, a JSON array of
// {"type":"function","function":{"name","description","parameters"}}.
func ToolsJSON(tools []Tool) json.RawMessage {
	var b bytes.Buffer
	b.WriteByte('[')
	for i := range tools {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`{"type":"function","function":{"name":`)
		writeJSON(&b, tools[i].Name)
		b.WriteString(`,"description":`)
		writeJSON(&b, tools[i].Description)
		b.WriteString(`,"parameters":`)
		b.Write(tools[i].Schema())
		b.WriteString(`}}`)
	}
	b.WriteByte(']')
	return b.Bytes()
}

func writeJSON(b *bytes.Buffer, v any) {
	enc := json.NewEncoder(b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
	b.Truncate(b.Len() - 1) // Encode's newline
}

// ParseToolsJSON reads a tool list in OpenAI form (or bare {"name","description",
// "parameters"} objects), keeping the parameters' order.
func ParseToolsJSON(data []byte) ([]Tool, error) {
	var raw []struct {
		Function *struct {
			Name        string          `json:"name"`
			Description string          `json:"description"`
			Parameters  json.RawMessage `json:"parameters"`
		} `json:"function"`
		Name        string          `json:"name"`
		Description string          `json:"description"`
		Parameters  json.RawMessage `json:"parameters"`
	}
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("reading tools: %w", err)
	}
	tools := make([]Tool, 0, len(raw))
	for _, r := range raw {
		t := Tool{Name: r.Name, Description: r.Description}
		params := r.Parameters
		if r.Function != nil {
			t.Name, t.Description, params = r.Function.Name, r.Function.Description, r.Function.Parameters
		}
		ps, err := parseSchema(params)
		if err != nil {
			return nil, fmt.Errorf("reading the parameters of tool %s: %w", t.Name, err)
		}
		t.Params = ps
		tools = append(tools, t)
	}
	return tools, nil
}

func parseSchema(raw json.RawMessage) ([]Param, error) {
	if len(bytes.TrimSpace(raw)) == 0 {
		return nil, nil
	}
	var schema struct {
		Properties json.RawMessage `json:"properties"`
		Required   []string        `json:"required"`
	}
	if err := json.Unmarshal(raw, &schema); err != nil {
		return nil, err
	}
	if len(bytes.TrimSpace(schema.Properties)) == 0 {
		return nil, nil
	}
	props, err := orderedObject(schema.Properties)
	if err != nil {
		return nil, err
	}
	required := map[string]bool{}
	for _, r := range schema.Required {
		required[r] = true
	}
	var out []Param
	for _, kv := range props {
		var ps struct {
			Type  string            `json:"type"`
			Desc  string            `json:"description"`
			Enum  []json.RawMessage `json:"enum"`
			Items struct {
				Type string `json:"type"`
			} `json:"items"`
		}
		if err := json.Unmarshal(kv.value, &ps); err != nil {
			return nil, fmt.Errorf("parameter %s: %w", kv.key, err)
		}
		p := Param{Name: kv.key, Type: ps.Type, Items: ps.Items.Type, Description: ps.Desc, Required: required[kv.key]}
		for _, e := range ps.Enum {
			p.Enum = append(p.Enum, valueText(e))
		}
		out = append(out, p)
	}
	return out, nil
}

type keyValue struct {
	key   string
	value json.RawMessage
}

// orderedObject parses a JSON object keeping its key order.
func orderedObject(data []byte) ([]keyValue, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
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
	if _, err := dec.Token(); err == nil {
		return nil, errors.New("data after the JSON object")
	}
	return out, nil
}

// valueText is a JSON value as a parameter's text: a string's contents, or the compact JSON
// of anything else.
func valueText(raw json.RawMessage) string {
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

// CallError says why a call cannot be run: an unknown function, a missing, unknown or
// invalid parameter, or text that is not a call. Its message is written for the model.
type CallError struct {
	Msg string
}

func (e *CallError) Error() string { return e.Msg }

func callErrorf(format string, args ...any) *CallError {
	return &CallError{Msg: fmt.Sprintf(format, args...)}
}

// Lookup returns the tool called name, or nil.
func Lookup(tools []Tool, name string) *Tool {
	for i := range tools {
		if tools[i].Name == name {
			return &tools[i]
		}
	}
	return nil
}

// NormalizeArgs checks a native call's JSON arguments against the tool's parameters and
// returns them as canonical JSON (the call's key order; integers as numbers, arrays as
// arrays; an integer or array given as a string is converted, as the text protocol does).
// A *CallError says what is wrong.
func NormalizeArgs(tools []Tool, name, arguments string) (string, error) {
	t := Lookup(tools, name)
	if t == nil {
		return "", unknownFunction(tools, name)
	}
	args := strings.TrimSpace(arguments)
	if args == "" {
		args = "{}"
	}
	kvs, err := orderedObject([]byte(args))
	if err != nil {
		return "", callErrorf("The arguments of %s are not a JSON object: %v.", name, err)
	}
	vals := make([]argValue, 0, len(kvs))
	for _, kv := range kvs {
		vals = append(vals, argValue{name: kv.key, raw: kv.value})
	}
	return buildArgs(t, vals)
}

// argValue is one parameter as received: raw JSON (native) or text (text protocol).
type argValue struct {
	name string
	raw  json.RawMessage // set for native calls
	text string          // set for text calls
}

func unknownFunction(tools []Tool, name string) *CallError {
	names := make([]string, len(tools))
	for i, t := range tools {
		names[i] = t.Name
	}
	return callErrorf("There is no function called %q. The functions are: %s.", name, strings.Join(names, ", "))
}

// buildArgs validates values against t and writes them as a JSON object.
func buildArgs(t *Tool, vals []argValue) (string, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	seen := map[string]bool{}
	for i, v := range vals {
		p := t.Param(v.name)
		if p == nil {
			return "", callErrorf("Function %s has no parameter %q.", t.Name, v.name)
		}
		if seen[v.name] {
			return "", callErrorf("Parameter %q of %s is given twice.", v.name, t.Name)
		}
		seen[v.name] = true
		enc, err := encodeParam(t, p, v)
		if err != nil {
			return "", err
		}
		if i > 0 {
			b.WriteByte(',')
		}
		writeJSON(&b, v.name)
		b.WriteByte(':')
		b.WriteString(enc)
	}
	b.WriteByte('}')
	for _, p := range t.Params {
		if p.Required && !seen[p.Name] {
			return "", callErrorf("Missing required parameter %q of function %s.", p.Name, t.Name)
		}
	}
	return b.String(), nil
}

func encodeParam(t *Tool, p *Param, v argValue) (string, error) {
	text, isString := v.text, v.raw == nil
	if v.raw != nil {
		var s string
		if err := json.Unmarshal(v.raw, &s); err == nil {
			text, isString = s, true
		}
	}
	switch p.Type {
	case "integer":
		if !isString {
			var n json.Number
			if err := json.Unmarshal(v.raw, &n); err == nil {
				if i, err := strconv.ParseInt(n.String(), 10, 64); err == nil {
					return strconv.FormatInt(i, 10), nil
				}
			}
			return "", callErrorf("Parameter %q of %s must be an integer.", p.Name, t.Name)
		}
		i, err := strconv.ParseInt(strings.TrimSpace(text), 10, 64)
		if err != nil {
			return "", callErrorf("Parameter %q of %s must be an integer, not %q.", p.Name, t.Name, clip(text, 40))
		}
		return strconv.FormatInt(i, 10), nil
	case "array":
		raw := v.raw
		if isString {
			raw = json.RawMessage(strings.TrimSpace(text))
		}
		var items []json.RawMessage
		if err := json.Unmarshal(raw, &items); err != nil {
			return "", callErrorf("Parameter %q of %s must be a JSON array, e.g. [1, 20].", p.Name, t.Name)
		}
		if p.Items == "integer" {
			var ints []int64
			if err := json.Unmarshal(raw, &ints); err != nil {
				return "", callErrorf("Parameter %q of %s must be an array of integers, e.g. [1, 20].", p.Name, t.Name)
			}
			b, _ := json.Marshal(ints)
			return string(b), nil
		}
		var c bytes.Buffer
		_ = json.Compact(&c, raw)
		return c.String(), nil
	default:
		if !isString {
			// A number or boolean where a string is wanted: keep its JSON text.
			text = valueText(v.raw)
		}
		if len(p.Enum) > 0 {
			tv := strings.TrimSpace(text)
			ok := false
			for _, e := range p.Enum {
				if e == tv {
					ok = true
				}
			}
			if !ok {
				return "", callErrorf("Parameter %q of %s must be one of [%s], not %q.", p.Name, t.Name,
					strings.Join(p.Enum, ", "), clip(text, 40))
			}
			text = tv
		}
		var b bytes.Buffer
		writeJSON(&b, text)
		return b.String(), nil
	}
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
