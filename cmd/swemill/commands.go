package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"swemill/pipeline"
)

// The groups the commands are listed under in swemill's help, in this order.
const (
	groupWork    = "work"
	groupLook    = "look"
	groupPublish = "publish"
	groupSetup   = "setup"
)

// newRootCmd returns swemill's command tree, bound to a: the global flags set a's fields, and
// every command runs with a's streams, environment and wiring. Its errors go back to run,
// which prints them and decides the exit code; cobra prints only help and usage.
func newRootCmd(a *app) *cobra.Command {
	root := &cobra.Command{
		Use:   "swemill",
		Short: "swemill mills merged GitHub pull requests into executable SWE training data",
		Long: "swemill mills merged GitHub pull requests into executable SWE training data.\n\n" +
			"The global flags go before or after the command.",
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return unknownCommand(cmd, args[0])
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, _ []string) error {
			fmt.Fprint(a.stderr, cmd.UsageString())
			return usagef("no command given")
		},
		SilenceErrors: true,
		SilenceUsage:  true,
		// Suggest commands within two edits of a mistyped one.
		SuggestionsMinimumDistance: 2,
	}
	root.SetFlagErrorFunc(flagError)

	def := a.getenv("SWEMILL_DIR")
	if def == "" {
		def = "."
	}
	pf := root.PersistentFlags()
	pf.StringVar(&a.dir, "dir", def, "run directory (or $SWEMILL_DIR)")
	pf.StringVar(&a.configPath, "config", "", "configuration file (default: swemill.yaml in the run directory)")
	pf.StringVar(&a.database, "database", "", "postgres:// URL to share a run between machines (default: SQLite in the run directory)")
	pf.StringVar(&a.logLevel, "log-level", "", "debug, info, warn or error (default info)")
	pf.StringVar(&a.logFormat, "log-format", "", "auto, console or json (default auto: readable on a terminal, JSON otherwise)")
	_ = root.MarkPersistentFlagDirname("dir")
	_ = root.MarkPersistentFlagFilename("config", "yaml", "yml")
	completeWords(root, "log-level", "debug", "info", "warn", "error")
	completeWords(root, "log-format", "auto", "console", "json")

	root.AddGroup(
		&cobra.Group{ID: groupWork, Title: "Working a run:"},
		&cobra.Group{ID: groupLook, Title: "Looking at a run:"},
		&cobra.Group{ID: groupPublish, Title: "Publishing the dataset:"},
		&cobra.Group{ID: groupSetup, Title: "Images and sources:"},
	)
	root.AddCommand(
		newRunCmd(a, runRun),
		newRerunCmd(a),
		newStatusCmd(a),
		newListCmd(a),
		newShowCmd(a),
		newRecipeCmd(a),
		newReportCmd(a),
		newUICmd(a),
		newExportCmd(a),
		newPushCmd(a),
		newBaseCmd(a),
		newImagesCmd(a),
		newSnapshotCmd(a),
		newVersionCmd(a),
	)
	root.SetHelpCommand(newHelpCmd())
	return root
}

// newHelpCmd returns `swemill help [COMMAND...]`: the help of a command, on standard
// output. Unlike cobra's own, it calls an unknown command a usage error.
func newHelpCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "help [COMMAND]",
		Short: "Help about any command",
		Long:  "Help prints the help of a command: what it does, its arguments and its flags.",
		ValidArgsFunction: func(c *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
			cmd, rest, err := c.Root().Find(args)
			if err != nil || len(rest) > 0 {
				return nil, cobra.ShellCompDirectiveNoFileComp
			}
			var names []cobra.Completion
			for _, sub := range cmd.Commands() {
				if sub.IsAvailableCommand() && strings.HasPrefix(sub.Name(), toComplete) {
					names = append(names, cobra.CompletionWithDesc(sub.Name(), sub.Short))
				}
			}
			return names, cobra.ShellCompDirectiveNoFileComp
		},
		RunE: func(c *cobra.Command, args []string) error {
			cmd, rest, err := c.Root().Find(args)
			if err != nil || len(rest) > 0 {
				return usagef("unknown command %q (see swemill help)", strings.Join(args, " "))
			}
			cmd.InitDefaultHelpFlag()
			return cmd.Help()
		},
	}
}

// unknownCommand is the usage error for a command name that is none of cmd's subcommands.
func unknownCommand(cmd *cobra.Command, name string) error {
	msg := fmt.Sprintf("unknown command %q (see swemill help)", name)
	if s := cmd.SuggestionsFor(name); len(s) > 0 {
		msg += "; did you mean " + strings.Join(s, " or ") + "?"
	}
	return usageError{msg}
}

// flagError makes a mistake in a command's flags a usage error. A long flag given with one
// dash, as Go's flag package took them, is answered with its two-dash spelling.
func flagError(cmd *cobra.Command, err error) error {
	msg := err.Error()
	var ne *pflag.NotExistError
	if errors.As(err, &ne) {
		name, _, _ := strings.Cut(ne.GetSpecifiedShortnames(), "=")
		if len(name) > 1 && cmd.Flags().Lookup(name) != nil {
			msg += fmt.Sprintf("; long flags take two dashes: --%s", name)
		}
	}
	return usagef("%s (see %s --help)", msg, cmd.CommandPath())
}

// groupUsage is the RunE of a command that only groups others (base, images): given no
// subcommand, or an unknown one, it is a usage error saying usage.
func groupUsage(usage string) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) > 0 {
			return usagef("unknown command %q for %s; %s", args[0], cmd.CommandPath(), usage)
		}
		return usageError{usage}
	}
}

// noArgs accepts no positional arguments.
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usagef("%s takes no arguments, got %q", cmd.Name(), args)
	}
	return nil
}

// usageArgs accepts exactly n positional arguments, and otherwise says msg.
func usageArgs(n int, msg string) cobra.PositionalArgs {
	return func(_ *cobra.Command, args []string) error {
		if len(args) != n {
			return usageError{msg}
		}
		return nil
	}
}

// completeWords makes the shell complete flag's value (a flag of cmd, or a persistent one)
// with words.
func completeWords(cmd *cobra.Command, flag string, words ...string) {
	_ = cmd.RegisterFlagCompletionFunc(flag, cobra.FixedCompletions(words, cobra.ShellCompDirectiveNoFileComp))
}

// completeStages makes the shell complete flag's value with the stages' names.
func completeStages(cmd *cobra.Command, flag string) {
	completeWords(cmd, flag, pipeline.Stages...)
}
