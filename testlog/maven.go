package testlog

import (
	"archive/tar"
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"path"
	"regexp"
	"slices"
	"strings"

	"swemill/pipeline"
)

// StreamSurefire is the result stream of a Maven run: a tar archive that validation writes
// once the test command is over, holding every Surefire report the run left
// (<module>/target/surefire-reports/TEST-<class>.xml, under its path in the work directory)
// and the command's output as the member "output". Reports left before the run are removed
// before it starts, so a report in the archive is the run's own.
const StreamSurefire = "surefire.tar"

// surefireOutputMember is the archive member holding the test command's output.
const surefireOutputMember = "output"

// Maven's and Surefire's console lines.
var (
	// "[ERROR] name(pkg.Class)  Time elapsed: 0.05 s  <<< FAILURE!" (JUnit 4 runs, Surefire
	// 2.x), "[ERROR] pkg.Class.name  Time elapsed: ..." (Surefire 3), "[ERROR] name  Time
	// elapsed: ..." (JUnit 5 runs under Surefire 2.22: the class is the one last "Running").
	mavenTestLineRe = regexp.MustCompile(`^\[(?:ERROR|WARNING)\] (\S+?)(?:\((\S+)\))?\s+Time elapsed: [^<]*<<< (FAILURE|ERROR)!$`)
	// "[INFO] Running pkg.Class" / "Running pkg.Class" (Surefire prints it as a test class
	// starts).
	mavenRunningRe = regexp.MustCompile(`^(?:\[INFO\] )?Running (\S+)$`)
	// "Tests run: 2, Failures: 1, Errors: 0, Skipped: 0, ... - in pkg.Class" and the totals.
	mavenTestsRunRe = regexp.MustCompile(`^(?:\[(?:INFO|ERROR|WARNING)\] )?Tests run: (\d+), Failures: (\d+), Errors: (\d+), Skipped: (\d+)(.*)$`)
	mavenBuildRe    = regexp.MustCompile(`^\[INFO\] BUILD (SUCCESS|FAILURE)$`)
	// "[ERROR] Failed to execute goal GROUP:ARTIFACT:VERSION:GOAL (ID) on project NAME: MESSAGE"
	mavenGoalFailedRe = regexp.MustCompile(`^\[ERROR\] Failed to execute goal (\S+) (?:\(\S+\) )?on project (\S+): (.*)$`)
	// JVM identifiers: a class name's parts, a method name.
	javaClassRe = regexp.MustCompile(`^[A-Za-z_$][A-Za-z0-9_$]*(\.[A-Za-z_$][A-Za-z0-9_$]*)*$`)
)

// mavenCrashes are what Surefire prints when a forked test JVM died or was cut short: the
// results of the tests it was running were never written.
var mavenCrashes = []string{
	"The forked VM terminated without properly saying goodbye",
	"There was a timeout or other error in the fork",
	"Crashed tests:",
	"ExecutionException The forked VM terminated",
}

// ParseMaven reads the console output of `mvn test` (Maven 3, Surefire 2.22 or 3): the
// fallback when a run left no Surefire reports (StreamSurefire). Ids are
// "pkg.Class#method", the form -Dtest takes (see SelectArgs). Surefire prints a line per
// failing or erroring test but none per passing one, so from this output alone only
// failures and errors are known: the tests of a class that passed have no id here. A
// failing test's line counts only where Surefire puts it, right after the summary line of
// its class ("Tests run: ... - in pkg.Class"), so a test that prints such lines while it
// runs names nothing. A class that failed outside its tests (@BeforeClass), a test source
// or main source that does not compile, and a build that failed outside the tests (a
// missing dependency, a plugin error), are suite errors. The results are incomplete when a
// forked test JVM crashed or timed out ("The forked VM terminated without properly saying
// goodbye") or when tests started and Maven never printed BUILD SUCCESS or BUILD FAILURE.
func ParseMaven(log []byte) Result {
	var b builder
	parseMavenText(&b, log)
	return b.result()
}

