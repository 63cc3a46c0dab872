package mine

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/go-github/v62/github"
	"github.com/rs/zerolog"

	"swemill/difftext"
	"swemill/gitexec"
	"swemill/pipeline"
)

// Drop reasons the mine stage records.
const (
	DropNotMerged             = "not_merged"
	DropNoLinkedIssue         = "no_linked_issue"
	DropIssueIsPullRequest    = "issue_is_pull_request"
	DropIssueNotFound         = "issue_not_found"
	DropIssueUnreadable       = "issue_unreadable"
	DropNoTestChange          = "no_test_change"
	DropNoCodeChange          = "no_code_change"
	DropTooLarge              = "too_large"
	DropBinaryOnly            = "binary_only"
	DropPatchDoesNotApply     = "patch_does_not_apply"
	DropTestPatchDoesNotApply = "test_patch_does_not_apply"
	DropProblemStatementShort = "problem_statement_too_short"
	DropLicenseNotAllowed     = "license_not_allowed"
	DropDecontaminated        = "decontaminated"
	DropCommitsUnavailable    = "commits_unavailable"
	DropDiffUnavailable       = "diff_unavailable"
	DropDiffUnreadable        = "diff_unreadable"
	DropImportInvalid         = "import_invalid"
	// DropGitHubRefused: GitHub answered a request the pull request (or the repository)
	// needs with a 4xx that asking again will not change (400, 422 ...).
	DropGitHubRefused = "github_refused"
	// DropRepositoryNotFound drops a whole repository: one of the import source that has no
	// mirror, or one GitHub does not have (404, 410).
	DropRepositoryNotFound = "repository_not_found"
)

// Evidence names recorded in pipeline.LinkedIssue.Evidence.
const (
	EvidenceTitle    = "title"
	EvidenceBody     = "body"
	EvidenceCommit   = "commit"
	EvidenceImported = "imported"
)

// repoRun is the state of one Mine call on one repository.
type repoRun struct {
	m      *Miner
	repo   string
	api    restAPI
	mirror *mirror
	meta   repoMeta
	log    zerolog.Logger
	// knownPulls holds the numbers of the pull requests listed so far: a reference to one of
	// them needs no request to know it is not an issue.
	knownPulls map[int]bool
	// issues caches resolved issues within the call.
	issues map[string]*issueInfo
	// eager resolves the issues of every merged pull request before any filter (the snapshot
	// recorder uses it so a snapshot serves any filter configuration).
	eager bool
	// firstCommit is when the pull request being handled started (its first commit, or its
	// creation when its commits are gone); comments before it are hints.
	firstCommit time.Time
}

type issueInfo struct {
	issue    *github.Issue
	comments []*github.IssueComment
	// gone says the issue does not exist (deleted, or never did); unreadable, when set, why
	// GitHub refuses to show it.
	gone       bool
	unreadable string
}

// linkCandidate is an issue a pull request references, with where.
type linkCandidate struct {
	repo     string // owner/name, never empty
	number   int
	closing  bool
	pull     bool // referenced by a pull request URL
	evidence []string
}

