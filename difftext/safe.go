package difftext

import (
	"context"
	"fmt"
	"regexp"
	"strings"

	"swemill/gitexec"
)

// Rule names a reason for which CheckPatch refuses a patch.
type Rule string

// The rules of CheckPatch and CheckPatchAt.
const (
	// RuleSymlink: the patch creates, modifies, deletes or renames a symbolic link (mode
	// 120000 in any mode line or index line), or, for CheckPatchAt, touches a path that is a
	// symbolic link at the commit or lies beneath one.
	RuleSymlink Rule = "symlink"
	// RuleOutside: a path is absolute or has a ".." component: it names a file outside the
	// repository's tree.
	RuleOutside Rule = "outside_tree"
	// RuleGitDir: a path has a ".git" component, compared as file systems that fold case or
	// ignore some characters compare it (".GIT", ".git.", "git~1"): it reaches the
	// repository's own data (hooks, config).
	RuleGitDir Rule = "git_dir"
	// RuleMode: a file mode other than 100644 and 100755 (a gitlink 160000, a directory, a
	// device, anything else), or, for CheckPatchAt, a path inside a submodule.
	RuleMode Rule = "file_mode"
	// RuleBadPath: a path git never writes, or that tools read differently: with a NUL
	// byte, an empty or "." component ("a//b", "./a", "a/"), or a component that starts or
	// ends with white space.
	RuleBadPath Rule = "bad_path"
	// RuleStray: text outside the file sections (before the first) that patch(1), which
	// applies what git refuses, would read as a diff: a context diff, an "Index:" line, an
	// ed script...
	RuleStray Rule = "stray_diff"
)

// Violation is one reason a patch is refused.
type Violation struct {
	Rule Rule
	// Path is the offending path as the patch names it, unquoted and without its a/ or b/
	// prefix; for a stray line, the line itself (cut short).
	Path string
	// Line is the line of the patch that says it, counted from 1 (0 for CheckPatchAt's
	// findings in the repository).
	Line int
	// Why says what is wrong, for people.
	Why string
}

func (v Violation) String() string {
	s := fmt.Sprintf("%s %q: %s", v.Rule, v.Path, v.Why)
	if v.Line > 0 {
		s += fmt.Sprintf(" (line %d)", v.Line)
	}
	return s
}

// UnsafePatchError says that CheckPatch or CheckPatchAt refused a patch: nothing may apply
// it. Violations lists every offending path and why, in the order of the patch.
type UnsafePatchError struct {
	Violations []Violation
}

// maxShown bounds the violations an error message lists.
const maxShown = 5

func (e *UnsafePatchError) Error() string {
	var b strings.Builder
	b.WriteString("unsafe patch: ")
	for i, v := range e.Violations {
		if i == maxShown {
			fmt.Fprintf(&b, "; and %d more", len(e.Violations)-maxShown)
			break
		}
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(v.String())
	}
	return b.String()
}

// Rules returns the distinct rules broken, in the order first broken.
func (e *UnsafePatchError) Rules() []Rule {
	var out []Rule
	for _, v := range e.Violations {
		found := false
		for _, r := range out {
			found = found || r == v.Rule
		}
		if !found {
			out = append(out, v.Rule)
		}
	}
	return out
}

// CheckPatch is the gate every patch passes before anything applies it (git apply, patch
// --fuzz, an editor). It returns nil for a patch that only creates, changes, renames and
// deletes regular files (modes 100644 and 100755) inside the tree and outside .git, and for
// an empty one. It refuses, with an *UnsafePatchError naming each offending path and rule, a
// patch that
//
//   - creates, modifies, deletes or renames a symbolic link: mode 120000 in a "new file
//     mode", "deleted file mode", "old mode", "new mode" or "index" line (RuleSymlink);
//   - has any other mode but 100644 and 100755: gitlinks, trees, devices (RuleMode);
//   - names an absolute path, or one with a ".." component, on its "diff --git", "---",
//     "+++", "rename from/to" or "copy from/to" lines, C-quoted or not, a/ and b/ prefixes
//     removed (RuleOutside);
//   - names a path with a ".git" component, compared without case and as NTFS and HFS+
//     compare names (RuleGitDir);
//   - names a path git never writes, or that tools read differently: a NUL byte, "//", a
//     "." component, a component that starts or ends with white space (RuleBadPath);
//   - holds, before its first file section, lines patch(1) would read as a diff
//     (RuleStray).
//
// Plain (non-git) unified diffs are held to the same rules through their "---"/"+++" names.
// Where a name could be read in several ways (an unquoted name with spaces, which git and
// patch(1) split differently), every reading must be safe, so a few odd but harmless names
// are refused too. A patch Parse refuses (hunk line counts that do not add up, which git
// apply --recount and patch(1) still apply; garbage between sections, which they skip) is
// read line by line instead, every line taken for a header if it could be one: no name or
// mode anywhere in it may break a rule, and no line, even indented, may be one patch(1)
// reads as another kind of diff. The error is always an *UnsafePatchError.
func CheckPatch(text string) error {
	if strings.TrimSpace(text) == "" {
		return nil
	}
	var c checker
	d, err := Parse(text)
	if err != nil {
		c.loose(text)
	} else {
		c.strict(d)
	}
	if len(c.found) > 0 {
		return &UnsafePatchError{Violations: c.found}
	}
	return nil
}