// parseMavenText adds what the console output log says to b.
func parseMavenText(b *builder, log []byte) {
	var (
		summary, build string // summary: the class whose failing summary line came last
		started        bool
		testFailures   bool
		otherFailures  []string
	)
	for _, line := range lines(log) {
		line = strings.TrimSpace(line)
		if m := mavenRunningRe.FindStringSubmatch(line); m != nil && javaClassRe.MatchString(m[1]) {
			// A BUILD line before a test class starts was printed by a test.
			summary, build, started = "", "", true
			b.r.Parsed = true
			continue
		}
		if strings.Contains(line, "T E S T S") {
			summary, started = "", true
		}
		if m := mavenTestLineRe.FindStringSubmatch(line); m != nil {
			if summary == "" {
				continue // not where Surefire reports a test
			}
			st := pipeline.TestFailed
			if m[3] == "ERROR" {
				st = pipeline.TestError
			}
			name, class := m[1], m[2]
			switch {
			case class == "" && name == summary:
				b.suiteError("the test class " + summary + " failed outside its tests")
			case class == "":
				b.set(summary+"#"+strings.TrimPrefix(name, summary+"."), st)
				testFailures = true
			case class == summary:
				b.set(class+"#"+name, st)
				testFailures = true
			}
			continue
		}
		if m := mavenTestsRunRe.FindStringSubmatch(line); m != nil {
			b.r.Parsed = true
			summary = ""
			if i := strings.LastIndex(m[5], " - in "); i >= 0 && (m[2] != "0" || m[3] != "0") {
				if class := strings.TrimSpace(m[5][i+len(" - in "):]); javaClassRe.MatchString(class) {
					summary = class
				}
			}
			continue
		}
		if m := mavenBuildRe.FindStringSubmatch(line); m != nil {
			build = m[1]
			b.r.Parsed = true
			continue
		}
		for _, c := range mavenCrashes {
			if strings.Contains(line, c) {
				b.incomplete("a forked test JVM died or timed out: %s", strings.TrimPrefix(line, "[ERROR] "))
			}
		}
		if strings.HasPrefix(line, "[ERROR] COMPILATION ERROR") {
			b.r.Parsed = true
		}
		if m := mavenGoalFailedRe.FindStringSubmatch(line); m != nil {
			goal, project, msg := m[1], m[2], m[3]
			switch {
			case strings.Contains(goal, ":maven-surefire-plugin:") && strings.HasPrefix(msg, "There are test failures"):
				testFailures = true
				b.r.Parsed = true
			case strings.Contains(goal, ":maven-compiler-plugin:") && strings.Contains(goal, ":testCompile"):
				b.suiteError("the test sources of project " + project + " do not compile: " + msg)
			case strings.Contains(goal, ":maven-compiler-plugin:"):
				b.suiteError("the sources of project " + project + " do not compile: " + msg)
			default:
				otherFailures = append(otherFailures, "goal "+goal+" failed on project "+project+": "+msg)
			}
		}
	}
	for _, f := range otherFailures {
		b.suiteError(f)
	}
	switch {
	case build == "" && started:
		b.incomplete("tests started and Maven never printed BUILD SUCCESS or BUILD FAILURE (killed or cut)")
	case build == "FAILURE" && !testFailures && len(b.r.SuiteErrors) == 0 && b.r.Incomplete == "":
		b.suiteError("the Maven build failed outside the tests")
	}
}

// Surefire's XML report (surefire-test-report.xsd).
type surefireSuite struct {
	Name      string          `xml:"name,attr"`
	Tests     int             `xml:"tests,attr"`
	TestCases []surefireCase  `xml:"testcase"`
	Suites    []surefireSuite `xml:"testsuite"`
}

type surefireCase struct {
	Name         string     `xml:"name,attr"`
	ClassName    string     `xml:"classname,attr"`
	Failure      *struct{}  `xml:"failure"`
	Error        *struct{}  `xml:"error"`
	Skipped      *struct{}  `xml:"skipped"`
	FlakyFailure []struct{} `xml:"flakyFailure"`
	FlakyError   []struct{} `xml:"flakyError"`
}

