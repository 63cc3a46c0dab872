package envbuild

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"

	"swemill/pipeline"
	"swemill/testlog"
)

// defaultParsers are the log parsers of each language's inferred recipes, and of specs that
// name none.
var defaultParsers = map[string]string{
	"python": testlog.Pytest, "go": testlog.GoTest, "javascript": testlog.Jest, "rust": testlog.Cargo, "java": testlog.Maven,
}

var (
	debNameRe     = regexp.MustCompile(`^[a-z0-9][a-z0-9+.-]{0,126}$`)
	debPkgRe      = regexp.MustCompile(`^[a-z0-9][a-z0-9+.-]{0,126}(=[A-Za-z0-9.+~:-]{1,64})?$`)
	envKeyRe      = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,127}$`)
	versionRe     = regexp.MustCompile(`^[0-9]{1,3}(\.[0-9]{1,3}){0,2}$`)
	repoRe        = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,100}/[A-Za-z0-9_.-]{1,100}$`)
	commitRe      = regexp.MustCompile(`^[0-9a-f]{40}$`)
	relPathRe     = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.+/-]{0,255}$`)
	pyRequireRe   = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,100}(\[[A-Za-z0-9._,-]{1,100}\])?((===?|~=|!=|<=|>=|<|>)[A-Za-z0-9.*+!-]{1,40})?(,(===?|~=|!=|<=|>=|<|>)[A-Za-z0-9.*+!-]{1,40}){0,4}$`)
	pyExtraNameRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,60}$`)
)

func validDebName(s string) bool { return debNameRe.MatchString(s) }

// maxCommandLen bounds one recipe command.
const maxCommandLen = 4096

// ValidateRecipe checks a recipe before anything is built from it. Commands (PreInstall,
// Install, TestCmd) are shell commands by nature; they are written one a line into scripts
// inside the build context and never into a Dockerfile, so they may use shell syntax but may
// not span lines. Every other field is data and must match a strict form: a package name, an
// environment variable name, a version number, a known parser.
func ValidateRecipe(r pipeline.Recipe) error {
	if !slices.Contains(Languages, r.Language) {
		return fmt.Errorf("recipe language %q: want one of %s", r.Language, strings.Join(Languages, ", "))
	}
	if r.LanguageVersion != "" && !versionRe.MatchString(r.LanguageVersion) {
		return fmt.Errorf("recipe language_version %q: not a version number", r.LanguageVersion)
	}
	if r.Language == "python" && r.LanguageVersion != "" && r.LanguageVersion != "3" && r.LanguageVersion != "3.11" {
		return fmt.Errorf("recipe language_version %q: the Python base carries 3.11", r.LanguageVersion)
	}
	for _, p := range r.SystemPackages {
		if !debPkgRe.MatchString(p) {
			return fmt.Errorf("recipe system_packages: %q is not a Debian package name", p)
		}
	}
	for field, cmds := range map[string][]string{"pre_install": r.PreInstall, "install": r.Install} {
		for _, c := range cmds {
			if err := validCommand(c); err != nil {
				return fmt.Errorf("recipe %s: %w", field, err)
			}
		}
	}
	if strings.TrimSpace(r.TestCmd) == "" {
		return errors.New("recipe test_cmd: empty")
	}
	if err := validCommand(r.TestCmd); err != nil {
		return fmt.Errorf("recipe test_cmd: %w", err)
	}
	if _, ok := testlog.Lookup(r.LogParser); !ok {
		return fmt.Errorf("recipe log_parser %q: unknown (known: %s)", r.LogParser, strings.Join(testlog.Names(), ", "))
	}
	for _, s := range r.Skipped {
		for field, v := range map[string]string{"what": s.What, "reason": s.Reason} {
			if strings.TrimSpace(v) == "" || strings.ContainsAny(v, "\x00\n\r") || len(v) > maxCommandLen {
				return fmt.Errorf("recipe skipped %s %q: empty, too long, or has a line break or NUL", field, truncate(v, 80))
			}
		}
	}
	for k, v := range r.Env {
		if !envKeyRe.MatchString(k) {
			return fmt.Errorf("recipe env: %q is not a variable name", k)
		}
		if strings.HasPrefix(k, "SWEMILL_") {
			return fmt.Errorf("recipe env: %q uses the reserved prefix SWEMILL_", k)
		}
		if strings.ContainsAny(v, "\x00\n\r") || len(v) > maxCommandLen {
			return fmt.Errorf("recipe env %s: value has a line break or NUL, or is too long", k)
		}
	}
	return nil
}

func validCommand(c string) error {
	switch {
	case strings.TrimSpace(c) == "":
		return errors.New("empty command")
	case len(c) > maxCommandLen:
		return fmt.Errorf("command longer than %d bytes", maxCommandLen)
	case strings.ContainsAny(c, "\x00\n\r"):
		return fmt.Errorf("command %q spans lines or holds NUL; give one command per entry", truncate(c, 80))
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

// Spec is an explicit per-repository recipe file, in YAML. Its fields are those of
// pipeline.Recipe; unknown fields are an error. Skipped is a record carried into the recipe
// as it is (a printed recipe reads back whole); nothing runs from it.
type Spec struct {
	Language        string                 `yaml:"language"`
	LanguageVersion string                 `yaml:"language_version"`
	SystemPackages  []string               `yaml:"system_packages"`
	PreInstall      []string               `yaml:"pre_install"`
	Install         []string               `yaml:"install"`
	TestCmd         string                 `yaml:"test_cmd"`
	LogParser       string                 `yaml:"log_parser"`
	Env             map[string]string      `yaml:"env"`
	Skipped         []pipeline.SkippedStep `yaml:"skipped"`
}

// ParseSpec reads a YAML recipe spec and validates it.
func ParseSpec(data []byte) (pipeline.Recipe, error) {
	var s Spec
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&s); err != nil {
		return pipeline.Recipe{}, fmt.Errorf("parsing recipe spec: %w", err)
	}
	r := pipeline.Recipe{
		Language: s.Language, LanguageVersion: s.LanguageVersion, SystemPackages: s.SystemPackages,
		PreInstall: s.PreInstall, Install: s.Install, TestCmd: s.TestCmd, LogParser: s.LogParser, Env: s.Env,
		Skipped: s.Skipped,
	}
	if r.LogParser == "" {
		r.LogParser = defaultParsers[r.Language]
	}
	if err := ValidateRecipe(r); err != nil {
		return pipeline.Recipe{}, err
	}
	return r, nil
}

// SpecPath returns where the explicit spec of repo lives under dir: <dir>/<owner>/<name>.yaml.
func SpecPath(dir, repo string) string {
	owner, name, _ := strings.Cut(repo, "/")
	return filepath.Join(dir, owner, name+".yaml")
}

// InferOptions tunes recipe inference.
type InferOptions struct {
	// Offline says no package index is reachable while building. Inference then emits no
	// command that needs one (requirement files, tox deps, test extras, build backends and
	// build requirements that the base image lacks, Go module downloads) and records each in
	// pipeline.Recipe.Skipped; the tests run from source. A plain setuptools project is still
	// installed, in develop mode with --no-index --no-build-isolation --no-deps. Go recipes
	// get GOPROXY=off.
	Offline bool
	// WorkDir is the work directory in the image. Default "/testbed".
	WorkDir string
}

// ErrNoRecipe says that nothing in a repository tells how to build it.
var ErrNoRecipe = errors.New("no recipe: none of go.mod, Cargo.toml, pom.xml, Python project files or package.json found")

// Python test commands and their parser.
const (
	// pytestCmd runs in the work directory; `python -m` puts that directory first on
	// sys.path, so a flat-layout project that is not installed imports from source.
	pytestCmd = "python -m pytest --no-header -rA --tb=no -p no:cacheprovider"
	goTestCmd = "go test -json -count=1"
)

// Reasons recorded in pipeline.Recipe.Skipped.
const (
	reasonDocs    = "documentation requirements"
	reasonLint    = "lint requirements"
	reasonOther   = "neither test nor base requirements"
	reasonOffline = "offline: needs a package index"
	reasonGoProxy = "offline: needs the Go module proxy (GOPROXY=off)"
)

// InferRecipe infers a recipe from a checkout on disk: go.mod makes a Go recipe, Cargo.toml
// a Rust one, pom.xml a Java (Maven) one; pyproject.toml, setup.py, setup.cfg,
// requirements*.txt, tox.ini or Python files make a Python one, and package.json without
// those a JavaScript (Node.js) one. File contents are untrusted: only names and paths that match strict forms
// make it into commands, single-quoted. What inference leaves out is listed in the recipe's
// Skipped, with the reason.
func InferRecipe(dir string, opts InferOptions) (pipeline.Recipe, error) {
	if opts.WorkDir == "" {
		opts.WorkDir = "/testbed"
	}
	switch {
	case fileExists(filepath.Join(dir, "go.mod")):
		return inferGo(dir, opts)
	case fileExists(filepath.Join(dir, "Cargo.toml")):
		return inferRust(dir, opts)
	case fileExists(filepath.Join(dir, "pom.xml")):
		return inferJava(dir, opts)
	}
	markers := []string{"pyproject.toml", "setup.py", "setup.cfg", "tox.ini", "pytest.ini", "conftest.py"}
	python := false
	for _, m := range markers {
		if fileExists(filepath.Join(dir, m)) {
			python = true
		}
	}
	for _, f := range requirementFiles(dir) {
		if f.skip == "" {
			python = true
		}
	}
	// A package.json beside Python project files is the Python project's tooling (docs,
	// a front end); alone it makes a JavaScript recipe.
	if !python && fileExists(filepath.Join(dir, "package.json")) {
		return inferJavaScript(dir, opts)
	}
	if !python {
		_ = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
			if err != nil || python {
				return filepath.SkipDir
			}
			if d.IsDir() && d.Name() == ".git" {
				return filepath.SkipDir
			}
			if strings.HasSuffix(d.Name(), ".py") {
				python = true
			}
			return nil
		})
	}
	if !python {
		return pipeline.Recipe{}, ErrNoRecipe
	}
	return inferPython(dir, opts)
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular()
}

// goWarmCmd compiles every package once so that the tests start from a warm build cache. A
// package that does not build (an example without main, a file for another platform) does
// not stop the build: its tests report it as a build failure, package by package.
const goWarmCmd = "go build ./... || echo 'swemill: not every package builds; go test reports which'"

// goTestDepsCmd puts the modules of every package's tests, not only the build list's, in the
// module cache, so that tests run without a network. -e: a package that does not load is
// the tests' to report.
const goTestDepsCmd = "go list -e -deps -test ./... > /dev/null"

// goRestoreCmd puts back the go.mod and go.sum files the go commands of the install rewrote
// (a go.mod without a go directive, a go.sum lacking entries, under -mod=mod): the image's
// tree stays the base commit's, so that patches touching them apply as they would upstream.
// Each test run completes them again from the module cache, in its own container.
const goRestoreCmd = "git ls-files -z -m -- ':(glob)**/go.mod' ':(glob)**/go.sum' | xargs -0r git checkout -q -- && " +
	"git ls-files -z -o --exclude-standard -- ':(glob)**/go.sum' | xargs -0r rm -f --"

// inferGo builds the module and tests it with go test -json. Builds and tests use
// -mod=mod (-mod=vendor when the module vendors its dependencies), so that a go.sum missing
// entries is completed from the module cache rather than failing every package. Online the
// install downloads the required modules and those of the tests first; offline it cannot
// (GOPROXY=off).
func inferGo(dir string, opts InferOptions) (pipeline.Recipe, error) {
	data, err := os.ReadFile(filepath.Join(dir, "go.mod"))
	if err != nil {
		return pipeline.Recipe{}, err
	}
	r := pipeline.Recipe{Language: "go", TestCmd: goTestCmd, LogParser: "gotest"}
	requires := false
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) >= 2 && f[0] == "go" && versionRe.MatchString(f[1]) {
			r.LanguageVersion = f[1]
		}
		if len(f) >= 1 && f[0] == "require" {
			requires = true
		}
	}
	// The base image's GOFLAGS (-buildvcs=false) is replaced, not added to: keep it.
	mod := "-mod=mod"
	vendored := fileExists(filepath.Join(dir, "vendor", "modules.txt"))
	if vendored {
		mod = "-mod=vendor"
	}
	// goindex=0: the go command's package index, cached in GOCACHE, has been seen to hold
	// entries from the install that make standard packages "not in std" in the image (a
	// go 1.14 module, Go 1.26); loading packages without it costs little.
	r.Env = map[string]string{"GOFLAGS": mod + " -buildvcs=false", "GODEBUG": "goindex=0"}
	switch {
	case opts.Offline:
		r.Env["GOPROXY"] = "off"
		if requires {
			r.Skipped = append(r.Skipped, pipeline.SkippedStep{What: "go mod download", Reason: reasonGoProxy})
		}
	case requires && !vendored:
		r.Install = append(r.Install, "go mod download", goTestDepsCmd)
	}
	r.Install = append(r.Install, goWarmCmd, goRestoreCmd)
	return r, nil
}

// reqFile is a requirements file found in a repository.
type reqFile struct {
	path string // slash-separated, relative to the repository root
	skip string // why it is never installed; empty when it names test or base dependencies
}

// requirementFiles lists the requirement files of a repository, sorted by path, with the
// reason for each that is never installed: documentation requirements (anything under
// docs/ or doc/, or whose name holds "doc" or "rtd"), lint requirements, and files under
// requirements/ that name neither test nor base dependencies.
func requirementFiles(dir string) []reqFile {
	var paths []string
	for _, pat := range []string{"requirements*.txt", "*requirements.txt", "requirements/*.txt",
		"docs/*requirements*.txt", "doc/*requirements*.txt"} {
		m, _ := filepath.Glob(filepath.Join(dir, pat))
		for _, p := range m {
			rel, _ := filepath.Rel(dir, p)
			rel = filepath.ToSlash(rel)
			if !relPathRe.MatchString(rel) || strings.Contains(rel, "..") || !fileExists(p) {
				continue
			}
			paths = append(paths, rel)
		}
	}
	sort.Strings(paths)
	var out []reqFile
	for _, rel := range dedupe(paths) {
		out = append(out, reqFile{path: rel, skip: requirementSkip(rel)})
	}
	return out
}

// requirementSkip says why the requirements file rel is never installed, or "".
func requirementSkip(rel string) string {
	lower := strings.ToLower(rel)
	base := path.Base(lower)
	for _, d := range strings.Split(path.Dir(lower), "/") {
		if d == "docs" || d == "doc" {
			return reasonDocs
		}
	}
	switch {
	case strings.Contains(base, "doc") || strings.Contains(base, "rtd"):
		return reasonDocs
	case strings.Contains(base, "lint"):
		return reasonLint
	case strings.HasPrefix(lower, "requirements/") &&
		!(strings.Contains(base, "test") || strings.Contains(base, "base") || base == "requirements.txt"):
		return reasonOther
	}
	return ""
}

func dedupe(s []string) []string {
	var out []string
	for i, v := range s {
		if i == 0 || v != s[i-1] {
			out = append(out, v)
		}
	}
	return out
}

func inferPython(dir string, opts InferOptions) (pipeline.Recipe, error) {
	r := pipeline.Recipe{Language: "python", TestCmd: pytestCmd, LogParser: "pytest"}
	skip := func(what, reason string) {
		r.Skipped = append(r.Skipped, pipeline.SkippedStep{What: what, Reason: reason})
	}
	for _, f := range requirementFiles(dir) {
		if !nonEmptyRequirements(filepath.Join(dir, filepath.FromSlash(f.path))) {
			continue
		}
		cmd := "python -m pip install -r " + shellQuote(f.path)
		switch {
		case f.skip != "":
			skip(f.path, f.skip)
		case opts.Offline:
			skip(cmd, reasonOffline)
		default:
			r.Install = append(r.Install, cmd)
		}
	}
	if deps := toxDeps(dir); len(deps) > 0 {
		cmd := "python -m pip install"
		for _, d := range deps {
			cmd += " " + shellQuote(d)
		}
		if opts.Offline {
			skip(cmd, "offline: tox.ini [testenv] deps need a package index")
		} else {
			r.Install = append(r.Install, cmd)
		}
	}
	pyproject, _ := os.ReadFile(filepath.Join(dir, "pyproject.toml"))
	toml := scanTOML(pyproject)
	hasSetupPy := fileExists(filepath.Join(dir, "setup.py"))
	hasSetupCfg := fileExists(filepath.Join(dir, "setup.cfg"))
	installable := hasSetupPy || toml["build-system.build-backend"] != "" || toml["project.name"] != ""
	if installable {
		extras := testExtras(dir, toml, hasSetupCfg, hasSetupPy)
		target := "."
		if len(extras) > 0 {
			target = ".[" + strings.Join(extras, ",") + "]"
		}
		// A project whose build needs only what the base image carries (setuptools, wheel)
		// is built without isolation; any other needs an index for its build requirements.
		blocker := buildBlocker(toml)
		online := "python -m pip install -e " + shellQuote(target)
		if blocker == "" {
			online = "python -m pip install --no-build-isolation -e " + shellQuote(target)
		}
		if opts.Offline && blocker == "" {
			blocker = setupRequiresBlocker(dir, hasSetupPy, hasSetupCfg)
		}
		switch {
		case !opts.Offline:
			r.Install = append(r.Install, online)
		case blocker != "":
			skip(online, "offline: "+blocker+"; the tests import the project from source")
		default:
			// --no-index: pip contacts no index; --no-build-isolation: it installs no build
			// requirements; --no-deps: it resolves no dependencies.
			r.Install = append(r.Install, "python -m pip install --no-index --no-build-isolation --no-deps -e .")
			var left []string
			if from := declaredDependencies(dir, toml, hasSetupPy, hasSetupCfg); from != "" {
				left = append(left, "the dependencies declared in "+from)
			}
			if len(extras) > 0 {
				left = append(left, "the test extras ["+strings.Join(extras, ",")+"]")
			}
			if len(left) > 0 {
				skip(online, "offline: "+strings.Join(left, " and ")+" need a package index; "+
					"the project is installed with --no-index --no-build-isolation --no-deps instead")
			}
		}
	}
	// A src/ layout is importable from the work directory even when it cannot be installed;
	// a flat layout is, through python -m pytest (pytestCmd), which puts the work directory
	// on sys.path.
	if isSrcLayout(dir) {
		r.Env = map[string]string{"PYTHONPATH": path.Join(opts.WorkDir, "src")}
	}
	return r, nil
}

// plainBuildRequires are the build requirements every Python base image carries.
var plainBuildRequires = map[string]bool{"setuptools": true, "wheel": true}

// buildBlocker says why building the project of a pyproject.toml needs more than the base
// image carries (a build backend other than setuptools', or build requirements other than
// plain setuptools and wheel), or returns "" when it does not.
func buildBlocker(toml map[string]string) string {
	backend := strings.Trim(toml["build-system.build-backend"], `"' `)
	if backend != "" && !strings.HasPrefix(backend, "setuptools.build_meta") {
		return "the build backend " + printable(backend, 80) + " is not in the base image and needs a package index"
	}
	var extra []string
	for _, req := range tomlStrings(toml["build-system.requires"]) {
		if !plainBuildRequires[strings.ToLower(req)] {
			extra = append(extra, printable(req, 80))
		}
	}
	if len(extra) > 0 {
		return "the build requirements " + strings.Join(extra, ", ") + " need a package index"
	}
	return ""
}

