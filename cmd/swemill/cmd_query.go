package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"swemill/pipeline"
	"swemill/runstore"
)

// statusOptions are the flags of `swemill status`.
type statusOptions struct {
	json, verify bool
}

func newStatusCmd(a *app) *cobra.Command {
	var o statusOptions
	cmd := &cobra.Command{
		Use:     "status",
		Short:   "The funnel: per stage, instances by state and the top drop reasons",
		GroupID: groupLook,
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return cmdStatus(cmd.Context(), a, o)
		},
	}
	cmd.Flags().BoolVar(&o.json, "json", false, "print the funnel as JSON")
	cmd.Flags().BoolVar(&o.verify, "verify", false, "also check the record's invariants (every state matches its last transition)")
	return cmd
}

func cmdStatus(ctx context.Context, a *app, o statusOptions) error {
	store, err := a.readStore(ctx)
	if err != nil {
		return err
	}
	defer store.Close()
	st, err := store.Status(ctx)
	if err != nil {
		return err
	}
	var problems []string
	if o.verify {
		if problems, err = store.Verify(ctx); err != nil {
			return err
		}
	}
	if o.json {
		out := struct {
			runstore.Status
			Security []runstore.SecurityDrop `json:"security"`
			Problems []string                `json:"problems,omitempty"`
		}{st, st.SecurityDrops(), problems}
		return writeJSON(a.stdout, out)
	}
	printStatus(a.stdout, st)
	if o.verify {
		if len(problems) == 0 {
			fmt.Fprintln(a.stdout, "\nrecord verified: every state matches its last transition")
		}
		for _, p := range problems {
			fmt.Fprintln(a.stdout, "problem:", p)
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("the record has %d problems", len(problems))
	}
	return nil
}

// printStatus writes the funnel as a table.
func printStatus(w io.Writer, st runstore.Status) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprint(tw, "stage\treached\t")
	for _, s := range pipeline.AllStates {
		fmt.Fprintf(tw, "%s\t", s)
	}
	fmt.Fprintln(tw)
	for _, s := range st.Stages {
		fmt.Fprintf(tw, "%s\t%d\t", s.Stage, s.Total)
		for _, state := range pipeline.AllStates {
			fmt.Fprintf(tw, "%d\t", s.Counts[state])
		}
		fmt.Fprintln(tw)
	}
	tw.Flush()
	const top = 5
	var lines []string
	for _, s := range st.Stages {
		for i, d := range s.Drops {
			if i == top {
				lines = append(lines, fmt.Sprintf("  %-9s ... %d more reasons", s.Stage, len(s.Drops)-top))
				break
			}
			lines = append(lines, fmt.Sprintf("  %-9s %-28s %d", s.Stage, d.Reason, d.Count))
		}
	}
	for _, d := range st.Repos.Drops {
		lines = append(lines, fmt.Sprintf("  %-9s %-28s %d", "repos", d.Reason, d.Count))
	}
	if len(lines) > 0 {
		fmt.Fprintln(w, "\ndrop reasons:")
		for _, l := range lines {
			fmt.Fprintln(w, l)
		}
	}
	printSecurity(w, st)
	fmt.Fprintf(w, "\ninstances: %d   repositories: %d", st.Instances, st.Repos.Total)
	if st.Repos.Total > 0 {
		var parts []string
		for _, s := range pipeline.AllStates {
			if n := st.Repos.Counts[s]; n > 0 {
				parts = append(parts, fmt.Sprintf("%s %d", s, n))
			}
		}
		fmt.Fprintf(w, " (%s)", strings.Join(parts, ", "))
	}
	fmt.Fprintln(w)
	if r := st.LastRun; r != nil {
		state := "running or interrupted"
		if r.FinishedAt != nil {
			state = "finished " + r.FinishedAt.Local().Format(time.DateTime)
		}
		fmt.Fprintf(w, "last run: #%d (%s), started %s, %s\n", r.ID, strings.Join(r.Stages, ","), r.StartedAt.Local().Format(time.DateTime), state)
	}
}

// listOptions are the flags of `swemill ls`.
type listOptions struct {
	filter runstore.ListFilter
	state  string
	json   bool
}

func newListCmd(a *app) *cobra.Command {
	var o listOptions
	cmd := &cobra.Command{
		Use:     "ls",
		Short:   "List instances with their state in each stage",
		GroupID: groupLook,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usagef("ls takes no arguments, got %q (did you mean swemill show?)", args)
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, _ []string) error {
			return cmdList(cmd.Context(), a, o)
		},
	}
	f := cmd.Flags()
	f.BoolVar(&o.json, "json", false, "print JSON lines, one instance each")
	f.StringVar(&o.filter.Repo, "repo", "", "only instances of repository `owner/name`")
	f.StringVar(&o.filter.Stage, "stage", "", "only instances that reached `STAGE` (with --state, in that state there)")
	f.StringVar(&o.state, "state", "", "only instances in `STATE` (pending, running, done, dropped, failed, stale) at --stage, or at any stage")
	f.StringVar(&o.filter.Reason, "reason", "", "only instances dropped for `REASON`")
	f.IntVar(&o.filter.Limit, "limit", 0, "at most `N` instances (0: all)")
	f.StringVar(&o.filter.After, "after", "", "only instance ids after `ID` (for paging)")
	completeStages(cmd, "stage")
	completeWords(cmd, "state", strings.Split(statesList(), ", ")...)
	return cmd
}

