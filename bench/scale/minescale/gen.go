package minescale

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"testing/fstest"
	"time"

	"github.com/google/go-github/v62/github"

	"swemill/gitexec"
	"swemill/stages/mine"
)

// kind is what a generated pull request is, and so what the miner should make of it.
type kind int

const (
	kindUnmerged   kind = iota // closed without merging: not_merged
	kindNoRef                  // merged, code and tests, no closing reference: no_linked_issue
	kindNoTest                 // closes an issue, changes code only: no_test_change
	kindTestOnly               // closes an issue, changes tests only: no_code_change
	kindPullRef                // "fixes" another pull request: issue_is_pull_request
	kindMissing                // closes an issue GitHub does not have: issue_not_found
	kindKeptBody               // kept; the reference in the body, one comment on the issue
	kindKeptCommit             // kept; the reference in a commit message
)

// reason is the drop reason the miner gives a kind ("" for the kept ones).
func (k kind) reason() string {
	switch k {
	case kindUnmerged:
		return mine.DropNotMerged
	case kindNoRef:
		return mine.DropNoLinkedIssue
	case kindNoTest:
		return mine.DropNoTestChange
	case kindTestOnly:
		return mine.DropNoCodeChange
	case kindPullRef:
		return mine.DropIssueIsPullRequest
	case kindMissing:
		return mine.DropIssueNotFound
	}
	return ""
}

// kindOf is the kind of pull request n of template t, from a cycle of 200 that holds
// Skywork-SWE-like proportions: 30% closed unmerged, 45% merged without a closing reference,
// 7% closing an issue without a test change, 1.5% with tests only, 1% "fixing" a pull
// request, 0.5% a missing issue, and 15% kept. The cycle is walked in a stride coprime with
// 200, so a repository of 100 pull requests holds about those shares too.
func kindOf(t, n int) kind {
	switch slot := (n*137 + t*59) % 200; {
	case slot < 60:
		return kindUnmerged
	case slot < 150:
		return kindNoRef
	case slot < 164:
		return kindNoTest
	case slot < 167:
		return kindTestOnly
	case slot < 169:
		if n == 1 {
			return kindNoRef // no earlier pull request to point at
		}
		return kindPullRef
	case slot < 170:
		return kindMissing
	case slot%2 == 0:
		return kindKeptBody
	default:
		return kindKeptCommit
	}
}

// placeholder stands for the repository's name in a template's files; serving a repository
// replaces it.
const placeholder = "__scale_repo__"

// owner owns every generated repository.
const owner = "scale"

// repoName is the name of generated repository i.
func repoName(i int) string { return fmt.Sprintf("r%05d", i) }

// template is one generated git repository and the API files of the repositories it
// serves, with placeholder for their name.
type template struct {
	gitDir string
	files  fstest.MapFS // below OWNER/NAME/: repo.json, pulls.json, issues/...
	// outcomes counts the pull requests by drop reason, "" for the kept ones.
	outcomes map[string]int
}

// fastImport builds a git fast-import stream.
type fastImport struct {
	b    bytes.Buffer
	mark int
}

func (f *fastImport) data(s string) {
	fmt.Fprintf(&f.b, "data %d\n%s\n", len(s), s)
}

// commit writes a commit on ref and returns its mark.
func (f *fastImport) commit(ref string, when time.Time, msg string, from, merge int, files map[string]string) int {
	f.mark++
	fmt.Fprintf(&f.b, "commit %s\nmark :%d\n", ref, f.mark)
	ts := fmt.Sprintf("%d +0000", when.Unix())
	fmt.Fprintf(&f.b, "author Gen <gen@example.com> %s\ncommitter Gen <gen@example.com> %s\n", ts, ts)
	f.data(msg)
	if from > 0 {
		fmt.Fprintf(&f.b, "from :%d\n", from)
	}
	if merge > 0 {
		fmt.Fprintf(&f.b, "merge :%d\n", merge)
	}
	for p, c := range files {
		fmt.Fprintf(&f.b, "M 100644 inline %s\n", p)
		f.data(c)
	}
	f.b.WriteString("\n")
	return f.mark
}

