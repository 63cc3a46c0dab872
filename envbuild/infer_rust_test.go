package envbuild_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"swemill/envbuild"
	"swemill/pipeline"
	"swemill/testlog"
)

// TestInferRecipeRust checks whole inferred cargo recipes, online and offline.
func TestInferRecipeRust(t *testing.T) {
	t.Parallel()
	const (
		warm      = "cargo test --no-fail-fast --no-run || echo 'swemill: the tests do not all build; cargo test reports which'"
		warmWS    = "cargo test --no-fail-fast --no-run --workspace || echo 'swemill: the tests do not all build; cargo test reports which'"
		fetch     = "CARGO_NET_OFFLINE=false cargo fetch"
		pkg       = "[package]\nname = \"x\"\nversion = \"0.1.0\"\nedition = \"2021\"\n"
		offReason = "offline: crates.io is out of reach (CARGO_NET_OFFLINE=true)"
	)
	env := map[string]string{"CARGO_NET_OFFLINE": "true", "CARGO_TARGET_DIR": "/home/swemill/.cache/cargo-target"}
	noDeps := map[string]string{"Cargo.toml": pkg + "\n[dependencies]\n\n[dev-dependencies]\n", "src/lib.rs": ""}
	withDeps := map[string]string{
		"Cargo.toml": pkg + "\n[dependencies]\nmemchr = \"2\"\nlocal = { path = \"../local\" }\n\n" +
			"[dev-dependencies.quickcheck]\nversion = \"1\"\n\n[dependencies.near]\npath = \"near\"\n\n" +
			"[target.'cfg(unix)'.dependencies]\nlibc = { version = \"0.2\", default-features = false }\n" +
			"[build-dependencies]\n\"cc\" = \"1\"\nbad$name = \"1\"\n",
		"src/lib.rs": "",
	}
	lockOnly := map[string]string{
		"Cargo.toml": pkg,
		"Cargo.lock": "version = 3\n\n[[package]]\nname = \"x\"\nversion = \"0.1.0\"\n\n[[package]]\nname = \"itoa\"\nversion = \"1.0.0\"\nsource = \"registry+https://github.com/rust-lang/crates.io-index\"\n",
	}
	workspace := map[string]string{
		"Cargo.toml":             "[workspace]\nmembers = [\n  \"crates/*\",\n  \"../outside\",\n]\n\n[workspace.dependencies]\nserde = \"1\"\n",
		"crates/a/Cargo.toml":    "[package]\nname = \"a\"\n\n[dependencies]\nserde = { workspace = true }\nb = { path = \"../b\" }\n",
		"crates/b/Cargo.toml":    "[package]\nname = \"b\"\n\n[dev-dependencies]\nproptest = \"1\"\n",
		"crates/b/src/lib.rs":    "",
		"crates/a/src/lib.rs":    "",
		"crates/a/tests/main.rs": "",
	}
	wsNoDeps := map[string]string{
		"Cargo.toml":          pkg + "\n[workspace]\nmembers = [\"sub\"]\n",
		"sub/Cargo.toml":      "[package]\nname = \"sub\"\n\n[dependencies]\nx = { path = \"..\" }\n",
		"sub/src/lib.rs":      "",
		"src/lib.rs":          "",
		"benches/Cargo.toml":  "[dependencies]\nnot_a_member = \"1\"\n",
		"tests/fixtures/a.rs": "",
	}
	for _, tc := range []struct {
		name    string
		files   map[string]string
		offline bool
		install []string
		skipped []pipeline.SkippedStep
		cmd     string
	}{
		{name: "no dependencies, online", files: noDeps, install: []string{warm}},
		{name: "no dependencies, offline", files: noDeps, offline: true, install: []string{warm}},
		{name: "dependencies, online", files: withDeps, install: []string{fetch, warm}},
		{name: "dependencies, offline", files: withDeps, offline: true, skipped: []pipeline.SkippedStep{
			{What: fetch, Reason: offReason + ": the crates cc, libc, memchr, quickcheck cannot be had, and cargo test fails to resolve them"},
			{What: warm, Reason: offReason + ": the tests cannot be built without their dependencies"},
		}},
		{name: "a Cargo.lock with a registry package", files: lockOnly, offline: true, skipped: []pipeline.SkippedStep{
			{What: fetch, Reason: offReason + ": the crates itoa cannot be had, and cargo test fails to resolve them"},
			{What: warm, Reason: offReason + ": the tests cannot be built without their dependencies"},
		}},
		{name: "a virtual workspace, online", files: workspace, install: []string{fetch, warmWS}, cmd: "cargo test --no-fail-fast --workspace"},
		{name: "a virtual workspace, offline", files: workspace, offline: true, cmd: "cargo test --no-fail-fast --workspace",
			skipped: []pipeline.SkippedStep{
				{What: fetch, Reason: offReason + ": the crates proptest, serde cannot be had, and cargo test fails to resolve them"},
				{What: warmWS, Reason: offReason + ": the tests cannot be built without their dependencies"},
			}},
		{name: "a root package with path members", files: wsNoDeps, offline: true, install: []string{warmWS}, cmd: "cargo test --no-fail-fast --workspace"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r, err := envbuild.InferRecipe(writeTree(t, tc.files), envbuild.InferOptions{Offline: tc.offline})
			require.NoError(t, err)
			want := pipeline.Recipe{
				Language: "rust", TestCmd: "cargo test --no-fail-fast", LogParser: testlog.Cargo, Env: env,
				Install: tc.install, Skipped: tc.skipped,
			}
			if tc.cmd != "" {
				want.TestCmd = tc.cmd
			}
			assert.Equal(t, want, r)
			require.NoError(t, envbuild.ValidateRecipe(r))
			if tc.offline {
				for _, c := range r.Install {
					assert.NotContains(t, c, "fetch", "offline, nothing reaches a registry")
				}
			}
			data, err := json.Marshal(r)
			require.NoError(t, err)
			back, err := envbuild.ParseSpec(data)
			require.NoError(t, err, "%s", data)
			assert.Equal(t, r, back)
			// The test command restricted to touched files runs just those targets.
			assert.True(t, strings.HasSuffix(testlog.Command(r.LogParser, r.TestCmd, []string{"tests/a.rs", "README.md"}), " --test a"))
		})
	}
}