// CheckPatchAt is CheckPatch plus what only the repository knows: it also refuses a patch
// that touches a path which, at commit in the repository at gitDir (bare or not), is a
// symbolic link (RuleSymlink: a hunk without mode lines still rewrites a link's target) or
// a submodule (RuleMode), or lies beneath one. A patch that passes CheckPatch only read
// loosely (Parse refuses it) is refused with Parse's *SyntaxError, since its paths cannot be
// known; other errors are git's (*gitexec.Error, which wraps ctx's
// cause when ctx ended).
func CheckPatchAt(ctx context.Context, gitDir, commit, patch string) error {
	if err := CheckPatch(patch); err != nil || strings.TrimSpace(patch) == "" {
		return err
	}
	if strings.HasPrefix(commit, "-") {
		return fmt.Errorf("commit %q looks like an option", commit)
	}
	d, err := Parse(patch)
	if err != nil {
		return err
	}
	// Every path the patch touches and each of its parent directories.
	seen := map[string]bool{}
	var paths []string
	for i := range d.Files {
		for _, p := range d.Files[i].Paths() {
			for q := p; q != "" && !seen[q]; {
				seen[q] = true
				paths = append(paths, q)
				j := strings.LastIndexByte(q, '/')
				if j < 0 {
					break
				}
				q = q[:j]
			}
		}
	}
	special := map[string]string{} // path -> mode, for links and submodules
	env := []string{"GIT_LITERAL_PATHSPECS=1"}
	const chunk = 500
	for len(paths) > 0 {
		n := min(chunk, len(paths))
		out, err := gitexec.RunWith(ctx, gitDir, gitexec.Options{Env: env}, append([]string{"ls-tree", "-z", commit, "--"}, paths[:n]...)...)
		if err != nil {
			return fmt.Errorf("listing the paths of a patch at %s: %w", commit, err)
		}
		paths = paths[n:]
		for _, rec := range strings.Split(out, "\x00") {
			meta, name, ok := strings.Cut(rec, "\t")
			if !ok {
				continue
			}
			if mode, _, _ := strings.Cut(meta, " "); mode == "120000" || mode == "160000" {
				special[name] = mode
			}
		}
	}
	var c checker
	for i := range d.Files {
		for _, p := range d.Files[i].Paths() {
			for q := p; q != ""; {
				if mode, ok := special[q]; ok {
					rule, what := RuleSymlink, "a symbolic link"
					if mode == "160000" {
						rule, what = RuleMode, "a submodule"
					}
					why := fmt.Sprintf("is %s at %s", what, shortCommit(commit))
					if q != p {
						why = fmt.Sprintf("lies beneath %s, %s at %s", q, what, shortCommit(commit))
					}
					c.add(Violation{Rule: rule, Path: p, Why: why})
				}
				j := strings.LastIndexByte(q, '/')
				if j < 0 {
					break
				}
				q = q[:j]
			}
		}
	}
	if len(c.found) > 0 {
		return &UnsafePatchError{Violations: c.found}
	}
	return nil
}

func shortCommit(c string) string {
	if len(c) > 12 {
		return c[:12]
	}
	return c
}

// checker collects violations, each (rule, path) once.
type checker struct {
	found []Violation
	seen  map[[2]string]bool
}

func (c *checker) add(v Violation) {
	if c.seen == nil {
		c.seen = map[[2]string]bool{}
	}
	k := [2]string{string(v.Rule), v.Path}
	if c.seen[k] {
		return
	}
	c.seen[k] = true
	c.found = append(c.found, v)
}

// strict checks a parsed patch: the preamble for stray diffs, each section's header lines.
func (c *checker) strict(d *Diff) {
	line := 1
	for _, l := range splitLines(d.Preamble) {
		if isStrayDiffLine(trimEOL(l)) {
			c.stray(trimEOL(l), line)
		}
		line++
	}
	for i := range d.Files {
		f := &d.Files[i]
		c.section(f, line)
		line += strings.Count(f.Text, "\n")
		if !strings.HasSuffix(f.Text, "\n") {
			line++
		}
	}
}

