package mine

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-github/v62/github"
)

// genKind is what a generated pull request is.
type genKind int

const (
	genUnmerged     genKind = iota // closed without merging
	genNoRef                       // merged, no reference
	genNoTest                      // merged, "Fixes #issue", code change only
	genTestOnly                    // merged, "Fixes #issue", test change only
	genPullRef                     // merged, "Fixes #<another pull request>"
	genMissingIssue                // merged, "Fixes #<an issue that does not exist>"
	genKeptBody                    // merged, "Fixes #issue" in the body, code and test change
	genKeptCommit                  // the same with the keyword in a commit message
	genHuge                        // merged, "Fixes #issue", hugeFiles code files and a test
)

// genSpec describes a generated repository.
type genSpec struct {
	Owner, Name string
	PRs         int
	Kind        func(n int) genKind
	// HugeFiles is the number of files a genHuge pull request adds.
	HugeFiles int
}

// benchKind is the mix of the benchmark repositories, per hundred pull requests: 30 closed
// unmerged, 55 merged without any reference, 7 merged with a closing keyword but no test,
// 3 closing another pull request, 1 in 200 closing a missing issue, 2 kept (one with the
// keyword in the body and a comment on the issue, one in a commit message) and 2 with a
// keyword but tests only.
func benchKind(n int) genKind {
	switch r := n % 100; {
	case r < 30:
		return genUnmerged
	case r < 85:
		if n%200 == 50 {
			return genMissingIssue
		}
		return genNoRef
	case r < 92:
		return genNoTest
	case r < 95:
		return genPullRef
	case r == 96:
		return genKeptBody
	case r == 97:
		return genKeptCommit
	case r < 100 && r >= 98:
		return genTestOnly
	}
	return genNoRef
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
func (f *fastImport) commit(ref string, when time.Time, msg string, from int, merge int, files map[string]string) int {
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

// generate writes a snapshot-format repository (repo.git, repo.json, pulls.json, issues/)
// under dir and returns the number of pull requests the default filters should keep.
func generate(tb testing.TB, dir string, spec genSpec) int {
	tb.Helper()
	full := spec.Owner + "/" + spec.Name
	root := filepath.Join(dir, spec.Owner, spec.Name)
	must := func(err error) {
		tb.Helper()
		if err != nil {
			tb.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(root, "issues"), 0o755))
	t0 := time.Date(2023, 1, 1, 0, 0, 0, 0, time.UTC)
	fi := &fastImport{}
	initFiles := map[string]string{"README.md": "# " + full + "\n"}
	for k := 0; k < 20; k++ {
		initFiles[fmt.Sprintf("pkg/mod%d.py", k)] = "VALUE = 0\n"
		initFiles[fmt.Sprintf("tests/test_mod%d.py", k)] = fmt.Sprintf("from pkg.mod%d import VALUE\n\n\ndef test_value():\n    assert VALUE == 0\n", k)
	}
	main := fi.commit("refs/heads/main", t0, "Initial import", 0, 0, initFiles)
	type prRec struct {
		n                int
		kind             genKind
		base, head, merg int
		issue            int
	}
	var prs []prRec
	issueNo := spec.PRs + 1
	kept := 0
	for n := 1; n <= spec.PRs; n++ {
		kind := spec.Kind(n)
		at := t0.Add(time.Duration(n) * time.Hour)
		rec := prRec{n: n, kind: kind, base: main}
		if kind == genUnmerged {
			rec.head = main
			prs = append(prs, rec)
			continue
		}
		k := n % 20
		files := map[string]string{}
		code := func() { files[fmt.Sprintf("pkg/mod%d.py", k)] = fmt.Sprintf("VALUE = %d\n", n) }
		test := func() {
			files[fmt.Sprintf("tests/test_mod%d.py", k)] = fmt.Sprintf("from pkg.mod%d import VALUE\n\n\ndef test_value():\n    assert VALUE == %d\n", k, n)
		}
		msg := fmt.Sprintf("Change %d", n)
		switch kind {
		case genNoRef, genPullRef, genMissingIssue, genKeptBody:
			code()
			test()
		case genNoTest:
			code()
		case genTestOnly:
			test()
		case genKeptCommit:
			code()
			test()
			msg += fmt.Sprintf("\n\nFixes #%d", issueNo)
		case genHuge:
			for j := 0; j < spec.HugeFiles; j++ {
				files[fmt.Sprintf("big/f%04d.py", j)] = fmt.Sprintf("N = %d\n", j)
			}
			test()
		}
		switch kind {
		case genNoTest, genTestOnly, genKeptBody, genKeptCommit, genHuge:
			rec.issue = issueNo
			issueNo++
		}
		if kind == genKeptBody || kind == genKeptCommit {
			kept++
		}
		rec.head = fi.commit(fmt.Sprintf("refs/heads/pr/%d", n), at, msg, main, 0, files)
		main = fi.commit("refs/heads/main", at.Add(30*time.Minute), fmt.Sprintf("Merge pull request #%d", n), main, rec.head, files)
		rec.merg = main
		prs = append(prs, rec)
	}
	gitDir := filepath.Join(root, "repo.git")
	marks := filepath.Join(tb.TempDir(), "marks")
	for _, args := range [][]string{{"init", "--quiet", "--bare", "-b", "main", gitDir}} {
		out, err := exec.Command("git", args...).CombinedOutput()
		must(errOut(err, out))
	}
	cmd := exec.Command("git", "--git-dir", gitDir, "fast-import", "--quiet", "--export-marks="+marks)
	cmd.Stdin = &fi.b
	out, err := cmd.CombinedOutput()
	must(errOut(err, out))
	mb, err := os.ReadFile(marks)
	must(err)
	sha := map[int]string{}
	for _, l := range strings.Split(strings.TrimSpace(string(mb)), "\n") {
		var m int
		var s string
		_, err := fmt.Sscanf(l, ":%d %s", &m, &s)
		must(err)
		sha[m] = s
	}

	repoJSON := &github.Repository{
		ID: github.Int64(42), Name: github.String(spec.Name), FullName: github.String(full),
		Owner:    &github.User{Login: github.String(spec.Owner), Type: github.String("Organization")},
		CloneURL: github.String("https://github.com/" + full + ".git"), DefaultBranch: github.String("main"),
		Language: github.String("Python"),
		License:  &github.License{Key: github.String("mit"), Name: github.String("MIT License"), SPDXID: github.String("MIT")},
		// As GitHub's, these change with pushes and stars (githubtest.Push, Star), in
		// repo.json and in the base repository every listed pull request embeds.
		PushedAt: &github.Timestamp{Time: t0}, StargazersCount: github.Int(100), WatchersCount: github.Int(100),
	}
	writeJSON(tb, filepath.Join(root, "repo.json"), repoJSON)
	var pulls []*github.PullRequest
	user := &github.User{Login: github.String("gen"), ID: github.Int64(7)}
	for _, p := range prs {
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
		case genNoTest, genTestOnly, genKeptBody, genHuge:
			pr.Body = github.String(fmt.Sprintf("This changes module %d.\r\n\r\nFixes #%d", p.n%20, p.issue))
		case genPullRef:
			pr.Body = github.String(fmt.Sprintf("Follow-up. Fixes #%d", p.n-1))
		case genMissingIssue:
			pr.Body = github.String(fmt.Sprintf("Fixes #%d", 1_000_000+p.n))
		default:
			pr.Body = github.String(fmt.Sprintf("This changes module %d.", p.n%20))
		}
		if p.kind != genUnmerged {
			pr.MergedAt = ts(30 * time.Minute)
			pr.MergeCommitSHA = github.String(sha[p.merg])
		}
		pulls = append(pulls, pr)
		if p.issue > 0 {
			comments := 0
			if p.kind == genKeptBody {
				comments = 1
			}
			is := &github.Issue{
				Number: github.Int(p.issue), State: github.String("closed"), User: user, Comments: github.Int(comments),
				Title:     github.String(fmt.Sprintf("Module %d returns the wrong value", p.n%20)),
				Body:      github.String(fmt.Sprintf("pkg/mod%d.VALUE should be %d; it is not, and the tests do not catch it.", p.n%20, p.n)),
				CreatedAt: &github.Timestamp{Time: at.Add(-2 * time.Hour)}, ClosedAt: ts(30 * time.Minute),
			}
			writeJSON(tb, filepath.Join(root, "issues", fmt.Sprintf("%d.json", p.issue)), is)
			if comments > 0 {
				writeJSON(tb, filepath.Join(root, "issues", fmt.Sprint(p.issue), "comments.json"), []*github.IssueComment{{
					ID: github.Int64(int64(p.issue)), User: user, Body: github.String("Confirmed on main."),
					CreatedAt: &github.Timestamp{Time: at.Add(-time.Hour)},
				}})
			}
		}
	}
	writeJSON(tb, filepath.Join(root, "pulls.json"), pulls)
	return kept
}

func errOut(err error, out []byte) error {
	if err != nil {
		return fmt.Errorf("%w: %s", err, out)
	}
	return nil
}

func writeJSON(tb testing.TB, path string, v any) {
	tb.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		tb.Fatal(err)
	}
	b, err := json.Marshal(v)
	if err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		tb.Fatal(err)
	}
}