var (
	setupRequiresRe   = regexp.MustCompile(`setup_requires\s*=\s*(\[\s*\]|\(\s*\))?`)
	installRequiresRe = regexp.MustCompile(`install_requires\s*=\s*(\[\s*\]|\(\s*\))?`)
	tomlStringRe      = regexp.MustCompile(`"([^"]*)"|'([^']*)'`)
)

// assignsNonEmpty says whether setup.py source assigns the keyword argument that re matches
// anything but an empty list or tuple (re's first group).
func assignsNonEmpty(re *regexp.Regexp, src []byte) bool {
	for _, m := range re.FindAllSubmatch(src, -1) {
		if len(m[1]) == 0 {
			return true
		}
	}
	return false
}

// setupRequiresBlocker says why installing a setuptools project would fetch packages
// itself, past pip's --no-index (setup_requires, setuptools_scm), or returns "".
func setupRequiresBlocker(dir string, hasSetupPy, hasSetupCfg bool) string {
	if hasSetupPy {
		data, _ := os.ReadFile(filepath.Join(dir, "setup.py"))
		if assignsNonEmpty(setupRequiresRe, data) {
			return "setup_requires in setup.py needs a package index"
		}
		if bytes.Contains(data, []byte("use_scm_version")) {
			return "setup.py uses setuptools_scm (use_scm_version), which needs a package index"
		}
	}
	if hasSetupCfg {
		data, _ := os.ReadFile(filepath.Join(dir, "setup.cfg"))
		if strings.TrimSpace(scanINI(data)["options"]["setup_requires"]) != "" {
			return "setup_requires in setup.cfg needs a package index"
		}
	}
	return ""
}