func cmdList(ctx context.Context, a *app, o listOptions) error {
	f := o.filter
	if o.state != "" {
		if !validState(o.state) {
			return usagef("--state: %q is not one of %s", o.state, statesList())
		}
		f.State = pipeline.State(o.state)
	}
	if f.Stage != "" && pipeline.StageIndex(f.Stage) < 0 {
		return usagef("--stage: unknown stage %q (stages are %s)", f.Stage, strings.Join(pipeline.Stages, ", "))
	}
	store, err := a.readStore(ctx)
	if err != nil {
		return err
	}
	defer store.Close()
	rows, err := store.List(ctx, f)
	if err != nil {
		return err
	}
	if o.json {
		for _, r := range rows {
			if err := writeJSONLine(a.stdout, r); err != nil {
				return err
			}
		}
		return nil
	}
	tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprint(tw, "instance\trepo")
	for _, s := range pipeline.Stages {
		fmt.Fprintf(tw, "\t%s", s)
	}
	fmt.Fprintln(tw)
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s", r.InstanceID, r.Repo)
		cells := map[string]runstore.StageCell{}
		for _, c := range r.Stages {
			cells[c.Stage] = c
		}
		for _, s := range pipeline.Stages {
			c, ok := cells[s]
			switch {
			case !ok:
				fmt.Fprint(tw, "\t-")
			case c.Reason != "" && c.State == pipeline.StateDropped:
				fmt.Fprintf(tw, "\t%s (%s)", c.State, c.Reason)
			default:
				fmt.Fprintf(tw, "\t%s", c.State)
			}
		}
		fmt.Fprintln(tw)
	}
	return tw.Flush()
}

func validState(s string) bool {
	for _, st := range pipeline.AllStates {
		if string(st) == s {
			return true
		}
	}
	return false
}

func statesList() string {
	var s []string
	for _, st := range pipeline.AllStates {
		s = append(s, string(st))
	}
	return strings.Join(s, ", ")
}

func newShowCmd(a *app) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:     "show ID",
		Short:   "One instance: its states, history, artifacts and the log of a failed step",
		GroupID: groupLook,
		Args:    usageArgs(1, "show takes one instance id, e.g. swemill show owner__repo-123"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return cmdShow(cmd.Context(), a, args[0], asJSON)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print everything recorded, outputs included, as JSON")
	return cmd
}

