package testlog

import (
	"encoding/json"
	"regexp"
	"sort"
	"strings"

	"swemill/pipeline"
)

// goEvent is one line of `go test -json` (test2json's TestEvent, plus the build events of
// Go 1.24 and later).
type goEvent struct {
	Action      string
	Package     string
	Test        string
	Output      string
	FailedBuild string
	ImportPath  string
}

// goPlainFailRe matches the plain "FAIL\tpkg [build failed]" line that Go before 1.24
// prints outside the JSON stream.
var goPlainFailRe = regexp.MustCompile(`^FAIL\s+(\S+) \[(build|setup) failed\]$`)

// ParseGoTest reads the output of `go test -json` (standard error merged in). Ids are test
// names as Go prints them: "TestName", "TestName/sub_test", "ExampleX", "FuzzX/seed#0"; the
// same name in two packages keeps its worse status. Only JSON events count, and test output
// travels inside them, so a test cannot print a result. A package that does not build, and
// a package that fails without a failing test (a panic outside tests, os.Exit, a timeout),
// is a suite error; tests a crash interrupted count as failed.
func ParseGoTest(log []byte) Result {
	var b builder
	type pkgState struct {
		running map[string]bool // tests started without a verdict yet
		failed  bool            // a test of the package failed
		panics  []string
	}
	pkgs := map[string]*pkgState{}
	pkg := func(name string) *pkgState {
		p := pkgs[name]
		if p == nil {
			p = &pkgState{running: map[string]bool{}}
			pkgs[name] = p
		}
		return p
	}
	for _, line := range lines(log) {
		if !strings.HasPrefix(line, "{") {
			if m := goPlainFailRe.FindStringSubmatch(line); m != nil {
				b.suiteError(m[2] + " failed: " + m[1])
			}
			continue
		}
		var e goEvent
		if err := json.Unmarshal([]byte(line), &e); err != nil || e.Action == "" {
			continue
		}
		switch e.Action {
		case "build-fail":
			b.suiteError("build failed: " + e.ImportPath)
			continue
		case "build-output", "start", "pause", "cont", "bench":
			b.r.Parsed = true
			continue
		}
		p := pkg(e.Package)
		b.r.Parsed = true
		if e.Test != "" {
			switch e.Action {
			case "run":
				p.running[e.Test] = true
			case "pass":
				delete(p.running, e.Test)
				b.set(e.Test, pipeline.TestPassed)
			case "fail":
				delete(p.running, e.Test)
				p.failed = true
				b.set(e.Test, pipeline.TestFailed)
			case "skip":
				delete(p.running, e.Test)
				b.set(e.Test, pipeline.TestSkipped)
			case "output":
				if strings.HasPrefix(e.Output, "panic: ") {
					p.panics = append(p.panics, strings.TrimSpace(e.Output))
				}
			}
			continue
		}
		switch e.Action {
		case "output":
			if strings.HasPrefix(e.Output, "panic: ") {
				p.panics = append(p.panics, strings.TrimSpace(e.Output))
			}
		case "fail":
			switch {
			case e.FailedBuild != "":
				b.suiteError("build failed: " + e.FailedBuild)
			case len(p.panics) > 0:
				b.suiteError(e.Package + ": " + p.panics[0])
			case !p.failed && len(p.running) == 0:
				b.suiteError(e.Package + ": failed outside its tests")
			}
			running := make([]string, 0, len(p.running))
			for t := range p.running {
				running = append(running, t)
			}
			sort.Strings(running)
			for _, t := range running {
				b.set(t, pipeline.TestFailed)
			}
			delete(pkgs, e.Package)
		case "pass", "skip":
			delete(pkgs, e.Package)
		}
	}
	return b.result()
}