// makeTemplate generates template t with prs pull requests: a bare git repository under dir
// and its API files in memory.
func makeTemplate(ctx context.Context, dir string, t, prs int) (*template, error) {
	t0 := time.Date(2023, 1, 1, 0, 0, 0, 0, time.UTC)
	fi := &fastImport{}
	initFiles := map[string]string{"README.md": "# generated\n"}
	for k := 0; k < 20; k++ {
		initFiles[fmt.Sprintf("pkg/mod%d.py", k)] = "VALUE = 0\n"
		initFiles[fmt.Sprintf("tests/test_mod%d.py", k)] = fmt.Sprintf("from pkg.mod%d import VALUE\n\n\ndef test_value():\n    assert VALUE == 0\n", k)
	}
	main := fi.commit("refs/heads/main", t0, "Initial import", 0, 0, initFiles)
	type prRec struct {
		n                 int
		kind              kind
		base, head, merge int
		issue             int
	}
	tp := &template{outcomes: map[string]int{}}
	var recs []prRec
	issueNo := prs + 1
	for n := 1; n <= prs; n++ {
		k := kindOf(t, n)
		tp.outcomes[k.reason()]++
		rec := prRec{n: n, kind: k, base: main}
		if k == kindUnmerged {
			rec.head = main
			recs = append(recs, rec)
			continue
		}
		at := t0.Add(time.Duration(n) * time.Hour)
		mod := n % 20
		files := map[string]string{}
		if k != kindTestOnly {
			files[fmt.Sprintf("pkg/mod%d.py", mod)] = fmt.Sprintf("VALUE = %d\n", n)
		}
		if k != kindNoTest {
			files[fmt.Sprintf("tests/test_mod%d.py", mod)] = fmt.Sprintf("from pkg.mod%d import VALUE\n\n\ndef test_value():\n    assert VALUE == %d\n", mod, n)
		}
		msg := fmt.Sprintf("Change %d", n)
		switch k {
		case kindNoTest, kindTestOnly, kindKeptBody, kindKeptCommit:
			rec.issue = issueNo
			issueNo++
		}
		if k == kindKeptCommit {
			msg += fmt.Sprintf("\n\nFixes #%d", rec.issue)
		}
		rec.head = fi.commit(fmt.Sprintf("refs/heads/pr/%d", n), at, msg, main, 0, files)
		main = fi.commit("refs/heads/main", at.Add(30*time.Minute), fmt.Sprintf("Merge pull request #%d", n), main, rec.head, files)
		rec.merge = main
		recs = append(recs, rec)
	}

	tp.gitDir = filepath.Join(dir, fmt.Sprintf("template%d.git", t))
	if _, err := gitexec.Run(ctx, dir, "init", "--quiet", "--bare", "-b", "main", tp.gitDir); err != nil {
		return nil, fmt.Errorf("creating template repository %d: %w", t, err)
	}
	marks := filepath.Join(dir, fmt.Sprintf("template%d.marks", t))
	if _, err := gitexec.RunWith(ctx, tp.gitDir, gitexec.Options{Stdin: fi.b.String()}, "fast-import", "--quiet", "--export-marks="+marks); err != nil {
		return nil, fmt.Errorf("importing template repository %d: %w", t, err)
	}
	mb, err := os.ReadFile(marks)
	if err != nil {
		return nil, fmt.Errorf("reading marks of template repository %d: %w", t, err)
	}
	sha := map[int]string{}
	for _, l := range strings.Split(strings.TrimSpace(string(mb)), "\n") {
		m, s, ok := strings.Cut(strings.TrimPrefix(l, ":"), " ")
		n, err := strconv.Atoi(m)
		if !ok || err != nil {
			return nil, fmt.Errorf("reading marks of template repository %d: bad line %q", t, l)
		}
		sha[n] = s
	}

	full := owner + "/" + placeholder
	files := fstest.MapFS{}
	put := func(name string, v any) error {
		b, err := json.Marshal(v)
		if err != nil {
			return fmt.Errorf("encoding %s of template %d: %w", name, t, err)
		}
		files[name] = &fstest.MapFile{Data: b, ModTime: t0, Mode: 0o644}
		return nil
	}
	repoJSON := &github.Repository{
		ID: github.Int64(int64(1000 + t)), Name: github.String(placeholder), FullName: github.String(full),
		Owner:    &github.User{Login: github.String(owner), Type: github.String("Organization")},
		CloneURL: github.String("https://github.com/" + full + ".git"), DefaultBranch: github.String("main"),
		Language: github.String("Python"),
		License:  &github.License{Key: github.String("mit"), Name: github.String("MIT License"), SPDXID: github.String("MIT")},
		PushedAt: &github.Timestamp{Time: t0}, StargazersCount: github.Int(100), WatchersCount: github.Int(100),
	}
	if err := put("repo.json", repoJSON); err != nil {
		return nil, err
	}
	user := &github.User{Login: github.String("gen"), ID: github.Int64(7)}
	var pulls []*github.PullRequest
	for _, p := range recs {
		at := t0.Add(time.Duration(p.n) * time.Hour)
		ts := func(d time.Duration) *github.Timestamp { return &github.Timestamp{Time: at.Add(d)} }
		pr := &github.PullRequest{
			Number: github.Int(p.n), State: github.String("closed"), Title: github.String(fmt.Sprintf("Change %d", p.n)),
			User: user, CreatedAt: ts(10 * time.Minute), UpdatedAt: ts(31 * time.Minute), ClosedAt: ts(30 * time.Minute),
			URL:     github.String(fmt.Sprintf("https://api.github.com/repos/%s/pulls/%d", full, p.n)),
			HTMLURL: github.String(fmt.Sprintf("https://github.com/%s/pull/%d", full, p.n)),
			Head:    &github.PullRequestBranch{Ref: github.String(fmt.Sprintf("pr/%d", p.n)), SHA: github.String(sha[p.head])},
			Base:    &github.PullRequestBranch{Ref: github.String("main"), SHA: github.String(sha[p.base]), Repo: repoJSON},
		}
		switch p.kind {
		case kindNoTest, kindTestOnly, kindKeptBody:
			pr.Body = github.String(fmt.Sprintf("This changes module %d.\r\n\r\nFixes #%d", p.n%20, p.issue))
		case kindPullRef:
			pr.Body = github.String(fmt.Sprintf("Follow-up. Fixes #%d", p.n-1))
		case kindMissing:
			pr.Body = github.String(fmt.Sprintf("Fixes #%d", 1_000_000+p.n))
		default:
			pr.Body = github.String(fmt.Sprintf("This changes module %d.", p.n%20))
		}
		if p.kind != kindUnmerged {
			pr.MergedAt = ts(30 * time.Minute)
			pr.MergeCommitSHA = github.String(sha[p.merge])
		}
		pulls = append(pulls, pr)
		if p.issue == 0 {
			continue
		}
		comments := 0
		if p.kind == kindKeptBody {
			comments = 1
		}
		is := &github.Issue{
			Number: github.Int(p.issue), State: github.String("closed"), User: user, Comments: github.Int(comments),
			Title:     github.String(fmt.Sprintf("Module %d returns the wrong value", p.n%20)),
			Body:      github.String(fmt.Sprintf("pkg/mod%d.VALUE should be %d; it is not, and the tests do not catch it.", p.n%20, p.n)),
			CreatedAt: &github.Timestamp{Time: at.Add(-2 * time.Hour)}, ClosedAt: ts(30 * time.Minute),
			UpdatedAt: ts(30 * time.Minute),
		}
		if err := put(fmt.Sprintf("issues/%d.json", p.issue), is); err != nil {
			return nil, err
		}
		if comments > 0 {
			if err := put(fmt.Sprintf("issues/%d/comments.json", p.issue), []*github.IssueComment{{
				ID: github.Int64(int64(p.issue)), User: user, Body: github.String("Confirmed on main."),
				CreatedAt: &github.Timestamp{Time: at.Add(-time.Hour)},
			}}); err != nil {
				return nil, err
			}
		}
	}
	if err := put("pulls.json", pulls); err != nil {
		return nil, err
	}
	tp.files = files
	return tp, nil
}