// candidate turns one listed pull request into a candidate instance or a drop. Errors are
// left for infrastructure failures (GitHub unreachable past retries, a broken mirror). The
// steps go from free to costly: the pull request's own fields, its references and commits
// (from the mirror), its diff and the diff filters, and only then the issues (requests).
func (r *repoRun) candidate(ctx context.Context, pr *github.PullRequest) (pipeline.Mined, error) {
	inst := pipeline.Instance{
		InstanceID: InstanceID(r.repo, pr.GetNumber()),
		Repo:       r.repo,
		PullNumber: pr.GetNumber(),
		CreatedAt:  pr.GetCreatedAt().Time.UTC(),
		Source:     r.m.cfg.Source,
		License:    r.meta.License,
		Language:   strings.ToLower(r.meta.Language),
	}
	result := func(d *pipeline.DropError, err error) (pipeline.Mined, error) {
		if refused(err) {
			// One refusal drops this pull request only: the walk goes on past it.
			d, err = pipeline.Drop(DropGitHubRefused, "%v", err), nil
		}
		if err != nil {
			return pipeline.Mined{}, err
		}
		return pipeline.Mined{Instance: inst, Drop: d}, nil
	}
	if r.m.excludedInstance[inst.InstanceID] {
		return result(pipeline.Drop(DropDecontaminated, "instance is on the exclude list"), nil)
	}
	if pr.MergedAt == nil {
		return result(pipeline.Drop(DropNotMerged, "closed without merging"), nil)
	}
	inst.BaseCommit = pr.GetBase().GetSHA()

	links, d, err := r.links(ctx, pr, inst.CreatedAt)
	if d != nil || err != nil {
		return result(d, err)
	}
	linked := links.linked()
	if len(linked) == 0 {
		return result(pipeline.Drop(DropNoLinkedIssue, "no closing reference in the title, body or commits"), nil)
	}
	if r.eager {
		r.firstCommit = links.firstCommit
		if _, _, err := r.resolveIssues(ctx, linked, true); err != nil {
			return result(nil, err)
		}
	}

	diffText, d, err := r.diff(ctx, pr, links.headOK)
	if d != nil || err != nil {
		return result(d, err)
	}
	split, err := difftext.SplitDiff(diffText)
	if err != nil {
		return result(pipeline.Drop(DropDiffUnreadable, "%v", err), nil)
	}
	if mined, ok := r.filterDiff(inst, split); !ok {
		return mined, nil
	}
	inst.Patch, inst.TestPatch = split.Patch, split.TestPatch
	if reason, detail, err := checkHalves(ctx, r.mirror.dir, inst.BaseCommit, inst.Patch, inst.TestPatch); err != nil || reason != "" {
		if err != nil {
			return result(nil, err)
		}
		return result(pipeline.Drop(reason, "%s", detail), nil)
	}

	// Only now spend requests on the issues.
	r.firstCommit = links.firstCommit
	issues, why, err := r.resolveIssues(ctx, linked, false)
	if err != nil {
		return result(nil, err)
	}
	if len(issues) == 0 {
		return result(pipeline.Drop(why.reason, "%s", why.detail), nil)
	}
	inst.ProblemStatement, inst.HintsText = problemStatement(issues, links.firstCommit)
	for _, li := range issues {
		inst.Issues = append(inst.Issues, li.linked)
	}
	if min := r.m.cfg.Filter.MinProblemStatement; min > 0 && utf8.RuneCountInString(strings.TrimSpace(inst.ProblemStatement)) < min {
		return result(pipeline.Drop(DropProblemStatementShort, "%d characters, fewer than %d", utf8.RuneCountInString(strings.TrimSpace(inst.ProblemStatement)), min), nil)
	}
	inst.Version = r.m.version(ctx, inst, r.mirror)
	return result(nil, nil)
}

// prLinks are the issues a pull request references, in the order first seen, with what its
// commits say.
type prLinks struct {
	cands map[string]*linkCandidate
	order []string
	// headOK says the mirror has its head; firstCommit is when its first commit was written (or when it was
	// opened, when its commits are gone).
	headOK      bool
	firstCommit time.Time
}

// add records the references in text, found in evidence (title, body, commit).
func (l *prLinks) add(refs []ref, defaultRepo, evidence string) {
	for _, ref := range refs {
		repo := ref.Repo
		if repo == "" {
			repo = defaultRepo
		}
		key := strings.ToLower(repo) + "#" + itoa(ref.Number)
		c, ok := l.cands[key]
		if !ok {
			c = &linkCandidate{repo: repo, number: ref.Number}
			l.cands[key] = c
			l.order = append(l.order, key)
		}
		c.pull = c.pull || ref.Pull
		if ref.Closing {
			c.closing = true
			if !contains(c.evidence, evidence) {
				c.evidence = append(c.evidence, evidence)
			}
		}
	}
}

