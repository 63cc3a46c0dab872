package difftext

import (
	"strings"
)

// Split is a pull request's diff cut in two: the test half and the rest.
type Split struct {
	// Patch holds the sections of code and documentation files; TestPatch those of test
	// files. Each is a valid diff on its own; together they hold every section of the input.
	Patch     string
	TestPatch string
	// CodeFiles, DocFiles and TestFiles list the paths of each kind, in diff order.
	CodeFiles []string
	DocFiles  []string
	TestFiles []string
	// BinaryFiles lists the binary files of both halves.
	BinaryFiles []string
	// CodeLines and TestLines count the added plus deleted lines of each half (docs count in
	// CodeLines; binary files count zero).
	CodeLines int
	TestLines int
	// Files is the parsed diff.
	Files []File
}

// Total returns the number of files in the diff.
func (s *Split) Total() int { return len(s.Files) }

// BinaryOnly reports whether every file of the diff is binary.
func (s *Split) BinaryOnly() bool {
	return len(s.Files) > 0 && len(s.BinaryFiles) == len(s.Files)
}

// SectionKind classifies a file section: a rename is a test when either of its paths is, so
// that moving a test never lands in the code half; a Rust file that the section shows to
// start with #![cfg(test)] is a test (see rustTestOnly).
func SectionKind(f *File) Kind {
	if rustTestOnly(f) {
		return Test
	}
	kind := Doc
	for _, p := range f.Paths() {
		switch Classify(p) {
		case Test:
			return Test
		case Code:
			kind = Code
		}
	}
	return kind
}

// SplitDiff parses a diff and splits it into its test and non-test halves.
func SplitDiff(text string) (*Split, error) {
	d, err := Parse(text)
	if err != nil {
		return nil, err
	}
	s := &Split{Files: d.Files}
	var patch, test strings.Builder
	for i := range d.Files {
		f := &d.Files[i]
		lines := f.Added + f.Deleted
		if f.Binary {
			s.BinaryFiles = append(s.BinaryFiles, f.Path())
		}
		switch SectionKind(f) {
		case Test:
			test.WriteString(f.Text)
			s.TestFiles = append(s.TestFiles, f.Path())
			s.TestLines += lines
		case Doc:
			patch.WriteString(f.Text)
			s.DocFiles = append(s.DocFiles, f.Path())
			s.CodeLines += lines
		default:
			patch.WriteString(f.Text)
			s.CodeFiles = append(s.CodeFiles, f.Path())
			s.CodeLines += lines
		}
	}
	s.Patch, s.TestPatch = ensureEOL(patch.String()), ensureEOL(test.String())
	return s, nil
}

// ensureEOL makes a non-empty patch end with a newline, which git apply needs.
func ensureEOL(s string) string {
	if s != "" && !strings.HasSuffix(s, "\n") {
		return s + "\n"
	}
	return s
}