// readSurefireTar reads StreamSurefire: every report's test cases, and the console output
// for what reports do not hold (compile errors, a crashed JVM, a build that never ended). A
// test in a report has the status the report gives it (failure: FAILED, error: ERROR,
// skipped: SKIPPED, else PASSED; a test that failed and then passed on a rerun is PASSED,
// with a warning); a failing test that the output names and no report does (its JVM died)
// is added from the output. A test case naming no method (a class whose @BeforeClass
// failed) is a suite error. The results are incomplete when the archive is cut or a report
// is not well-formed XML, and whenever the output says so (ParseMaven); an archive without
// the output member is read from its reports alone.
func readSurefireTar(r io.Reader) (Result, error) {
	var b builder
	tr := tar.NewReader(r)
	var text *builder
	reported := map[string]bool{} // classes with a report
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			b.incomplete("the Surefire archive is cut or damaged: %v", err)
			break
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		name := path.Clean(h.Name)
		switch {
		case name == surefireOutputMember:
			data, err := io.ReadAll(tr)
			if err != nil {
				b.incomplete("the Surefire archive is cut in the output: %v", err)
				continue
			}
			text = &builder{}
			parseMavenText(text, data)
		case strings.HasSuffix(name, ".xml") && strings.HasPrefix(path.Base(name), "TEST-") &&
			strings.HasSuffix(path.Dir(name), "target/surefire-reports"):
			data, err := io.ReadAll(tr)
			if err != nil {
				b.incomplete("the Surefire archive is cut in %s: %v", name, err)
				continue
			}
			readSurefireReport(&b, name, data, reported)
		}
	}
	if text != nil {
		// The output's suite errors and evidence of incompleteness stand; its failing tests
		// only where no report covers their class (the JVM running it died).
		for _, e := range text.r.SuiteErrors {
			b.suiteError(e)
		}
		if text.r.Incomplete != "" {
			b.incomplete("%s", text.r.Incomplete)
		}
		for id, st := range text.r.Tests {
			class, _, _ := strings.Cut(id, "#")
			if !reported[class] {
				b.set(id, st)
			}
		}
		b.r.Parsed = b.r.Parsed || text.r.Parsed
	}
	return b.result(), nil
}

// readSurefireReport adds the test cases of one report to b.
func readSurefireReport(b *builder, name string, data []byte, reported map[string]bool) {
	var s surefireSuite
	dec := xml.NewDecoder(bytes.NewReader(data))
	dec.Strict = true
	dec.CharsetReader = func(_ string, in io.Reader) (io.Reader, error) { return in, nil }
	if err := dec.Decode(&s); err != nil {
		b.incomplete("the Surefire report %s is not well-formed: %v", name, err)
		return
	}
	b.r.Parsed = true
	var walk func(s surefireSuite)
	walk = func(s surefireSuite) {
		for _, c := range s.TestCases {
			class := strings.TrimSpace(c.ClassName)
			if class == "" {
				class = strings.TrimSpace(s.Name)
			}
			method := strings.TrimSpace(c.Name)
			if method == "" || method == class || !javaClassRe.MatchString(class) {
				if c.Failure != nil || c.Error != nil {
					b.suiteError("the test class " + class + " failed outside its tests")
				}
				continue
			}
			reported[class] = true
			id := class + "#" + method
			switch {
			case c.Error != nil:
				b.set(id, pipeline.TestError)
			case c.Failure != nil:
				b.set(id, pipeline.TestFailed)
			case c.Skipped != nil:
				b.set(id, pipeline.TestSkipped)
			default:
				if len(c.FlakyFailure)+len(c.FlakyError) > 0 {
					b.warn("test %s failed and then passed on a rerun", id)
				}
				b.set(id, pipeline.TestPassed)
			}
		}
		for _, sub := range s.Suites {
			walk(sub)
		}
	}
	walk(s)
}

// Shell commands that make StreamSurefire, run in the work directory: SurefireClean before
// the test command (it removes every report directory a checkout holds, so that no report
// left there by a build or planted in the repository is read as the run's), SurefireCollect
// after it, with the command's output in $SWEMILL_RESULTS/output.
const (
	SurefireClean   = `find . -path '*/target/surefire-reports' -type d -prune -exec rm -rf {} +`
	SurefireCollect = `find . -path '*/target/surefire-reports/TEST-*.xml' -type f -print0 | tar -cf "$SWEMILL_RESULTS/` + StreamSurefire + `" --null --no-recursion -T - -C "$SWEMILL_RESULTS" ` + surefireOutputMember
)

