// Package difftext reads unified git diffs: it cuts a diff into per-file sections without losing
// a byte, tells test files from code and documentation by language-aware path rules, splits a
// pull request's diff into its code half (patch) and test half (test_patch), checks with
// git that a patch applies to a commit, and is the gate every patch passes before anything
// applies it (CheckPatch, CheckPatchAt: no symbolic links, no paths outside the tree or
// under .git, regular file modes only).
package difftext

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
)

// Status says what a file section does to its file.
type Status string

// File statuses, as git's extended headers say them.
const (
	Modified Status = "modified"
	Added    Status = "added"
	Deleted  Status = "deleted"
	Renamed  Status = "renamed"
	Copied   Status = "copied"
)

// File is one file's section of a diff.
type File struct {
	// OldPath and NewPath are the file's paths before and after, without the a/ and b/
	// prefixes and unquoted; OldPath is empty for an added file and NewPath for a deleted one.
	OldPath string
	NewPath string
	Status  Status
	// Binary is set when git shows the file as binary ("GIT binary patch" or "Binary files
	// ... differ").
	Binary bool
	// Added and Deleted count the +/- lines of the file's hunks.
	Added   int
	Deleted int
	// Text is the section verbatim, from its "diff --git" line up to the next section.
	Text string
}

// Path returns the path the file has after the change, or before it for a deletion.
func (f *File) Path() string {
	if f.NewPath != "" {
		return f.NewPath
	}
	return f.OldPath
}

// Paths returns every path the section touches (both sides of a rename or copy).
func (f *File) Paths() []string {
	if f.OldPath != "" && f.NewPath != "" && f.OldPath != f.NewPath {
		return []string{f.OldPath, f.NewPath}
	}
	return []string{f.Path()}
}

// Diff is a parsed diff: Preamble (text before the first section, usually empty) followed by
// the sections. Preamble + the sections' Text is the input, byte for byte.
type Diff struct {
	Preamble string
	Files    []File
}

// String reassembles the diff.
func (d *Diff) String() string {
	var b strings.Builder
	b.WriteString(d.Preamble)
	for i := range d.Files {
		b.WriteString(d.Files[i].Text)
	}
	return b.String()
}

// SyntaxError reports a diff that does not follow the unified git diff format.
type SyntaxError struct {
	// Line counts from 1.
	Line int
	Msg  string
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("diff line %d: %s", e.Line, e.Msg)
}

// Parse cuts a unified diff (git's, or plain "---"/"+++" sections) into file sections.
// It reads hunk headers to know where each hunk ends, so content lines that look like headers
// are not mistaken for them. Parse never loses input: Diff.String returns it unchanged.
func Parse(text string) (*Diff, error) {
	p := parser{lines: splitLines(text)}
	return p.parse()
}

type parser struct {
	lines []string // each with its "\n", except perhaps the last
	i     int
	d     Diff
}

func splitLines(s string) []string {
	var out []string
	for len(s) > 0 {
		n := strings.IndexByte(s, '\n')
		if n < 0 {
			out = append(out, s)
			break
		}
		out = append(out, s[:n+1])
		s = s[n+1:]
	}
	return out
}

func trimEOL(l string) string {
	l = strings.TrimSuffix(l, "\n")
	return strings.TrimSuffix(l, "\r")
}

// startsPlainSection reports whether line i starts a section of a plain (non-git) unified
// diff: "--- X" followed by "+++ Y" and then a hunk header.
func (p *parser) startsPlainSection(i int) bool {
	if i+2 >= len(p.lines) {
		return false
	}
	return strings.HasPrefix(p.lines[i], "--- ") && strings.HasPrefix(p.lines[i+1], "+++ ") &&
		strings.HasPrefix(p.lines[i+2], "@@ ")
}

func (p *parser) startsSection(i int) bool {
	return strings.HasPrefix(p.lines[i], "diff --git ") || p.startsPlainSection(i)
}

func (p *parser) parse() (*Diff, error) {
	var pre strings.Builder
	for p.i < len(p.lines) && !p.startsSection(p.i) {
		pre.WriteString(p.lines[p.i])
		p.i++
	}
	p.d.Preamble = pre.String()
	for p.i < len(p.lines) {
		start := p.i
		f, err := p.section()
		if err != nil {
			return nil, err
		}
		f.Text = strings.Join(p.lines[start:p.i], "")
		p.d.Files = append(p.d.Files, f)
	}
	return &p.d, nil
}

func (p *parser) errorf(format string, args ...any) error {
	return &SyntaxError{Line: p.i + 1, Msg: fmt.Sprintf(format, args...)}
}

