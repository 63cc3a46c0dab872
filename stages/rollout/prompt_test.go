package rollout_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"swemill/stages/rollout"
	"swemill/stages/rollout/rollouttest"
)

// promptDir writes files (name -> content) to a new directory.
func promptDir(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644))
	}
	return dir
}

// TestPromptErrors: a prompt template that does not parse, names a field or function that
// does not exist or fails on sample data, a misspelt file name, a missing directory and a
// workspace template that fails or makes no usable path are configuration errors, found by
// Validate (and New) before any rollout, named by file and line.
func TestPromptErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		files     map[string]string
		workspace string
		want      []string // {{dir}} is the prompt directory
	}{
		{name: "parse error", files: map[string]string{rollout.PromptSystem: "You are an agent.\n{{if .Repo}}unclosed\n"},
			want: []string{"Config.Prompts: template: {{dir}}/system.tmpl:2: unexpected EOF"}},
		{name: "unknown field", files: map[string]string{rollout.PromptInstruction: "Fix it.\nThe repository is {{.Repository}}.\n"},
			want: []string{"{{dir}}/instruction.tmpl:2:", "can't evaluate field Repository in type rollout.PromptData"}},
		{name: "unknown function", files: map[string]string{rollout.ToolPromptFile("think", "thought"): "\n\n{{shout .Repo}}\n"},
			want: []string{"{{dir}}/tool_think.thought.tmpl:3:", `function "shout" not defined`}},
		{name: "execution error", files: map[string]string{rollout.PromptExample: "{{.Instruction}}\n{{index .Instruction 100000}}\n"},
			want: []string{"{{dir}}/example.tmpl:2:", "index out of range"}},
		{name: "format error message", files: map[string]string{rollout.PromptFormatError: "{{.Error.Message}}"},
			want: []string{"{{dir}}/format_error.tmpl:1:", "Message"}},
		{name: "misspelt file", files: map[string]string{"sytem.tmpl": "You are an agent."},
			want: []string{"{{dir}}/sytem.tmpl is not a prompt file", "system.tmpl"}},
		{name: "bad workspace template", workspace: "/workspace/{{.Nope}}",
			want: []string{"Config.Workspace: template: Config.Workspace:1:", "can't evaluate field Nope"}},
		{name: "relative workspace", workspace: `workspace/{{.Repo | replace "/" "__"}}`,
			want: []string{`Config.Workspace: "workspace/owner__name" (for owner__name-1) is not a clean absolute path`}},
		{name: "workspace with a space", workspace: "/workspace/{{.Repo}} {{.Version}}",
			want: []string{`"/workspace/owner/name 1.0"`, "not a clean absolute path"}},
		{name: "workspace with ..", workspace: "/workspace/../{{.Version}}", want: []string{"not a clean absolute path"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := ""
			if tc.files != nil {
				dir = promptDir(t, tc.files)
			}
			cfg := rollout.Config{Backend: rollout.BackendOracle, Prompts: dir, Workspace: tc.workspace}
			err := cfg.Validate()
			require.Error(t, err)
			for _, w := range tc.want {
				assert.Contains(t, err.Error(), strings.ReplaceAll(w, "{{dir}}", dir))
			}
			_, nerr := rollout.New(cfg, &rollouttest.Runtime{}, patchGrader)
			require.Error(t, nerr)
			assert.Equal(t, err.Error(), nerr.Error())
		})
	}
	_, err := rollout.New(rollout.Config{Backend: rollout.BackendOracle, Prompts: filepath.Join(t.TempDir(), "missing")}, &rollouttest.Runtime{}, patchGrader)
	assert.ErrorContains(t, err, "Config.Prompts: reading the prompt directory")

	// Files that are not templates are ignored; a directory of nothing but them is the
	// built-in prompts.
	require.NoError(t, rollout.Config{Backend: rollout.BackendOracle, Prompts: promptDir(t, map[string]string{"README.md": "{{"})}.Validate())
}

// TestWorkspacePath: by default the agent finds the repository at OpenHands' path,
// /workspace/<repo>__<version> with "/" written "__", which its workspace is asked for and its
// instruction and oracle name; "/testbed" keeps the image's own. A path inside the image's work
// directory fails the sample.
func TestWorkspacePath(t *testing.T) {
	t.Parallel()
	item := memItem(t)
	item.Instance.Version = "2.0"
	for _, tc := range []struct{ workspace, want string }{
		{"", "/workspace/acme__calc__2.0"},
		{rollout.DefaultWorkspace, "/workspace/acme__calc__2.0"},
		{"/testbed", "/testbed"},
		{"/work/{{.InstanceID}}", "/work/acme__calc-1"},
	} {
		rt := &rollouttest.Runtime{}
		tr := processOne(t, memStage(t, nil, rt, func(c *rollout.Config) { c.Workspace = tc.workspace }), item)
		require.Len(t, rt.Workspaces(), 1)
		spec := rt.Workspaces()[0].Spec
		assert.Equal(t, "/testbed", spec.WorkDir, tc.workspace)
		assert.Equal(t, tc.want, spec.Path, tc.workspace)
		assert.True(t, strings.HasPrefix(tr.Messages[1].Content, "<uploaded_files>\n"+tc.want+"\n</uploaded_files>\n"), tc.workspace)
		assert.Equal(t, "cd '"+tc.want+"' && git status --short && git log -1 --format=%H", rt.Workspaces()[0].Commands[0], tc.workspace)
		assert.Contains(t, rt.Workspaces()[0].Files, tc.want+"/calc/ops.py", "the repository is at the workspace path")
	}

	s := memStage(t, nil, &rollouttest.Runtime{}, func(c *rollout.Config) { c.Workspace = "/testbed/{{.Version}}" })
	_, err := s.Process(t.Context(), item)
	assert.ErrorContains(t, err, "Config.Workspace: /testbed/2.0 and the image's work directory /testbed are inside one another")
}

// TestStoredSampleUnderOtherPrompts: a retry reuses a stored sample made with the same
// prompts, and rolls out again one made with others.
func TestStoredSampleUnderOtherPrompts(t *testing.T) {
	t.Parallel()
	item := memItem(t)
	rt := &rollouttest.Runtime{}
	s := memStage(t, nil, rt, nil)
	out, err := s.Process(t.Context(), item)
	require.NoError(t, err)
	require.Len(t, rt.Workspaces(), 1)

	retry := *item
	retry.Attempt, retry.Recorded = 2, out.Artifacts
	_, err = s.Process(t.Context(), &retry)
	require.NoError(t, err)
	assert.Len(t, rt.Workspaces(), 1, "the stored sample is reused")

	other := memStage(t, nil, rt, func(c *rollout.Config) {
		c.Prompts = promptDir(t, map[string]string{rollout.PromptSystem: "Another system prompt.\n"})
	})
	out, err = other.Process(t.Context(), &retry)
	require.NoError(t, err)
	assert.Len(t, rt.Workspaces(), 2, "the sample is rolled out again")
	assert.Equal(t, "Another system prompt.", readTrajectories(t, &retry, out)[0].Messages[0].Content)
}
