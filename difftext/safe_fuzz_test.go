package difftext

import (
	"path"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// FuzzCheckPatch feeds arbitrary text to the gate: it must never panic, it refuses only
// with an *UnsafePatchError, and whatever it accepts must be safe by an independent
// reading: every name on a header line (read with Go's own unquoting, whole and word by
// word) stays in the tree and out of .git, every mode is a regular file's, and nothing
// before the first section looks like a diff. Text Parse refuses is read loosely: then
// every line counts as a header line.
func FuzzCheckPatch(f *testing.F) {
	for _, tc := range unsafePatches {
		f.Add(tc.patch)
	}
	f.Add(handDiff)
	f.Add("diff --git a/.gitignore b/.gitignore\n--- a/.gitignore\n+++ b/.gitignore\n@@ -1 +1 @@\n-a\n+b\n")
	f.Add("diff --git a/x b/y\nsimilarity index 90%\nrename from x\nrename to y\n")
	f.Add("--- a/x.py\t2024-01-01\n+++ b/x.py\t2024-01-01\n@@ -1 +1 @@\n-a\n+b\n")
	f.Add("diff --git a/x b/x\n--- a/x\n+++ b/x\n@@ -1,5 +1,2 @@\n-a\n+b\n--- a/y\n+++ b/y\n@@ -1 +1 @@\n-a\n+b\n")
	f.Fuzz(func(t *testing.T, text string) {
		err := CheckPatch(text)
		if err != nil {
			if _, ok := err.(*UnsafePatchError); !ok {
				t.Fatalf("unexpected error type %T: %v", err, err)
			}
			return
		}
		if strings.TrimSpace(text) == "" {
			return
		}
		d, perr := Parse(text)
		if perr != nil {
			// Read loosely: every line, indentation removed, must be a safe header if it is
			// one at all, and none may be another kind of diff.
			for _, l := range strings.Split(text, "\n") {
				l = strings.TrimLeft(strings.TrimSuffix(l, "\r"), " \tX")
				checkHeaderLine(t, l, true)
			}
			return
		}
		for _, l := range splitLines(d.Preamble) {
			s := strings.TrimLeft(l, " \tX")
			for _, p := range []string{"--- ", "+++ ", "*** ", "@@ -", "Index:"} {
				if strings.HasPrefix(s, p) {
					t.Fatalf("accepted a preamble line %q", l)
				}
			}
		}
		for i := range d.Files {
			for _, p := range d.Files[i].Paths() {
				if !independentSafe(p) {
					t.Fatalf("accepted the path %q", p)
				}
			}
			for _, l := range headerLines(d.Files[i].Text) {
				checkHeaderLine(t, l, false)
			}
		}
	})
}

// checkHeaderLine fails t if l is a header line with an unsafe name or mode (or, loose, a
// line patch(1) reads as another kind of diff).
func checkHeaderLine(t *testing.T, l string, loose bool) {
	t.Helper()
	if loose && (strings.HasPrefix(l, "*** ") || strings.HasPrefix(l, "Index:")) {
		t.Fatalf("accepted the line %q", l)
	}
	if m := modeLineRe.FindStringSubmatch(l); m != nil && m[1]+m[2] != "100644" && m[1]+m[2] != "100755" {
		t.Fatalf("accepted the mode line %q", l)
	}
	m := nameLineRe.FindStringSubmatch(l)
	if m == nil {
		return
	}
	// A quoted name is read whole by every tool; an unquoted one may be cut at any white
	// space.
	v := m[1]
	whole, _, _ := strings.Cut(v, "\t")
	words := strings.Fields(v)
	if u, err := strconv.Unquote(v); err == nil && strings.HasPrefix(v, `"`) {
		whole, words = u, nil
	}
	devNull := strings.HasPrefix(l, "--- ") || strings.HasPrefix(l, "+++ ")
	for _, w := range append(words, whole) {
		w = strings.TrimPrefix(strings.TrimPrefix(w, "a/"), "b/")
		if !(devNull && w == "/dev/null") && w != "" && !independentSafe(w) {
			t.Fatalf("accepted the name %q on %q", w, l)
		}
	}
}

var (
	modeLineRe = regexp.MustCompile(`^(?:new file mode|deleted file mode|old mode|new mode) (.*)$|^index [0-9a-f]+\.\.[0-9a-f]+ (.*)$`)
	nameLineRe = regexp.MustCompile(`^(?:diff --git|---|\+\+\+|rename from|rename to|copy from|copy to) (.*)$`)
)

// headerLines returns a section's lines up to its first hunk or binary data, without their
// line ends.
func headerLines(section string) []string {
	var out []string
	for _, l := range strings.Split(section, "\n") {
		l = strings.TrimSuffix(l, "\r")
		if strings.HasPrefix(l, "@@") || l == "GIT binary patch" {
			break
		}
		out = append(out, l)
	}
	return out
}

// independentSafe is the gate's path rule written another way: cleaning the path must not
// climb out or start at the root, and no directory may be .git in any case.
func independentSafe(p string) bool {
	p = strings.TrimSpace(p)
	if path.IsAbs(p) {
		return false
	}
	c := path.Clean(p)
	if c == ".." || strings.HasPrefix(c, "../") || strings.Contains(p, "/../") || strings.HasSuffix(p, "/..") {
		return false
	}
	return !strings.Contains("/"+strings.ToLower(p)+"/", "/.git/")
}