// section reads one file section starting at p.i.
func (p *parser) section() (File, error) {
	f := File{Status: Modified}
	var headerOld, headerNew string
	git := strings.HasPrefix(p.lines[p.i], "diff --git ")
	if git {
		var ok bool
		headerOld, headerNew, ok = splitGitHeader(trimEOL(p.lines[p.i])[len("diff --git "):])
		if !ok {
			return f, p.errorf("cannot read the paths of %q", trimEOL(p.lines[p.i]))
		}
		p.i++
		// Extended headers.
	headers:
		for p.i < len(p.lines) {
			l := trimEOL(p.lines[p.i])
			switch {
			case strings.HasPrefix(l, "new file mode "):
				f.Status = Added
			case strings.HasPrefix(l, "deleted file mode "):
				f.Status = Deleted
			case strings.HasPrefix(l, "rename from "):
				f.Status = Renamed
				f.OldPath = unquote(l[len("rename from "):])
			case strings.HasPrefix(l, "rename to "):
				f.Status = Renamed
				f.NewPath = unquote(l[len("rename to "):])
			case strings.HasPrefix(l, "copy from "):
				f.Status = Copied
				f.OldPath = unquote(l[len("copy from "):])
			case strings.HasPrefix(l, "copy to "):
				f.Status = Copied
				f.NewPath = unquote(l[len("copy to "):])
			case strings.HasPrefix(l, "old mode "), strings.HasPrefix(l, "new mode "),
				strings.HasPrefix(l, "similarity index "), strings.HasPrefix(l, "dissimilarity index "),
				strings.HasPrefix(l, "index "):
			case strings.HasPrefix(l, "Binary files ") && strings.HasSuffix(l, " differ"):
				f.Binary = true
			case l == "GIT binary patch":
				f.Binary = true
				p.i++
				p.skipBinary()
				break headers
			default:
				break headers
			}
			p.i++
		}
	}
	// "---"/"+++" lines and hunks.
	if p.i+1 < len(p.lines) && strings.HasPrefix(p.lines[p.i], "--- ") && strings.HasPrefix(p.lines[p.i+1], "+++ ") {
		oldName := fileName(trimEOL(p.lines[p.i])[4:], "a/")
		newName := fileName(trimEOL(p.lines[p.i+1])[4:], "b/")
		p.i += 2
		if oldName == "" && f.Status == Modified {
			f.Status = Added
		}
		if newName == "" && f.Status == Modified {
			f.Status = Deleted
		}
		if f.Status != Renamed && f.Status != Copied {
			if oldName != "" {
				headerOld = oldName
			}
			if newName != "" {
				headerNew = newName
			}
		}
		for p.i < len(p.lines) && strings.HasPrefix(p.lines[p.i], "@@") {
			if err := p.hunk(&f); err != nil {
				return f, err
			}
		}
	} else if !git {
		return f, p.errorf("expected \"---\" and \"+++\" lines")
	}
	// Anything up to the next section that is not part of a hunk is an error, except blank
	// trailing lines some tools add.
	for p.i < len(p.lines) && !p.startsSection(p.i) {
		if strings.TrimSpace(p.lines[p.i]) != "" {
			return f, p.errorf("unexpected line %q", truncate(trimEOL(p.lines[p.i])))
		}
		p.i++
	}
	switch f.Status {
	case Renamed, Copied:
		if f.OldPath == "" {
			f.OldPath = headerOld
		}
		if f.NewPath == "" {
			f.NewPath = headerNew
		}
	case Added:
		f.NewPath = headerNew
	case Deleted:
		f.OldPath = headerOld
	default:
		f.OldPath, f.NewPath = headerOld, headerNew
	}
	if f.Path() == "" {
		return f, p.errorf("file section names no path")
	}
	return f, nil
}

// skipBinary skips the blocks of a "GIT binary patch": one or two "literal N"/"delta N"
// headers, each followed by base85 lines and a blank line.
func (p *parser) skipBinary() {
	for p.i < len(p.lines) {
		l := trimEOL(p.lines[p.i])
		if !strings.HasPrefix(l, "literal ") && !strings.HasPrefix(l, "delta ") {
			return
		}
		p.i++
		for p.i < len(p.lines) && trimEOL(p.lines[p.i]) != "" && !p.startsSection(p.i) {
			p.i++
		}
		if p.i < len(p.lines) && trimEOL(p.lines[p.i]) == "" {
			p.i++
		}
	}
}

// hunk reads one hunk at p.i, using the header's line counts.
func (p *parser) hunk(f *File) error {
	oldN, newN, ok := hunkCounts(trimEOL(p.lines[p.i]))
	if !ok {
		return p.errorf("bad hunk header %q", truncate(trimEOL(p.lines[p.i])))
	}
	p.i++
	for oldN > 0 || newN > 0 {
		if p.i >= len(p.lines) {
			return p.errorf("hunk ends early")
		}
		l := p.lines[p.i]
		switch {
		case l == "\n" || l == "\r\n":
			// An empty context line whose leading space an editor stripped.
			oldN--
			newN--
		case l[0] == ' ':
			oldN--
			newN--
		case l[0] == '-':
			oldN--
			f.Deleted++
		case l[0] == '+':
			newN--
			f.Added++
		case l[0] == '\\':
		default:
			return p.errorf("unexpected line in hunk %q", truncate(trimEOL(l)))
		}
		if oldN < 0 || newN < 0 {
			return p.errorf("hunk is longer than its header says")
		}
		p.i++
	}
	for p.i < len(p.lines) && strings.HasPrefix(p.lines[p.i], "\\") {
		p.i++
	}
	return nil
}