// declaredDependencies names the file that declares the project's dependencies
// (pyproject.toml's project.dependencies, setup.cfg's install_requires, setup.py's
// install_requires), or returns "" when none does.
func declaredDependencies(dir string, toml map[string]string, hasSetupPy, hasSetupCfg bool) string {
	if len(tomlStrings(toml["project.dependencies"])) > 0 {
		return "pyproject.toml"
	}
	if hasSetupCfg {
		data, _ := os.ReadFile(filepath.Join(dir, "setup.cfg"))
		if strings.TrimSpace(scanINI(data)["options"]["install_requires"]) != "" {
			return "setup.cfg"
		}
	}
	if hasSetupPy {
		data, _ := os.ReadFile(filepath.Join(dir, "setup.py"))
		if assignsNonEmpty(installRequiresRe, data) {
			return "setup.py"
		}
	}
	return ""
}

// tomlStrings returns the quoted strings of a TOML array's raw text (scanTOML's value).
func tomlStrings(raw string) []string {
	var out []string
	for _, m := range tomlStringRe.FindAllStringSubmatch(raw, -1) {
		s := strings.TrimSpace(m[1] + m[2])
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

// printable keeps untrusted text fit for a recorded reason: printable ASCII, at most n bytes.
func printable(s string, n int) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e {
			return -1
		}
		return r
	}, s)
	return truncate(s, n)
}

