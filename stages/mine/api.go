package mine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/google/go-github/v62/github"
)

// restAPI is what mining needs from GitHub's REST API. The live client (githubAPI) and a
// snapshot directory (snapshotAPI) both provide it, so both mine the same way.
type restAPI interface {
	// Repository returns the repository's metadata. With etags (token fingerprint -> ETag)
	// the request is conditional; notModified then says nothing changed and repo is nil.
	Repository(ctx context.Context, repo string, etags map[string]string) (r *github.Repository, tag etag, notModified bool, err error)
	// ClosedPulls returns one page (from 1) of the repository's closed pull requests,
	// most recently updated first, 100 a page; page 1 may be conditional on etags.
	ClosedPulls(ctx context.Context, repo string, page int, etags map[string]string) (pullPage, error)
	// ClosedChanged asks, conditionally on etags, whether the repository's most recently
	// updated closed issue or pull request is still the same: its list embeds no repository,
	// so pushes and stars leave its ETag alone (the pull requests' list embeds the
	// repository and changes with them). notModified says nothing closed changed.
	ClosedChanged(ctx context.Context, repo string, etags map[string]string) (tag etag, notModified bool, err error)
	// Issue returns an issue (or pull request, as an issue); errNotFound when it does not
	// exist or was deleted.
	Issue(ctx context.Context, repo string, number int) (*github.Issue, error)
	// IssueComments returns all comments of an issue, oldest first.
	IssueComments(ctx context.Context, repo string, number int) ([]*github.IssueComment, error)
	// PullDiff returns a pull request's diff as GitHub renders it; errDiffTooLarge when
	// GitHub refuses (over 300 files or 20,000 lines).
	PullDiff(ctx context.Context, repo string, number int) (string, error)
}

// etag is an ETag with the fingerprint of the token it belongs to.
type etag struct {
	Token string
	Value string
}

type pullPage struct {
	Pulls []*github.PullRequest
	// Next is the next page's number, 0 after the last page.
	Next int
	// ETag is page 1's, for the next conditional request.
	ETag etag
	// NotModified says page 1 did not change since the ETag passed in.
	NotModified bool
}

var (
	errNotFound = errors.New("not found")
	// errUnreadable is an issue GitHub refuses to show (403 without a rate limit: an
	// organisation's SAML SSO, a blocked user; 451: unavailable for legal reasons).
	errUnreadable   = errors.New("cannot be read")
	errDiffTooLarge = errors.New("diff too large for GitHub to render")
)

// refused reports whether err carries GitHub's answer, about one resource, that asking again
// will not change: a 4xx other than a rate limit (ghClient.do hands rate limits, 5xx past
// retries and network failures back as *pipeline.RetryAfterError, which carry no such status)
// and other than 401, which says the token is bad for every request.
func refused(err error) bool {
	s := statusOf(err)
	return s >= 400 && s < 500 && s != http.StatusTooManyRequests && s != http.StatusUnauthorized
}

// The go-github calls mining makes, declared here so the dependency stays narrow.
type (
	reposService interface {
		Get(ctx context.Context, owner, repo string) (*github.Repository, *github.Response, error)
	}
	pullsService interface {
		List(ctx context.Context, owner, repo string, opts *github.PullRequestListOptions) ([]*github.PullRequest, *github.Response, error)
		GetRaw(ctx context.Context, owner, repo string, number int, opts github.RawOptions) (string, *github.Response, error)
	}
	issuesService interface {
		Get(ctx context.Context, owner, repo string, number int) (*github.Issue, *github.Response, error)
		ListByRepo(ctx context.Context, owner, repo string, opts *github.IssueListByRepoOptions) ([]*github.Issue, *github.Response, error)
		ListComments(ctx context.Context, owner, repo string, number int, opts *github.IssueListCommentsOptions) ([]*github.IssueComment, *github.Response, error)
	}
	searchService interface {
		Repositories(ctx context.Context, query string, opts *github.SearchOptions) (*github.RepositoriesSearchResult, *github.Response, error)
	}
)

var (
	_ reposService  = (*github.RepositoriesService)(nil)
	_ pullsService  = (*github.PullRequestsService)(nil)
	_ issuesService = (*github.IssuesService)(nil)
	_ searchService = (*github.SearchService)(nil)
)

// githubAPI is restAPI over the live REST API.
type githubAPI struct {
	c *ghClient
}

