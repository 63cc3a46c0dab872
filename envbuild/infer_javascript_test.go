package envbuild

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"swemill/testlog"
)

func TestInferJavaScript(t *testing.T) {
	t.Parallel()
	write := func(t *testing.T, files map[string]string) string {
		dir := t.TempDir()
		for name, body := range files {
			require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644))
		}
		return dir
	}
	t.Run("jest devDependency, offline", func(t *testing.T) {
		dir := write(t, map[string]string{"package.json": `{"scripts":{"test":"jest"},"devDependencies":{"jest":"^29.7.0"}}`})
		r, err := InferRecipe(dir, InferOptions{Offline: true})
		require.NoError(t, err)
		assert.Equal(t, "javascript", r.Language)
		assert.Equal(t, testlog.Jest, r.LogParser)
		assert.Equal(t, "jest "+testlog.JestResultsFlags, r.TestCmd, "Debian's Jest runs the tests")
		assert.Empty(t, r.Install)
		require.Len(t, r.Skipped, 1)
		assert.Contains(t, r.Skipped[0].Reason, "offline")
		require.NoError(t, ValidateRecipe(r))
	})
	t.Run("lockfile, online", func(t *testing.T) {
		dir := write(t, map[string]string{"package.json": `{"devDependencies":{"jest":"29"},"dependencies":{"left-pad":"1"}}`, "package-lock.json": "{}"})
		r, err := InferRecipe(dir, InferOptions{})
		require.NoError(t, err)
		assert.Equal(t, []string{"npm ci --ignore-scripts --no-audit --no-fund"}, r.Install)
		assert.Equal(t, "node_modules/.bin/jest "+testlog.JestResultsFlags, r.TestCmd, "the project's own Jest")
		require.Len(t, r.Skipped, 1)
		assert.Contains(t, r.Skipped[0].Reason, "--ignore-scripts")
	})
	t.Run("jest config only, no dependencies", func(t *testing.T) {
		dir := write(t, map[string]string{"package.json": `{"name":"x"}`, "jest.config.js": "module.exports = {};"})
		r, err := InferRecipe(dir, InferOptions{})
		require.NoError(t, err)
		assert.Empty(t, r.Install)
		assert.Empty(t, r.Skipped)
		assert.Equal(t, "jest "+testlog.JestResultsFlags, r.TestCmd)
	})
	t.Run("mocha is not Jest", func(t *testing.T) {
		dir := write(t, map[string]string{"package.json": `{"scripts":{"test":"mocha"},"devDependencies":{"mocha":"10"}}`})
		_, err := InferRecipe(dir, InferOptions{})
		require.ErrorIs(t, err, ErrNoRecipe)
		assert.Contains(t, err.Error(), "do not run with Jest")
	})
	t.Run("package.json beside a Python project", func(t *testing.T) {
		dir := write(t, map[string]string{"package.json": `{"devDependencies":{"jest":"29"}}`, "setup.py": "from setuptools import setup\nsetup()\n"})
		r, err := InferRecipe(dir, InferOptions{Offline: true})
		require.NoError(t, err)
		assert.Equal(t, "python", r.Language)
	})
	t.Run("broken package.json", func(t *testing.T) {
		dir := write(t, map[string]string{"package.json": `{"scripts":`})
		_, err := InferRecipe(dir, InferOptions{})
		require.ErrorIs(t, err, ErrNoRecipe)
	})
}
