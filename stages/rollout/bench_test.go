package rollout_test

import (
	"context"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"swemill/codeact"
	"swemill/pipeline"
	"swemill/stages/rollout"
	"swemill/stages/rollout/rollouttest"
)

// assistantTurns counts the assistant messages of a request: the step the agent is at.
func assistantTurns(req map[string]any) int {
	n := 0
	msgs, _ := req["messages"].([]any)
	for _, m := range msgs {
		if mm, ok := m.(map[string]any); ok && mm["role"] == "assistant" {
			n++
		}
	}
	return n
}

func percentile(d []time.Duration, p float64) float64 {
	if len(d) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return float64(s[int(p*float64(len(s)-1))]) / float64(time.Millisecond)
}

// BenchmarkStepOverhead measures the harness's time per agent step in a real container,
// text protocol: the model answers at once and every command is a no-op (`:` in the shell,
// a two-line view in the editor), so the time from one model request to the next is what
// the harness itself spends: parsing the reply, running the tool through the container's
// shells, rendering the conversation and the HTTP round trip. Reported as p50/p95 in ms,
// overall and per tool.
func BenchmarkStepOverhead(b *testing.B) {
	item := fixtureItem(b, "pyflat")
	const steps = 60
	var mu sync.Mutex
	var last time.Time
	var lastTool string
	gaps := map[string][]time.Duration{}
	srv := rollouttest.NewServer(b, "/v1")
	srv.Policy = func(req map[string]any) rollouttest.Turn {
		now := time.Now()
		mu.Lock()
		if !last.IsZero() && lastTool != "" {
			gaps[lastTool] = append(gaps[lastTool], now.Sub(last))
		}
		n := assistantTurns(req)
		var content string
		switch {
		case n >= steps:
			content, lastTool = textCall("", codeact.Finish, "message", "done", "task_completed", "true"), ""
		case n%2 == 0:
			content, lastTool = textCall("", codeact.Bash, "command", ":"), codeact.Bash
		default:
			content, lastTool = textCall("", codeact.Editor, "command", "view", "path", "/testbed/calc/ops.py", "view_range", "[1, 2]"), codeact.Editor
		}
		last = time.Now()
		mu.Unlock()
		return rollouttest.Turn{Content: content}
	}
	run := "rollout-bench-" + nonce()
	s, err := rollout.New(rollout.Config{Backend: rollout.BackendOpenAI, BaseURL: srv.URL(), Model: fakeModel,
		MaxIterations: steps + 5, CommandTimeout: time.Minute},
		newDockerRuntime(b, run, nil), rollout.GraderFunc(func(ctx context.Context, item *pipeline.Item, patch string) (rollout.Grade, error) {
			return rollout.Grade{Applied: true}, nil
		}))
	require.NoError(b, err)
	defer s.Close()
	b.ResetTimer()
	for range b.N {
		mu.Lock()
		last = time.Time{}
		mu.Unlock()
		_, err := s.Process(b.Context(), item)
		require.NoError(b, err)
	}
	b.StopTimer()
	var all []time.Duration
	for _, g := range gaps {
		all = append(all, g...)
	}
	b.ReportMetric(percentile(all, 0.5), "overhead-p50-ms")
	b.ReportMetric(percentile(all, 0.95), "overhead-p95-ms")
	b.ReportMetric(percentile(gaps[codeact.Bash], 0.5), "bash-p50-ms")
	b.ReportMetric(percentile(gaps[codeact.Editor], 0.5), "editor-p50-ms")
	b.ReportMetric(float64(len(all))/float64(b.N), "steps/op")
}

// BenchmarkRolloutsPerMinute64 runs 64 rollouts at once (one instance, 64 samples) against
// a fake model that takes 2 s per answer, in the in-memory runtime: 5 model calls a rollout,
// so the model alone allows one batch per 10 s (384 rollouts a minute). Reported: rollouts
// per minute, and how close that is to the model-bound figure.
func BenchmarkRolloutsPerMinute64(b *testing.B) {
	const (
		concurrent = 64
		calls      = 5
		latency    = 2 * time.Second
	)
	srv := rollouttest.NewServer(b, "/v1")
	srv.Latency = latency
	srv.Policy = func(req map[string]any) rollouttest.Turn {
		if assistantTurns(req) >= calls-1 {
			return rollouttest.Turn{ToolCalls: []pipeline.ToolCall{nativeCall("f", codeact.Finish, `{"message":"done","task_completed":"true"}`)}}
		}
		return rollouttest.Turn{ToolCalls: []pipeline.ToolCall{nativeCall("c", codeact.Editor,
			`{"command":"view","path":"/testbed/calc/ops.py"}`)},
			Content: "editing"}
	}
	rt := &rollouttest.Runtime{Files: map[string]string{"/testbed/calc/ops.py": opsPy}}
	s, err := rollout.New(rollout.Config{Backend: rollout.BackendOpenAI, Protocol: rollout.ProtocolNative, BaseURL: srv.URL(),
		Model: fakeModel, Samples: concurrent, Parallel: concurrent, MaxConcurrentRequests: concurrent},
		rt, patchGrader)
	require.NoError(b, err)
	defer s.Close()
	item := memItem(b)
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		out, err := s.Process(b.Context(), item)
		require.NoError(b, err)
		require.Len(b, out.Record.(pipeline.Rollouts).Trajectories, concurrent)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	perMin := float64(concurrent*b.N) / elapsed.Minutes()
	ideal := float64(concurrent) / (float64(calls) * latency.Minutes())
	b.ReportMetric(perMin, "rollouts/min")
	b.ReportMetric(100*perMin/ideal, "model-bound-%")
}
