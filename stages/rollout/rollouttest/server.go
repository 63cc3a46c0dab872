// Package rollouttest provides fakes for the rollout stage's edges: an OpenAI-compatible
// chat completions server (httptest) that replays scripted turns and records the exact
// request bodies it receives, and an in-memory Runtime for tests and benchmarks that need
// no containers.
package rollouttest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"swemill/pipeline"
)

// Turn is one answer of the fake server.
type Turn struct {
	// Status, when set to something other than 200, answers with that HTTP status and an
	// OpenAI-shaped error body carrying ErrorMessage; Header adds response headers (e.g.
	// Retry-After).
	Status       int
	ErrorMessage string
	Header       map[string]string
	// Hangup closes the connection without an answer, as a server that died mid-request
	// does; the client sees a connection error.
	Hangup bool
	// Content and ToolCalls are the assistant message.
	Content   string
	ToolCalls []pipeline.ToolCall
	// FinishReason defaults to "tool_calls" when there are tool calls, else "stop".
	FinishReason string
	// PromptTokens and CompletionTokens are the usage counts reported; zero means an
	// estimate (a token per 4 bytes of the request body, of the content).
	PromptTokens, CompletionTokens int64
}

// Server is a fake /v1/chat/completions endpoint mounted under a path prefix.
type Server struct {
	srv    *httptest.Server
	prefix string
	t      T

	// Policy, when set, answers every request instead of the script (benchmarks): it gets
	// the decoded request body.
	Policy func(req map[string]any) Turn
	// Latency delays every answer (the request's cancellation ends the wait).
	Latency time.Duration
	// APIKey, when set, must be the request's bearer token.
	APIKey string

	mu     sync.Mutex
	script []Turn
	next   int
	bodies [][]byte
	calls  int
}

// T is what the server needs of a test: testing.TB satisfies it, and so can a test
// binary's child process.
type T interface {
	Errorf(format string, args ...any)
	Cleanup(func())
}

// NewServer starts a server under prefix (e.g. "/fake-api/v1") that answers with turns in
// order; a request past the end of the script fails the test. It is closed with the test.
func NewServer(t T, prefix string, turns ...Turn) *Server {
	s := &Server{prefix: strings.TrimSuffix(prefix, "/"), t: t, script: turns}
	s.srv = httptest.NewServer(http.HandlerFunc(s.handle))
	t.Cleanup(s.srv.Close)
	return s
}

// URL is the API root to configure as the client's base URL.
func (s *Server) URL() string { return s.srv.URL + s.prefix }

// Requests returns the request bodies received so far, in order.
func (s *Server) Requests() [][]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([][]byte(nil), s.bodies...)
}

// Calls counts the requests answered.
func (s *Server) Calls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls
}

// Verify fails the test unless every scripted turn was used.
func (s *Server) Verify(t testing.TB) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.Policy == nil && s.next != len(s.script) {
		t.Errorf("fake model: %d of %d scripted turns were used", s.next, len(s.script))
	}
}

func (s *Server) handle(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != s.prefix+"/chat/completions" {
		s.t.Errorf("fake model: unexpected %s %s", r.Method, r.URL.Path)
		http.Error(w, `{"error":{"message":"not found"}}`, http.StatusNotFound)
		return
	}
	if s.APIKey != "" && r.Header.Get("Authorization") != "Bearer "+s.APIKey {
		writeError(w, http.StatusUnauthorized, "bad API key", nil)
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var req map[string]any
	if err := json.Unmarshal(body, &req); err != nil {
		s.t.Errorf("fake model: request body is not JSON: %v", err)
		writeError(w, http.StatusBadRequest, "bad JSON", nil)
		return
	}
	var turn Turn
	s.mu.Lock()
	s.bodies = append(s.bodies, body)
	s.calls++
	switch {
	case s.Policy != nil:
		s.mu.Unlock()
		turn = s.Policy(req)
	case s.next >= len(s.script):
		n := s.next
		s.mu.Unlock()
		s.t.Errorf("fake model: request %d is past the end of the script (%d turns)", n+1, len(s.script))
		writeError(w, http.StatusInternalServerError, "script exhausted", map[string]string{"x-should-retry": "false"})
		return
	default:
		turn = s.script[s.next]
		s.next++
		s.mu.Unlock()
	}
	if s.Latency > 0 {
		t := time.NewTimer(s.Latency)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		}
	}
	if turn.Hangup {
		hangup(w)
		return
	}
	if turn.Status != 0 && turn.Status != http.StatusOK {
		writeError(w, turn.Status, turn.ErrorMessage, turn.Header)
		return
	}
	for k, v := range turn.Header {
		w.Header().Set(k, v)
	}
	writeCompletion(w, req, body, turn, s.Calls())
}

// hangup closes the request's connection without writing anything.
func hangup(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(http.ErrAbortHandler) // the server drops the connection
	}
	conn.Close()
}

func writeError(w http.ResponseWriter, status int, msg string, header map[string]string) {
	for k, v := range header {
		w.Header().Set(k, v)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	data, _ := json.Marshal(map[string]any{"error": map[string]any{"message": msg, "type": "error", "code": status}})
	w.Write(data)
}

// writeCompletion writes a chat.completion object as vLLM does.
func writeCompletion(w http.ResponseWriter, req map[string]any, body []byte, turn Turn, n int) {
	msg := map[string]any{"role": "assistant", "content": turn.Content}
	if len(turn.ToolCalls) > 0 {
		if turn.Content == "" {
			msg["content"] = nil
		}
		var calls []map[string]any
		for _, c := range turn.ToolCalls {
			calls = append(calls, map[string]any{"id": c.ID, "type": "function",
				"function": map[string]any{"name": c.Function.Name, "arguments": c.Function.Arguments}})
		}
		msg["tool_calls"] = calls
	}
	finish := turn.FinishReason
	if finish == "" {
		finish = "stop"
		if len(turn.ToolCalls) > 0 {
			finish = "tool_calls"
		}
	}
	pt, ct := turn.PromptTokens, turn.CompletionTokens
	if pt == 0 {
		pt = int64(len(body)/4 + 1)
	}
	if ct == 0 {
		ct = int64(len(turn.Content)/4 + 1)
	}
	resp := map[string]any{
		"id": fmt.Sprintf("chatcmpl-fake-%d", n), "object": "chat.completion", "created": 1700000000,
		"model":   req["model"],
		"choices": []any{map[string]any{"index": 0, "message": msg, "finish_reason": finish, "logprobs": nil}},
		"usage":   map[string]any{"prompt_tokens": pt, "completion_tokens": ct, "total_tokens": pt + ct},
	}
	w.Header().Set("Content-Type", "application/json")
	data, _ := json.Marshal(resp)
	w.Write(data)
}
