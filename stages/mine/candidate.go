package mine

import (
	"context"
	"errors"
	"fmt"
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
	// DropRepositoryNotFound drops a whole repository of the import source that has no mirror.
	DropRepositoryNotFound = "repository_not_found"
)

// Evidence names recorded in pipeline.LinkedIssue.Evidence.
const (
	EvidenceTitle       = "title"
	EvidenceBody        = "body"
	EvidenceCommit      = "commit"
	EvidenceClosedEvent = "closed_event"
	EvidenceImported    = "imported"
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
	events   []*github.IssueEvent
	// gone says the issue does not exist (deleted, or never did).
	gone bool
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
// left for infrastructure failures (GitHub unreachable past retries, a broken mirror).
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
	drop := func(reason, format string, args ...any) (pipeline.Mined, error) {
		return pipeline.Mined{Instance: inst, Drop: pipeline.Drop(reason, format, args...)}, nil
	}
	if r.m.excludedInstance[inst.InstanceID] {
		return drop(DropDecontaminated, "instance is on the exclude list")
	}
	if pr.MergedAt == nil {
		return drop(DropNotMerged, "closed without merging")
	}
	base, head, merge := pr.GetBase().GetSHA(), pr.GetHead().GetSHA(), pr.GetMergeCommitSHA()
	inst.BaseCommit = base

	// References in the title and body cost nothing; the commits come from the mirror.
	cands := map[string]*linkCandidate{}
	var order []string
	add := func(text, evidence string) {
		for _, ref := range r.m.refs.extract(text) {
			repo := ref.Repo
			if repo == "" {
				repo = r.repo
			}
			key := strings.ToLower(repo) + "#" + itoa(ref.Number)
			c, ok := cands[key]
			if !ok {
				c = &linkCandidate{repo: repo, number: ref.Number}
				cands[key] = c
				order = append(order, key)
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
	add(pr.GetTitle(), EvidenceTitle)
	add(pr.GetBody(), EvidenceBody)

	miss, err := r.mirror.ensure(ctx, base, head, merge)
	if err != nil {
		return pipeline.Mined{}, err
	}
	if contains(miss, base) {
		return drop(DropCommitsUnavailable, "base commit %s is not in the repository", base)
	}
	headOK := !contains(miss, head)
	prCommitSHAs := map[string]bool{}
	firstCommit := inst.CreatedAt
	if headOK {
		commits, err := r.mirror.prCommits(ctx, base, head)
		if err != nil {
			return pipeline.Mined{}, err
		}
		for i, c := range commits {
			if i == 0 || c.Author.Before(firstCommit) {
				firstCommit = c.Author
			}
			prCommitSHAs[c.SHA] = true
			add(c.Message, EvidenceCommit)
		}
	}
	if merge != "" && !contains(miss, merge) && merge != head {
		mc, err := r.mirror.commitOf(ctx, merge)
		if err != nil {
			return pipeline.Mined{}, err
		}
		prCommitSHAs[merge] = true
		add(mc.Message, EvidenceCommit)
	}
	var linked []*linkCandidate
	for _, k := range order {
		c := cands[k]
		if c.closing || r.m.cfg.FollowMentions || r.eager {
			linked = append(linked, c)
		}
	}
	if len(linked) == 0 {
		return drop(DropNoLinkedIssue, "no closing reference in the title, body or commits")
	}
	if r.eager {
		r.firstCommit = firstCommit
		if _, _, err := r.resolveIssues(ctx, linked, prCommitSHAs, true); err != nil {
			return pipeline.Mined{}, err
		}
	}

	// The diff: from the mirror when it has the head, else as GitHub renders it.
	var diffText string
	if headOK {
		// base...head: from their merge base to head, as GitHub shows a pull request.
		diffText, err = difftext.GitDiff(ctx, r.mirror.dir, base+"..."+head)
		if errors.Is(err, difftext.ErrNotUTF8) {
			return drop(DropDiffUnreadable, "the diff is not valid UTF-8 even with binary files")
		}
		if errors.Is(err, gitexec.ErrOutputTooLarge) {
			return drop(DropTooLarge, "the diff is larger than %d MiB", gitexec.DefaultMaxOutput>>20)
		}
		if err != nil {
			return pipeline.Mined{}, fmt.Errorf("diffing pull request %d: %w", pr.GetNumber(), err)
		}
	} else {
		diffText, err = r.api.PullDiff(ctx, r.repo, pr.GetNumber())
		switch {
		case errors.Is(err, errDiffTooLarge):
			return drop(DropTooLarge, "head commit %s is gone and GitHub refuses the diff as too large", head)
		case errors.Is(err, errNotFound):
			return drop(DropDiffUnavailable, "head commit %s is gone and GitHub has no diff", head)
		case err != nil:
			return pipeline.Mined{}, err
		}
		if !utf8.ValidString(diffText) {
			return drop(DropDiffUnreadable, "GitHub's diff is not valid UTF-8")
		}
	}
	split, err := difftext.SplitDiff(diffText)
	if err != nil {
		return drop(DropDiffUnreadable, "%v", err)
	}
	if mined, ok := r.filterDiff(inst, split); !ok {
		return mined, nil
	}
	inst.Patch, inst.TestPatch = split.Patch, split.TestPatch
	if reason, detail, err := checkHalves(ctx, r.mirror.dir, base, inst.Patch, inst.TestPatch); err != nil || reason != "" {
		if err != nil {
			return pipeline.Mined{}, err
		}
		return drop(reason, "%s", detail)
	}

	// Only now spend requests on the issues.
	r.firstCommit = firstCommit
	issues, why, err := r.resolveIssues(ctx, linked, prCommitSHAs, false)
	if err != nil {
		return pipeline.Mined{}, err
	}
	if len(issues) == 0 {
		return drop(why.reason, "%s", why.detail)
	}
	var ps, hints []string
	for _, li := range issues {
		inst.Issues = append(inst.Issues, li.linked)
		ps = append(ps, li.info.issue.GetTitle()+"\n"+li.info.issue.GetBody()+"\n")
		for _, c := range li.info.comments {
			if c.GetCreatedAt().Time.Before(firstCommit) {
				hints = append(hints, c.GetBody())
			}
		}
	}
	inst.ProblemStatement = strings.Join(ps, "")
	inst.HintsText = strings.Join(hints, "\n")
	if min := r.m.cfg.Filter.MinProblemStatement; min > 0 && utf8.RuneCountInString(strings.TrimSpace(inst.ProblemStatement)) < min {
		return drop(DropProblemStatementShort, "%d characters, fewer than %d", utf8.RuneCountInString(strings.TrimSpace(inst.ProblemStatement)), min)
	}
	inst.Version = r.m.version(ctx, inst, r.mirror)
	return pipeline.Mined{Instance: inst}, nil
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

// resolveIssues fetches the linked issues (and, when they may add hints or evidence, their
// comments and events) and returns those that are real issues. When none is, why says what
// the references were.
func (r *repoRun) resolveIssues(ctx context.Context, cands []*linkCandidate, prCommits map[string]bool, eager bool) ([]resolvedIssue, dropWhy, error) {
	cfg := r.m.cfg
	var out []resolvedIssue
	var pulls, gone, other []string
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
		if info.issue.IsPullRequest() {
			pulls = append(pulls, name)
			continue
		}
		evidence := append([]string(nil), c.evidence...)
		wantEvents := (c.closing && cfg.ClosedEvents) || !c.closing || eager
		if wantEvents && info.issue.GetState() == "closed" {
			if err := r.loadEvents(ctx, c.repo, c.number, info); err != nil {
				return nil, dropWhy{}, err
			}
			for _, e := range info.events {
				if e.GetEvent() == "closed" && e.CommitID != nil && prCommits[e.GetCommitID()] {
					evidence = append(evidence, EvidenceClosedEvent)
					break
				}
			}
		}
		if len(evidence) == 0 {
			other = append(other, name+" is mentioned without a closing keyword or closed event")
			continue
		}
		if err := r.loadComments(ctx, c.repo, c.number, info, eager); err != nil {
			return nil, dropWhy{}, err
		}
		out = append(out, resolvedIssue{
			linked: pipeline.LinkedIssue{Repo: c.repo, Number: c.number, Evidence: evidence},
			info:   info,
		})
	}
	if len(out) > 0 {
		return out, dropWhy{}, nil
	}
	switch {
	case len(gone) > 0 && len(pulls) == 0 && len(other) == 0:
		return nil, dropWhy{DropIssueNotFound, "linked issues do not exist: " + strings.Join(gone, ", ")}, nil
	case len(pulls) > 0 && len(gone) == 0 && len(other) == 0:
		return nil, dropWhy{DropIssueIsPullRequest, "references are pull requests: " + strings.Join(pulls, ", ")}, nil
	}
	all := append(append(append([]string(nil), pulls...), gone...), other...)
	sort.Strings(all)
	return nil, dropWhy{DropNoLinkedIssue, "no reference is an issue: " + strings.Join(all, "; ")}, nil
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
	case err != nil:
		return nil, err
	}
	r.issues[key] = info
	return info, nil
}

func (r *repoRun) loadEvents(ctx context.Context, repo string, number int, info *issueInfo) error {
	if info.events != nil {
		return nil
	}
	ev, err := r.api.IssueEvents(ctx, repo, number)
	if errors.Is(err, errNotFound) {
		ev, err = []*github.IssueEvent{}, nil
	}
	if err != nil {
		return err
	}
	if ev == nil {
		ev = []*github.IssueEvent{}
	}
	info.events = ev
	return nil
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
	if errors.Is(err, errNotFound) {
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
