package main

import (
	"fmt"
	"io"
	"strings"

	"swemill/runstore"
)

// printSecurity writes the security drops of a status (pipeline.IsSecurityReason), one line
// each with the count and where, or nothing when there are none: they stand apart from the
// drop reasons because each is a possible attack to look at, not a task that did not work.
func printSecurity(w io.Writer, st runstore.Status) {
	drops := st.SecurityDrops()
	if len(drops) == 0 {
		return
	}
	fmt.Fprintln(w, "\nsecurity drops (patches refused by the patch gate; see swemill ls --reason):")
	for _, d := range drops {
		parts := make([]string, len(d.Stages))
		for i, s := range d.Stages {
			parts[i] = fmt.Sprintf("%s %d", s.Stage, s.Count)
		}
		fmt.Fprintf(w, "  SECURITY  %-28s %d (%s)\n", d.Reason, d.Count, strings.Join(parts, ", "))
	}
}
