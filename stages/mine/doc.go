// Package mine is swemill's mine stage: it turns a repository's merged pull requests that
// close issues into candidate task instances (pipeline.Miner). Three sources give the same
// candidates:
//
//   - github: GitHub's REST API through go-github (several tokens, GitHub Enterprise base URL);
//   - snapshot: an offline directory recorded from the github source by Record;
//   - import: SWE-bench-format task files (JSONL, JSON or Parquet) and repository mirrors.
//
// # From pull request to candidate
//
// Mine walks the repository's closed pull requests, most recently updated first, 100 a page,
// down to the high-water mark its cursor holds, and reports every pull request it sees: a
// candidate, or a drop with a snake_case reason (the Drop* constants). Checks run cheapest
// first so that requests are spent only on pull requests that passed everything else:
//
//  1. merged only (not_merged);
//  2. closing references, by GitHub's rules (close/closes/closed, fix/fixes/fixed,
//     resolve/resolves/resolved, any case, optional colon; #N, owner/repo#N or an issue URL;
//     every reference needs its own keyword; code blocks, code spans and HTML comments
//     ignored), in the title, the body, the pull request's commits and its merge commit, read
//     from a local bare mirror (no_linked_issue);
//  3. the diff, base_commit...head as GitHub shows it, from the mirror (renames detected;
//     binary files, and text files that are not UTF-8, as git binary patches), or GitHub's
//     rendering when the head commit is gone (too_large when GitHub refuses it); split into
//     patch and test_patch by difftext's language-aware path rules (binary_only,
//     no_test_change, no_code_change, too_large);
//  4. both halves must pass the patch gate, difftext.CheckPatchAt (no symbolic links, no
//     paths outside the tree or under .git, regular file modes only: unsafe_patch, a
//     security drop) and apply to base_commit (patch_does_not_apply,
//     test_patch_does_not_apply);
//  5. the linked issues, fetched now: a reference to a pull request (known from the listing
//     without a request), a missing or deleted issue, or (with CrossRepoIssues "ignore") an
//     issue of another repository does not link (issue_is_pull_request, issue_not_found,
//     no_linked_issue); issues of other repositories are otherwise kept with their
//     repository. Issues' events are not read: GitHub's closed event names a commit only
//     when that commit's message closes the issue (an issue closed by a pull request's body
//     gets commit_id null), and the commit messages are read from the mirror already;
//  6. problem_statement = each issue's "title\nbody\n"; hints_text = the issues' comments made
//     before the pull request's first commit (before it was opened when its commits are
//     gone), joined by newlines (problem_statement_too_short);
//  7. version = Config.Versions, or MAJOR.MINOR of the nearest tag reachable from
//     base_commit, or "0.0".
//
// Repositories on Filter.ExcludeRepos (SWE-bench's test and Verified repositories by default)
// or whose licence is not in Filter.Licenses are dropped whole, through MineResult.Drop
// (decontaminated, license_not_allowed); their cursor is kept.
//
// # Requests
//
// A first run spends one request for the repository's most recently updated closed issue or
// pull request (ClosedChanged), one per 100 pull requests listed, one for the repository, and
// about two per kept instance (the issue, and its comments when it has some from before the
// first commit). The cursor keeps the high-water mark and, per token, the ETags of that first
// closed item, of the first list page and of the repository. The issues' list embeds no
// repository, so pushes and stars leave its ETag alone (the pull requests' list embeds the
// base repository, whose push time and star count change its ETag daily): a rerun on a
// repository where no closed issue or pull request changed costs one request answered 304,
// which GitHub does not count against the rate limit. Each token sends one request at a time.
// The primary rate limit is the account's, shared by all its tokens: with several tokens, each
// one's account is asked once (GET /user) and tokens of one account share one rate-limit
// state, so a spent account is not tried again through a sibling token; a token GitHub will
// not name the account of (a GitHub App installation token) is an account of its own.
// Searches have a limit of their own (30 a minute), core requests another (5,000 an hour);
// one spent does not hold back the other. An account whose limit is spent
// (X-RateLimit-Remaining 0, a 403 or 429 rate limit) is set aside until its reset, and a
// token that meets a secondary limit for as long as it asks, while the others go on; when
// every token is set aside Mine waits up to MaxWait, or returns pipeline.RetryAfter so the
// runner waits. 5xx and network failures are retried with exponential backoff. Tokens never
// reach a log line or an error: logs name tokens by a short fingerprint. A search reads at
// most GitHub's first 1,000 results.
//
// # Snapshot format
//
// A snapshot directory holds one directory per repository, OWNER/NAME/, with:
//
//	repo.json                     GET /repos/OWNER/NAME, the body as GitHub sent it
//	pulls.json                    GET /repos/OWNER/NAME/pulls?state=closed, every page
//	                              joined into one JSON array, each element as GitHub sent it
//	issues/N.json                 GET /repos/OWNER/NAME/issues/N (issues and pull requests)
//	issues/N/comments.json        GET .../issues/N/comments, pages joined (absent: none)
//	redirects.json                the redirects met while recording (GitHub answers 301 for a
//	                              renamed repository and a transferred issue): asked path ->
//	                              where it led; the bodies are stored under the paths asked
//	issues/N.gone                 the issue was deleted (GitHub answers 410)
//	pulls/N.diff                  GET /repos/OWNER/NAME/pulls/N as application/vnd.github.diff,
//	                              recorded only for pull requests whose head commit is gone
//	pulls/N.too_large             GitHub's 406 body when it refuses that diff
//	repo.git or repo.bundle       the repository: a bare mirror (git clone --mirror) or a
//	                              bundle of all its refs (git bundle create --all)
//
// Issues of other repositories live under their own OWNER/NAME/issues/. A missing issue file
// means GitHub answered 404 (a number listed in pulls.json is a pull request). Timestamps,
// bodies and every other field are GitHub's; nothing is rewritten, so a snapshot can be
// served back as the API (the fake in githubtest does exactly that). Record fetches the
// issues of every merged pull request that references any (by keyword or mention), before
// any filter, so a snapshot serves any filter configuration; mining it with the Config used
// to record gives the same instances as mining GitHub did.
//
// # Import
//
// Import files are SWE-bench rows: instance_id, repo, base_commit, patch, test_patch,
// problem_statement, hints_text, created_at, version, environment_setup_commit, and
// FAIL_TO_PASS / PASS_TO_PASS as JSON-encoded strings or lists (Parquet list<string> columns
// too: Parquet files are read by export/parquetjson, which renders every value as JSON, so
// the miner has no Arrow code). Every other column is kept in Instance.Extra as JSON. Rows are checked, not filtered:
// the base commit must be in the mirror and both patches must pass the patch gate and apply
// (import_invalid, commits_unavailable, unsafe_patch, patch_does_not_apply). A repository is cloned from its
// Config.ImportMirrors entry, else from the first of OWNER/NAME.git, OWNER/NAME,
// OWNER__NAME.git, OWNER__NAME, OWNER/NAME/repo.git and OWNER/NAME/repo.bundle found in
// Config.ImportMirrorDir; a repository with neither is dropped whole (repository_not_found,
// naming the directory and the paths looked for). Import files that hold no row are an error.
//
// # Mirrors
//
// Every source keeps one bare mirror per repository under Config.MirrorDir (MirrorPath), cloned
// on first use and fetched at most once per Mine call when a commit is missing. Later stages
// build instances from these mirrors.
package mine