func isSrcLayout(dir string) bool {
	entries, err := os.ReadDir(filepath.Join(dir, "src"))
	if err != nil {
		return false
	}
	for _, e := range entries {
		if e.IsDir() && fileExists(filepath.Join(dir, "src", e.Name(), "__init__.py")) {
			return true
		}
		if !e.IsDir() && strings.HasSuffix(e.Name(), ".py") {
			return true
		}
	}
	return false
}

func nonEmptyRequirements(p string) bool {
	data, err := os.ReadFile(p)
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line != "" && !strings.HasPrefix(line, "#") {
			return true
		}
	}
	return false
}

// testExtras returns the test extras the project declares (test, tests, testing).
func testExtras(dir string, toml map[string]string, hasSetupCfg, hasSetupPy bool) []string {
	candidates := []string{"test", "tests", "testing"}
	found := map[string]bool{}
	for _, c := range candidates {
		if _, ok := toml["project.optional-dependencies."+c]; ok {
			found[c] = true
		}
	}
	if hasSetupCfg {
		data, _ := os.ReadFile(filepath.Join(dir, "setup.cfg"))
		for k := range scanINI(data)["options.extras_require"] {
			for _, c := range candidates {
				if k == c {
					found[c] = true
				}
			}
		}
	}
	if hasSetupPy {
		data, _ := os.ReadFile(filepath.Join(dir, "setup.py"))
		if i := bytes.Index(data, []byte("extras_require")); i >= 0 {
			rest := string(data[i:min(len(data), i+2000)])
			for _, c := range candidates {
				if strings.Contains(rest, `"`+c+`"`) || strings.Contains(rest, `'`+c+`'`) {
					found[c] = true
				}
			}
		}
	}
	var out []string
	for _, c := range candidates {
		if found[c] && pyExtraNameRe.MatchString(c) {
			out = append(out, c)
		}
	}
	return out
}