// linked returns the candidates that close the pull request's issue.
func (l *prLinks) linked() []*linkCandidate {
	var out []*linkCandidate
	for _, k := range l.order {
		if c := l.cands[k]; c.closing {
			out = append(out, c)
		}
	}
	return out
}

// links reads the references of a pull request: its title and body cost nothing, its
// commits come from the mirror. A base commit the mirror cannot get drops it.
func (r *repoRun) links(ctx context.Context, pr *github.PullRequest, created time.Time) (*prLinks, *pipeline.DropError, error) {
	base, head, merge := pr.GetBase().GetSHA(), pr.GetHead().GetSHA(), pr.GetMergeCommitSHA()
	l := &prLinks{cands: map[string]*linkCandidate{}, firstCommit: created}
	add := func(text, evidence string) { l.add(r.m.refs.extract(text), r.repo, evidence) }
	add(pr.GetTitle(), EvidenceTitle)
	add(pr.GetBody(), EvidenceBody)

	miss, err := r.mirror.ensure(ctx, base, head, merge)
	if err != nil {
		return nil, nil, err
	}
	if contains(miss, base) {
		return nil, pipeline.Drop(DropCommitsUnavailable, "base commit %s is not in the repository", base), nil
	}
	l.headOK = !contains(miss, head)
	if l.headOK {
		commits, err := r.mirror.prCommits(ctx, base, head)
		if err != nil {
			return nil, nil, err
		}
		for i, c := range commits {
			if i == 0 || c.Author.Before(l.firstCommit) {
				l.firstCommit = c.Author
			}
			add(c.Message, EvidenceCommit)
		}
	}
	if merge != "" && !contains(miss, merge) && merge != head {
		mc, err := r.mirror.commitOf(ctx, merge)
		if err != nil {
			return nil, nil, err
		}
		add(mc.Message, EvidenceCommit)
	}
	return l, nil, nil
}

// diff is a pull request's diff: from the mirror when it has the head (base...head, from
// their merge base, as GitHub shows a pull request), else as GitHub renders it.
func (r *repoRun) diff(ctx context.Context, pr *github.PullRequest, headOK bool) (string, *pipeline.DropError, error) {
	base, head := pr.GetBase().GetSHA(), pr.GetHead().GetSHA()
	if headOK {
		text, err := difftext.GitDiff(ctx, r.mirror.dir, base+"..."+head)
		switch {
		case errors.Is(err, difftext.ErrNotUTF8):
			return "", pipeline.Drop(DropDiffUnreadable, "the diff is not valid UTF-8 even with binary files"), nil
		case errors.Is(err, gitexec.ErrOutputTooLarge):
			return "", pipeline.Drop(DropTooLarge, "the diff is larger than %d MiB", gitexec.DefaultMaxOutput>>20), nil
		case err != nil:
			return "", nil, fmt.Errorf("diffing pull request %d: %w", pr.GetNumber(), err)
		}
		return text, nil, nil
	}
	text, err := r.api.PullDiff(ctx, r.repo, pr.GetNumber())
	switch {
	case errors.Is(err, errDiffTooLarge):
		return "", pipeline.Drop(DropTooLarge, "head commit %s is gone and GitHub refuses the diff as too large", head), nil
	case errors.Is(err, errNotFound):
		return "", pipeline.Drop(DropDiffUnavailable, "head commit %s is gone and GitHub has no diff", head), nil
	case err != nil:
		return "", nil, err
	case !utf8.ValidString(text):
		return "", pipeline.Drop(DropDiffUnreadable, "GitHub's diff is not valid UTF-8"), nil
	}
	return text, nil, nil
}