// hunkCounts reads "@@ -a[,b] +c[,d] @@ ..." and returns b and d (1 when omitted).
func hunkCounts(l string) (oldN, newN int, ok bool) {
	rest, ok := strings.CutPrefix(l, "@@ -")
	if !ok {
		return 0, 0, false
	}
	oldR, rest, ok := strings.Cut(rest, " +")
	if !ok {
		return 0, 0, false
	}
	newR, _, ok := strings.Cut(rest, " @@")
	if !ok {
		return 0, 0, false
	}
	count := func(r string) (int, bool) {
		start, n, found := strings.Cut(r, ",")
		if _, err := strconv.Atoi(start); err != nil {
			return 0, false
		}
		if !found {
			return 1, true
		}
		v, err := strconv.Atoi(n)
		if err != nil || v < 0 || v > 1<<30 {
			return 0, false
		}
		return v, true
	}
	if oldN, ok = count(oldR); !ok {
		return 0, 0, false
	}
	if newN, ok = count(newR); !ok {
		return 0, 0, false
	}
	return oldN, newN, true
}

// fileName reads the name on a "---"/"+++" line: "/dev/null" is empty; the a/ or b/ prefix is
// removed; the tab git adds after names with spaces (and any timestamp after it) is dropped.
func fileName(s, prefix string) string {
	if strings.HasPrefix(s, `"`) {
		s = unquote(s)
	} else if i := strings.IndexByte(s, '\t'); i >= 0 {
		s = s[:i]
	}
	if s == "/dev/null" {
		return ""
	}
	return strings.TrimPrefix(s, prefix)
}

// splitGitHeader splits the paths of a "diff --git" line.
func splitGitHeader(s string) (oldPath, newPath string, ok bool) {
	if strings.HasPrefix(s, `"`) {
		q, rest, ok := cutQuoted(s)
		if !ok || !strings.HasPrefix(rest, " ") {
			return "", "", false
		}
		rest = rest[1:]
		var n string
		if strings.HasPrefix(rest, `"`) {
			var tail string
			n, tail, ok = cutQuoted(rest)
			if !ok || tail != "" {
				return "", "", false
			}
		} else {
			n = rest
		}
		return strings.TrimPrefix(q, "a/"), strings.TrimPrefix(n, "b/"), true
	}
	if strings.HasSuffix(s, `"`) {
		i := strings.LastIndex(s[:len(s)-1], ` "`)
		if i < 0 {
			return "", "", false
		}
		n, tail, ok := cutQuoted(s[i+1:])
		if !ok || tail != "" {
			return "", "", false
		}
		return strings.TrimPrefix(s[:i], "a/"), strings.TrimPrefix(n, "b/"), true
	}
	// Unquoted: "a/X b/Y". When X == Y (no rename) the split is in the middle; otherwise the
	// rename/copy headers or ---/+++ lines give the names and this is a best guess.
	if len(s)%2 == 1 {
		half := len(s) / 2
		if s[half] == ' ' && strings.HasPrefix(s, "a/") && s[2:half] == strings.TrimPrefix(s[half+1:], "b/") {
			return s[2:half], s[half+3:], true
		}
	}
	i := strings.Index(s, " b/")
	if i < 0 {
		return "", "", false
	}
	return strings.TrimPrefix(s[:i], "a/"), s[i+3:], true
}

// cutQuoted reads a C-quoted string at the start of s and returns it unquoted and the rest.
func cutQuoted(s string) (string, string, bool) {
	for i := 1; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '"':
			return unquoteC(s[1:i]), s[i+1:], true
		}
	}
	return "", "", false
}

// unquote unquotes a path git may have C-quoted.
func unquote(s string) string {
	if len(s) >= 2 && s[0] == '"' {
		if q, rest, ok := cutQuoted(s); ok && rest == "" {
			return q
		}
	}
	return s
}

func unquoteC(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b bytes.Buffer
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' || i+1 == len(s) {
			b.WriteByte(c)
			continue
		}
		i++
		switch e := s[i]; e {
		case 'a':
			b.WriteByte('\a')
		case 'b':
			b.WriteByte('\b')
		case 't':
			b.WriteByte('\t')
		case 'n':
			b.WriteByte('\n')
		case 'v':
			b.WriteByte('\v')
		case 'f':
			b.WriteByte('\f')
		case 'r':
			b.WriteByte('\r')
		case '0', '1', '2', '3':
			if i+2 < len(s) && isOctal(s[i+1]) && isOctal(s[i+2]) {
				b.WriteByte((e-'0')<<6 | (s[i+1]-'0')<<3 | (s[i+2] - '0'))
				i += 2
			} else {
				b.WriteByte(e)
			}
		default:
			b.WriteByte(e)
		}
	}
	return b.String()
}

func isOctal(c byte) bool { return c >= '0' && c <= '7' }

func truncate(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}
