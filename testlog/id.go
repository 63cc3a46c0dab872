package testlog

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// CanonicalID returns the stored form of a test id as a framework wrote it (raw bytes in a
// Go string). Every id swemill stores, grades, exports or shows passes through it, from
// every parser, so the same test always gets the same id:
//   - valid UTF-8 text is kept byte for byte, non-ASCII letters and spaces included;
//   - a byte that is not part of valid UTF-8 becomes `\xNN` (two lowercase hex digits);
//   - line breaks and tabs become `\n`, `\r`, `\t`; other C0 controls, DEL (ESC of a terminal
//     colour code among them) become `\xNN`; C1 controls and the Unicode line and paragraph
//     separators become `\uNNNN`. So an id is one printable line, and nothing is dropped.
//
// escaped reports whether anything was escaped. The form is deterministic, but an id that
// already holds the text `\x1b` and one holding the byte ESC in its place get the same
// stored id: both then count as one test with the worse status.
func CanonicalID(raw string) (id string, escaped bool) {
	clean := true
	for i := 0; i < len(raw); {
		r, size := utf8.DecodeRuneInString(raw[i:])
		if (r == utf8.RuneError && size == 1) || needsEscape(r) {
			clean = false
			break
		}
		i += size
	}
	if clean {
		return raw, false
	}
	var b strings.Builder
	b.Grow(len(raw) + 8)
	for i := 0; i < len(raw); {
		r, size := utf8.DecodeRuneInString(raw[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			fmt.Fprintf(&b, `\x%02x`, raw[i])
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\x%02x`, r)
		case needsEscape(r):
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteString(raw[i : i+size])
		}
		i += size
	}
	return b.String(), true
}

// needsEscape says whether a rune is escaped in a stored id: control characters and the
// Unicode line and paragraph separators.
func needsEscape(r rune) bool {
	return r < 0x20 || r == 0x7f || (r >= 0x80 && r <= 0x9f) || r == '\u2028' || r == '\u2029'
}