// toxDeps returns the plain requirement specifiers of tox.ini's [testenv] deps; anything
// else (substitutions, options, URLs) is left out.
func toxDeps(dir string) []string {
	data, err := os.ReadFile(filepath.Join(dir, "tox.ini"))
	if err != nil {
		return nil
	}
	var out []string
	for _, line := range strings.Split(scanINI(data)["testenv"]["deps"], "\n") {
		line = strings.TrimSpace(line)
		if i := strings.Index(line, "#"); i >= 0 {
			line = strings.TrimSpace(line[:i])
		}
		line = strings.ReplaceAll(line, " ", "")
		if line == "" || strings.EqualFold(line, "pytest") {
			continue // pytest comes with the base image
		}
		if pyRequireRe.MatchString(line) {
			out = append(out, line)
		}
	}
	return out
}

// scanINI reads an INI file into section -> key -> value; continuation lines (indented) are
// joined with newlines.
func scanINI(data []byte) map[string]map[string]string {
	out := map[string]map[string]string{}
	section, key := "", ""
	for _, raw := range strings.Split(string(data), "\n") {
		line := strings.TrimRight(raw, " \t\r")
		trimmed := strings.TrimSpace(line)
		if trimmed == "" || strings.HasPrefix(trimmed, "#") || strings.HasPrefix(trimmed, ";") {
			continue
		}
		if strings.HasPrefix(trimmed, "[") && strings.HasSuffix(trimmed, "]") {
			section, key = strings.TrimSpace(trimmed[1:len(trimmed)-1]), ""
			if out[section] == nil {
				out[section] = map[string]string{}
			}
			continue
		}
		if section == "" {
			continue
		}
		if (line[0] == ' ' || line[0] == '\t') && key != "" {
			out[section][key] += "\n" + trimmed
			continue
		}
		k, v, ok := strings.Cut(trimmed, "=")
		if !ok {
			k, v, ok = strings.Cut(trimmed, ":")
		}
		if ok {
			key = strings.TrimSpace(k)
			out[section][key] = strings.TrimSpace(v)
		}
	}
	return out
}

// scanTOML reads the few things inference needs from a pyproject.toml: "table.key" ->
// raw value text (arrays may span lines). It is no TOML parser and never needs to be one.
func scanTOML(data []byte) map[string]string {
	out := map[string]string{}
	table := ""
	lines := strings.Split(string(data), "\n")
	for i := 0; i < len(lines); i++ {
		line := strings.TrimSpace(lines[i])
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if strings.HasPrefix(line, "[") && !strings.HasPrefix(line, "[[") {
			table = strings.Trim(line, "[] ")
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		v = strings.TrimSpace(v)
		for strings.Count(v, "[") > strings.Count(v, "]") && i+1 < len(lines) {
			i++
			v += " " + strings.TrimSpace(lines[i])
		}
		out[table+"."+strings.Trim(strings.TrimSpace(k), `"`)] = v
	}
	return out
}

// shellQuote quotes s for a POSIX shell.
func shellQuote(s string) string {
	if s != "" && regexp.MustCompile(`^[A-Za-z0-9_./=:,+-]+$`).MatchString(s) {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