// loose checks a patch Parse refused, not knowing where hunks start and end: every line,
// with the indentation patch(1) skips removed, is checked as a header if it could be one,
// and as a stray diff line otherwise. Content that looks like a header is refused too.
func (c *checker) loose(text string) {
	cur := "" // the path of the last "diff --git" line, for its mode lines
	for i, raw := range splitLines(text) {
		l, n := trimEOL(raw), i+1
		t := trimIndent(l)
		switch {
		case strings.HasPrefix(t, "index ") && !indexLine.MatchString(t):
			// Content ("    index = 0"), not git's "index OLD..NEW".
		case c.header(t, n, &cur):
		case strings.HasPrefix(l, "@@"):
			// A hunk header names nothing.
		case isStrayDiffLine(t):
			c.stray(l, n)
		}
	}
}

func (c *checker) stray(l string, line int) {
	c.add(Violation{Rule: RuleStray, Path: truncate(l), Line: line,
		Why: "text outside the file sections that patch(1) would read as a diff"})
}

// section checks one file section whose first line is line first.
func (c *checker) section(f *File, first int) {
	cur := f.Path()
	for i, raw := range splitLines(f.Text) {
		l, n := trimEOL(raw), first+i
		if strings.HasPrefix(l, "@@") || l == "GIT binary patch" {
			break // hunks or binary data follow: no more headers (Parse made sure of that)
		}
		c.header(l, n, &cur)
	}
	for _, p := range f.Paths() {
		c.name(p, first)
	}
}

// header checks l if it is a header line that names a path or a mode, and reports whether
// it is one. cur is the section's path, for the mode lines; a "diff --git" line sets it.
func (c *checker) header(l string, n int, cur *string) bool {
	switch {
	case strings.HasPrefix(l, "diff --git "):
		rest := l[len("diff --git "):]
		*cur = rest
		if o, nw, ok := splitGitHeader(rest); ok {
			c.name(o, n)
			c.name(nw, n)
			*cur = nw
		}
		c.tokens(rest, n, false)
	case strings.HasPrefix(l, "--- "):
		c.name(fileName(l[4:], "a/"), n)
		c.tokens(l[4:], n, true)
	case strings.HasPrefix(l, "+++ "):
		c.name(fileName(l[4:], "b/"), n)
		c.tokens(l[4:], n, true)
	case hasAnyPrefix(l, "rename from ", "rename to ", "copy from ", "copy to "):
		_, v := cutAny(l, "rename from ", "rename to ", "copy from ", "copy to ")
		c.name(unquote(v), n)
		c.tokens(v, n, false)
	case hasAnyPrefix(l, "new file mode ", "deleted file mode ", "old mode ", "new mode "):
		p, v := cutAny(l, "new file mode ", "deleted file mode ", "old mode ", "new mode ")
		c.mode(*cur, strings.TrimSuffix(p, " "), v, n)
	case strings.HasPrefix(l, "index "):
		// "index OLD..NEW" or "index OLD..NEW MODE".
		if _, mode, ok := strings.Cut(l[len("index "):], " "); ok {
			c.mode(*cur, "index", mode, n)
		}
	default:
		return false
	}
	return true
}

// indexLine is how an "index" header line starts.
var indexLine = regexp.MustCompile(`^index [0-9a-fA-F]+\.\.[0-9a-fA-F]+`)

// trimIndent removes what patch(1) skips before a header: spaces, tabs and the "X" of old
// mail quoting.
func trimIndent(l string) string { return strings.TrimLeft(l, " \tX") }

// hasAnyPrefix reports whether l starts with one of prefixes.
func hasAnyPrefix(l string, prefixes ...string) bool {
	p, _ := cutAny(l, prefixes...)
	return p != ""
}

// cutAny returns the first of prefixes that l starts with and what follows it.
func cutAny(l string, prefixes ...string) (prefix, rest string) {
	for _, p := range prefixes {
		if v, ok := strings.CutPrefix(l, p); ok {
			return p, v
		}
	}
	return "", ""
}

// mode checks the mode a header line gives.
func (c *checker) mode(path, what, mode string, line int) {
	switch mode {
	case "100644", "100755":
		return
	case "120000":
		c.add(Violation{Rule: RuleSymlink, Path: path, Line: line, Why: what + " 120000 (a symbolic link)"})
	case "160000":
		c.add(Violation{Rule: RuleMode, Path: path, Line: line, Why: what + " 160000 (a submodule)"})
	default:
		c.add(Violation{Rule: RuleMode, Path: path, Line: line, Why: fmt.Sprintf("%s %s (not a regular file mode)", what, truncate(mode))})
	}
}

