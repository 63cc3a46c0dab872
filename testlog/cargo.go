package testlog

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"swemill/pipeline"
)

// libtest's result words, as its pretty (default) format writes them after "test NAME ... ".
var cargoStatuses = map[string]pipeline.TestStatus{
	"ok":      pipeline.TestPassed,
	"FAILED":  pipeline.TestFailed,
	"ignored": pipeline.TestSkipped,
}

var (
	// cargoRunningRe is the line libtest prints when a test binary starts its tests.
	cargoRunningRe = regexp.MustCompile(`^running (\d+) tests?$`)
	// cargoSummaryRe is libtest's summary line of one test binary.
	cargoSummaryRe = regexp.MustCompile(`^test result: (ok|FAILED)\. (\d+) passed; (\d+) failed; (\d+) ignored; (\d+) measured; (\d+) filtered out`)
	// cargoTargetRe is cargo's line before it runs a test binary: "Running unittests
	// src/lib.rs (target/...)", "Running tests/a.rs (target/...)", "Running target/..."
	// (cargo before 1.59), "Doc-tests NAME".
	cargoTargetRe = regexp.MustCompile(`^\s+(Running|Doc-tests) (.+)$`)
	// cargoDiedRe is cargo's line about a test binary that did not exit with success.
	cargoDiedRe = regexp.MustCompile("^\\s*process didn't exit successfully: `.*` \\((.+)\\)$")
	// cargoCompileRe is cargo's line about a crate that does not build.
	cargoCompileRe = regexp.MustCompile("^error: could not compile `([^`]+)`")
	// cargoLibtestNameRe is the form of a libtest name of a #[test] function: a Rust path
	// (doc tests, and the names of custom harnesses, take other forms).
	cargoLibtestNameRe = regexp.MustCompile(`^(r#)?[\pL_][\pL\pN_]*(::(r#)?[\pL_][\pL\pN_]*)*( - should panic)?$`)
)

// cargoTestFailedPrefixes start the error lines cargo prints about test binaries whose tests
// failed (not suite errors: the failures are the tests').
var cargoTestFailedPrefixes = []string{"error: test failed", "error: doctest failed", "error: bench failed"}

// cargoResult is one "test NAME ... STATUS" line of a section.
type cargoResult struct {
	name   string
	status pipeline.TestStatus
}

// cargoSection is one test binary's run, from "running N tests" to "test result:".
type cargoSection struct {
	target  string // cargo's name for the binary ("unittests src/lib.rs (...)", "Doc-tests x")
	running int
	results []cargoResult
	pending string // a test whose "test NAME ... " line waits for its result
	inFails bool   // past "failures:": captured output and the failure list, no results
}

// ParseCargo reads the output of `cargo test` (standard error merged in): libtest's pretty
// text, which is what stable Rust prints (its JSON format needs a nightly toolchain). Ids are
// the names libtest prints on its result lines: the test function's module path within its
// crate ("tests::parses", "parses" in an integration test), with " - should panic" for a
// #[should_panic] test, and "src/lib.rs - item (line 5)" for a doc test (" - compile fail",
// " - compile" for those kinds). The same name in two test binaries (a unit test and an
// integration test, two crates of a workspace) keeps its worse status. An ignored test is
// SKIPPED.
//
// A test binary's results are read only between its "running N tests" line and its summary
// ("test result: ..."), up to its "failures:" section (whose captured output can hold
// anything); a result on a later line than its "test NAME ... " (a test that wrote to the
// terminal in a single-threaded run) is taken, and so is a result line that ends a line
// some test started without a line end ("Error: test NAME ... FAILED"). Each binary's results must agree with its
// summary's counts: lines a test printed in libtest's form (it can write to the terminal
// past libtest's capture) make them disagree, and the results are then incomplete (no label
// is taken from them), unless leaving out the names that no #[test] function can have
// (trybuild's "test tests/ui/x.rs ... ok") makes them agree. A crate that does not build, a
// cargo error (no such target, a dependency that cannot be had offline) and a test binary
// that failed outside its tests are suite errors. The results are incomplete when a test
// binary died (a signal, an abort, process::exit) with tests started and never summarised,
// when the output ends inside a binary's tests, or when a summary comes with no binary
// running.
func ParseCargo(log []byte) Result {
	var b builder
	var (
		sec    *cargoSection
		target string // the test binary cargo said it runs
		// state is what the binary cargo named last did: "" (nothing yet), "ok" or
		// "FAILED" (its summary), "died" (its tests started and never ended).
		state string
	)
	closeDied := func(why string) {
		b.incomplete("the test binary %s %s after %d of its %d tests reported", sec.target, why, len(sec.results), sec.running)
		for _, r := range sec.results {
			b.set(r.name, r.status)
		}
		sec, state = nil, "died"
	}
	for _, line := range lines(log) {
		if sec != nil {
			if m := cargoSummaryRe.FindStringSubmatch(line); m != nil {
				b.closeCargoSection(sec, m)
				sec, state = nil, m[1]
				continue
			}
			switch {
			case cargoRunningRe.MatchString(line):
				closeDied("printed a second start of its tests")
				continue
			case cargoTargetRe.MatchString(line), cargoDiedRe.MatchString(line),
				strings.HasPrefix(line, "error: test failed"), strings.HasPrefix(line, "error: doctest failed"):
				// cargo speaks again: the binary ended without its summary.
				why := "ended without its summary"
				if m := cargoDiedRe.FindStringSubmatch(line); m != nil {
					why = "died (" + m[1] + ")"
				}
				closeDied(why)
				// The line is cargo's: read it below.
			default:
				if sec.inFails {
					continue
				}
				if line == "failures:" {
					sec.inFails = true
					sec.pending = ""
					continue
				}
				sec.readResultLine(line)
				continue
			}
		}
		switch {
		case cargoRunningRe.MatchString(line):
			m := cargoRunningRe.FindStringSubmatch(line)
			n, _ := strconv.Atoi(m[1])
			name := target
			if name == "" {
				name = "(unnamed)"
			}
			sec = &cargoSection{target: name, running: n}
			b.r.Parsed = true
		case cargoSummaryRe.MatchString(line):
			b.incomplete("a test summary came with no test binary running: %q", firstBytes(line, 120))
		case cargoTargetRe.MatchString(line):
			m := cargoTargetRe.FindStringSubmatch(line)
			target, state = m[2], ""
			if m[1] == "Doc-tests" {
				target = "Doc-tests " + m[2]
			}
		case cargoDiedRe.MatchString(line):
			m := cargoDiedRe.FindStringSubmatch(line)
			switch {
			case state == "died":
				if strings.Contains(b.r.Incomplete, target) {
					b.r.Incomplete += "; cargo: " + m[1]
				}
			case target == "" || state == "FAILED":
			case state == "":
				b.suiteError(fmt.Sprintf("the test binary %s failed before running its tests (%s)", target, m[1]))
			case state == "ok":
				b.suiteError(fmt.Sprintf("the test binary %s failed after its tests passed (%s)", target, m[1]))
			}
		case cargoCompileRe.MatchString(line):
			b.suiteError("could not compile " + cargoCompileRe.FindStringSubmatch(line)[1])
		case strings.HasPrefix(line, "error: ") && !cargoTestFailure(line):
			b.suiteError(line)
		}
	}
	if sec != nil {
		closeDied("was cut off (the output ends)")
	}
	return b.result()
}

