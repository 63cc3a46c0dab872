package rollout

import (
	"strings"

	"mvdan.cc/sh/v3/syntax"
)

// splitCommands splits an execute_bash command into the commands OpenHands 0.32 would see
// in it, refusing the call when there are several: the top-level statements of the bash
// text, where statements that start on the line another ends (joined by ;, & or &&) count
// as one. Text that does not parse as bash is one command, as OpenHands takes text its
// parser rejects whole. Comments are not commands.
func splitCommands(command string) []string {
	if strings.TrimSpace(command) == "" {
		return []string{command}
	}
	f, err := syntax.NewParser(syntax.Variant(syntax.LangBash)).Parse(strings.NewReader(command), "")
	if err != nil || len(f.Stmts) < 2 {
		return []string{command}
	}
	var out []string
	start, end := f.Stmts[0].Pos(), f.Stmts[0].End()
	for _, st := range f.Stmts[1:] {
		if st.Pos().Line() > end.Line() {
			out = append(out, strings.TrimRight(command[start.Offset():end.Offset()], " \t\n"))
			start = st.Pos()
		}
		end = st.End()
	}
	out = append(out, strings.TrimRight(command[start.Offset():end.Offset()], " \t\n"))
	return out
}
