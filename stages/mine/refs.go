package mine

import (
	"regexp"
	"strconv"
	"strings"
)

// ref is an issue or pull request reference found in a text.
type ref struct {
	// Repo is "owner/name" as written, or empty for the text's own repository.
	Repo   string
	Number int
	// Closing is set when the reference has its own closing keyword in front of it.
	Closing bool
	// Pull is set when the reference is a pull request URL.
	Pull bool
}

// closingKeywords are GitHub's: https://docs.github.com/issues/tracking-your-work-with-issues/
// linking-a-pull-request-to-an-issue (close, fix and resolve in three forms each, any case).
var closingKeywords = []string{
	"close", "closes", "closed", "fix", "fixes", "fixed", "resolve", "resolves", "resolved",
}

const (
	ownerRepo = `[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/[A-Za-z0-9._-]{1,100}`
)

// refExtractor finds references in text written for a GitHub instance whose web host names are
// hosts (e.g. "github.com" or an Enterprise host).
type refExtractor struct {
	re *regexp.Regexp
}

func newRefExtractor(hosts []string) *refExtractor {
	var hs []string
	for _, h := range hosts {
		hs = append(hs, regexp.QuoteMeta(h))
	}
	if len(hs) == 0 {
		hs = []string{regexp.QuoteMeta("github.com")}
	}
	// Groups: 1 URL repo, 2 URL kind, 3 URL number; 4 cross-repo repo, 5 its number; 6 local number.
	pattern := `https?://(?:www\.)?(?:` + strings.Join(hs, "|") + `)/(` + ownerRepo + `)/(issues|pull|pulls)/([0-9]+)` +
		`|(` + ownerRepo + `)#([0-9]+)` +
		`|#([0-9]+)`
	return &refExtractor{re: regexp.MustCompile(pattern)}
}

// extract returns the references of text, in order of first appearance, each once (a closing
// mention of a reference wins over a plain one). References inside fenced or indented-free
// code blocks, inline code spans and HTML comments are ignored, as GitHub ignores them.
func (x *refExtractor) extract(text string) []ref {
	clean := blankCode(text)
	var out []ref
	index := map[string]int{}
	for _, m := range x.re.FindAllStringSubmatchIndex(clean, -1) {
		start, end := m[0], m[1]
		if end < len(clean) && isWordByte(clean[end]) {
			continue // "#12abc" is not a reference
		}
		if start > 0 {
			prev := clean[start-1]
			if isWordByte(prev) || prev == '&' || prev == '/' || prev == '#' {
				continue // "a#1", "&#39;", "x/#1" are not references
			}
		}
		var r ref
		group := func(i int) string {
			if m[2*i] < 0 {
				return ""
			}
			return clean[m[2*i]:m[2*i+1]]
		}
		switch {
		case group(1) != "":
			r.Repo, r.Number = group(1), atoi(group(3))
			r.Pull = group(2) != "issues"
		case group(4) != "":
			r.Repo, r.Number = group(4), atoi(group(5))
		default:
			r.Number = atoi(group(6))
		}
		if r.Number <= 0 {
			continue
		}
		r.Closing = closingBefore(clean[:start])
		key := strings.ToLower(r.Repo) + "#" + strconv.Itoa(r.Number)
		if i, ok := index[key]; ok {
			out[i].Closing = out[i].Closing || r.Closing
			out[i].Pull = out[i].Pull || r.Pull
			continue
		}
		index[key] = len(out)
		out = append(out, r)
	}
	return out
}

// closingBefore reports whether the text before a reference ends with a closing keyword, an
// optional colon and at least one space or the colon: "Fixes #1", "fixes: #1", "FIXED:#1".
func closingBefore(before string) bool {
	trimmed := strings.TrimRight(before, " \t")
	spaced := len(trimmed) < len(before)
	if t, ok := strings.CutSuffix(trimmed, ":"); ok {
		trimmed, spaced = t, true
	}
	if !spaced {
		return false
	}
	lower := strings.ToLower(trimmed)
	for _, k := range closingKeywords {
		if strings.HasSuffix(lower, k) {
			i := len(lower) - len(k)
			if i == 0 || !isWordByte(lower[i-1]) {
				return true
			}
		}
	}
	return false
}

func isWordByte(c byte) bool {
	return c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= 0x80
}

func atoi(s string) int {
	n, err := strconv.Atoi(s)
	if err != nil || n > 1<<31-1 {
		return 0
	}
	return n
}

// blankCode returns text with HTML comments, fenced code blocks and inline code spans replaced
// by spaces (newlines kept), so references inside them are not found and offsets still match.
func blankCode(text string) string {
	b := []byte(text)
	blank := func(from, to int) {
		for i := from; i < to && i < len(b); i++ {
			if b[i] != '\n' {
				b[i] = ' '
			}
		}
	}
	// HTML comments first: they hide everything, fences included.
	for i := 0; i < len(b); {
		j := strings.Index(string(b[i:]), "<!--")
		if j < 0 {
			break
		}
		start := i + j
		k := strings.Index(string(b[start+4:]), "-->")
		end := len(b)
		if k >= 0 {
			end = start + 4 + k + 3
		}
		blank(start, end)
		i = end
	}
	// Fenced code blocks: a line starting (after up to three spaces) with ``` or ~~~ opens a
	// block that a line with at least as long a run of the same character closes.
	lineStart := 0
	inFence := false
	var fence byte
	fenceLen := 0
	fenceFrom := 0
	for lineStart <= len(b) {
		lineEnd := lineStart
		for lineEnd < len(b) && b[lineEnd] != '\n' {
			lineEnd++
		}
		line := b[lineStart:lineEnd]
		ind := 0
		for ind < len(line) && ind < 4 && line[ind] == ' ' {
			ind++
		}
		if ind < 4 && ind < len(line) && (line[ind] == '`' || line[ind] == '~') {
			c := line[ind]
			n := 0
			for ind+n < len(line) && line[ind+n] == c {
				n++
			}
			rest := strings.TrimSpace(string(line[ind+n:]))
			switch {
			case !inFence && n >= 3 && (c == '~' || !strings.Contains(rest, "`")):
				inFence, fence, fenceLen, fenceFrom = true, c, n, lineStart
			case inFence && c == fence && n >= fenceLen && rest == "":
				blank(fenceFrom, lineEnd)
				inFence = false
			}
		}
		if lineEnd == len(b) {
			break
		}
		lineStart = lineEnd + 1
	}
	if inFence {
		blank(fenceFrom, len(b)) // an unclosed fence runs to the end, as in CommonMark
	}
	// Inline code spans: a run of N backticks up to the next run of exactly N.
	for i := 0; i < len(b); {
		if b[i] != '`' {
			i++
			continue
		}
		n := 0
		for i+n < len(b) && b[i+n] == '`' {
			n++
		}
		closeAt := -1
		for j := i + n; j < len(b); {
			if b[j] != '`' {
				j++
				continue
			}
			m := 0
			for j+m < len(b) && b[j+m] == '`' {
				m++
			}
			if m == n {
				closeAt = j
				break
			}
			j += m
		}
		if closeAt < 0 {
			i += n
			continue
		}
		blank(i, closeAt+n)
		i = closeAt + n
	}
	return string(b)
}
