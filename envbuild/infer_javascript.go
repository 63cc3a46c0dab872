package envbuild

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"swemill/pipeline"
	"swemill/testlog"
)

// maxPackageJSON bounds the package.json inference reads.
const maxPackageJSON = 1 << 20

// packageJSON is what inference reads of a package.json.
type packageJSON struct {
	Scripts         map[string]string `json:"scripts"`
	Dependencies    map[string]string `json:"dependencies"`
	DevDependencies map[string]string `json:"devDependencies"`
	Jest            json.RawMessage   `json:"jest"`
}

// jestConfigFiles are Jest's configuration files.
var jestConfigFiles = []string{"jest.config.js", "jest.config.ts", "jest.config.mjs", "jest.config.cjs", "jest.config.json"}

// inferJavaScript makes a Jest recipe for a Node.js project whose tests run with Jest (a
// test script naming jest, jest among its dependencies, a "jest" key or a jest.config.*
// file); a project tested otherwise (mocha, vitest, ava) has no recipe. The tests run with
// Jest's JSON report written where validate reads it (testlog.JestResultsFlags).
//
// Online, `npm ci` (`npm install` without a package-lock.json) installs the dependencies
// with --ignore-scripts, so that no script of the repository or of its dependencies runs at
// install time (recorded in Skipped), and the tests run with the project's own Jest when it
// has one. Offline, nothing is installed (recorded in Skipped when there are dependencies)
// and Debian's Jest in the base image runs the tests: a project whose tests need nothing
// but Node.js and Jest works as it is.
func inferJavaScript(dir string, opts InferOptions) (pipeline.Recipe, error) {
	var pkg packageJSON
	data, err := readLimited(filepath.Join(dir, "package.json"), maxPackageJSON)
	if err != nil {
		return pipeline.Recipe{}, err
	}
	if err := json.Unmarshal(data, &pkg); err != nil {
		return pipeline.Recipe{}, fmt.Errorf("%w: package.json does not parse: %v", ErrNoRecipe, err)
	}
	_, jestDep := pkg.DevDependencies["jest"]
	if _, ok := pkg.Dependencies["jest"]; ok {
		jestDep = true
	}
	jest := jestDep || len(pkg.Jest) > 0 || strings.Contains(pkg.Scripts["test"], "jest")
	for _, f := range jestConfigFiles {
		jest = jest || fileExists(filepath.Join(dir, f))
	}
	if !jest {
		return pipeline.Recipe{}, fmt.Errorf("%w: package.json's tests do not run with Jest (no jest in its test script, dependencies or configuration)", ErrNoRecipe)
	}
	r := pipeline.Recipe{Language: "javascript", LogParser: testlog.Jest, TestCmd: "jest " + testlog.JestResultsFlags}
	deps := len(pkg.Dependencies) + len(pkg.DevDependencies)
	install := "npm install --ignore-scripts --no-audit --no-fund"
	if fileExists(filepath.Join(dir, "package-lock.json")) || fileExists(filepath.Join(dir, "npm-shrinkwrap.json")) {
		install = "npm ci --ignore-scripts --no-audit --no-fund"
	}
	switch {
	case deps == 0:
	case opts.Offline:
		r.Skipped = append(r.Skipped, pipeline.SkippedStep{What: install,
			Reason: "offline: the dependencies in package.json need the npm registry; Debian's Jest runs the tests"})
	default:
		r.Install = append(r.Install, install)
		r.Skipped = append(r.Skipped, pipeline.SkippedStep{What: "npm lifecycle scripts (install, prepare, ...)",
			Reason: "no script of the repository or its dependencies runs at install (--ignore-scripts)"})
		if jestDep {
			r.TestCmd = "node_modules/.bin/jest " + testlog.JestResultsFlags
		}
	}
	return r, nil
}

// readLimited reads a file of at most limit bytes.
func readLimited(p string, limit int64) ([]byte, error) {
	st, err := os.Stat(p)
	if err != nil {
		return nil, err
	}
	if st.Size() > limit {
		return nil, fmt.Errorf("%w: %s is larger than %d bytes", ErrNoRecipe, filepath.Base(p), limit)
	}
	return os.ReadFile(p)
}
