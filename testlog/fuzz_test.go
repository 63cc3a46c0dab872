package testlog_test

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"swemill/pipeline"
	"swemill/testlog"
)

// Fuzz targets, one per parser, seeded with the golden logs of that parser. Logs are
// untrusted: a parser must not panic, must say Parsed whenever it reports anything, must
// report only known statuses under non-empty one-line ids, and must give the same answer
// twice. `go test -fuzz FuzzPytest ./testlog` (one target at a time) explores further.

func FuzzPytest(f *testing.F)   { fuzzParser(f, testlog.Pytest) }
func FuzzUnittest(f *testing.F) { fuzzParser(f, testlog.Unittest) }
func FuzzDjango(f *testing.F)   { fuzzParser(f, testlog.Django) }
func FuzzSympy(f *testing.F)    { fuzzParser(f, testlog.Sympy) }
func FuzzGoTest(f *testing.F)   { fuzzParser(f, testlog.GoTest) }
func FuzzMaven(f *testing.F)    { fuzzParser(f, testlog.Maven) }
func FuzzJest(f *testing.F)     { fuzzParser(f, testlog.Jest) }
func FuzzCargo(f *testing.F)    { fuzzParser(f, testlog.Cargo) }

// FuzzJestReport fuzzes the reader of Jest's JSON report, seeded with the captured reports.
func FuzzJestReport(f *testing.F) {
	for _, c := range goldenCases {
		if c.stream == testlog.StreamJest {
			data, err := os.ReadFile(filepath.Join("testdata", "golden", c.name+".log"))
			if err != nil {
				f.Fatal(err)
			}
			f.Add(data)
			f.Add(data[:len(data)/2])
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r := testlog.ParseJestReport(data)
		if (len(r.Tests) > 0 || len(r.SuiteErrors) > 0) && !r.Parsed {
			t.Fatalf("reported tests or suite errors but not Parsed")
		}
		for id, s := range r.Tests {
			if id == "" || strings.ContainsAny(id, "\n\r") || !validStatus[s] {
				t.Fatalf("bad result %q: %q", id, s)
			}
		}
		if again := testlog.ParseJestReport(data); !reflect.DeepEqual(r, again) {
			t.Fatalf("two parses differ")
		}
	})
}

// FuzzArgs checks that Args never lets a path through that leaves the repository or looks
// like an option.
func FuzzArgs(f *testing.F) {
	f.Add("gotest", "a/b_test.go\nx/testdata/y\n../z.go\n-x.go")
	f.Add("django", "tests/admin/tests.py\n./tests/a.py")
	f.Add("pytest", "tests/test_x.py\n/etc/passwd.py\ntests/../../a.py")
	f.Add("jest", "__tests__/a.test.js\n../x.test.js\n-x.test.ts\nsrc/__snapshots__/a.test.js.snap")
	f.Add("cargo", "tests/a.rs\ntests/-x.rs\nsrc/lib.rs\ncrates/b/tests/c/main.rs\n../tests/d.rs")
	f.Add("maven", "core/src/test/java/a/b/FooTest.java\n../src/test/java/X.java\n-x/src/test/java/ATest.java")
	f.Fuzz(func(t *testing.T, parser, files string) {
		args := testlog.Args(parser, strings.Split(files, "\n"))
		if parser == testlog.Cargo {
			args = cargoArgValues(t, args)
		}
		for _, a := range args {
			if parser == testlog.Maven {
				checkMavenArg(t, a)
				continue
			}
			if parser == testlog.Jest && a == "--runTestsByPath" {
				continue
			}
			if a == "" || strings.HasPrefix(a, "-") || strings.HasPrefix(a, "/") || a == ".." ||
				strings.HasPrefix(a, "../") || strings.HasPrefix(a, "./..") {
				t.Fatalf("Args(%q) gave %q", parser, a)
			}
		}
	})
}

var validStatus = map[pipeline.TestStatus]bool{
	pipeline.TestPassed: true, pipeline.TestFailed: true, pipeline.TestError: true,
	pipeline.TestSkipped: true, pipeline.TestXFail: true, pipeline.TestXPass: true,
}

func fuzzParser(f *testing.F, name string) {
	for _, c := range goldenCases {
		if c.parser != name || c.stream != "" {
			continue
		}
		data, err := os.ReadFile(filepath.Join("testdata", "golden", c.name+".log"))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
		// A truncated copy, as a capped log would be.
		f.Add(data[:len(data)/2])
	}
	parse, ok := testlog.Lookup(name)
	if !ok {
		f.Fatalf("no parser %q", name)
	}
	f.Fuzz(func(t *testing.T, log []byte) {
		r := parse(log)
		if (len(r.Tests) > 0 || len(r.SuiteErrors) > 0) && !r.Parsed {
			t.Fatalf("reported %d tests and %d suite errors but not Parsed", len(r.Tests), len(r.SuiteErrors))
		}
		for id, s := range r.Tests {
			if id == "" || strings.ContainsAny(id, "\n\r") {
				t.Fatalf("bad id %q", id)
			}
			if !validStatus[s] {
				t.Fatalf("test %q has status %q", id, s)
			}
		}
		if again := parse(log); !reflect.DeepEqual(r, again) {
			t.Fatalf("two parses differ:\n%+v\n%+v", r, again)
		}
		for _, exit := range []int{0, 1, 137} {
			_ = r.Check(exit)
		}
	})
}

// cargoArgValues checks that cargo's Args are its target options, each --test followed by a
// name, and returns the names.
func cargoArgValues(t *testing.T, args []string) []string {
	var names []string
	for i := 0; i < len(args); i++ {
		switch args[i] {
		case "--lib", "--bins", "--tests":
		case "--test":
			if i+1 == len(args) {
				t.Fatalf("--test without a name in %q", args)
			}
			i++
			names = append(names, args[i])
		default:
			t.Fatalf("cargo's Args gave %q in %q", args[i], args)
		}
	}
	return names
}
