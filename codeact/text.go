package codeact

import (
	"errors"
	"fmt"
	"strings"

	"swemill/pipeline"
)

// Stop is the stop sequence of text-protocol requests: generation ends as soon as the model
// closes its call (the server leaves the stop sequence out of the reply).
const Stop = "</function"

// ResultPrefix starts the user message that carries a tool's result in the text protocol;
// the tool's name follows in brackets.
const ResultPrefix = "EXECUTION RESULT of ["

// FunctionsMarker starts each tool's entry in the tool block; a system message that already
// contains it is not given the block again.
const FunctionsMarker = "---- BEGIN FUNCTION #"

// FormatRules tells the model how to call a function in the text protocol.
const FormatRules = `To call a function, reply with exactly this format and nothing after it:

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

// Describe renders the tool block that the text protocol appends to the system prompt,
// ending with FormatRules; "" when there are no tools.
func Describe(tools []Tool) string { return describe(tools, FormatRules) }

func describe(tools []Tool, rules string) string {
	if len(tools) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString("You have access to the following functions:\n")
	for i, t := range tools {
		fmt.Fprintf(&b, "\n%s%d: %s ----\n", FunctionsMarker, i+1, t.Name)
		fmt.Fprintf(&b, "Description: %s\n", t.Description)
		b.WriteString("Parameters:\n")
		for j, p := range t.Params {
			typ := p.Type
			if typ == "" {
				typ = "any"
			}
			need := "optional"
			if p.Required {
				need = "required"
			}
			fmt.Fprintf(&b, "  (%d) %s (%s, %s): %s\n", j+1, p.Name, typ, need, p.Description)
			if len(p.Enum) > 0 {
				vals := make([]string, len(p.Enum))
				for k, e := range p.Enum {
					vals[k] = "`" + e + "`"
				}
				fmt.Fprintf(&b, "Allowed values: [%s]\n", strings.Join(vals, ", "))
			}
		}
		fmt.Fprintf(&b, "---- END FUNCTION #%d ----\n", i+1)
	}
	b.WriteString("\n" + rules + "\n")
	return b.String()
}

// RenderCall writes one call in the text protocol as OpenHands 0.32 re-renders a call of the
// history. The arguments keep their JSON key order; each value is written as Python's str()
// of it (strings as they are, [1, 20], True, None); a string that spans lines is put on
// lines of its own. Arguments that are not a JSON object
// are written as they are, so a malformed call stays visible.
func RenderCall(c pipeline.FunctionCall) string {
	var b strings.Builder
	b.WriteString("<function=" + c.Name + ">\n")
	args, err := orderedObject([]byte(c.Arguments))
	if err != nil && strings.TrimSpace(c.Arguments) != "" {
		b.WriteString(c.Arguments + "\n")
	}
	for _, kv := range args {
		v := pyText(kv.value)
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

// RenderOptions shape RenderText.
type RenderOptions struct {
	// WrapTask, when set, rewrites the first user message (the task): the rollout stage puts
	// its in-context example around it, as OpenHands does for models not trained on the
	// protocol. SFT data usually goes without it.
	WrapTask func(task string) string
	// FormatRules, when set, replaces FormatRules at the end of the tool block.
	FormatRules string
}

// RenderText renders canonical messages in the text protocol: the tool block is appended
// to the system prompt (or becomes one), each assistant tool call is written after the
// message's text (one call per message: several calls become several assistant messages,
// each followed by its result), and each tool result becomes a user message
// "EXECUTION RESULT of [NAME]:". Every message of the result has only Role and Content.
func RenderText(msgs []pipeline.Message, tools []Tool, o RenderOptions) []pipeline.Message {
	rules := FormatRules
	if o.FormatRules != "" {
		rules = o.FormatRules
	}
	block := describe(tools, rules)
	out := make([]pipeline.Message, 0, len(msgs)+1)
	if block != "" && (len(msgs) == 0 || msgs[0].Role != "system") {
		out = append(out, pipeline.Message{Role: "system", Content: block})
	}
	names := map[string]string{} // tool call id -> function name
	var pending []pipeline.ToolCall
	firstUser := true
	for i, m := range msgs {
		switch {
		case m.Role == "system" && i == 0:
			c := m.Content
			if block != "" && !strings.Contains(c, FunctionsMarker) {
				c = strings.TrimRight(c, "\n") + "\n\n" + block
			}
			out = append(out, pipeline.Message{Role: "system", Content: c})
		case m.Role == "assistant" && len(m.ToolCalls) > 0:
			for _, c := range m.ToolCalls {
				names[c.ID] = c.Function.Name
			}
			content := strings.TrimLeft(m.Content+"\n\n"+RenderCall(m.ToolCalls[0].Function), "\n\t ")
			out = append(out, pipeline.Message{Role: "assistant", Content: content})
			pending = m.ToolCalls[1:]
		case m.Role == "tool":
			name := m.Name
			if name == "" {
				name = names[m.ToolCallID]
			}
			out = append(out, pipeline.Message{Role: "user", Content: ResultPrefix + name + "]:\n" + m.Content})
			if len(pending) > 0 {
				out = append(out, pipeline.Message{Role: "assistant", Content: RenderCall(pending[0].Function)})
				pending = pending[1:]
			}
		case m.Role == "user" && firstUser:
			firstUser = false
			c := m.Content
			if o.WrapTask != nil {
				c = o.WrapTask(c)
			}
			out = append(out, pipeline.Message{Role: "user", Content: c})
		default:
			out = append(out, pipeline.Message{Role: m.Role, Content: m.Content})
		}
	}
	return out
}

// ErrNoCall says that a text-protocol reply holds no function call.
var ErrNoCall = errors.New("the reply calls no function")

// ParseText reads the function call of a text-protocol reply. It returns the text before
// the call (the model's reasoning), the call with canonical JSON arguments (see
// NormalizeArgs) and nil; or ErrNoCall when the reply calls nothing; or a *CallError when
// the call is malformed, names an unknown function or has bad parameters. A reply cut at
// the stop sequence (no closing </function>) is complete; one cut inside a parameter is not.
// Only the first call counts; text after it is ignored.
func ParseText(reply string, tools []Tool) (thought string, call pipeline.FunctionCall, err error) {
	start := strings.Index(reply, "<function=")
	if start < 0 {
		if strings.Contains(reply, "<parameter=") {
			return strings.TrimSpace(reply), call, callErrorf("The reply has parameters but no <function=NAME> line before them.")
		}
		return strings.TrimSpace(reply), call, ErrNoCall
	}
	thought = strings.TrimSpace(reply[:start])
	rest := reply[start+len("<function="):]
	end := strings.Index(rest, ">")
	if end < 0 {
		return thought, call, callErrorf("The function name is not closed: write <function=NAME>.")
	}
	name := rest[:end]
	if name == "" || strings.ContainsAny(name, " \t\r\n<") {
		return thought, call, callErrorf("%q is not a function name: write <function=NAME>.", clip(name, 40))
	}
	body := rest[end+1:]
	if i := strings.Index(body, "</function>"); i >= 0 {
		body = body[:i]
	} else if i := strings.Index(body, "<function="); i >= 0 {
		// A second call began before the first was closed.
		body = body[:i]
	}
	t := Lookup(tools, name)
	if t == nil {
		return thought, call, unknownFunction(tools, name)
	}
	var vals []argValue
	for {
		i := strings.Index(body, "<parameter=")
		if i < 0 {
			break
		}
		body = body[i+len("<parameter="):]
		j := strings.Index(body, ">")
		if j < 0 {
			return thought, call, callErrorf("A parameter name is not closed: write <parameter=NAME>.")
		}
		pname := body[:j]
		if pname == "" || strings.ContainsAny(pname, " \t\r\n<") {
			return thought, call, callErrorf("%q is not a parameter name: write <parameter=NAME>.", clip(pname, 40))
		}
		body = body[j+1:]
		k := strings.Index(body, "</parameter>")
		if k < 0 {
			return thought, call, callErrorf("Parameter %q of %s is not closed with </parameter>.", pname, name)
		}
		v := body[:k]
		body = body[k+len("</parameter>"):]
		// OpenHands strips every value (Python's str.strip()): leading indentation of a
		// one-line old_str goes too.
		v = pyStrip(strings.ToValidUTF8(v, "\uFFFD"))
		vals = append(vals, argValue{name: pname, text: v})
	}
	args, err := buildArgs(t, vals)
	if err != nil {
		return thought, call, err
	}
	return thought, pipeline.FunctionCall{Name: name, Arguments: args}, nil
}
