package main

import (
	"fmt"
	"io"
	"regexp"
	"strings"
	"text/tabwriter"

	"swemill/pipeline"
	"swemill/runstore"
)

// cure is a drop reason that a change of configuration or of the environment can cure (a
// limit, a recipe, a mirror, the network), with what to change. Reasons that are the data's
// or the dataset's policy (no linked issue, no fail-to-pass test, a licence, a patch that
// does not apply) give the same answer however often they are retried, and are not listed.
type cure struct {
	// Stage records the reason; "repos" means whole repositories dropped while mining.
	Stage  string
	Reason string
	// Fix says what to change before retrying.
	Fix string
}

// repoStage stands for repository-level drops in curableDrops.
const repoStage = "repos"

// curableDrops is the one list of drop reasons that `swemill run` offers to retry (the
// README's "Retrying" section says the same). Every reason here is recorded by a stage; a
// test checks the code for each. Instances and repositories that failed (an infrastructure
// error that outlived its attempts) are always offered too.
var curableDrops = []cure{
	{repoStage, "repository_not_found", "give the repository's mirror (mine.import_mirrors or mine.import_mirror_dir)"},
	{pipeline.StageMine, "commits_unavailable", "update the repository's mirror, or check the network"},
	{pipeline.StageBuild, "repository_not_found", "put the repository in mirror_dir or mine.import_mirrors, or check build.github_url"},
	{pipeline.StageBuild, "base_commit_not_found", "update the repository's mirror"},
	{pipeline.StageBuild, "repo_too_large", "raise build.max_checkout"},
	{pipeline.StageBuild, "no_recipe", "write the repository's spec in build.spec_dir"},
	{pipeline.StageBuild, "invalid_recipe", "fix the repository's spec in build.spec_dir"},
	{pipeline.StageBuild, "unsupported_language", "add the language to build.languages and build its base (swemill base build --lang LANG)"},
	{pipeline.StageBuild, "env_build_failed", "fix the recipe (build.spec_dir), or build.offline / the network"},
	{pipeline.StageBuild, "install_failed", "fix the recipe (build.spec_dir), or build.offline / the network"},
	{pipeline.StageBuild, "build_timeout", "raise build.timeout"},
	{pipeline.StageBuild, "image_too_large", "raise build.max_instance"},
	{pipeline.StageValidate, "results_incomplete", "raise validate.results_limit, or look at the run's log (swemill show)"},
	{pipeline.StageValidate, "suite_timeout", "raise validate.run_timeout"},
	{pipeline.StageValidate, "suite_oom", "raise sandbox.memory"},
	{pipeline.StageValidate, "suite_disk_limit", "raise sandbox.disk"},
	{pipeline.StageValidate, "suite_killed", "find what killed the tests (the host's OOM killer, an operator); nothing in swemill's limits did"},
	{pipeline.StageValidate, "no_tests_ran", "fix the recipe's test_cmd or environment (swemill show ID prints the run's log)"},
}

// curableFix returns what cures reason at stage, or "".
func curableFix(stage, reason string) string {
	for _, c := range curableDrops {
		if c.Stage == stage && c.Reason == reason {
			return c.Fix
		}
	}
	return ""
}

// retryHint is one command that retries instances or repositories once their cause is fixed.
type retryHint struct {
	Command string
	// Note says how many, why, and what to change first; Details name repositories.
	Note    string
	Details []string
}

// maxHintDetails caps the repositories a hint names.
const maxHintDetails = 10

// retryHints returns the commands that retry what st records as dropped for a curable reason
// or as failed: one per stage and reason, and one for the repositories of repos (the
// dropped and failed ones) that a run mines again. base is the commands' global flags
// ("--dir D").
func retryHints(st runstore.Status, repos []runstore.RepoProblem, base string) []retryHint {
	var out []retryHint
	for _, s := range st.Stages {
		for _, d := range s.Drops {
			if fix := curableFix(s.Stage, d.Reason); fix != "" {
				out = append(out, retryHint{
					Command: fmt.Sprintf("swemill rerun %s %s --dropped %s", s.Stage, base, d.Reason),
					Note:    fmt.Sprintf("%s dropped (%s): %s", plural(d.Count, "instance"), d.Reason, fix),
				})
			}
		}
		if n := s.Counts[pipeline.StateFailed]; n > 0 {
			out = append(out, retryHint{
				Command: fmt.Sprintf("swemill rerun %s %s --failed", s.Stage, base),
				Note:    fmt.Sprintf("%s failed: swemill ls %s --stage %s --state failed lists them", plural(n, "instance"), base, s.Stage),
			})
		}
	}
	// Every run mines its repositories again: a run retries the dropped and failed ones.
	h := retryHint{Command: "swemill run " + base}
	counts := map[string]int{}
	var order []string
	for _, r := range repos {
		key := string(r.State)
		if r.State == pipeline.StateDropped {
			if curableFix(repoStage, r.Reason) == "" {
				continue
			}
			key = r.Reason
		}
		if counts[key] == 0 {
			order = append(order, key)
		}
		counts[key]++
		if len(h.Details) < maxHintDetails {
			h.Details = append(h.Details, fmt.Sprintf("%s: %s", r.Repo, firstLine(strings.TrimPrefix(r.Reason+": "+r.Detail, ": "))))
		} else if len(h.Details) == maxHintDetails {
			h.Details = append(h.Details, "...")
		}
	}
	var notes []string
	for _, key := range order {
		if key == string(pipeline.StateFailed) {
			notes = append(notes, plural(counts[key], "repository")+" failed to mine")
			continue
		}
		notes = append(notes, fmt.Sprintf("%s dropped (%s): %s", plural(counts[key], "repository"), key, curableFix(repoStage, key)))
	}
	if len(notes) > 0 {
		h.Note = strings.Join(notes, "; ")
		out = append(out, h)
	}
	return out
}

func plural(n int, what string) string {
	switch {
	case n == 1:
		return "1 " + what
	case strings.HasSuffix(what, "y"):
		return fmt.Sprintf("%d %sies", n, strings.TrimSuffix(what, "y"))
	}
	return fmt.Sprintf("%d %ss", n, what)
}

// printRetryHints writes the commands that retry what a change of configuration or
// environment can cure, if there is any.
func printRetryHints(w io.Writer, st runstore.Status, repos []runstore.RepoProblem, base string) {
	hints := retryHints(st, repos, base)
	if len(hints) == 0 {
		return
	}
	fmt.Fprintln(w, "\nto retry what a change of configuration or environment can cure, change it, then run:")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, h := range hints {
		fmt.Fprintf(tw, "  %s\t# %s\n", h.Command, h.Note)
		if len(h.Details) > 0 {
			// Lines without a tab end the aligned block, so details go under their command.
			tw.Flush()
			for _, d := range h.Details {
				fmt.Fprintf(w, "      %s\n", d)
			}
		}
	}
	tw.Flush()
}

// runFlags returns the global flags that point a command at the same run: --dir, and
// --config when one was given.
func (a *app) runFlags() string {
	flags := "--dir " + shellQuote(a.dir)
	if a.configPath != "" {
		flags += " --config " + shellQuote(a.configPath)
	}
	return flags
}

var shellSafe = regexp.MustCompile(`^[A-Za-z0-9_./=:,+@%-]+$`)

// shellQuote quotes s for a POSIX shell when it needs it.
func shellQuote(s string) string {
	if shellSafe.MatchString(s) {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
