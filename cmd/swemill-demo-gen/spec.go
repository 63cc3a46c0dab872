package main

// The demo snapshot, described compactly: repositories, their issues and pull requests, and
// what each pull request is expected to become in every stage. Commit labels refer to the
// repository's history, testdata/demo/OWNER/NAME/repo.txtar; the generator turns them into
// real hashes. Timestamps are GitHub's (UTC); a merged pull request's merged_at is its
// merge commit's date.

// Stage outcomes of a pull request (want fields); anything else is a drop reason.
const (
	kept       = "kept"
	notReached = ""
)

type repoSpec struct {
	Owner, Name string
	Description string
	// Language is the language GitHub reports ("Python", "Go").
	Language string
	// License is the SPDX id GitHub detects; "" means none.
	License string
	Topics  []string
	Stars   int
	Created string
	// Maintainer merges the pull requests and closes the issues.
	Maintainer string
	// Tags maps tag names to commit labels (lightweight tags).
	Tags map[string]string
	// Drop is the repository-level drop mining is expected to record; "" means the
	// repository is mined.
	Drop   string
	Issues []issueSpec
	Pulls  []pullSpec
}

type issueSpec struct {
	Number       int
	Title, Body  string
	Author       string
	Labels       []string
	Created      string
	ClosedByPull int // the pull request whose merge closes it; 0 means open
	Comments     []commentSpec
}

type commentSpec struct {
	Author, Created, Body string
}

type pullSpec struct {
	Number      int
	Title, Body string
	Author      string
	Branch      string
	// Base, Head and Merge are commit labels; Merge "" means closed without merging.
	Base, Head, Merge string
	Created           string
	// Closed is when an unmerged pull request was closed.
	Closed string
	Want   want
}

// want is what swemill's stages are expected to make of a pull request.
type want struct {
	// Story says in a line what the pull request is for (README).
	Story string
	// Mine, Build and Validate are "kept", a drop reason, or "" when the stage is not
	// reached.
	Mine, Build, Validate string
	// FailToPass, PassToPass and Flaky are validate's expected test ids: pytest node ids,
	// Go TestName/sub. PassToPass assumes validate runs the test files (pytest) or the
	// packages (go test) that test_patch touches.
	FailToPass, PassToPass, Flaky []string
}

var labelColors = map[string]string{
	"bug":           "d73a4a",
	"documentation": "0075ca",
	"enhancement":   "a2eeef",
	"performance":   "fbca04",
}

