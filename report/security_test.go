package report_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"swemill/pipeline"
	"swemill/pipeline/pipelinetest"
	"swemill/report"
	"swemill/runstore"
)

// TestRenderMarksSecurityDrops: instances dropped unsafe_patch are counted apart and their
// drop rows marked; a run without any shows no security alert.
func TestRenderMarksSecurityDrops(t *testing.T) {
	t.Parallel()
	s, err := runstore.Open(t.Context(), runstore.Options{Dir: t.TempDir(), Log: zerolog.Nop()})
	require.NoError(t, err)
	defer s.Close()
	c := pipelinetest.Config{PRs: 12}
	procs := pipelinetest.Processors(c)
	validate := procs[pipeline.StageValidate]
	procs[pipeline.StageValidate] = pipeline.ProcessorFunc(func(ctx context.Context, item *pipeline.Item) (pipeline.Output, error) {
		if item.Instance.PullNumber%5 == 0 { // o/a-5, o/a-10
			return pipeline.Output{}, pipeline.Drop(pipeline.ReasonUnsafePatch, "the test patch: unsafe patch: symlink %q", "tests/link")
		}
		return validate.Process(ctx, item)
	})
	_, err = s.Run(t.Context(), runstore.RunConfig{Repos: []string{"o/a"}, Miner: pipelinetest.Miner(c), Processors: procs})
	require.NoError(t, err)

	d, err := report.Gather(t.Context(), s, nil)
	require.NoError(t, err)
	require.Equal(t, []runstore.SecurityDrop{{Reason: pipeline.ReasonUnsafePatch, Count: 2,
		Stages: []runstore.StageCount{{Stage: pipeline.StageValidate, Count: 2}}}}, d.Security)
	var buf bytes.Buffer
	require.NoError(t, report.Render(&buf, d))
	html := buf.String()
	require.Equal(t, 2, cell(t, html, `data-summary="security"`))
	require.Equal(t, 2, cell(t, html, `data-security="unsafe_patch"`))
	require.Equal(t, 2, cell(t, html, `data-drop="validate/unsafe_patch"`))
	require.Contains(t, html, `<tr class="security" data-security-drop="validate/unsafe_patch">`)
	require.Contains(t, html, `id="security-alert"`)
	require.NotContains(t, html, `data-security-drop="mine/no_linked_issue"`, "only security reasons are marked")

	// Without security drops, no alert.
	d.Status = runstore.Status{Stages: []runstore.StageStatus{{Stage: pipeline.StageMine, Drops: []runstore.ReasonCount{{Reason: "no_linked_issue", Count: 3}}}}}
	d.Security = d.Status.SecurityDrops()
	buf.Reset()
	require.NoError(t, report.Render(&buf, d))
	require.NotContains(t, buf.String(), `id="security-alert"`)
	require.NotContains(t, buf.String(), `data-summary="security"`)
}
