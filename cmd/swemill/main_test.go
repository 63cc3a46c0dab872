package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
	"github.com/stretchr/testify/require"

	"swemill/envbuild/envbuildtest"
	"swemill/hub/hubtest"
	"swemill/pipeline/pipelinetest"
	"swemill/repotest"
	"swemill/runstore"
)

// The test binary doubles as the swemill command (testscript puts it on $PATH as
// "swemill"), wired with pipelinetest's deterministic stages, shaped by SWEMILL_TEST_CHAIN
// ("prs=12,page=5,work=2ms,flaky=3").
func TestMain(m *testing.M) {
	testscript.Main(cleanupM{m}, map[string]func(){
		"swemill": func() {
			ctx, stop := signalContext(context.Background(), os.Stderr)
			code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Getenv, testWiring)
			stop()
			os.Exit(code)
		},
		"swemill-sweep-child": sweepChild,
	})
}

type cleanupM struct{ m *testing.M }

func (c cleanupM) Run() int {
	return envbuildtest.Run(c.m, envbuildtest.Setup{
		After: func() { pipelinetest.StopPostgres(); demoReference.cleanup() },
		// The in-process runs (River clients, riverui, database pools) have not been audited
		// for goroutines that outlive them.
		NoLeakCheck: true,
	})
}

// testWiring wires pipelinetest's stages when SWEMILL_TEST_CHAIN is set, and the
// production stages otherwise.
func testWiring(ctx context.Context, env wiringEnv) (stages, error) {
	spec := env.getenv("SWEMILL_TEST_CHAIN")
	if spec == "" {
		return wireStages(ctx, env)
	}
	c, err := parseTestChain(spec)
	if err != nil {
		return stages{}, err
	}
	return stages{miner: pipelinetest.Miner(c), processors: pipelinetest.Processors(c)}, nil
}

func parseTestChain(spec string) (pipelinetest.Config, error) {
	var c pipelinetest.Config
	for _, kv := range strings.Split(spec, ",") {
		k, v, _ := strings.Cut(kv, "=")
		var err error
		switch k {
		case "prs":
			c.PRs, err = strconv.Atoi(v)
		case "page":
			c.PageSize, err = strconv.Atoi(v)
		case "flaky":
			c.FlakyEvery, err = strconv.Atoi(v)
		case "default":
		case "work":
			c.Work, err = time.ParseDuration(v)
		default:
			err = fmt.Errorf("unknown key %q", k)
		}
		if err != nil {
			return c, fmt.Errorf("SWEMILL_TEST_CHAIN %q: %w", kv, err)
		}
	}
	return c, nil
}

func TestScripts(t *testing.T) {
	t.Parallel()
	const token = "hf_fake_0123456789"
	fakeHub := hubtest.New(t, token)
	testscript.Run(t, testscript.Params{
		Dir: "testdata/script",
		Setup: func(env *testscript.Env) error {
			env.Setenv("CI", os.Getenv("CI"))
			env.Setenv("HF_ENDPOINT", fakeHub.Endpoint())
			env.Setenv("FAKE_HUB_TOKEN", token)
			testdata, err := filepath.Abs("../../testdata")
			if err != nil {
				return err
			}
			env.Setenv("TESTDATA", testdata)
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			// gitrepo DESCRIPTION.txtar DIR: build a fixture repository (repotest) into DIR.
			"gitrepo": func(ts *testscript.TestScript, neg bool, args []string) {
				if len(args) != 2 {
					ts.Fatalf("usage: gitrepo DESCRIPTION.txtar DIR")
				}
				_, err := repotest.BuildFile(ts.MkAbs(args[1]), ts.MkAbs(args[0]))
				ts.Check(err)
			},
			// corrupt FILE: overwrite FILE's first page with garbage.
			"corrupt": func(ts *testscript.TestScript, neg bool, args []string) {
				if len(args) != 1 {
					ts.Fatalf("usage: corrupt FILE")
				}
				ts.Check(os.WriteFile(ts.MkAbs(args[0]), bytes.Repeat([]byte("not a database "), 300), 0o644))
			},
		},
	})
}

// TestExitCodes checks the exit status of each kind of ending.
func TestExitCodes(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	fakeChain := func(k string) string {
		if k == "SWEMILL_TEST_CHAIN" {
			return "default"
		}
		return ""
	}
	run1 := func(args ...string) (int, string) {
		var out, errb bytes.Buffer
		code := run(t.Context(), args, strings.NewReader(""), &out, &errb, fakeChain, testWiring)
		return code, errb.String()
	}
	code, _ := run1("version")
	require.Equal(t, exitOK, code)
	code, msg := run1("frobnicate")
	require.Equal(t, exitUsage, code)
	require.Contains(t, msg, `unknown command "frobnicate"`)
	code, _ = run1("run", "--dir", dir, "--stages", "mine,nope")
	require.Equal(t, exitUsage, code)
	code, msg = run1("status", "--dir", filepath.Join(dir, "missing"))
	require.Equal(t, exitError, code)
	require.Contains(t, msg, "does not exist")
	code, _ = run1("run", "--dir", dir, "--repo", "o/a", "--progress", "none", "--log-level", "error")
	require.Equal(t, exitOK, code)

	// A run whose context is cancelled by a signal exits 130 and hands its work back.
	ctx, cancel := context.WithCancelCause(t.Context())
	cancel(errInterrupted{sig: os.Interrupt})
	var out, errb bytes.Buffer
	code = run(ctx, []string{"run", "--dir", t.TempDir(), "--repo", "o/a", "--progress", "none"}, strings.NewReader(""), &out, &errb, fakeChain, testWiring)
	require.Equal(t, exitInterrupted, code, errb.String())
}

func TestConfigErrorsNameTheField(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct{ yaml, want string }{
		"unknown field":   {"wokers: {build: 2}\n", `unknown field "wokers"`},
		"bad stage":       {"workers: {biuld: 2}\n", `workers: unknown stage "biuld"`},
		"zero workers":    {"workers: {build: 0}\n", "workers.build: must be at least 1"},
		"bad duration":    {"timeouts: {build: soon}\n", `"soon" is not a duration`},
		"bad level":       {"log: {level: loud}\n", `log.level: "loud"`},
		"wrong type":      {"repos: 3\n", "line 1"},
		"unknown stage":   {"stages: [mine, polish]\n", `stages: unknown stage "polish"`},
		"negative stages": {"timeouts: {rollout: -1s}\n", "timeouts.rollout: must be positive"},
	} {
		dir := t.TempDir()
		require.NoError(t, os.WriteFile(filepath.Join(dir, ConfigFile), []byte(tc.yaml), 0o644))
		_, _, err := loadConfig("", dir)
		require.ErrorContains(t, err, tc.want, name)
		require.ErrorContains(t, err, ConfigFile, name)
	}
	_, _, err := loadConfig(filepath.Join(t.TempDir(), "none.yaml"), ".")
	require.ErrorContains(t, err, "none.yaml")
	c, _, err := loadConfig("", t.TempDir())
	require.NoError(t, err)
	require.Equal(t, runstore.RunConfig{}.Stages, c.runConfig().Stages)
}
