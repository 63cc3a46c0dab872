package testlog_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"swemill/testlog"
)

func TestArgsCargo(t *testing.T) {
	for _, c := range []struct {
		files []string
		want  []string
	}{
		{[]string{"tests/parse.rs"}, []string{"--test", "parse"}},
		{[]string{"tests/parse.rs", "tests/cli/main.rs", "tests/parse.rs"}, []string{"--test", "parse", "--test", "cli"}},
		{[]string{"tests/common/mod.rs"}, []string{"--tests"}},
		{[]string{"tests/ui/bad.rs", "tests/ui/bad.stderr"}, []string{"--tests"}},
		{[]string{"src/lib.rs", "src/parse/tests.rs", "src/a.rs"}, []string{"--lib"}},
		{[]string{"src/main.rs", "src/bin/tool.rs"}, []string{"--bins"}},
		{[]string{"crates/core/tests/api.rs", "crates/core/src/x.rs"}, []string{"--test", "api", "--lib"}},
		{[]string{"src/tests/helpers.rs"}, []string{"--lib"}},
		{[]string{"benches/b.rs", "examples/e.rs", "build.rs", "README.md", "src/data.txt"}, nil},
		{[]string{"tests/-x.rs", "tests/a b.rs", "../tests/c.rs", "-tests/d.rs"}, []string{"--tests"}},
	} {
		assert.Equal(t, c.want, testlog.Args(testlog.Cargo, c.files), "%q", c.files)
	}
	assert.Equal(t, "cargo test --no-fail-fast --test parse --lib",
		testlog.Command(testlog.Cargo, "cargo test --no-fail-fast", []string{"tests/parse.rs", "src/x.rs"}))
	assert.Equal(t, "cargo test --no-fail-fast", testlog.Command(testlog.Cargo, "cargo test --no-fail-fast", []string{"README.md"}))
}

func TestSelectArgsCargo(t *testing.T) {
	args, byID := testlog.SelectArgs(testlog.Cargo,
		[]string{"tests::a", "tests::b - should panic", "c", "tests::a"}, []string{"src/lib.rs", "tests/c.rs"})
	assert.True(t, byID)
	assert.Equal(t, []string{"--lib", "--test", "c", "--", "--exact", "tests::a", "tests::b", "c"}, args)
	assert.Equal(t, "cargo test --lib --test c -- --exact tests::a tests::b c", testlog.CommandWith("cargo test", args))

	args, byID = testlog.SelectArgs(testlog.Cargo, []string{"tests::a", "src/lib.rs - f (line 3)"}, []string{"src/lib.rs"})
	assert.False(t, byID, "a doc test is not selected by name")
	assert.Equal(t, []string{"--lib"}, args)
}