// virtualFS serves repos generated repositories in the snapshot format (OWNER/NAME/...):
// repository i is template i mod len(templates) with its name put in, computed on each
// read, so a million pull requests need no file of their own.
type virtualFS struct {
	repos     int
	templates []*template
}

var _ fs.FS = (*virtualFS)(nil)

// Open opens a generated repository's file or directory. Only paths below a repository
// exist: the fake GitHub never lists the root.
func (v *virtualFS) Open(name string) (fs.File, error) {
	fail := &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	if !fs.ValidPath(name) {
		fail.Err = fs.ErrInvalid
		return nil, fail
	}
	parts := strings.SplitN(name, "/", 3)
	if len(parts) < 3 || parts[0] != owner || !strings.HasPrefix(parts[1], "r") {
		return nil, fail
	}
	i, err := strconv.Atoi(parts[1][1:])
	if err != nil || i < 0 || i >= v.repos || repoName(i) != parts[1] {
		return nil, fail
	}
	tp := v.templates[i%len(v.templates)]
	rest := parts[2]
	f, ok := tp.files[rest]
	if !ok {
		// A directory (issues/, issues/N/) or nothing: the template's tree answers.
		return tp.files.Open(rest)
	}
	data := bytes.ReplaceAll(f.Data, []byte(placeholder), []byte(parts[1]))
	return fstest.MapFS{path.Base(rest): {Data: data, ModTime: f.ModTime, Mode: f.Mode}}.Open(path.Base(rest))
}
