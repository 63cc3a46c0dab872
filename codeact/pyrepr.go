package codeact

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// pyText is how OpenHands 0.32's text protocol writes a parameter value back into an
// assistant message: Python's str() of the value json.loads gives. A string is itself; a
// number, a boolean, null, a list or an object take Python's forms (1.0, True, None,
// [1, 20], {'a': 'b'}). A value that is not JSON is returned as it is.
func pyText(raw json.RawMessage) string {
	var s string
	if bytes.HasPrefix(bytes.TrimSpace(raw), []byte(`"`)) && json.Unmarshal(raw, &s) == nil {
		return s
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var b strings.Builder
	if err := pyValue(&b, dec); err != nil {
		return string(raw)
	}
	return b.String()
}

// pyValue writes the next JSON value of dec as Python's repr() of it.
func pyValue(b *strings.Builder, dec *json.Decoder) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	switch t := tok.(type) {
	case nil:
		b.WriteString("None")
	case bool:
		if t {
			b.WriteString("True")
		} else {
			b.WriteString("False")
		}
	case string:
		b.WriteString(pyQuote(t))
	case json.Number:
		b.WriteString(pyNumber(t.String()))
	case json.Delim:
		closing, open := "]", "["
		if t == '{' {
			closing, open = "}", "{"
		}
		b.WriteString(open)
		for i := 0; dec.More(); i++ {
			if i > 0 {
				b.WriteString(", ")
			}
			if t == '{' {
				k, err := dec.Token()
				if err != nil {
					return err
				}
				b.WriteString(pyQuote(k.(string)) + ": ")
			}
			if err := pyValue(b, dec); err != nil {
				return err
			}
		}
		if _, err := dec.Token(); err != nil {
			return err
		}
		b.WriteString(closing)
	default:
		return fmt.Errorf("unexpected JSON token %v", tok)
	}
	return nil
}

// pyNumber writes a JSON number as Python prints what json.loads makes of it: an integer
// (no fraction or exponent) in full, anything else as a float's repr.
func pyNumber(n string) string {
	if !strings.ContainsAny(n, ".eE") {
		return pyInt(n)
	}
	f, err := strconv.ParseFloat(n, 64)
	if err != nil && !math.IsInf(f, 0) {
		return n
	}
	return pyFloat(f)
}

// pyInt normalizes a JSON integer of any length as Python prints it: no sign on zero, no
// leading zeros.
func pyInt(n string) string {
	digits := strings.TrimLeft(strings.TrimPrefix(n, "-"), "0")
	switch {
	case digits == "":
		return "0"
	case strings.HasPrefix(n, "-"):
		return "-" + digits
	}
	return digits
}

// pyFloat is Python's repr() of a float: the shortest digits that round-trip, in positional
// notation with at least one fractional digit when the decimal exponent is in [-4, 16),
// else in scientific notation with a signed exponent of at least two digits.
func pyFloat(f float64) string {
	switch {
	case math.IsInf(f, 1):
		return "inf"
	case math.IsInf(f, -1):
		return "-inf"
	case math.IsNaN(f):
		return "nan"
	}
	e := strconv.FormatFloat(f, 'e', -1, 64) // d.ddde±XX
	_, exps, _ := strings.Cut(e, "e")
	exp, _ := strconv.Atoi(exps)
	if exp < -4 || exp >= 16 {
		return e
	}
	s := strconv.FormatFloat(f, 'f', -1, 64)
	if !strings.Contains(s, ".") {
		s += ".0"
	}
	return s
}

// pyQuote is Python's repr() of a str: single quotes unless the text holds a single quote
// and no double one; backslash escapes for the quote, backslashes, \t \n \r and characters
// Python does not print (\xNN, \uNNNN, \UNNNNNNNN).
func pyQuote(s string) string {
	q := byte('\'')
	if strings.Contains(s, "'") && !strings.Contains(s, `"`) {
		q = '"'
	}
	var b strings.Builder
	b.WriteByte(q)
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		i += n
		switch {
		case r == rune(q) || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == utf8.RuneError && n == 1:
			b.WriteString(`\ufffd`)
		case r < 0x80 && (r < 0x20 || r == 0x7f):
			fmt.Fprintf(&b, `\x%02x`, r)
		case r >= 0x80 && !pyPrintable(r):
			switch {
			case r < 0x100:
				fmt.Fprintf(&b, `\x%02x`, r)
			case r < 0x10000:
				fmt.Fprintf(&b, `\u%04x`, r)
			default:
				fmt.Fprintf(&b, `\U%08x`, r)
			}
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte(q)
	return b.String()
}

// pyPrintable is Python's str.isprintable() for one character: letters, marks, numbers,
// punctuation, symbols and the ASCII space.
func pyPrintable(r rune) bool { return unicode.IsPrint(r) }

// StripValue is what the text protocol makes of a parameter value: OpenHands strips every
// value it parses (Python's str.strip()).
func StripValue(s string) string { return pyStrip(s) }

// pyStrip is Python's str.strip(): whitespace as str.isspace() sees it (Unicode's, plus the
// ASCII separators 0x1c-0x1f) removed from both ends.
func pyStrip(s string) string {
	return strings.TrimFunc(s, func(r rune) bool {
		return unicode.IsSpace(r) || (r >= 0x1c && r <= 0x1f)
	})
}
