package testlog

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
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
// a package that fails without a failing test (a panic outside tests, os.Exit in TestMain),
// is a suite error. The results are incomplete (Result.Incomplete) when a package's test
// binary died with tests started and never reported (a timeout, os.Exit or a fatal error in
// a test), when a package started and never ended, or when the stream ends in a cut line.
func ParseGoTest(log []byte) Result {
	r, _ := readGoTest(bytes.NewReader(log))
	return r
}

// readGoTest is ParseGoTest on a stream, read a line at a time.
func readGoTest(rd io.Reader) (Result, error) {
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
	var died []string // "pkg: TestA, TestB" for binaries that died mid-test
	whole, err := eachLine(rd, func(raw []byte) {
		if len(raw) == 0 || raw[0] != '{' {
			if m := goPlainFailRe.FindStringSubmatch(string(raw)); m != nil {
				b.suiteError(m[2] + " failed: " + m[1])
			}
			return
		}
		var e goEvent
		if err := json.Unmarshal(raw, &e); err != nil || e.Action == "" {
			return
		}
		switch e.Action {
		case "build-fail":
			b.suiteError("build failed: " + e.ImportPath)
			return
		case "build-output", "pause", "cont", "bench":
			b.r.Parsed = true
			return
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
			return
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
			if len(p.running) > 0 {
				running := make([]string, 0, len(p.running))
				for t := range p.running {
					running = append(running, t)
				}
				sort.Strings(running)
				died = append(died, e.Package+": "+strings.Join(firstN(running, 5), ", ")+moreOf(len(running), 5))
			}
			delete(pkgs, e.Package)
		case "pass", "skip":
			delete(pkgs, e.Package)
		}
	})
	if err != nil {
		return b.result(), err
	}
	switch {
	case !whole:
		b.incomplete("the go test event stream ends in a cut line (the go command was killed while writing)")
	case len(died) > 0:
		b.incomplete("a test binary died with tests started and never reported: %s", strings.Join(died, "; "))
	case len(pkgs) > 0:
		names := make([]string, 0, len(pkgs))
		for n := range pkgs {
			names = append(names, n)
		}
		sort.Strings(names)
		b.incomplete("packages started and never ended: %s%s", strings.Join(firstN(names, 5), ", "), moreOf(len(names), 5))
	}
	return b.result(), nil
}

// firstN returns the first n elements of s.
func firstN(s []string, n int) []string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// moreOf says how many of total a list of the first n left out.
func moreOf(total, n int) string {
	if total > n {
		return fmt.Sprintf(" and %d more", total-n)
	}
	return ""
}
