package difftext

import (
	"path"
	"regexp"
	"strings"
)

// rustHunkAtTopRe matches a hunk header whose new side starts at the file's first line.
var rustHunkAtTopRe = regexp.MustCompile(`^@@ -\d+(,\d+)? \+1(,\d+)? @@`)

// rustTestOnly reports whether a Rust file's section shows the file, after the change, to be
// compiled only for tests: its first item is the inner attribute #![cfg(test)] (comments
// and blank lines before it aside). That shows only when a hunk starts at the file's first
// line (an added file, or a change near its top); other sections say nothing.
func rustTestOnly(f *File) bool {
	if f.NewPath == "" || path.Ext(f.NewPath) != ".rs" || f.Binary {
		return false
	}
	top := false
	for _, line := range strings.Split(f.Text, "\n") {
		if !top {
			top = rustHunkAtTopRe.MatchString(line)
			continue
		}
		if strings.HasPrefix(line, "-") || strings.HasPrefix(line, `\`) {
			continue // the old side, "\ No newline at end of file"
		}
		if !strings.HasPrefix(line, "+") && !strings.HasPrefix(line, " ") {
			return false // the hunk ended (another hunk, or the section's end)
		}
		code := strings.TrimSpace(line[1:])
		switch {
		case code == "", strings.HasPrefix(code, "//"):
			continue
		case code == "#![cfg(test)]":
			return true
		default:
			return false
		}
	}
	return false
}
