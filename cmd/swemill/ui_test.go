package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"swemill/runstore"
)

// TestUIServesReportAndRiverUI starts `swemill ui` on a run and checks the live report, the
// status endpoint and River's web UI with its API.
func TestUIServesReportAndRiverUI(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	dir := t.TempDir()
	out, err := swemillCmd(ctx, t, "prs=8", "run", "--dir", dir, "--repo", "o/a", "--progress", "none", "--log-level", "error").CombinedOutput()
	require.NoError(t, err, "%s", out)

	cmd := swemillCmd(ctx, t, "prs=8", "ui", "--dir", dir, "--addr", "127.0.0.1:0")
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	require.NoError(t, err)
	m := regexp.MustCompile(`http://([0-9.:]+)/ `).FindStringSubmatch(line)
	require.NotNil(t, m, "no address in %q", line)
	base := "http://" + m[1]
	get := func(path string) (int, string) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+path, nil)
		require.NoError(t, err)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp.StatusCode, string(body)
	}

	code, body := get("/")
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, body, `data-funnel="rollout/done">4<`)
	code, body = get("/status.json")
	require.Equal(t, http.StatusOK, code)
	var st runstore.Status
	require.NoError(t, json.Unmarshal([]byte(body), &st))
	require.Equal(t, 8, st.Instances)
	code, body = get("/riverui/")
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, body, "<html")
	code, body = get("/riverui/api/jobs?state=completed&limit=50")
	require.Equal(t, http.StatusOK, code, body)
	var jobs struct {
		Data []struct {
			Kind string `json:"kind"`
		} `json:"data"`
	}
	require.NoError(t, json.Unmarshal([]byte(body), &jobs), body)
	kinds := map[string]bool{}
	for _, j := range jobs.Data {
		kinds[j.Kind] = true
	}
	require.True(t, kinds["swemill_rollout"] && kinds["swemill_mine"], "River's UI lists the run's jobs: %v", kinds)

	require.NoError(t, cmd.Process.Signal(os.Interrupt))
	require.NoError(t, cmd.Wait(), "ui ends cleanly on Ctrl-C")
}
