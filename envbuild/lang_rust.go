package envbuild

// rustBase is the Rust base: Debian's rustc and cargo. CARGO_HOME is the sandbox user's,
// so that an online install's registry downloads land in the image it owns.
var rustBase = langBase{
	packages: []string{"rustc", "cargo"},
	env: []string{
		"CARGO_HOME=/home/swemill/.cargo",
		"CARGO_TERM_COLOR=never",
		"CARGO_INCREMENTAL=0",
		"RUST_BACKTRACE=0",
	},
	setup: `set -eu
mkdir -p /home/swemill/.cargo
rustc --version
cargo --version
`,
	check: "rustc --version && cargo --version",
}