func cmdShow(ctx context.Context, a *app, id string, asJSON bool) error {
	store, err := a.readStore(ctx)
	if err != nil {
		return err
	}
	defer store.Close()
	d, err := store.Show(ctx, id)
	var nf *runstore.NotFoundError
	if errors.As(err, &nf) {
		return fmt.Errorf("%w (swemill ls lists them)", err)
	}
	if err != nil {
		return err
	}
	if asJSON {
		return writeJSON(a.stdout, d)
	}
	w := a.stdout
	in := d.Instance
	fmt.Fprintf(w, "instance  %s\nrepo      %s", in.InstanceID, in.Repo)
	if in.PullNumber > 0 {
		fmt.Fprintf(w, "  (pull request #%d)", in.PullNumber)
	}
	fmt.Fprintln(w)
	if in.BaseCommit != "" {
		fmt.Fprintf(w, "base      %s\n", in.BaseCommit)
	}
	if len(in.Issues) > 0 {
		var refs []string
		for _, is := range in.Issues {
			refs = append(refs, fmt.Sprintf("%s#%d (%s)", is.Repo, is.Number, strings.Join(is.Evidence, ", ")))
		}
		fmt.Fprintf(w, "issues    %s\n", strings.Join(refs, "; "))
	}
	fmt.Fprintln(w, "\nstages:")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, s := range d.Stages {
		note := s.Reason
		if s.Detail != "" {
			note = strings.TrimSpace(strings.Join([]string{s.Reason, firstLine(s.Detail)}, ": "))
			note = strings.TrimPrefix(note, ": ")
		}
		fmt.Fprintf(tw, "  %s\t%s\tgeneration %d\tattempts %d\t%.1fs\t%s\n", s.Stage, s.State, s.Generation, s.Attempts, s.Seconds, note)
	}
	tw.Flush()
	fmt.Fprintln(w, "\nhistory:")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, t := range d.Transitions {
		from := string(t.From)
		if from == "" {
			from = "-"
		}
		note := t.Reason
		if t.Detail != "" && t.To != pipeline.StateDropped {
			note = strings.TrimPrefix(note+": "+firstLine(t.Detail), ": ")
		}
		fmt.Fprintf(tw, "  %s\t%s\tgeneration %d\tattempt %d\t%s -> %s\t%s\n", t.At.Local().Format("2006-01-02 15:04:05.000"), t.Stage, t.Generation, t.Attempt, from, t.To, note)
	}
	tw.Flush()
	if err := writeValidation(w, store, d); err != nil {
		return err
	}
	if len(d.Artifacts) > 0 {
		fmt.Fprintln(w, "\nartifacts:")
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		for _, ar := range d.Artifacts {
			fmt.Fprintf(tw, "  %s\tgeneration %d\t%s\t%d bytes\t%s\n", ar.Stage, ar.Generation, ar.Name, ar.Size, ar.Path)
		}
		tw.Flush()
	}
	return writeFailureLogs(w, store, d)
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// rerunOptions are the flags of `swemill rerun`: which instances, and how to answer.
type rerunOptions struct {
	sel  runstore.Selector
	json bool
}

func newRerunCmd(a *app) *cobra.Command {
	var o rerunOptions
	cmd := &cobra.Command{
		Use:     "rerun STAGE",
		Short:   "Queue a stage again for the selected instances (and invalidate later stages)",
		GroupID: groupWork,
		Example: `  swemill rerun build --dir runs/nightly --failed
  swemill rerun validate --dir runs/nightly --dropped suite_timeout --repo owner/name`,
		Args: usageArgs(1, fmt.Sprintf("rerun takes one stage (%s) and selectors, e.g. swemill rerun build --failed", strings.Join(pipeline.Stages, ", "))),
		ValidArgsFunction: func(_ *cobra.Command, args []string, _ string) ([]cobra.Completion, cobra.ShellCompDirective) {
			if len(args) > 0 {
				return nil, cobra.ShellCompDirectiveNoFileComp
			}
			return pipeline.Stages, cobra.ShellCompDirectiveNoFileComp
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return cmdRerun(cmd.Context(), a, args[0], o)
		},
	}
	f := cmd.Flags()
	f.BoolVar(&o.json, "json", false, "print what was done as JSON")
	f.BoolVar(&o.sel.Failed, "failed", false, "instances that failed at the stage")
	f.StringArrayVar(&o.sel.Dropped, "dropped", nil, "instances dropped at the stage for `REASON` (repeatable; * for any reason)")
	f.StringVar(&o.sel.Repo, "repo", "", "only instances of repository `owner/name`")
	f.StringArrayVar(&o.sel.Instances, "instance", nil, "the instance `ID` (repeatable)")
	f.BoolVar(&o.sel.All, "all", false, "every instance that reached the stage")
	return cmd
}

func cmdRerun(ctx context.Context, a *app, stage string, o rerunOptions) error {
	if pipeline.StageIndex(stage) < 0 {
		return usagef("unknown stage %q (stages are %s)", stage, strings.Join(pipeline.Stages, ", "))
	}
	cfg, log, err := a.setup()
	if err != nil {
		return err
	}
	store, err := a.openStore(ctx, cfg, log, false)
	if err != nil {
		return err
	}
	defer store.Close()
	res, err := store.Rerun(ctx, stage, o.sel)
	if err != nil {
		if errors.Is(err, runstore.ErrNoSelector) {
			return usageError{err.Error()}
		}
		return err
	}
	if o.json {
		return writeJSON(a.stdout, res)
	}
	fmt.Fprintf(a.stdout, "%s queued again for %d instances; %d later results marked stale\n", stage, len(res.Rerun), res.Invalidated)
	if len(res.Repos) > 0 {
		fmt.Fprintf(a.stdout, "repositories to mine again: %s\n", strings.Join(res.Repos, ", "))
	}
	if len(res.NotReached) > 0 {
		fmt.Fprintf(a.stdout, "never reached %s: %s\n", stage, strings.Join(res.NotReached, ", "))
	}
	if len(res.Waiting) > 0 {
		fmt.Fprintf(a.stdout, "left alone (the stage before %s is not done): %s\n", stage, strings.Join(res.Waiting, ", "))
	}
	if len(res.Rerun) > 0 {
		fmt.Fprintln(a.stdout, "a running swemill run picks them up; otherwise the next one does")
	}
	return nil
}

func newVersionCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print swemill's version",
		Args:  noArgs,
		RunE: func(*cobra.Command, []string) error {
			cmdVersion(a)
			return nil
		},
	}
}

func cmdVersion(a *app) {
	fmt.Fprintf(a.stdout, "swemill %s (%s, %s/%s)\n", pipeline.Version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func writeJSONLine(w io.Writer, v any) error {
	return json.NewEncoder(w).Encode(v)
}
