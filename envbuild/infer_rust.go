package envbuild

import (
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"swemill/pipeline"
)

// Rust recipes.
const (
	// cargoTestCmd runs every test binary whatever fails before it; the parser reads
	// libtest's text (testlog.Cargo).
	cargoTestCmd = "cargo test --no-fail-fast"
	// cargoTargetDir keeps cargo's build output out of the work tree (where `git add -A`
	// would take it into a patch) and in the sandbox user's cache.
	cargoTargetDir = "/home/swemill/.cache/cargo-target"
	// cargoFetchCmd downloads every dependency of every target and platform (writing
	// Cargo.lock when the repository has none); the image's CARGO_NET_OFFLINE is lifted
	// for it alone.
	cargoFetchCmd = "CARGO_NET_OFFLINE=false cargo fetch"
	// reasonCratesIO says why an offline recipe leaves the dependencies out.
	reasonCratesIO = "offline: crates.io is out of reach (CARGO_NET_OFFLINE=true)"
)

var (
	// cargoDepTableRe matches the tables whose keys are dependencies: [dependencies],
	// [dev-dependencies], [build-dependencies], [target.'cfg(...)'.dependencies],
	// [workspace.dependencies], and their one-dependency forms ([dependencies.serde]).
	cargoDepTableRe = regexp.MustCompile(`^(workspace\.|target\..+\.)?(dependencies|dev-dependencies|build-dependencies)(\.([A-Za-z0-9_-]+))?$`)
	// cargoCrateRe is the form of a crate name.
	cargoCrateRe = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
	// cargoPathRe finds a path key in an inline table.
	cargoPathRe = regexp.MustCompile(`(^|[{,\s])path\s*=`)
	// cargoWorkspaceDepRe finds workspace = true (a dependency the workspace declares).
	cargoWorkspaceDepRe = regexp.MustCompile(`(^|[{,\s])workspace\s*=\s*true`)
)

// inferRust makes a cargo recipe from the root Cargo.toml: `cargo test --no-fail-fast`
// (with --workspace when the manifest has a [workspace], so that every member's tests run,
// as a root package alone would not), CARGO_NET_OFFLINE=true (the tests run without a
// network) and the build output in CARGO_TARGET_DIR, outside the work tree. Online, the
// install fetches the dependencies (`cargo fetch`, when the crate has any: the manifests
// name them, or the Cargo.lock's packages come from a registry or git) and compiles the
// tests (`cargo test --no-run`), so that test runs start warm; a build failure there is
// left for the tests to report. Offline, a crate with dependencies cannot be built: the
// fetch and the warm build are recorded in Recipe.Skipped with the crates that need a
// registry; a crate without dependencies is still built warm, as cargo resolves it offline
// even without a Cargo.lock.
func inferRust(dir string, opts InferOptions) (pipeline.Recipe, error) {
	data, err := os.ReadFile(filepath.Join(dir, "Cargo.toml"))
	if err != nil {
		return pipeline.Recipe{}, err
	}
	root := cargoManifest(data)
	r := pipeline.Recipe{
		Language: "rust", TestCmd: cargoTestCmd, LogParser: "cargo",
		Env: map[string]string{"CARGO_NET_OFFLINE": "true", "CARGO_TARGET_DIR": cargoTargetDir},
	}
	warm := "cargo test --no-fail-fast --no-run"
	if root.workspace {
		r.TestCmd += " --workspace"
		warm += " --workspace"
	}
	deps := map[string]bool{}
	for _, d := range root.deps {
		deps[d] = true
	}
	for _, m := range cargoMembers(dir, root.members) {
		if data, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(m), "Cargo.toml")); err == nil {
			for _, d := range cargoManifest(data).deps {
				deps[d] = true
			}
		}
	}
	for _, d := range cargoLockExternal(dir) {
		deps[d] = true
	}
	names := make([]string, 0, len(deps))
	for d := range deps {
		names = append(names, d)
	}
	sort.Strings(names)
	warm += " || echo 'swemill: the tests do not all build; cargo test reports which'"
	switch {
	case len(names) == 0:
		r.Install = append(r.Install, warm)
	case opts.Offline:
		needs := "the crates " + strings.Join(firstOf(names, 8), ", ")
		if len(names) > 8 {
			needs += " and " + strconv.Itoa(len(names)-8) + " more"
		}
		r.Skipped = append(r.Skipped,
			pipeline.SkippedStep{What: cargoFetchCmd, Reason: reasonCratesIO + ": " + needs + " cannot be had, and cargo test fails to resolve them"},
			pipeline.SkippedStep{What: warm, Reason: reasonCratesIO + ": the tests cannot be built without their dependencies"})
	default:
		r.Install = append(r.Install, cargoFetchCmd, warm)
	}
	return r, nil
}

