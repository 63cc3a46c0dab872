package testlog_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"swemill/pipeline"
	"swemill/testlog"
)

// cargoLog joins lines into a log as cargo prints it.
func cargoLog(lines ...string) []byte { return []byte(strings.Join(lines, "\n") + "\n") }

const (
	cargoUnit  = "     Running unittests src/lib.rs (target/debug/deps/x-0123)"
	cargoInteg = "     Running tests/a.rs (target/debug/deps/a-4567)"
)

func TestParseCargoSections(t *testing.T) {
	for _, c := range []struct {
		name       string
		log        []byte
		tests      map[string]pipeline.TestStatus
		suite      []string // substrings
		incomplete string   // substring; "" for none
	}{{
		name: "a name in two binaries keeps its worse status",
		log: cargoLog(cargoUnit, "", "running 1 test", "test tests::x ... ok", "",
			"test result: ok. 1 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.00s",
			cargoInteg, "", "running 2 tests", "test tests::x ... FAILED", "test y ... ignored, not now", "",
			"failures:", "", "---- tests::x stdout ----", "test tests::z ... ok", "test result: made up", "",
			"failures:", "    tests::x", "",
			"test result: FAILED. 0 passed; 1 failed; 1 ignored; 0 measured; 0 filtered out; finished in 0.00s",
			"error: test failed, to rerun pass `--test a`", "error: 2 targets failed:", "    `--test a`"),
		tests: map[string]pipeline.TestStatus{"tests::x": pipeline.TestFailed, "y": pipeline.TestSkipped},
	}, {
		name: "a result after what the test wrote",
		log: cargoLog(cargoUnit, "running 2 tests", "test a ... test b ... ok", "hello", "FAILED",
			"test b ... partial", "ok",
			"test result: FAILED. 1 passed; 1 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.00s"),
		tests: map[string]pipeline.TestStatus{"a": pipeline.TestFailed, "b": pipeline.TestPassed},
	}, {
		name: "a result line that ends unended output",
		log: cargoLog(cargoUnit, "running 2 tests", `Error: test e ... FAILED`, `"an error"`, "xtest f ... ok",
			"test result: FAILED. 1 passed; 1 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.00s"),
		tests: map[string]pipeline.TestStatus{"e": pipeline.TestFailed, "f": pipeline.TestPassed},
	}, {
		name: "a forged result is more than the summary counts",
		log: cargoLog(cargoUnit, "running 1 test", "test a ... FAILED", "test a ... ok",
			"test result: FAILED. 0 passed; 1 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.00s"),
		tests:      map[string]pipeline.TestStatus{"a": pipeline.TestFailed},
		incomplete: "reported 0 passed, 1 failed",
	}, {
		name: "a forged summary ends the section early; the real one comes after",
		log: cargoLog(cargoUnit, "running 2 tests", "test a ... ok", "test b ... ok",
			"test result: ok. 2 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.00s",
			"test c ... FAILED",
			"test result: FAILED. 2 passed; 1 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.00s"),
		tests:      map[string]pipeline.TestStatus{"a": pipeline.TestPassed, "b": pipeline.TestPassed},
		incomplete: "no test binary running",
	}, {
		name:       "output cut inside a binary's tests",
		log:        cargoLog(cargoUnit, "running 3 tests", "test a ... ok", "test b ... o"),
		tests:      map[string]pipeline.TestStatus{"a": pipeline.TestPassed},
		incomplete: "cut off",
	}, {
		name: "a binary that exited inside its tests",
		log: cargoLog(cargoUnit, "running 2 tests", "test a ... ok", cargoInteg, "running 1 test", "test b ... ok",
			"test result: ok. 1 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.00s"),
		tests:      map[string]pipeline.TestStatus{"a": pipeline.TestPassed, "b": pipeline.TestPassed},
		incomplete: "unittests src/lib.rs",
	}, {
		name: "a custom harness that failed is a suite error",
		log: cargoLog(cargoInteg, "boom", "error: test failed, to rerun pass `--test a`", "", "Caused by:",
			"  process didn't exit successfully: `/t/target/debug/deps/a-4567` (exit status: 1)"),
		tests: map[string]pipeline.TestStatus{},
		suite: []string{"tests/a.rs (target/debug/deps/a-4567) failed before running its tests (exit status: 1)"},
	}, {
		name: "a binary that failed after its tests passed is a suite error",
		log: cargoLog(cargoUnit, "running 1 test", "test a ... ok",
			"test result: ok. 1 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.00s",
			"error: test failed, to rerun pass `--lib`", "", "Caused by:",
			"  process didn't exit successfully: `/t/target/debug/deps/x-0123` (signal: 11, SIGSEGV: invalid memory reference)"),
		tests: map[string]pipeline.TestStatus{"a": pipeline.TestPassed},
		suite: []string{"failed after its tests passed (signal: 11"},
	}, {
		name:  "an offline dependency cargo cannot have",
		log:   cargoLog("error: no matching package named `serde` found", "location searched: registry `crates-io`"),
		tests: map[string]pipeline.TestStatus{},
		suite: []string{"no matching package named `serde`"},
	}, {
		name:  "result lines outside any test binary are not libtest's",
		log:   cargoLog("test a ... ok", "compiling"),
		tests: map[string]pipeline.TestStatus{},
	}} {
		t.Run(c.name, func(t *testing.T) {
			r := testlog.ParseCargo(c.log)
			assert.Equal(t, c.tests, r.Tests)
			require.Len(t, r.SuiteErrors, len(c.suite), "%q", r.SuiteErrors)
			for i, s := range c.suite {
				assert.Contains(t, r.SuiteErrors[i], s)
			}
			if c.incomplete == "" {
				assert.Empty(t, r.Incomplete)
			} else {
				assert.Contains(t, r.Incomplete, c.incomplete)
			}
		})
	}
}

func TestParseCargoNothing(t *testing.T) {
	r := testlog.ParseCargo(cargoLog("   Compiling x v0.1.0", "    Finished test"))
	assert.False(t, r.Parsed)
	assert.ErrorIs(t, r.Check(0), testlog.ErrUnparsed)
}
