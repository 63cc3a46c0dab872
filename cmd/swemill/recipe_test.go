package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"swemill/envbuild"
	"swemill/pipeline"
	"swemill/repotest"
)

// What `swemill recipe` prints is a spec file: ParseSpec reads it back to the same recipe.
func TestRecipeRoundTrip(t *testing.T) {
	t.Parallel()
	recipes := []pipeline.Recipe{
		{
			Language: "python", LanguageVersion: "3.11", SystemPackages: []string{"libxml2-dev", "git=1:2.39.5-0+deb12u1"},
			PreInstall: []string{"echo 'pre: install' # a comment-looking tail", `printf "%s\n" yes`},
			Install:    []string{"python -m pip install -e '.[test]'", "- not a list item", "true"},
			TestCmd:    "python -m pytest -rA", LogParser: "unittest",
			Env: map[string]string{"PYTHONPATH": "/testbed/src", "FLAG": "yes", "N": "012", "EMPTY": "", "COLON": "a: b"},
		},
		{Language: "go", LanguageVersion: "1.22", Install: []string{"go mod download", "go build ./... || echo 'swemill: not every package builds; go test reports which'"}, TestCmd: "go test -json -count=1", LogParser: "gotest"},
	}
	// And what inference makes of the fixture repositories.
	for _, name := range []string{"pybroken", "pysrc", "pyinventory", "gomod", "gokit"} {
		r, err := repotest.BuildFile(filepath.Join(t.TempDir(), name), filepath.Join("..", "..", "testdata", "repos", name+".txtar"))
		require.NoError(t, err)
		for _, offline := range []bool{false, true} {
			rec, err := envbuild.InferRecipe(r.Dir, envbuild.InferOptions{Offline: offline})
			require.NoError(t, err, name)
			recipes = append(recipes, rec)
		}
	}
	for _, want := range recipes {
		var b strings.Builder
		require.NoError(t, writeRecipe(&b, "under test", want))
		got, err := envbuild.ParseSpec([]byte(b.String()))
		require.NoError(t, err, "%s", b.String())
		require.Equal(t, specPart(t, want), specPart(t, got), "%s", b.String())
	}
}

// specPart returns the fields of r that spec files hold, by their names.
func specPart(t *testing.T, r pipeline.Recipe) map[string]json.RawMessage {
	t.Helper()
	data, err := json.Marshal(r)
	require.NoError(t, err)
	var m map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(data, &m))
	known := specFields()
	for k := range m {
		if !known[k] {
			delete(m, k)
		}
	}
	return m
}

// A field the recipe records but spec files do not take is printed too, as a comment, so
// the output stays a spec file.
func TestRecipeYAMLShowsEveryField(t *testing.T) {
	t.Parallel()
	type note struct {
		What   string `json:"what"`
		Reason string `json:"reason"`
	}
	type recipe struct {
		pipeline.Recipe
		Notes []note `json:"notes_not_in_specs,omitempty"`
	}
	r := recipe{
		Recipe: pipeline.Recipe{Language: "python", TestCmd: "python -m pytest", LogParser: "pytest"},
		Notes:  []note{{What: "python -m pip install -r requirements.txt", Reason: "needs a package index: build.offline"}},
	}
	out, err := recipeYAML(r, specFields())
	require.NoError(t, err)
	require.Equal(t, `language: python
test_cmd: python -m pytest
log_parser: pytest
# recorded with the recipe; spec files do not take these:
# notes_not_in_specs:
#   - what: python -m pip install -r requirements.txt
#     reason: 'needs a package index: build.offline'
`, string(out))
	got, err := envbuild.ParseSpec(out)
	require.NoError(t, err)
	require.Equal(t, specPart(t, r.Recipe), specPart(t, got))
}
