package report_test

import (
	"bytes"
	"regexp"
	"strconv"
	"testing"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"swemill/pipeline/pipelinetest"
	"swemill/report"
	"swemill/runstore"
)

func TestRenderShowsTheFunnel(t *testing.T) {
	t.Parallel()
	s, err := runstore.Open(t.Context(), runstore.Options{Dir: t.TempDir(), Log: zerolog.Nop()})
	require.NoError(t, err)
	defer s.Close()
	c := pipelinetest.Config{PRs: 12, Languages: map[string]string{"o/a": "Java", "o/b": "TypeScript"}}
	_, err = s.Run(t.Context(), runstore.RunConfig{Repos: []string{"o/a", "o/b"}, Miner: pipelinetest.Miner(c), Processors: pipelinetest.Processors(c)})
	require.NoError(t, err)

	d, err := report.Gather(t.Context(), s, []report.LayerUsage{{Layer: "base", Images: 2, Bytes: 1_400_000_000}})
	require.NoError(t, err)
	var buf bytes.Buffer
	require.NoError(t, report.Render(&buf, d))
	html := buf.String()

	st, err := s.Status(t.Context())
	require.NoError(t, err)
	for _, stage := range st.Stages {
		for state, n := range stage.Counts {
			require.Equal(t, n, cell(t, html, `data-funnel="`+stage.Stage+"/"+string(state)+`"`), "%s/%s", stage.Stage, state)
		}
	}
	require.Equal(t, 6, cell(t, html, `data-drop="mine/no_linked_issue"`))
	require.Equal(t, 6, cell(t, html, `data-repo="o/a/rollout/done"`))
	require.Equal(t, 12, cell(t, html, `data-repo="o/a/mine/reached"`))
	require.Equal(t, 12, cell(t, html, `data-lang="java/mine/reached"`))
	require.Equal(t, 6, cell(t, html, `data-lang="typescript/validate/done"`), "tasks per language")
	require.Equal(t, 12, cell(t, html, `data-model="oracle/resolved"`))
	require.Equal(t, 2, cell(t, html, `data-images="base/count"`))
	require.Contains(t, html, "1.4 GB")
	require.NotContains(t, html, `src="http`, "the report is self-contained")
}

// cell returns the number in the element carrying attr.
func cell(t *testing.T, html, attr string) int {
	t.Helper()
	m := regexp.MustCompile(regexp.QuoteMeta(attr) + `>(\d+)<`).FindStringSubmatch(html)
	require.NotNil(t, m, "no element with %s", attr)
	n, err := strconv.Atoi(m[1])
	require.NoError(t, err)
	return n
}