// problemStatement is the issues' titles and bodies, and the hints: their comments written
// before the pull request's first commit.
func problemStatement(issues []resolvedIssue, firstCommit time.Time) (statement, hints string) {
	var ps, hs []string
	for _, li := range issues {
		ps = append(ps, li.info.issue.GetTitle()+"\n"+li.info.issue.GetBody()+"\n")
		for _, c := range li.info.comments {
			if c.GetCreatedAt().Time.Before(firstCommit) {
				hs = append(hs, c.GetBody())
			}
		}
	}
	return strings.Join(ps, ""), strings.Join(hs, "\n")
}

// filterDiff applies the diff-shape filters.
func (r *repoRun) filterDiff(inst pipeline.Instance, s *difftext.Split) (pipeline.Mined, bool) {
	f := r.m.cfg.Filter
	drop := func(reason, format string, args ...any) (pipeline.Mined, bool) {
		return pipeline.Mined{Instance: inst, Drop: pipeline.Drop(reason, format, args...)}, false
	}
	switch {
	case s.BinaryOnly():
		return drop(DropBinaryOnly, "all %d changed files are binary", len(s.Files))
	case len(s.TestFiles) == 0:
		return drop(DropNoTestChange, "%d files changed, none a test", len(s.Files))
	case len(s.CodeFiles) == 0:
		return drop(DropNoCodeChange, "only tests and documentation changed")
	case f.MaxFiles > 0 && len(s.CodeFiles)+len(s.DocFiles) > f.MaxFiles:
		return drop(DropTooLarge, "the patch changes %d files, more than %d", len(s.CodeFiles)+len(s.DocFiles), f.MaxFiles)
	case f.MaxLines > 0 && s.CodeLines > f.MaxLines:
		return drop(DropTooLarge, "the patch changes %d lines, more than %d", s.CodeLines, f.MaxLines)
	case f.MaxTestLines > 0 && s.TestLines > f.MaxTestLines:
		return drop(DropTooLarge, "the test patch changes %d lines, more than %d", s.TestLines, f.MaxTestLines)
	}
	return pipeline.Mined{}, true
}

type resolvedIssue struct {
	linked pipeline.LinkedIssue
	info   *issueInfo
}

type dropWhy struct{ reason, detail string }

// resolveIssues fetches the linked issues (and, when they may add hints, their comments)
// and returns those that are real issues. When none is, why says what
// the references were.
func (r *repoRun) resolveIssues(ctx context.Context, cands []*linkCandidate, eager bool) ([]resolvedIssue, dropWhy, error) {
	cfg := r.m.cfg
	var out []resolvedIssue
	var pulls, gone, unreadable, other []string
	for _, c := range cands {
		name := c.repo + "#" + itoa(c.number)
		cross := !strings.EqualFold(c.repo, r.repo)
		if cross && cfg.CrossRepoIssues == "ignore" && !eager {
			other = append(other, name+" is in another repository")
			continue
		}
		if c.pull || (!cross && r.knownPulls[c.number]) {
			pulls = append(pulls, name)
			continue
		}
		info, err := r.issue(ctx, c.repo, c.number)
		if err != nil {
			return nil, dropWhy{}, err
		}
		if info.gone {
			gone = append(gone, name)
			continue
		}
		if info.unreadable != "" {
			unreadable = append(unreadable, name+" ("+info.unreadable+")")
			continue
		}
		if info.issue.IsPullRequest() {
			pulls = append(pulls, name)
			continue
		}
		if err := r.loadComments(ctx, c.repo, c.number, info, eager); err != nil {
			return nil, dropWhy{}, err
		}
		li := pipeline.LinkedIssue{Repo: c.repo, Number: c.number, Evidence: append([]string(nil), c.evidence...)}
		if repo, n, ok := issueHome(info.issue); ok && (!strings.EqualFold(repo, c.repo) || n != c.number) {
			// GitHub redirected the request: the issue was transferred. It is recorded where
			// it lives now.
			r.log.Info().Str("asked", name).Str("now", repo+"#"+itoa(n)).Msg("linked issue was transferred")
			li.Repo, li.Number = repo, n
		}
		out = append(out, resolvedIssue{linked: li, info: info})
	}
	if len(out) > 0 {
		return out, dropWhy{}, nil
	}
	switch {
	case len(unreadable) > 0:
		return nil, dropWhy{DropIssueUnreadable, "GitHub refuses to show the linked issues: " + strings.Join(unreadable, ", ")}, nil
	case len(gone) > 0 && len(pulls) == 0 && len(other) == 0:
		return nil, dropWhy{DropIssueNotFound, "linked issues do not exist: " + strings.Join(gone, ", ")}, nil
	case len(pulls) > 0 && len(gone) == 0 && len(other) == 0:
		return nil, dropWhy{DropIssueIsPullRequest, "references are pull requests: " + strings.Join(pulls, ", ")}, nil
	}
	all := append(append(append([]string(nil), pulls...), gone...), other...)
	sort.Strings(all)
	return nil, dropWhy{DropNoLinkedIssue, "no reference is an issue: " + strings.Join(all, "; ")}, nil
}