// cargoTestFailure says whether an error line of cargo's is about tests that failed.
func cargoTestFailure(line string) bool {
	for _, p := range cargoTestFailedPrefixes {
		if strings.HasPrefix(line, p) {
			return true
		}
	}
	// "error: 3 targets failed:" ends a --no-fail-fast run.
	return strings.HasSuffix(line, " targets failed:") || strings.HasSuffix(line, " target failed:")
}

// readResultLine reads one line of a section's results.
func (s *cargoSection) readResultLine(line string) {
	if s.pending != "" {
		if st, ok := cargoStatus(line); ok {
			s.results = append(s.results, cargoResult{s.pending, st})
			s.pending = ""
			return
		}
	}
	rest, ok := strings.CutPrefix(line, "test ")
	if !ok {
		// What a test wrote to the terminal without a line end, then libtest's whole line
		// ("Error: test NAME ... FAILED"): libtest's line is the end of it.
		for i := strings.Index(line, "test "); i > 0; {
			if name, word, ok := strings.Cut(line[i+len("test "):], " ... "); ok && name != "" {
				if st, ok := cargoStatus(word); ok {
					s.results = append(s.results, cargoResult{name, st})
					return
				}
			}
			j := strings.Index(line[i+1:], "test ")
			if j < 0 {
				return
			}
			i += 1 + j
		}
		return
	}
	name, word, ok := strings.Cut(rest, " ... ")
	if !ok {
		// "test NAME ..." with the trailing space trimmed by a writer.
		if name, ok = strings.CutSuffix(rest, " ..."); !ok {
			return
		}
	}
	name = strings.TrimSpace(name)
	if name == "" {
		return
	}
	if st, ok := cargoStatus(word); ok {
		s.results = append(s.results, cargoResult{name, st})
		return
	}
	// The result comes later, after what the test wrote.
	s.pending = name
}

// cargoStatus reads libtest's result word: "ok", "FAILED", "ignored" (with a reason after a
// comma in newer Rust) or a benchmark's "bench: ..." (a pass).
func cargoStatus(word string) (pipeline.TestStatus, bool) {
	if st, ok := cargoStatuses[word]; ok {
		return st, true
	}
	if strings.HasPrefix(word, "ignored, ") {
		return pipeline.TestSkipped, true
	}
	if strings.HasPrefix(word, "bench: ") {
		return pipeline.TestPassed, true
	}
	return "", false
}

