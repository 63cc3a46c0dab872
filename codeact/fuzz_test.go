package codeact

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"swemill/pipeline"
)

// FuzzParseText feeds model output to the parser: it never panics, it either finds no
// call, reports a *CallError, or returns a call of a known tool whose arguments are a JSON
// object that renders back to text parsing to the same call.
func FuzzParseText(f *testing.F) {
	for _, s := range []string{
		"<function=execute_bash>\n<parameter=command>ls</parameter>\n",
		"think first\n<function=think>\n<parameter=thought>\na\nb\n</parameter>\n</function>",
		"<function=str_replace_editor>\n<parameter=command>view</parameter>\n<parameter=path>/x</parameter>\n<parameter=view_range>[1,-1]</parameter>\n",
		"<function=str_replace_editor>\n<parameter=command>insert</parameter>\n<parameter=path>/x</parameter>\n<parameter=insert_line>0</parameter>\n<parameter=new_str>\n\n</parameter>\n",
		"<function=finish>\n<parameter=message>m</parameter>\n<parameter=task_completed>partial</parameter>\n</function><function=think>",
		"<function=>\n", "<function=x", "<parameter=a>", "<function=finish><parameter=message>",
		"no call at all", "",
	} {
		f.Add(s)
	}
	tools := Tools()
	f.Fuzz(func(t *testing.T, reply string) {
		_, call, err := ParseText(reply, tools)
		if err != nil {
			var ce *CallError
			if !errors.Is(err, ErrNoCall) && !errors.As(err, &ce) {
				t.Fatalf("unexpected error type %T: %v", err, err)
			}
			return
		}
		if Lookup(tools, call.Name) == nil {
			t.Fatalf("unknown tool %q accepted", call.Name)
		}
		var obj map[string]any
		if err := json.Unmarshal([]byte(call.Arguments), &obj); err != nil {
			t.Fatalf("arguments %q are not a JSON object: %v", call.Arguments, err)
		}
		if strings.Contains(call.Arguments, "</parameter>") || strings.Contains(call.Arguments, "<parameter=") ||
			strings.Contains(call.Arguments, "</function>") {
			return // such values cannot be written in the protocol at all
		}
		_, again, err := ParseText(RenderCall(call), tools)
		if err != nil {
			t.Fatalf("rendered call %q does not parse: %v", RenderCall(call), err)
		}
		if again != call {
			t.Fatalf("round trip changed the call:\n%#v\n%#v", call, again)
		}
		// Native arguments normalise to themselves.
		norm, err := NormalizeArgs(tools, call.Name, call.Arguments)
		if err != nil || norm != call.Arguments {
			t.Fatalf("NormalizeArgs(%q) = %q, %v", call.Arguments, norm, err)
		}
	})
}

func FuzzNormalizeArgs(f *testing.F) {
	f.Add(Editor, `{"command":"view","path":"/a","view_range":[1,2]}`)
	f.Add(Bash, `{"command":"ls","is_input":"false"}`)
	f.Add(Finish, `{"message":1,"task_completed":"true"}`)
	tools := Tools()
	f.Fuzz(func(t *testing.T, name, args string) {
		out, err := NormalizeArgs(tools, name, args)
		if err != nil {
			var ce *CallError
			if !errors.As(err, &ce) {
				t.Fatalf("unexpected error type %T: %v", err, err)
			}
			return
		}
		if !json.Valid([]byte(out)) {
			t.Fatalf("invalid JSON %q", out)
		}
		again, err := NormalizeArgs(tools, name, out)
		if err != nil || again != out {
			t.Fatalf("not idempotent: %q -> %q (%v)", out, again, err)
		}
		_ = pipeline.FunctionCall{Name: name, Arguments: out}
	})
}