// issueHome returns the repository and number of an issue as its body gives them.
func issueHome(is *github.Issue) (repo string, number int, ok bool) {
	_, rest, found := strings.Cut(is.GetRepositoryURL(), "/repos/")
	if !found || is.GetNumber() == 0 {
		return "", 0, false
	}
	if _, _, err := splitRepo(rest); err != nil {
		return "", 0, false
	}
	return rest, is.GetNumber(), true
}

func (r *repoRun) issue(ctx context.Context, repo string, number int) (*issueInfo, error) {
	key := strings.ToLower(repo) + "#" + itoa(number)
	if info, ok := r.issues[key]; ok {
		return info, nil
	}
	is, err := r.api.Issue(ctx, repo, number)
	info := &issueInfo{issue: is}
	switch {
	case errors.Is(err, errNotFound):
		info.gone = true
	case errors.Is(err, errUnreadable):
		s := statusOf(err)
		info.unreadable = fmt.Sprintf("%d %s", s, http.StatusText(s))
	case err != nil:
		return nil, err
	}
	r.issues[key] = info
	return info, nil
}

// loadComments fetches an issue's comments when it has any; the hints keep those made
// before the pull request's first commit.
func (r *repoRun) loadComments(ctx context.Context, repo string, number int, info *issueInfo, eager bool) error {
	if info.comments != nil || info.issue.GetComments() == 0 {
		return nil
	}
	if !eager && !info.issue.GetCreatedAt().Time.Before(r.firstCommit) {
		return nil // every comment came after the first commit: no hint to find
	}
	cs, err := r.api.IssueComments(ctx, repo, number)
	if errors.Is(err, errNotFound) || errors.Is(err, errUnreadable) {
		cs, err = nil, nil
	}
	if err != nil {
		return err
	}
	if cs == nil {
		cs = []*github.IssueComment{}
	}
	info.comments = cs
	return nil
}

func (m *Miner) version(ctx context.Context, inst pipeline.Instance, mr *mirror) string {
	if v, ok := m.cfg.Versions[inst.InstanceID]; ok {
		return v
	}
	if v, ok := m.cfg.Versions[inst.Repo]; ok {
		return v
	}
	if mr == nil {
		return "0.0"
	}
	return mr.version(ctx, inst.BaseCommit)
}

// checkHalves checks that patch and testPatch pass the patch gate and each apply to base; a
// refusal is a drop reason.
func checkHalves(ctx context.Context, gitDir, base, patch, testPatch string) (reason, detail string, err error) {
	if reason, detail, err := gateHalves(ctx, gitDir, base, patch, testPatch); err != nil || reason != "" {
		return reason, detail, err
	}
	err = difftext.CheckApplies(ctx, gitDir, base, patch, testPatch)
	var ae *difftext.ApplyError
	if errors.As(err, &ae) {
		if ae.Index == 0 {
			return DropPatchDoesNotApply, firstLine(ae.Output), nil
		}
		return DropTestPatchDoesNotApply, firstLine(ae.Output), nil
	}
	return "", "", err
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}