// manifest is what inference reads from a Cargo.toml.
type manifest struct {
	workspace bool
	members   []string
	deps      []string // dependencies that come from a registry or git, not a path
}

// cargoManifest reads a Cargo.toml (untrusted): only crate names of a strict form are kept.
func cargoManifest(data []byte) manifest {
	var m manifest
	table := ""
	tablePath := false // the one-dependency table so far has a path key
	endTable := func() {
		if sm := cargoDepTableRe.FindStringSubmatch(table); sm != nil && sm[4] != "" && !tablePath && cargoCrateRe.MatchString(sm[4]) {
			m.deps = append(m.deps, sm[4])
		}
	}
	lines := strings.Split(string(data), "\n")
	for i := 0; i < len(lines); i++ {
		line := strings.TrimSpace(lines[i])
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if strings.HasPrefix(line, "[") && !strings.HasPrefix(line, "[[") {
			endTable()
			table, _, _ = strings.Cut(strings.TrimPrefix(line, "["), "]")
			table = strings.ReplaceAll(strings.TrimSpace(table), " ", "")
			tablePath = false
			if table == "workspace" {
				m.workspace = true
			}
			continue
		}
		if strings.HasPrefix(line, "[[") {
			endTable()
			table = ""
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		k = strings.Trim(strings.TrimSpace(k), `"'`)
		v = strings.TrimSpace(v)
		for (strings.Count(v, "[") > strings.Count(v, "]") || strings.Count(v, "{") > strings.Count(v, "}")) && i+1 < len(lines) {
			i++
			v += " " + strings.TrimSpace(lines[i])
		}
		sm := cargoDepTableRe.FindStringSubmatch(table)
		switch {
		case table == "workspace" && k == "members":
			m.members = tomlStrings(v)
		case sm != nil && sm[4] != "":
			if k == "path" || k == "workspace" && strings.HasPrefix(v, "true") {
				tablePath = true
			}
		case sm != nil:
			name, _, _ := strings.Cut(k, ".") // serde.workspace = true
			if strings.HasSuffix(k, ".path") || strings.HasSuffix(k, ".workspace") ||
				cargoPathRe.MatchString(v) || cargoWorkspaceDepRe.MatchString(v) {
				continue
			}
			if cargoCrateRe.MatchString(name) {
				m.deps = append(m.deps, name)
			}
		}
	}
	endTable()
	return m
}

// cargoMembers expands a workspace's members (paths and globs, untrusted) into directories
// of dir, slash-separated and inside it.
func cargoMembers(dir string, members []string) []string {
	var out []string
	for _, pat := range members {
		pat = path.Clean(pat)
		if pat == "." || strings.HasPrefix(pat, "../") || pat == ".." || path.IsAbs(pat) || strings.Contains(pat, "..") {
			continue
		}
		matches, err := filepath.Glob(filepath.Join(dir, filepath.FromSlash(pat)))
		if err != nil {
			continue
		}
		for _, m := range matches {
			rel, err := filepath.Rel(dir, m)
			if err == nil && !strings.HasPrefix(rel, "..") {
				out = append(out, filepath.ToSlash(rel))
			}
		}
	}
	return out
}

// cargoLockExternal returns the packages of Cargo.lock that come from a registry or git.
func cargoLockExternal(dir string) []string {
	data, err := os.ReadFile(filepath.Join(dir, "Cargo.lock"))
	if err != nil {
		return nil
	}
	var out []string
	name := ""
	for _, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		switch {
		case line == "[[package]]":
			name = ""
		case strings.HasPrefix(line, "name = "):
			name = strings.Trim(strings.TrimPrefix(line, "name = "), `"`)
		case strings.HasPrefix(line, "source = ") && cargoCrateRe.MatchString(name):
			out = append(out, name)
		}
	}
	return out
}

// firstOf returns the first n elements of s.
func firstOf(s []string, n int) []string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