func (a *githubAPI) Repository(ctx context.Context, repo string, etags map[string]string) (*github.Repository, etag, bool, error) {
	owner, name, err := splitRepo(repo)
	if err != nil {
		return nil, etag{}, false, err
	}
	var r *github.Repository
	var resp *github.Response
	fp, err := a.c.do(ctx, resCore, etags, func(ctx context.Context, gh *github.Client) (*github.Response, error) {
		var err error
		r, resp, err = reposService(gh.Repositories).Get(ctxFor(ctx, gh, etags), owner, name)
		return resp, err
	})
	switch {
	case statusOf(err) == http.StatusNotModified:
		return nil, etag{Token: fp, Value: etags[fp]}, true, nil
	case statusOf(err) == http.StatusNotFound:
		return nil, etag{}, false, fmt.Errorf("getting repository %s: %w", repo, errNotFound)
	case err != nil:
		return nil, etag{}, false, fmt.Errorf("getting repository %s: %w", repo, err)
	}
	tag := etag{Token: fp, Value: resp.Header.Get("ETag")}
	if old, ok := etags[fp]; ok && old == tag.Value && resp.Header.Get("X-From-Cache") != "" {
		return r, tag, true, nil
	}
	return r, tag, false, nil
}

// ctxFor makes the request conditional on the ETag the cursor holds for this client's token.
// The token is found by the client: each token has its own *github.Client.
func ctxFor(ctx context.Context, gh *github.Client, etags map[string]string) context.Context {
	if len(etags) == 0 {
		return ctx
	}
	if fp, ok := ctx.Value(tokenFPKey{}).(string); ok {
		return withIfNoneMatch(ctx, etags[fp])
	}
	return ctx
}

type tokenFPKey struct{}

func (a *githubAPI) ClosedPulls(ctx context.Context, repo string, page int, etags map[string]string) (pullPage, error) {
	owner, name, err := splitRepo(repo)
	if err != nil {
		return pullPage{}, err
	}
	opts := &github.PullRequestListOptions{
		State: "closed", Sort: "updated", Direction: "desc",
		ListOptions: github.ListOptions{Page: page, PerPage: 100},
	}
	if page != 1 {
		etags = nil
	}
	var pulls []*github.PullRequest
	var resp *github.Response
	fp, err := a.c.do(ctx, resCore, etags, func(ctx context.Context, gh *github.Client) (*github.Response, error) {
		var err error
		pulls, resp, err = pullsService(gh.PullRequests).List(ctxFor(ctx, gh, etags), owner, name, opts)
		return resp, err
	})
	switch {
	case statusOf(err) == http.StatusNotModified:
		return pullPage{NotModified: true, ETag: etag{Token: fp, Value: etags[fp]}}, nil
	case err != nil:
		return pullPage{}, fmt.Errorf("listing closed pull requests of %s, page %d: %w", repo, page, err)
	}
	p := pullPage{Pulls: pulls, Next: resp.NextPage, ETag: etag{Token: fp, Value: resp.Header.Get("ETag")}}
	if old, ok := etags[fp]; ok && old == p.ETag.Value && resp.Header.Get("X-From-Cache") != "" {
		p.NotModified = true
	}
	return p, nil
}

func (a *githubAPI) ClosedChanged(ctx context.Context, repo string, etags map[string]string) (etag, bool, error) {
	owner, name, err := splitRepo(repo)
	if err != nil {
		return etag{}, false, err
	}
	opts := &github.IssueListByRepoOptions{State: "closed", Sort: "updated", Direction: "desc", ListOptions: github.ListOptions{PerPage: 1}}
	var resp *github.Response
	fp, err := a.c.do(ctx, resCore, etags, func(ctx context.Context, gh *github.Client) (*github.Response, error) {
		var err error
		_, resp, err = issuesService(gh.Issues).ListByRepo(ctxFor(ctx, gh, etags), owner, name, opts)
		return resp, err
	})
	switch {
	case statusOf(err) == http.StatusNotModified:
		return etag{Token: fp, Value: etags[fp]}, true, nil
	case err != nil:
		return etag{}, false, fmt.Errorf("listing closed issues of %s: %w", repo, err)
	}
	tag := etag{Token: fp, Value: resp.Header.Get("ETag")}
	return tag, etags[fp] != "" && etags[fp] == tag.Value && resp.Header.Get("X-From-Cache") != "", nil
}

func (a *githubAPI) Issue(ctx context.Context, repo string, number int) (*github.Issue, error) {
	owner, name, err := splitRepo(repo)
	if err != nil {
		return nil, err
	}
	var is *github.Issue
	_, err = a.c.do(ctx, resCore, nil, func(ctx context.Context, gh *github.Client) (*github.Response, error) {
		var resp *github.Response
		var err error
		is, resp, err = issuesService(gh.Issues).Get(ctx, owner, name, number)
		return resp, err
	})
	switch s := statusOf(err); {
	case s == http.StatusNotFound || s == http.StatusGone:
		return nil, fmt.Errorf("getting issue %s#%d: %w", repo, number, errNotFound)
	case s == http.StatusForbidden || s == http.StatusUnavailableForLegalReasons:
		return nil, fmt.Errorf("getting issue %s#%d: %w: %w", repo, number, errUnreadable, err)
	case err != nil:
		return nil, fmt.Errorf("getting issue %s#%d: %w", repo, number, err)
	}
	return is, nil
}