// Surefire's default includes: the test classes `mvn test` runs.
var surefireTestNameRe = regexp.MustCompile(`^(Test[A-Za-z0-9_$]*|[A-Za-z0-9_$]*(Test|Tests|TestCase))\.java$`)

// javaIdentRe matches one Java identifier (ASCII), a part of a package or class name.
var javaIdentRe = regexp.MustCompile(`^[A-Za-z_$][A-Za-z0-9_$]*$`)

// mavenModuleRe matches a module directory as -pl takes it: a relative path of plain names.
var mavenModuleRe = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]*(/[A-Za-z0-9_][A-Za-z0-9_.-]*)*$`)

// mavenNoTestsFlag keeps a module that has none of the selected tests from failing the build
// (Surefire 2.22 and 3 read it; 3 dropped -DfailIfNoTests for this case).
const mavenNoTestsFlag = "-Dsurefire.failIfNoSpecifiedTests=false"

// mavenFileArgs returns the Maven arguments for test files: the modules they are in (-pl,
// with -am so that the modules they need are built in the same reactor; none when a file is
// in the root module) and the test classes (-Dtest=pkg.Class,... for files under
// src/test/java/ whose names Surefire runs by default). Test resources and helper classes
// select their module only.
func mavenFileArgs(files []string) (modules, classes []string, root bool) {
	seenMod, seenClass := map[string]bool{}, map[string]bool{}
	for _, f := range files {
		var mod, rest string
		for _, dir := range []string{"src/test/java/", "src/test/resources/"} {
			if strings.HasPrefix(f, dir) {
				mod, rest = "", f
				break
			}
			if i := strings.Index(f, "/"+dir); i >= 0 {
				mod, rest = f[:i], f[i+1:]
				break
			}
		}
		if rest == "" {
			continue
		}
		if mod == "" {
			root = true
		} else if !mavenModuleRe.MatchString(mod) || strings.Contains(mod, "..") {
			continue
		} else if !seenMod[mod] {
			seenMod[mod] = true
			modules = append(modules, mod)
		}
		src, ok := strings.CutPrefix(rest, "src/test/java/")
		if !ok || !surefireTestNameRe.MatchString(path.Base(src)) {
			continue
		}
		parts := strings.Split(strings.TrimSuffix(src, ".java"), "/")
		valid := true
		for _, p := range parts {
			valid = valid && javaIdentRe.MatchString(p)
		}
		if class := strings.Join(parts, "."); valid && !seenClass[class] {
			seenClass[class] = true
			classes = append(classes, class)
		}
	}
	return modules, classes, root
}

// mavenArgs assembles -pl, -am, -Dtest and mavenNoTestsFlag.
func mavenArgs(modules []string, root bool, test string) []string {
	var out []string
	if len(modules) > 0 && !root {
		out = append(out, "-pl", strings.Join(modules, ","), "-am")
	}
	if test != "" {
		out = append(out, "-Dtest="+test, mavenNoTestsFlag)
	}
	return out
}

// mavenSelectArgs selects tests by id (pkg.Class#method): -Dtest=pkg.Class#m1+m2,... . A
// method name with parameters ("m[0]", JUnit 5's "m{int}[1]") selects the method, its
// siblings with it. ok is false for an id that is not of this form.
func mavenSelectArgs(ids, files []string) ([]string, bool) {
	var classes []string
	methods := map[string][]string{}
	for _, id := range ids {
		class, method, found := strings.Cut(id, "#")
		if i := strings.IndexAny(method, "[{("); i >= 0 {
			method = method[:i]
		}
		if !found || !javaClassRe.MatchString(class) || !javaIdentRe.MatchString(method) {
			return nil, false
		}
		if _, seen := methods[class]; !seen {
			classes = append(classes, class)
		}
		if !slices.Contains(methods[class], method) {
			methods[class] = append(methods[class], method)
		}
	}
	var sel []string
	for _, c := range classes {
		sel = append(sel, c+"#"+strings.Join(methods[c], "+"))
	}
	modules, _, root := mavenFileArgs(files)
	return mavenArgs(modules, root, strings.Join(sel, ",")), true
}
