package difftext

import (
	"strings"
	"testing"
)

// FuzzSplitDiff feeds arbitrary text to the parser and the splitter: they must never panic,
// and what they accept they must keep whole: the sections reassemble the input, and the two
// halves hold every section exactly once.
func FuzzSplitDiff(f *testing.F) {
	f.Add(handDiff)
	f.Add("--- a/x.py\n+++ b/x.py\n@@ -1 +1 @@\n-a\n+b\n")
	f.Add("diff --git a/x b/x\nGIT binary patch\nliteral 3\nKcmZ?wbN&n\n\nliteral 0\nKcmV+b0RR6000031\n\n")
	f.Add("diff --git \"a/\\303\\251\" \"b/\\303\\251\"\nold mode 100644\nnew mode 100755\n")
	f.Fuzz(func(t *testing.T, text string) {
		d, err := Parse(text)
		if err != nil {
			return
		}
		if d.String() != text {
			t.Fatalf("Parse lost bytes")
		}
		s, err := SplitDiff(text)
		if err != nil {
			t.Fatalf("SplitDiff failed where Parse did not: %v", err)
		}
		if len(s.TestFiles)+len(s.CodeFiles)+len(s.DocFiles) != len(d.Files) {
			t.Fatalf("split lost files")
		}
		body := strings.TrimPrefix(text, d.Preamble)
		if n := len(s.Patch) + len(s.TestPatch); n < len(body) || n > len(body)+2 {
			t.Fatalf("halves hold %d bytes, sections %d", n, len(body))
		}
		for _, f := range d.Files {
			if f.Path() == "" {
				t.Fatalf("section without path")
			}
			if f.Added < 0 || f.Deleted < 0 {
				t.Fatalf("negative counts")
			}
		}
	})
}
