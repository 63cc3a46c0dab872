package mine

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func closing(refs []ref) []string {
	var out []string
	for _, r := range refs {
		if r.Closing {
			out = append(out, r.Repo+"#"+itoa(r.Number))
		}
	}
	return out
}

func TestExtractClosingKeywords(t *testing.T) {
	t.Parallel()
	x := newRefExtractor([]string{"github.com"})
	cases := map[string][]string{
		// Every keyword, any case, optional colon.
		"close #1":                    {"#1"},
		"Closes #2":                   {"#2"},
		"CLOSED #3":                   {"#3"},
		"fix #4":                      {"#4"},
		"Fixes: #5":                   {"#5"},
		"fixed:#6":                    {"#6"},
		"Resolve #7":                  {"#7"},
		"resolves  #8":                {"#8"},
		"RESOLVED:\t#9":               {"#9"},
		"This fixes #10.":             {"#10"},
		"(fixes #11)":                 {"#11"},
		"Fixes octo-org/octo-repo#12": {"octo-org/octo-repo#12"},
		"fixes https://github.com/octo/calc/issues/13": {"octo/calc#13"},
		// Each reference needs its own keyword.
		"Fixes #14, #15 and #16":                {"#14"},
		"Fixes #17, fixes #18, resolves o/r#19": {"#17", "#18", "o/r#19"},
		// Not keywords.
		"unfixes #20":      nil,
		"prefix #21":       nil,
		"fixing #22":       nil,
		"fixes#23":         nil,
		"see #24":          nil,
		"closes issue #25": nil,
		"fixes #26abc":     nil,
		"Fixes &#27;":      nil,
	}
	for text, want := range cases {
		require.Equal(t, want, closing(x.extract(text)), text)
	}
}

func TestExtractIgnoresCodeAndComments(t *testing.T) {
	t.Parallel()
	x := newRefExtractor(nil)
	text := strings.Join([]string{
		"Fixes #1",
		"```",
		"fixes #2",
		"```",
		"  ~~~~python",
		"fixes #3",
		"  ~~~~",
		"Inline `fixes #4` and ``fixes `#5` here`` but fixes #6",
		"<!-- fixes #7",
		"still a comment, fixes #8 -->",
		"<!-- Please write 'Fixes #NNN' -->Resolves #9",
	}, "\n")
	require.Equal(t, []string{"#1", "#6", "#9"}, closing(x.extract(text)))

	// An unclosed fence hides the rest of the text.
	require.Equal(t, []string{"#1"}, closing(x.extract("Fixes #1\n```\nfixes #2\n")))
}

func TestExtractMentionsAndPulls(t *testing.T) {
	t.Parallel()
	x := newRefExtractor([]string{"ghe.example.com"})
	refs := x.extract("Related to #3 and https://ghe.example.com/octo/calc/pull/4; fixes #3. " +
		"Also https://github.com/octo/calc/issues/5 is another host. Fixes https://ghe.example.com/o/r/pull/6")
	require.Equal(t, []ref{
		{Number: 3, Closing: true},
		{Repo: "octo/calc", Number: 4, Pull: true},
		{Repo: "o/r", Number: 6, Closing: true, Pull: true},
	}, refs)
}

// FuzzExtractRefs checks that the extractor never panics, finds only positive numbers and
// reports each reference once, and that blanking code keeps the text's length and lines.
func FuzzExtractRefs(f *testing.F) {
	f.Add("Fixes #1, fixes o/r#2 ```\nfixes #3\n``` <!-- fixes #4 --> `fixes #5`")
	f.Add("resolves https://github.com/a/b/issues/7\n~~~\n")
	f.Add("fixes: #99999999999999999999")
	x := newRefExtractor([]string{"github.com"})
	f.Fuzz(func(t *testing.T, text string) {
		clean := blankCode(text)
		if len(clean) != len(text) || strings.Count(clean, "\n") != strings.Count(text, "\n") {
			t.Fatalf("blankCode changed the text's shape")
		}
		seen := map[string]bool{}
		for _, r := range x.extract(text) {
			if r.Number <= 0 {
				t.Fatalf("reference number %d", r.Number)
			}
			k := strings.ToLower(r.Repo) + "#" + itoa(r.Number)
			if seen[k] {
				t.Fatalf("reference %s reported twice", k)
			}
			seen[k] = true
		}
	})
}