// name checks a path as the patch names it ("" is no path: /dev/null).
func (c *checker) name(p string, line int) {
	if p == "" {
		return
	}
	if strings.IndexByte(p, 0) >= 0 {
		c.add(Violation{Rule: RuleBadPath, Path: p, Line: line, Why: "has a NUL byte"})
	}
	rel := strings.TrimLeft(p, " \t\n\v\f\r")
	if strings.HasPrefix(rel, "/") {
		c.add(Violation{Rule: RuleOutside, Path: p, Line: line, Why: "is an absolute path"})
		rel = strings.TrimLeft(rel, "/")
	}
	bad, spaced := false, false
	for _, comp := range strings.Split(rel, "/") {
		trimmed := strings.TrimSpace(comp)
		spaced = spaced || trimmed != comp
		switch {
		case trimmed == "..":
			c.add(Violation{Rule: RuleOutside, Path: p, Line: line, Why: `has a ".." component`})
		case comp == "" || trimmed == ".":
			bad = true
		case isDotGit(comp):
			c.add(Violation{Rule: RuleGitDir, Path: p, Line: line, Why: fmt.Sprintf("has the component %q, the repository's .git", comp)})
		}
	}
	if bad {
		c.add(Violation{Rule: RuleBadPath, Path: p, Line: line, Why: `has an empty or "." component`})
	}
	if spaced || rel != strings.TrimLeft(p, "/") {
		// Tools trim such names differently, so each could read another path.
		c.add(Violation{Rule: RuleBadPath, Path: p, Line: line, Why: "has a component that starts or ends with white space"})
	}
}

// tokens checks each whitespace-separated word of an unquoted name field as if it were a
// name of its own: git and patch(1) cut unquoted names with spaces in different places, and
// every reading must be safe. Empty components and "." are left to name (they are harmless
// inside a longer name). devNull allows the word /dev/null ("---" and "+++" lines).
func (c *checker) tokens(field string, line int, devNull bool) {
	if strings.HasPrefix(field, `"`) {
		if q, rest, ok := cutQuoted(field); ok {
			c.name(strings.TrimPrefix(strings.TrimPrefix(q, "a/"), "b/"), line)
			field = rest
		}
	}
	for _, t := range strings.Fields(field) {
		if strings.HasPrefix(t, `"`) {
			if q, _, ok := cutQuoted(t); ok {
				t = q
			}
		}
		t = strings.TrimPrefix(strings.TrimPrefix(t, "a/"), "b/")
		if t == "/dev/null" && devNull {
			continue
		}
		if strings.HasPrefix(t, "/") {
			c.add(Violation{Rule: RuleOutside, Path: t, Line: line, Why: "is an absolute path (read as a name of its own)"})
		}
		for _, comp := range strings.Split(t, "/") {
			switch {
			case comp == "..":
				c.add(Violation{Rule: RuleOutside, Path: t, Line: line, Why: `has a ".." component (read as a name of its own)`})
			case isDotGit(comp):
				c.add(Violation{Rule: RuleGitDir, Path: t, Line: line, Why: fmt.Sprintf("has the component %q (read as a name of its own)", comp)})
			}
		}
	}
}

// isDotGit reports whether a path component names the repository's .git on some file
// system: compared without case; NTFS drops trailing dots and spaces and reads "git~1" and
// ".git:stream" as .git; HFS+ ignores some zero-width characters.
func isDotGit(comp string) bool {
	comp = strings.Map(func(r rune) rune {
		switch {
		case r >= 0x200b && r <= 0x200f, r >= 0x202a && r <= 0x202e, r >= 0x206a && r <= 0x206f, r == 0xfeff:
			return -1
		}
		return r
	}, comp)
	if i := strings.IndexByte(comp, ':'); i >= 0 {
		comp = comp[:i]
	}
	comp = strings.TrimRight(strings.TrimSpace(comp), ". ")
	return strings.EqualFold(comp, ".git") || strings.EqualFold(comp, "git~1")
}

// commandLine matches the commands of normal diffs and ed scripts ("12,14c13", "5d", "3a",
// "7s/x/y/").
var commandLine = regexp.MustCompile(`^[0-9]+(,[0-9]+)?([acd][0-9]+(,[0-9]+)?|[acdi]|s/.*)\s*$`)

// isStrayDiffLine reports whether a line outside the file sections could start or continue
// a diff for patch(1), which also reads indented diffs.
func isStrayDiffLine(l string) bool {
	s := trimIndent(l)
	for _, p := range []string{"--- ", "+++ ", "***", "@@", "Index:", "Prereq:", "diff ", "GIT binary patch", "Binary files "} {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return commandLine.MatchString(s)
}