// closeCargoSection checks a section's results against its summary (m: cargoSummaryRe's
// match) and records them.
func (b *builder) closeCargoSection(s *cargoSection, m []string) {
	passed, _ := strconv.Atoi(m[2])
	failed, _ := strconv.Atoi(m[3])
	ignored, _ := strconv.Atoi(m[4])
	measured, _ := strconv.Atoi(m[5])
	want := [3]int{passed + measured, failed, ignored}
	count := func(rs []cargoResult) [3]int {
		var c [3]int
		for _, r := range rs {
			switch r.status {
			case pipeline.TestPassed:
				c[0]++
			case pipeline.TestFailed:
				c[1]++
			case pipeline.TestSkipped:
				c[2]++
			}
		}
		return c
	}
	results := s.results
	if got := count(results); got != want {
		var kept []cargoResult
		for _, r := range results {
			if cargoLibtestNameRe.MatchString(r.name) {
				kept = append(kept, r)
			}
		}
		if !strings.HasPrefix(s.target, "Doc-tests") && len(kept) < len(results) && count(kept) == want {
			b.warn("the test binary %s printed %d result lines with names no test function has; they were left out", s.target, len(results)-len(kept))
			results = kept
		} else {
			b.incomplete("the test binary %s reported %d passed, %d failed and %d ignored tests, where its result lines say %d, %d and %d (a test printed lines in libtest's form, or libtest's were lost)",
				s.target, want[0], want[1], want[2], got[0], got[1], got[2])
		}
	}
	for _, r := range results {
		b.set(r.name, r.status)
	}
	b.r.Parsed = true
}

// firstBytes returns at most the first n bytes of s.
func firstBytes(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// cargoSWEbenchStatuses is parse_log_cargo's rule: a line that, stripped of whitespace, is
// "test", NAME (no whitespace), "...", and a word, each apart by whitespace, gives NAME's
// status when the word is "ok" (PASSED) or "FAILED"; a later line for the same NAME wins.
func cargoSWEbenchStatuses(lines []string, out map[string]string) {
	for _, line := range lines {
		f := pyFields(line)
		if len(f) != 4 || f[0] != "test" || f[2] != "..." {
			continue
		}
		switch f[3] {
		case "ok":
			out[f[1]] = "PASSED"
		case "FAILED":
			out[f[1]] = "FAILED"
		}
	}
}

// cargoSWEbenchParser names parse_log_cargo when it yields every id: ids without
// whitespace. It does not yield a doc test ("src/lib.rs - item (line 5)"), a
// #[should_panic] test (libtest prints "NAME - should panic ... ok", which is our id) or
// any name with whitespace. Two divergences cannot be told from the ids and are left as
// they are, as parse_log_gotest's are for Go: the same name in two test binaries, which we
// merge to the worse status and parse_log_cargo takes from the later line, and a result
// line a test's own unended output runs into ("Error: test NAME ... FAILED"), which
// parse_log_cargo misses and so counts as a failure.
func cargoSWEbenchParser(ids []string) (parser, why string) {
	for _, id := range ids {
		if id == "" || strings.ContainsFunc(id, isPySpace) {
			return "", fmt.Sprintf("parse_log_cargo does not yield the test id %q (a doc test's or a #[should_panic] test's, whose result line has spaces in the name)", id)
		}
	}
	return SWEbenchCargo, ""
}

// cargoTargetNameRe is the form of a cargo target name taken from a file name.
var cargoTargetNameRe = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_-]{0,100}$`)

// cargoTargetArgs returns cargo's target options for a test file of a patch (a clean
// relative path), by cargo's conventional layout, in a crate at the root or in a workspace
// member's directory: tests/NAME.rs and tests/NAME/main.rs are the integration test NAME
// ("--test NAME"); other files under tests/ (shared modules, trybuild cases, data) belong
// to integration tests unknown here ("--tests": every test target); .rs files under src/
// are the library's unit tests ("--lib"), src/main.rs and src/bin/ the binaries' ("--bins").
// A file under neither (benches, examples, build.rs) gives nothing. Workspace members are
// not told apart (the command's --workspace runs them all): the package of a directory is
// named in its Cargo.toml, which the path does not tell.
func cargoTargetArgs(f string) []string {
	parts := strings.Split(f, "/")
	for i, p := range parts[:len(parts)-1] {
		rest := parts[i+1:]
		switch p {
		case "tests":
			name := ""
			switch {
			case len(rest) == 1 && strings.HasSuffix(rest[0], ".rs"):
				name = strings.TrimSuffix(rest[0], ".rs")
			case len(rest) == 2 && rest[1] == "main.rs":
				name = rest[0]
			}
			if cargoTargetNameRe.MatchString(name) {
				return []string{"--test", name}
			}
			return []string{"--tests"}
		case "src":
			switch {
			case !strings.HasSuffix(f, ".rs"):
				return nil
			case len(rest) == 1 && rest[0] == "main.rs", rest[0] == "bin":
				return []string{"--bins"}
			}
			return []string{"--lib"}
		case "benches", "examples":
			return nil
		}
	}
	return nil
}

// cargoFilterName returns the libtest name of a test id, as a filter names it: the id
// without the mode libtest prints after it (" - should panic").
func cargoFilterName(id string) string {
	for _, mode := range []string{" - should panic", " - compile fail", " - compile"} {
		if n, ok := strings.CutSuffix(id, mode); ok {
			return n
		}
	}
	return id
}
