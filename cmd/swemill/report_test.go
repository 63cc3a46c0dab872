package main

import (
	"context"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"swemill/runstore"
)

// TestReportInBrowser renders `swemill report` in headless Chromium and checks that the numbers
// the page shows, in its tables and in the chart its script draws, equal `swemill status
// --json`.
func TestReportInBrowser(t *testing.T) {
	t.Parallel()
	browser, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatal("no chromium on this machine: run `make deps` (Debian's chromium) to check the report in a browser")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	dir := t.TempDir()
	const chain = "prs=16,flaky=3"
	out, err := swemillCmd(ctx, t, chain, "run", "--dir", dir, "--repo", "o/a", "--repo", "o/b", "--repo", "excluded/c", "--progress", "none", "--log-level", "error").CombinedOutput()
	require.NoError(t, err, "%s", out)
	page := filepath.Join(t.TempDir(), "report.html")
	out, err = swemillCmd(ctx, t, chain, "report", "--dir", dir, "--out", page, "--images=false").CombinedOutput()
	require.NoError(t, err, "%s", out)
	out, err = swemillCmd(ctx, t, chain, "status", "--dir", dir, "--json").Output()
	require.NoError(t, err)
	var st runstore.Status
	require.NoError(t, json.Unmarshal(out, &st))

	dom, err := exec.CommandContext(ctx, browser, "--headless", "--no-sandbox", "--disable-gpu",
		"--disable-background-networking", "--user-data-dir="+t.TempDir(), "--dump-dom", "file://"+page).Output()
	require.NoError(t, err)
	html := string(dom)

	require.Equal(t, st.Instances, attrNumber(t, html, `data-summary="instances">`))
	require.Equal(t, st.Repos.Total, attrNumber(t, html, `data-summary="repos">`))
	bars := 0
	for _, s := range st.Stages {
		require.Equal(t, s.Total, attrNumber(t, html, `data-funnel="`+s.Stage+`/reached">`), s.Stage)
		require.Equal(t, s.Total, attrNumber(t, html, `data-chart-total="`+s.Stage+`">`), "chart total of %s", s.Stage)
		for state, n := range s.Counts {
			require.Equal(t, n, attrNumber(t, html, `data-funnel="`+s.Stage+"/"+string(state)+`">`), "%s/%s", s.Stage, state)
			if n > 0 {
				// The chart's bar, drawn by the page's script: <rect ... data-bar="S/state" data-count="n">
				m := regexp.MustCompile(`data-bar="` + regexp.QuoteMeta(s.Stage+"/"+string(state)) + `" data-count="(\d+)"`).FindStringSubmatch(html)
				require.NotNil(t, m, "no chart bar for %s/%s: the page's script did not run", s.Stage, state)
				require.Equal(t, strconv.Itoa(n), m[1])
				bars++
			}
		}
		for _, d := range s.Drops {
			require.Equal(t, d.Count, attrNumber(t, html, `data-drop="`+s.Stage+"/"+d.Reason+`">`))
		}
	}
	require.Positive(t, bars)
	for _, d := range st.Repos.Drops {
		require.Equal(t, d.Count, attrNumber(t, html, `data-drop="repos/`+d.Reason+`">`))
	}
}

// attrNumber returns the number that follows the first occurrence of prefix in html (the
// attribute and the tag's end, up to the text).
func attrNumber(t *testing.T, html, prefix string) int {
	t.Helper()
	m := regexp.MustCompile(regexp.QuoteMeta(prefix) + `(\d+)`).FindStringSubmatch(html)
	require.NotNil(t, m, "nothing shown for %s", prefix)
	n, err := strconv.Atoi(m[1])
	require.NoError(t, err)
	return n
}
