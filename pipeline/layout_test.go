package pipeline_test

import (
	"encoding/json"
	"io"
	"os/exec"
	"strings"
	"testing"
)

// pkg is what `go list -json` says of a package.
type pkg struct {
	ImportPath   string
	Imports      []string
	TestImports  []string
	XTestImports []string
	Deps         []string
}

func goList(t *testing.T, args ...string) []pkg {
	t.Helper()
	cmd := exec.Command("go", append([]string{"list", "-json"}, args...)...)
	cmd.Dir = ".."
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list %v: %v", args, err)
	}
	var pkgs []pkg
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for {
		var p pkg
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	return pkgs
}

func under(path, dir string) bool { return path == dir || strings.HasPrefix(path, dir+"/") }

// TestLayout keeps each concern in its room: only envbuild talks to the Docker engine, only
// export touches Arrow, no stage imports another, and the records and the packages that
// parse test output or speak the agent's protocol build without a database or an engine.
func TestLayout(t *testing.T) {
	heavy := []string{"github.com/riverqueue/", "github.com/jackc/", "modernc.org/sqlite", "github.com/docker/", "github.com/moby/", "github.com/apache/arrow"}
	for _, p := range goList(t, "-deps", "./pipeline", "./testlog", "./codeact", "./grade") {
		for _, h := range heavy {
			if strings.HasPrefix(p.ImportPath, h) {
				t.Errorf("pipeline, testlog, codeact or grade depends on %s", p.ImportPath)
			}
		}
	}
	for _, p := range goList(t, "./...") {
		all := append(append(append([]string{}, p.Imports...), p.TestImports...), p.XTestImports...)
		for _, imp := range all {
			switch {
			case (strings.HasPrefix(imp, "github.com/docker/") || strings.HasPrefix(imp, "github.com/moby/")) && !under(p.ImportPath, "swemill/envbuild"):
				t.Errorf("%s imports %s: the Docker engine is envbuild's (envbuild/sandbox, envbuild/envbuildtest)", p.ImportPath, imp)
			case strings.HasPrefix(imp, "github.com/apache/arrow") && !under(p.ImportPath, "swemill/export"):
				t.Errorf("%s imports %s: Arrow is export's (export/parquetjson reads Parquet)", p.ImportPath, imp)
			case under(p.ImportPath, "swemill/stages") && under(imp, "swemill/stages") && !under(imp, p.ImportPath) && !under(p.ImportPath, imp):
				t.Errorf("%s imports %s: a stage never imports another stage", p.ImportPath, imp)
			}
		}
	}
}
