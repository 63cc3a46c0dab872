package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestCommandLine checks the conventions of the command line: help on standard output with
// exit code 0, completion scripts, and usage errors (exit code 2) for unknown commands and
// flags.
func TestCommandLine(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args           []string
		code           int
		stdout, stderr string
	}{
		{[]string{"--help"}, exitOK, "Working a run:", ""},
		{[]string{"-h"}, exitOK, "Looking at a run:", ""},
		{[]string{"help"}, exitOK, "Publishing the dataset:", ""},
		{[]string{"help", "rerun"}, exitOK, "--instance ID", ""},
		{[]string{"rerun", "--help"}, exitOK, "--dropped REASON", ""},
		{[]string{"help", "images", "ls"}, exitOK, "--json", ""},
		{[]string{"run", "--dir", "x", "-h"}, exitOK, "--timeout STAGE=DURATION", ""},
		{[]string{"completion", "bash"}, exitOK, "__start_swemill", ""},
		{[]string{"version"}, exitOK, "swemill ", ""},
		{nil, exitUsage, "", "swemill: no command given"},
		{[]string{"nope"}, exitUsage, "", `swemill: unknown command "nope" (see swemill help)`},
		{[]string{"help", "nope"}, exitUsage, "", `unknown command "nope"`},
		{[]string{"status", "--frob"}, exitUsage, "", "swemill: unknown flag: --frob (see swemill status --help)"},
		{[]string{"ls", "-limit", "2"}, exitUsage, "", "long flags take two dashes: --limit"},
		{[]string{"run", "--samples", "many"}, exitUsage, "", `invalid argument "many" for "--samples" flag`},
		{[]string{"run", "extra"}, exitUsage, "", `run takes no arguments, got ["extra"]`},
		{[]string{"rerun"}, exitUsage, "", "rerun takes one stage"},
		{[]string{"images", "gc", "--json"}, exitUsage, "", "unknown flag: --json"},
	} {
		var stdout, stderr bytes.Buffer
		code := run(t.Context(), tc.args, strings.NewReader(""), &stdout, &stderr, func(string) string { return "" }, testWiring)
		name := strings.Join(tc.args, " ")
		assert.Equal(t, tc.code, code, "%s: %s", name, stderr.String())
		assert.Contains(t, stdout.String(), tc.stdout, name)
		assert.Contains(t, stderr.String(), tc.stderr, name)
		if tc.code == exitOK {
			assert.Empty(t, stderr.String(), name)
		}
	}
}

// parseRun parses a `swemill run` command line as run would, and returns the options and
// global settings runRun would get.
func parseRun(t *testing.T, getenv func(string) string, args ...string) (*runOptions, *app) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	a := &app{stdin: strings.NewReader(""), stdout: &stdout, stderr: &stderr, getenv: getenv, wire: testWiring}
	a.logOut = &switchWriter{w: &stderr}
	root := newRootCmd(a)
	var got *runOptions
	for _, c := range root.Commands() {
		if c.Name() == "run" {
			root.RemoveCommand(c)
		}
	}
	root.AddCommand(newRunCmd(a, func(_ context.Context, o *runOptions) error {
		got = o
		return nil
	}))
	root.SetArgs(args)
	require.NoError(t, root.ExecuteContext(t.Context()), stderr.String())
	require.NotNil(t, got)
	return got, a
}

func TestRunFlags(t *testing.T) {
	t.Parallel()
	noEnv := func(string) string { return "" }
	o, a := parseRun(t, noEnv, "--dir", "before", "run", "--repo", "o/a", "--workers", "build=2,validate=3",
		"--repo=o/b", "--timeout", "rollout=90s", "--workers", "build=4", "--until", "validate",
		"--config", "c.yaml", "--progress", "none", "--samples", "2", "--log-level", "warn")
	assert.Equal(t, "before", a.dir)
	assert.Equal(t, "c.yaml", a.configPath)
	assert.Equal(t, "warn", a.logLevel)
	assert.Equal(t, []string{"o/a", "o/b"}, o.repos)
	assert.Equal(t, stageMap{"build": "4", "validate": "3"}, o.workers)
	assert.Equal(t, stageMap{"rollout": "90s"}, o.timeouts)
	assert.Equal(t, "validate", o.until)
	assert.Equal(t, "none", o.progress)
	assert.Equal(t, 2, o.samples)

	// A global flag after the command wins over one before it; $SWEMILL_DIR is the default.
	_, a = parseRun(t, noEnv, "--dir", "before", "run", "--dir", "after")
	assert.Equal(t, "after", a.dir)
	o, a = parseRun(t, func(k string) string {
		if k == "SWEMILL_DIR" {
			return "fromenv"
		}
		return ""
	}, "run")
	assert.Equal(t, "fromenv", a.dir)
	assert.Equal(t, "auto", o.progress)
	assert.Empty(t, o.workers)
	_, a = parseRun(t, noEnv, "run")
	assert.Equal(t, ".", a.dir)
}

// TestRunRun calls the run command's function with its options, as the command does.
func TestRunRun(t *testing.T) {
	t.Parallel()
	var stdout, stderr bytes.Buffer
	a := &app{stdin: strings.NewReader(""), stdout: &stdout, stderr: &stderr, wire: testWiring,
		getenv: func(k string) string {
			if k == "SWEMILL_TEST_CHAIN" {
				return "prs=3"
			}
			return ""
		},
		dir: filepath.Join(t.TempDir(), "run"), logLevel: "error"}
	a.logOut = &switchWriter{w: &stderr}

	err := runRun(t.Context(), &runOptions{app: a, until: "polish", progress: "none"})
	var ue usageError
	require.ErrorAs(t, err, &ue)
	require.ErrorContains(t, err, `--until: unknown stage "polish"`)
	err = runRun(t.Context(), &runOptions{app: a, repos: []string{"o/a"}, timeouts: stageMap{"build": "0s"}, progress: "none"})
	require.ErrorAs(t, err, &ue)
	require.ErrorContains(t, err, "--timeout build=0s: not a positive duration")

	o := &runOptions{app: a, repos: []string{"o/a"}, until: "build", workers: stageMap{"build": "2"}, progress: "none"}
	require.NoError(t, runRun(t.Context(), o), stderr.String())
	assert.Contains(t, stdout.String(), "run 1 complete")
	assert.Contains(t, stdout.String(), "last run: #1 (mine,build)")
}