func (a *githubAPI) IssueComments(ctx context.Context, repo string, number int) ([]*github.IssueComment, error) {
	owner, name, err := splitRepo(repo)
	if err != nil {
		return nil, err
	}
	var all []*github.IssueComment
	opts := &github.IssueListCommentsOptions{ListOptions: github.ListOptions{PerPage: 100, Page: 1}}
	for {
		var page []*github.IssueComment
		var resp *github.Response
		_, err := a.c.do(ctx, resCore, nil, func(ctx context.Context, gh *github.Client) (*github.Response, error) {
			var err error
			page, resp, err = issuesService(gh.Issues).ListComments(ctx, owner, name, number, opts)
			return resp, err
		})
		switch s := statusOf(err); s {
		case http.StatusNotFound, http.StatusGone:
			return nil, fmt.Errorf("listing comments of %s#%d: %w", repo, number, errNotFound)
		case http.StatusForbidden, http.StatusUnavailableForLegalReasons:
			return nil, fmt.Errorf("listing comments of %s#%d: %w: %w", repo, number, errUnreadable, err)
		}
		if err != nil {
			return nil, fmt.Errorf("listing comments of %s#%d: %w", repo, number, err)
		}
		all = append(all, page...)
		if resp.NextPage == 0 {
			return all, nil
		}
		opts.Page = resp.NextPage
	}
}

func (a *githubAPI) PullDiff(ctx context.Context, repo string, number int) (string, error) {
	owner, name, err := splitRepo(repo)
	if err != nil {
		return "", err
	}
	var diff string
	_, err = a.c.do(ctx, resCore, nil, func(ctx context.Context, gh *github.Client) (*github.Response, error) {
		var resp *github.Response
		var err error
		diff, resp, err = pullsService(gh.PullRequests).GetRaw(ctx, owner, name, number, github.RawOptions{Type: github.Diff})
		return resp, err
	})
	var er *github.ErrorResponse
	if errors.As(err, &er) && er.Response != nil && er.Response.StatusCode == http.StatusNotAcceptable {
		for _, e := range er.Errors {
			if e.Code == "too_large" {
				return "", fmt.Errorf("getting diff of %s#%d: %w", repo, number, errDiffTooLarge)
			}
		}
		if bytes.Contains([]byte(er.Message), []byte("diff exceeded")) {
			return "", fmt.Errorf("getting diff of %s#%d: %w", repo, number, errDiffTooLarge)
		}
	}
	if s := statusOf(err); s == http.StatusNotFound || s == http.StatusGone {
		return "", fmt.Errorf("getting diff of %s#%d: %w", repo, number, errNotFound)
	}
	if err != nil {
		return "", fmt.Errorf("getting diff of %s#%d: %w", repo, number, err)
	}
	return diff, nil
}

// searchCap is how many results of one search GitHub lets a client read.
const searchCap = 1000

// searchRepos returns up to limit repositories matching a search query, most stars first,
// from the first 1,000 results at most: it asks for no page past them, and GitHub refusing
// one (422) ends the search with what it has.
func (c *ghClient) searchRepos(ctx context.Context, query string, limit int) ([]string, error) {
	var out []string
	total := 0
	opts := &github.SearchOptions{Sort: "stars", Order: "desc", ListOptions: github.ListOptions{PerPage: 100, Page: 1}}
	for len(out) < limit {
		var res *github.RepositoriesSearchResult
		var resp *github.Response
		_, err := c.do(ctx, resSearch, nil, func(ctx context.Context, gh *github.Client) (*github.Response, error) {
			var err error
			res, resp, err = searchService(gh.Search).Repositories(ctx, query, opts)
			return resp, err
		})
		if pastSearchCap(err) {
			total = searchCap + 1
			break
		}
		if err != nil {
			return nil, fmt.Errorf("searching repositories %q: %w", query, err)
		}
		total = res.GetTotal()
		for _, r := range res.Repositories {
			if len(out) < limit {
				out = append(out, r.GetFullName())
			}
		}
		if resp.NextPage == 0 || len(res.Repositories) == 0 {
			break
		}
		if (resp.NextPage-1)*opts.PerPage >= searchCap {
			break
		}
		opts.Page = resp.NextPage
	}
	if len(out) < limit && total > searchCap {
		c.log.Info().Str("query", query).Int("found", total).Int("read", len(out)).
			Msg("GitHub search reads only the first 1,000 results; narrow the query (stars:, created:) to reach more")
	}
	return out, nil
}

// pastSearchCap reports whether err is GitHub refusing a search page past the first 1,000
// results.
func pastSearchCap(err error) bool {
	var er *github.ErrorResponse
	return errors.As(err, &er) && er.Response != nil && er.Response.StatusCode == http.StatusUnprocessableEntity &&
		strings.Contains(er.Message, "first 1000 search results")
}