var demoRepos = []repoSpec{
	{
		Owner: "demo", Name: "textkit", Stars: 48,
		Description: "Small text utilities: case conversion, accent stripping, slugs and wrapping",
		Language:    "Python", License: "MIT", Topics: []string{"python", "text"},
		Created: "2023-11-20T10:00:00Z", Maintainer: "dana",
		Tags: map[string]string{"v0.3.0": "init", "v0.4.0": "merge8"},
		Issues: []issueSpec{
			{
				Number: 1, Author: "frank", Labels: []string{"bug"}, Created: "2024-03-04T08:15:00Z", ClosedByPull: 2,
				Title: "snake_case() splits acronyms into single letters",
				Body: "`snake_case(\"HTTPServer\")` returns `\"h_t_t_p_server\"`; I expected `\"http_server\"`.\r\n\r\n" +
					"The same happens inside a name: `snake_case(\"getHTTPResponseCode\")` gives `\"get_h_t_t_p_response_code\"`.\r\n\r\n" +
					"textkit 0.3.0, Python 3.11.",
			},
			{
				Number: 3, Author: "grace", Labels: []string{"bug"}, Created: "2024-03-06T09:00:00Z", ClosedByPull: 4,
				Title: "truncate() returns strings longer than the width",
				Body: "`truncate(\"hello world\", 8)` returns `\"hello wo...\"`, which is 11 characters long. " +
					"I use it to fit table cells, so the ellipsis has to fit inside the width.",
				Comments: []commentSpec{
					{Author: "dana", Created: "2024-03-06T11:00:00Z", Body: "Confirmed. The ellipsis should count towards the width; a width narrower than the ellipsis itself is probably a caller's mistake and could raise."},
					{Author: "grace", Created: "2024-03-08T16:00:00Z", Body: "Thanks, my tables line up now."},
				},
			},
			{
				Number: 5, Author: "heidi", Labels: []string{"bug"}, Created: "2024-03-11T08:00:00Z", ClosedByPull: 6,
				Title: "strip_accents() leaves precomposed characters alone",
				Body: "`strip_accents(\"café\")` returns `\"café\"`. It only works when the accent is a separate combining character " +
					"(`\"cafe\\u0301\"`), which is not what people type.",
			},
			{
				Number: 7, Author: "ivan", Labels: []string{"bug"}, Created: "2024-03-14T08:00:00Z", ClosedByPull: 8,
				Title: "slugify() leaves separators at the start and end",
				Body: "`slugify(\"  Hello, World!  \")` gives `\"-hello-world-\"` and `slugify(\"C++\")` gives `\"c-\"`. " +
					"A slug should not start or end with a separator.",
			},
			{
				Number: 9, Author: "judy", Labels: []string{"performance"}, Created: "2024-03-18T08:00:00Z", ClosedByPull: 11,
				Title: "wrap() gets slow with wide lines",
				Body: "Wrapping a long document at width 2000 takes seconds: wrap() joins the whole current line again for every word it adds. " +
					"It could keep the line's length as it goes.",
				Comments: []commentSpec{
					{Author: "erin", Created: "2024-03-18T11:30:00Z", Body: "I can look at this; maybe textwrap does it for us."},
				},
			},
			{
				Number: 13, Author: "kim", Labels: []string{"enhancement"}, Created: "2024-03-25T08:00:00Z", ClosedByPull: 14,
				Title: "title_case() capitalises short function words",
				Body:  "`title_case(\"the art of war\")` gives `\"The Art Of War\"`. Titles usually keep words like \"of\", \"and\" and \"the\" lower-case unless they come first.",
			},
			{
				Number: 15, Author: "leo", Labels: []string{"documentation"}, Created: "2024-03-27T08:00:00Z", ClosedByPull: 16,
				Title: "README: the slugify example shows underscores",
				Body:  "The README says `slugify(\"Hello World\")` returns `'hello_world'`, but the default separator is `-`, so it returns `'hello-world'`.",
			},
		},
		Pulls: []pullSpec{
			{
				Number: 2, Author: "alice", Branch: "fix-acronyms", Base: "init", Head: "pr2-fix", Merge: "merge2",
				Created: "2024-03-04T13:20:00Z",
				Title:   "Split acronyms correctly in snake_case()",
				Body:    "snake_case() now treats a run of capitals as one word: `HTTPServer` -> `http_server`.\r\n\r\nFixes #1",
				Want: want{
					Story: "bug fix with new parametrised cases; \"Fixes #1\" in the body",
					Mine:  kept, Build: kept, Validate: kept,
					FailToPass: []string{
						"tests/test_case.py::test_snake_case[HTTPServer-http_server]",
						"tests/test_case.py::test_snake_case[getHTTPResponseCode-get_http_response_code]",
					},
					PassToPass: []string{
						"tests/test_case.py::test_snake_case[helloWorld-hello_world]",
						"tests/test_case.py::test_snake_case[hello world-hello_world]",
						"tests/test_case.py::test_snake_case[already_snake-already_snake]",
						"tests/test_case.py::test_camel_case",
						"tests/test_case.py::test_title_case",
					},
				},
			},
			{
				Number: 4, Author: "bob", Branch: "truncate-width", Base: "merge2", Head: "pr4-test", Merge: "merge4",
				Created: "2024-03-07T11:00:00Z",
				Title:   "Make truncate() respect its width",
				Body:    "The ellipsis now counts towards the width, and a width narrower than the ellipsis raises ValueError.",
				Want: want{
					Story: "bug fix in two commits, tests in a test class; \"Fixes #3\" only in a commit message; one comment on #3 before the first commit (hints_text), one after",
					Mine:  kept, Build: kept, Validate: kept,
					FailToPass: []string{
						"tests/test_wrap.py::TestTruncate::test_result_fits_width",
						"tests/test_wrap.py::TestTruncate::test_custom_ellipsis",
						"tests/test_wrap.py::TestTruncate::test_width_narrower_than_ellipsis",
					},
					PassToPass: []string{
						"tests/test_wrap.py::TestTruncate::test_short_text_unchanged",
						"tests/test_wrap.py::TestTruncate::test_exact_width_unchanged",
						"tests/test_wrap.py::TestWrap::test_breaks_at_spaces",
						"tests/test_wrap.py::TestWrap::test_short_text",
					},
				},
			},
			{
				Number: 6, Author: "carol", Branch: "precomposed-accents", Base: "merge4", Head: "pr6-fix", Merge: "merge6",
				Created: "2024-03-12T09:30:00Z",
				Title:   "Fix strip_accents() on precomposed characters (fixes #5)",
				Body:    "Decompose to NFD before dropping combining marks, then recompose. Adds an `accented_words` fixture for the tests.",
				Want: want{
					Story: "bug fix whose test uses a new fixture in tests/conftest.py; \"fixes #5\" in the title",
					Mine:  kept, Build: kept, Validate: kept,
					FailToPass: []string{
						"tests/test_normalize.py::test_strip_accents_precomposed",
					},
					PassToPass: []string{
						"tests/test_normalize.py::test_normalize_whitespace",
						"tests/test_normalize.py::test_strip_accents_combining",
						"tests/test_normalize.py::test_strip_accents_keeps_ascii",
					},
				},
			},
			{
				Number: 8, Author: "alice", Branch: "slug-edges", Base: "merge6", Head: "pr8-fix", Merge: "merge8",
				Created: "2024-03-15T10:15:00Z",
				Title:   "Strip separators from both ends of slugs",
				Body:    "Closes #7\r\n\r\n`test_flaky_alternating` failed on CI once more; unrelated.",
				Want: want{
					Story: "bug fix with parametrised cases named by id=; its test file also holds test_flaky_alternating, which passes on every other run",
					Mine:  kept, Build: kept, Validate: kept,
					FailToPass: []string{
						"tests/test_slug.py::test_slugify_strips_separators[padded]",
						"tests/test_slug.py::test_slugify_strips_separators[leading-punctuation]",
						"tests/test_slug.py::test_slugify_strips_separators[trailing-punctuation]",
					},
					PassToPass: []string{
						"tests/test_slug.py::test_slugify[Hello World-hello-world]",
						"tests/test_slug.py::test_slugify[Release 2.0 notes-release-2-0-notes]",
						"tests/test_slug.py::test_slugify_custom_separator",
					},
					Flaky: []string{"tests/test_slug.py::test_flaky_alternating"},
				},
			},
			{
				Number: 10, Author: "erin", Branch: "wrap-textwrap", Base: "merge8", Head: "pr10-attempt",
				Created: "2024-03-18T12:10:00Z", Closed: "2024-03-20T09:00:00Z",
				Title: "Use textwrap in wrap()",
				Body:  "Fixes #9 by handing the work to the standard library.",
				Want: want{
					Story: "closed without merging (a first attempt at #9)",
					Mine:  "not_merged",
				},
			},
			{
				Number: 11, Author: "bob", Branch: "wrap-linear", Base: "merge8", Head: "pr11-fix", Merge: "merge11",
				Created: "2024-03-20T14:30:00Z",
				Title:   "Make wrap() linear in the length of the text",
				Body:    "Keeps a running length instead of joining the line again for every word. Behaviour is unchanged; the new tests pin it down.\r\n\r\nResolves #9",
				Want: want{
					Story: "performance fix whose new tests already pass before it",
					Mine:  kept, Build: kept, Validate: "no_fail_to_pass",
				},
			},
			{
				Number: 12, Author: "carol", Branch: "count-words", Base: "merge11", Head: "pr12-count", Merge: "merge12",
				Created: "2024-03-22T10:05:00Z",
				Title:   "Add count_words()",
				Body:    "Counts words the way the CLI's `--stats` flag needs them (a contraction counts once).",
				Want: want{
					Story: "new feature with tests, no issue",
					Mine:  "no_linked_issue",
				},
			},
			{
				Number: 14, Author: "dave", Branch: "title-small-words", Base: "merge12", Head: "pr14-fix", Merge: "merge14",
				Created: "2024-03-25T11:10:00Z",
				Title:   "Keep short function words lower-case in title_case()",
				Body:    "Fixes #13",
				Want: want{
					Story: "code change without a test",
					Mine:  "no_test_change",
				},
			},
			{
				Number: 16, Author: "erin", Branch: "docs-slugify", Base: "merge14", Head: "pr16-docs", Merge: "merge16",
				Created: "2024-03-27T10:05:00Z",
				Title:   "Fix the slugify example in the README",
				Body:    "Closes #15",
				Want: want{
					Story: "documentation only",
					Mine:  "no_test_change",
				},
			},
		},
	},
	{
		Owner: "demo", Name: "confparse", Stars: 17,
		Description: "A small INI-style configuration parser",
		Language:    "Python", License: "ISC", Topics: []string{"configuration", "ini", "python"},
		Created: "2023-09-04T08:00:00Z", Maintainer: "olga",
		Issues: []issueSpec{
			{
				Number: 1, Author: "mia", Labels: []string{"bug"}, Created: "2024-02-09T10:00:00Z", ClosedByPull: 2,
				Title: "Inline comments end up in values",
				Body: "With\r\n\r\n```ini\r\n[server]\r\nport = 8080  # the default\r\n```\r\n\r\n" +
					"`getint(config, \"server\", \"port\")` raises `ValueError: invalid literal for int() with base 10: '8080  # the default'`. " +
					"configparser strips such comments (`inline_comment_prefixes`); confparse should too.",
			},
			{
				Number: 3, Author: "nina", Labels: []string{"bug"}, Created: "2024-02-16T09:00:00Z", ClosedByPull: 4,
				Title: "getbool() rejects yes/no and on/off",
				Body:  "`getbool` only knows true/false and 1/0, so `debug = yes` raises `ValueError: s.debug: 'yes' is not a boolean`. configparser accepts yes/no and on/off too.",
				Comments: []commentSpec{
					{Author: "olga", Created: "2024-02-16T12:00:00Z", Body: "Agreed, let's accept the same words as configparser, in any case."},
				},
			},
			{
				Number: 5, Author: "olga", Labels: []string{"enhancement"}, Created: "2024-02-23T09:00:00Z", ClosedByPull: 6,
				Title: "No test covers the line numbers of parse errors",
				Body:  "ParseError.lineno has to count blank and comment lines too; nothing tests that.",
			},
		},
		Pulls: []pullSpec{
			{
				Number: 2, Author: "pablo", Branch: "inline-comments", Base: "init", Head: "pr2-fix", Merge: "merge2",
				Created: "2024-02-12T14:20:00Z",
				Title:   "Strip inline comments from values",
				Body:    "Fixes #1\r\n\r\nA quoted value keeps its `#` and `;`.",
				Want: want{
					Story: "bug fix; unittest test class",
					Mine:  kept, Build: kept, Validate: kept,
					FailToPass: []string{
						"tests/test_parser.py::TestParse::test_inline_comment_stripped",
						"tests/test_parser.py::TestParse::test_quoted_value_keeps_hash",
					},
					PassToPass: []string{
						"tests/test_parser.py::TestParse::test_sections",
						"tests/test_parser.py::TestParse::test_keys_before_any_section",
						"tests/test_parser.py::TestParse::test_comment_lines_ignored",
						"tests/test_parser.py::TestParse::test_missing_equals_raises",
					},
				},
			},
			{
				Number: 4, Author: "quinn", Branch: "bool-words", Base: "merge2", Head: "pr4-fix", Merge: "merge4",
				Created: "2024-02-19T16:10:00Z",
				Title:   "Accept yes/no and on/off in getbool()",
				Body:    "Matches configparser's boolean words.",
				Want: want{
					Story: "bug fix tested with subTest; \"Closes #3\" in the commit message; a comment on #3 before the commit (hints_text)",
					Mine:  kept, Build: kept, Validate: kept,
					FailToPass: []string{
						"tests/test_types.py::TestGetBool::test_yes_no_on_off",
					},
					PassToPass: []string{
						"tests/test_types.py::TestGetInt::test_value",
						"tests/test_types.py::TestGetInt::test_fallback",
						"tests/test_types.py::TestGetBool::test_true_false",
						"tests/test_types.py::TestGetBool::test_not_a_boolean",
					},
				},
			},
			{
				Number: 6, Author: "pablo", Branch: "error-line-tests", Base: "merge4", Head: "pr6-tests", Merge: "merge6",
				Created: "2024-02-26T11:10:00Z",
				Title:   "Test the line numbers of parse errors",
				Body:    "Closes #5",
				Want: want{
					Story: "tests only",
					Mine:  "no_code_change",
				},
			},
		},
	},
	{
		Owner: "demo", Name: "gostr", Stars: 9,
		Description: "String helpers for Go",
		Language:    "Go", License: "BSD-3-Clause", Topics: []string{"go", "strings"},
		Created: "2024-03-28T09:00:00Z", Maintainer: "gopher",
		Tags: map[string]string{"v1.0.0": "init", "v1.1.0": "merge2"},
		Issues: []issueSpec{
			{
				Number: 1, Author: "uma", Labels: []string{"bug"}, Created: "2024-04-05T09:00:00Z", ClosedByPull: 2,
				Title: "Reverse garbles non-ASCII strings",
				Body:  "`gostr.Reverse(\"héllo\")` returns invalid UTF-8: it reverses the bytes, so multi-byte characters come out scrambled.",
			},
			{
				Number: 3, Author: "vic", Labels: []string{"bug"}, Created: "2024-04-12T09:00:00Z", ClosedByPull: 4,
				Title: "PadLeft pads too little when s has multi-byte characters",
				Body:  "`PadLeft(\"héllo\", 7, '.')` returns `\".héllo\"` (6 characters) instead of `\"..héllo\"`: the width is compared with `len(s)`, which counts bytes.",
			},
		},
		Pulls: []pullSpec{
			{
				Number: 2, Author: "ravi", Branch: "reverse-runes", Base: "init", Head: "pr2-fix", Merge: "merge2",
				Created: "2024-04-08T10:20:00Z",
				Title:   "Reverse runes, not bytes",
				Body:    "Fixes #1",
				Want: want{
					Story: "bug fix with a new table-driven subtest",
					Mine:  kept, Build: kept, Validate: kept,
					FailToPass: []string{"TestReverse", "TestReverse/unicode"},
					PassToPass: []string{"TestPadLeft", "TestPadLeft/already_wide", "TestPadLeft/shorter", "TestReverse/ascii", "TestReverse/empty"},
				},
			},
			{
				Number: 4, Author: "sam", Branch: "pad-runes", Base: "merge2", Head: "pr4-fix", Merge: "merge4",
				Created: "2024-04-15T13:15:00Z",
				Title:   "Count runes, not bytes, in PadLeft",
				Body:    "Fixes #3",
				Want: want{
					Story: "bug fix with a new table-driven subtest (a subtest named with a space shows as already_wide)",
					Mine:  kept, Build: kept, Validate: kept,
					FailToPass: []string{"TestPadLeft", "TestPadLeft/multibyte"},
					PassToPass: []string{"TestPadLeft/already_wide", "TestPadLeft/shorter", "TestReverse", "TestReverse/ascii", "TestReverse/empty", "TestReverse/unicode"},
				},
			},
			{
				Number: 5, Author: "ravi", Branch: "pad-right", Base: "merge4", Head: "pr5-padright", Merge: "merge5",
				Created: "2024-04-18T10:10:00Z",
				Title:   "Add PadRight",
				Body:    "The right-hand twin of PadLeft, counting runes too; fixes #4 for the other side.",
				Want: want{
					Story: "\"fixes #4\", but #4 is a pull request",
					Mine:  "issue_is_pull_request",
				},
			},
		},
	},
	{
		Owner: "demo", Name: "brokenpkg", Stars: 4,
		Description: "Fast descriptive statistics",
		Language:    "Python", License: "MIT", Topics: []string{"cython", "statistics"},
		Created: "2024-05-01T09:00:00Z", Maintainer: "bea",
		Issues: []issueSpec{
			{
				Number: 1, Author: "wes", Labels: []string{"bug"}, Created: "2024-05-08T09:00:00Z", ClosedByPull: 2,
				Title: "median() of an even number of values is wrong",
				Body:  "`median([4, 1, 3, 2])` returns 3; the median of an even number of values is the mean of the two middle ones, 2.5.",
			},
		},
		Pulls: []pullSpec{
			{
				Number: 2, Author: "cleo", Branch: "median-even", Base: "init", Head: "pr2-fix", Merge: "merge2",
				Created: "2024-05-10T11:20:00Z",
				Title:   "Average the two middle values in median()",
				Body:    "Fixes #1",
				Want: want{
					Story: "a task, but setup.py imports Cython, which cannot be installed offline",
					Mine:  kept, Build: "install_failed",
				},
			},
		},
	},
	{
		Owner: "demo", Name: "legacyfmt", Stars: 2,
		Description: "Number formatting, the old-fashioned way",
		Language:    "Python", Topics: []string{"formatting"},
		Created: "2024-01-10T09:00:00Z", Maintainer: "lee",
		Drop: "license_not_allowed",
		Issues: []issueSpec{
			{
				Number: 1, Author: "zoe", Created: "2024-01-20T09:00:00Z", ClosedByPull: 2,
				Title: "thousands() cannot use a dot as the separator",
				Body:  "Many European users write 1.234.567; thousands() only knows commas.",
			},
		},
		Pulls: []pullSpec{
			{
				Number: 2, Author: "lee", Branch: "separator", Base: "init", Head: "pr2-fix", Merge: "merge2",
				Created: "2024-01-22T10:10:00Z",
				Title:   "Accept a separator in thousands()",
				Body:    "Fixes #1",
				Want: want{
					Story: "would be a task, but GitHub detects no licence, so the repository is dropped whole",
				},
			},
		},
	},
	{
		Owner: "demo", Name: "jsutil", Stars: 31,
		Description: "Array and string helpers for Node.js",
		Language:    "JavaScript", License: "MIT", Topics: []string{"javascript", "nodejs", "jest"},
		Created: "2024-06-28T09:00:00Z", Maintainer: "jo",
		Tags: map[string]string{"v1.2.0": "init", "v1.3.0": "merge4"},
		Issues: []issueSpec{
			{
				Number: 1, Author: "pia", Labels: []string{"bug"}, Created: "2024-07-05T09:00:00Z", ClosedByPull: 2,
				Title: "chunk() drops the last elements",
				Body:  "`chunk([1, 2, 3, 4, 5], 2)` returns `[[1, 2], [3, 4]]`: the `5` is gone. I expected `[[1, 2], [3, 4], [5]]`, like lodash's chunk.",
			},
			{
				Number: 3, Author: "quinn", Labels: []string{"bug"}, Created: "2024-07-12T09:00:00Z", ClosedByPull: 4,
				Title: "capitalize('') throws",
				Body:  "`capitalize('')` throws `TypeError: Cannot read properties of undefined (reading 'toUpperCase')`. An empty string should come back empty.",
			},
			{
				Number: 5, Author: "pia", Labels: []string{"documentation"}, Created: "2024-07-18T09:00:00Z", ClosedByPull: 6,
				Title: "Which errors does chunk() throw?",
				Body:  "The README does not say what happens with a size of 0.",
			},
		},
		Pulls: []pullSpec{
			{
				Number: 2, Author: "kai", Branch: "partial-chunk", Base: "init", Head: "pr2-fix", Merge: "merge2",
				Created: "2024-07-08T10:20:00Z",
				Title:   "Keep the last partial chunk",
				Body:    "Fixes #1",
				Want: want{
					Story: "bug fix with a new Jest test in a describe block",
					Mine:  kept, Build: kept, Validate: kept,
					FailToPass: []string{"chunk keeps the last partial chunk"},
					PassToPass: []string{"chunk splits evenly", "chunk returns no chunks for an empty array", "chunk rejects a size below one"},
				},
			},
			{
				Number: 4, Author: "lin", Branch: "capitalize-empty", Base: "merge2", Head: "pr4-fix", Merge: "merge4",
				Created: "2024-07-15T11:20:00Z",
				Title:   "Let capitalize take an empty string",
				Body:    "Fixes #3",
				Want: want{
					Story: "bug fix with a new Jest test",
					Mine:  kept, Build: kept, Validate: kept,
					FailToPass: []string{"capitalize returns an empty string unchanged"},
					PassToPass: []string{"capitalize upper-cases the first letter", "capitalize leaves the rest alone"},
				},
			},
			{
				Number: 6, Author: "kai", Branch: "chunk-docs", Base: "merge4", Head: "pr6-docs", Merge: "merge6",
				Created: "2024-07-19T10:20:00Z",
				Title:   "Document the errors chunk throws",
				Body:    "Fixes #5",
				Want: want{
					Story: "documentation only",
					Mine:  "no_test_change",
				},
			},
		},
	},
	{
		Owner: "demo", Name: "rustnum", Stars: 17,
		Description: "Small number helpers: gcd, lcm and Roman numerals",
		Language:    "Rust", License: "MIT", Topics: []string{"rust", "math"},
		Created: "2024-06-01T09:00:00Z", Maintainer: "rhea",
		Tags: map[string]string{"v0.1.0": "init", "v0.2.0": "merge4"},
		Issues: []issueSpec{
			{
				Number: 1, Author: "sol", Labels: []string{"bug"}, Created: "2024-06-07T09:00:00Z", ClosedByPull: 2,
				Title: "gcd(0, n) is 0",
				Body:  "`gcd(0, 5)` returns `0`; by definition it is `5` (and `lcm` relies on it).",
			},
			{
				Number: 3, Author: "uri", Labels: []string{"bug"}, Created: "2024-06-14T09:00:00Z", ClosedByPull: 4,
				Title: "parse_roman(\"IV\") is 6",
				Body:  "Subtractive pairs are added instead of subtracted: `parse_roman(\"IV\")` gives `Some(6)` and `parse_roman(\"MCMXCIV\")` gives `Some(2216)`.",
			},
		},
		Pulls: []pullSpec{
			{
				Number: 2, Author: "omar", Branch: "gcd-zero", Base: "init", Head: "pr2-fix", Merge: "merge2",
				Created: "2024-06-10T10:20:00Z",
				Title:   "Let gcd take a zero",
				Body:    "Fixes #1",
				Want: want{
					Story: "bug fix with a new integration test in tests/",
					Mine:  kept, Build: kept, Validate: kept,
					FailToPass: []string{"gcd_with_zero"},
					PassToPass: []string{"gcd_of_coprimes", "gcd_of_multiples", "lcm_of_small_numbers"},
				},
			},
			{
				Number: 4, Author: "tess", Branch: "roman-subtractive", Base: "merge2", Head: "pr4-fix", Merge: "merge4",
				Created: "2024-06-17T14:20:00Z",
				Title:   "Read subtractive pairs in Roman numerals",
				Body:    "Closes #3",
				Want: want{
					Story: "bug fix with a new integration test in tests/",
					Mine:  kept, Build: kept, Validate: kept,
					FailToPass: []string{"subtractive_pairs"},
					PassToPass: []string{"additive_numerals", "rejects_other_letters"},
				},
			},
			{
				Number: 5, Author: "omar", Branch: "is-prime", Base: "merge4", Head: "pr5-prime", Merge: "merge5",
				Created: "2024-06-20T10:20:00Z",
				Title:   "Add is_prime",
				Body:    "Trial division is enough for the sizes we care about.",
				Want: want{
					Story: "a feature with tests, but no linked issue",
					Mine:  "no_linked_issue",
				},
			},
		},
	},
	{
		Owner: "demo", Name: "jcollect", Stars: 12,
		Description: "Small collections and string helpers for Java",
		Language:    "Java", License: "MIT", Topics: []string{"java", "collections"},
		Created: "2024-08-01T09:00:00Z", Maintainer: "mara",
		Tags: map[string]string{"v1.0.0": "init", "v1.1.0": "merge4"},
		Issues: []issueSpec{
			{
				Number: 1, Author: "pat", Labels: []string{"bug"}, Created: "2024-08-08T09:00:00Z", ClosedByPull: 2,
				Title: "BoundedStack takes one element more than its capacity",
				Body:  "A `new BoundedStack<>(2)` accepts a third `push` and returns `true`; its size is then 3.",
			},
			{
				Number: 3, Author: "rui", Labels: []string{"bug"}, Created: "2024-08-15T09:00:00Z", ClosedByPull: 4,
				Title: "Strings.repeat(s, 0) returns s",
				Body:  "`Strings.repeat(\"ab\", 0)` returns `\"ab\"`; repeating zero times should give the empty string.",
			},
			{
				Number: 5, Author: "nils", Labels: []string{"enhancement"}, Created: "2024-08-21T09:00:00Z", ClosedByPull: 6,
				Title: "Test size() after pops",
				Body:  "Nothing checks that size() goes down after a pop.",
			},
		},
		Pulls: []pullSpec{
			{
				Number: 2, Author: "nils", Branch: "full-stack", Base: "init", Head: "pr2-fix", Merge: "merge2",
				Created: "2024-08-12T10:20:00Z",
				Title:   "Refuse a push onto a full stack",
				Body:    "Fixes #1",
				Want: want{
					Story: "bug fix with a new JUnit 4 test method",
					Mine:  kept, Build: kept, Validate: kept,
					FailToPass: []string{"com.example.jcollect.BoundedStackTest#pushOntoAFullStackIsRefused"},
					PassToPass: []string{
						"com.example.jcollect.BoundedStackTest#popReturnsTheLastPushed",
						"com.example.jcollect.BoundedStackTest#popOnEmptyThrows",
						"com.example.jcollect.BoundedStackTest#rejectsZeroCapacity",
					},
				},
			},
			{
				Number: 4, Author: "ola", Branch: "repeat-zero", Base: "merge2", Head: "pr4-fix", Merge: "merge4",
				Created: "2024-08-19T15:20:00Z",
				Title:   "Repeat zero times gives the empty string",
				Body:    "Fixes #3",
				Want: want{
					Story: "bug fix with a new JUnit 4 test method in another class",
					Mine:  kept, Build: kept, Validate: kept,
					FailToPass: []string{"com.example.jcollect.StringsTest#repeatZeroTimesIsEmpty"},
					PassToPass: []string{"com.example.jcollect.StringsTest#repeatsThreeTimes", "com.example.jcollect.StringsTest#negativeCountThrows"},
				},
			},
			{
				Number: 6, Author: "nils", Branch: "size-tests", Base: "merge4", Head: "pr6-tests", Merge: "merge6",
				Created: "2024-08-22T10:20:00Z",
				Title:   "Test size() after pops",
				Body:    "Closes #5",
				Want: want{
					Story: "tests only",
					Mine:  "no_code_change",
				},
			},
		},
	},
}
