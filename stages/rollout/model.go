package rollout

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/packages/param"
	"github.com/openai/openai-go/v3/shared"

	"swemill/pipeline"
	"swemill/retry"
)

// Model answers chat requests: an OpenAI-compatible server (OpenAIClient) or a built-in
// policy (the oracle).
type Model interface {
	Complete(ctx context.Context, req *Request) (*Reply, error)
}

// Request is one chat completion request, already in the wire protocol's form.
type Request struct {
	// Messages are the conversation as sent: for the text protocol, role and content only.
	Messages []pipeline.Message
	// Tools is the tool list in OpenAI form (native protocol only; nil sends none).
	Tools json.RawMessage
	// Stop sequences (the text protocol's "</function").
	Stop     []string
	Sampling Sampling
}

// Sampling are the generation parameters of a request.
type Sampling struct {
	Temperature float64
	TopP        float64
	Seed        int64
	// MaxTokens caps the reply's length.
	MaxTokens int
}

// Reply is the model's answer.
type Reply struct {
	Content   string
	ToolCalls []pipeline.ToolCall
	// FinishReason is the server's ("stop", "length", "tool_calls").
	FinishReason string
	// PromptTokens and CompletionTokens are the server's usage counts for the call.
	PromptTokens, CompletionTokens int64
	// Attempts counts the HTTP requests made, retries included.
	Attempts int
}

// ErrContextLength says the server refused a request for being longer than the model's
// context.
var ErrContextLength = errors.New("request exceeds the model's context length")

// OpenAIConfig configures an OpenAIClient.
type OpenAIConfig struct {
	// BaseURL is the server's API root, e.g. "http://localhost:8000/v1". Required.
	BaseURL string
	// Model is the served model's name. Required.
	Model string
	// APIKey is sent as a bearer token; it never appears in errors or logs. vLLM accepts
	// any value; empty sends "EMPTY".
	APIKey string
	// MaxConcurrent caps the requests in flight at once, across every rollout that shares
	// the client. Default 8.
	MaxConcurrent int
	// MaxRetries is how many times a request that failed with 429, a 5xx or a connection
	// error is tried again. Default 8; -1 means none.
	MaxRetries int
	// RetryDelay is the first wait before a retry; it doubles each time (with jitter), up to
	// MaxRetryDelay. A Retry-After header wins. Defaults 1 s and 1 minute.
	RetryDelay, MaxRetryDelay time.Duration
	// RequestTimeout bounds one HTTP request. Default 10 minutes.
	RequestTimeout time.Duration
	// HTTPClient, when set, sends the requests (tests); default a client with a connection
	// pool sized for MaxConcurrent.
	HTTPClient *http.Client
}

func (c OpenAIConfig) withDefaults() OpenAIConfig {
	if c.MaxConcurrent == 0 {
		c.MaxConcurrent = 8
	}
	if c.MaxRetries == 0 {
		c.MaxRetries = 8
	}
	if c.RetryDelay == 0 {
		c.RetryDelay = time.Second
	}
	if c.MaxRetryDelay == 0 {
		c.MaxRetryDelay = time.Minute
	}
	if c.RequestTimeout == 0 {
		c.RequestTimeout = 10 * time.Minute
	}
	return c
}

// Validate reports the first field that is not usable.
func (c OpenAIConfig) Validate() error {
	c = c.withDefaults()
	switch {
	case c.BaseURL == "":
		return errors.New("OpenAIConfig.BaseURL: required")
	case !strings.HasPrefix(c.BaseURL, "http://") && !strings.HasPrefix(c.BaseURL, "https://"):
		return fmt.Errorf("OpenAIConfig.BaseURL: %q is not an http(s) URL", c.BaseURL)
	case c.Model == "":
		return errors.New("OpenAIConfig.Model: required")
	case c.MaxConcurrent < 1:
		return errors.New("OpenAIConfig.MaxConcurrent: below 1")
	case c.MaxRetries < -1:
		return errors.New("OpenAIConfig.MaxRetries: below -1")
	case c.RetryDelay < 0 || c.MaxRetryDelay < c.RetryDelay:
		return errors.New("OpenAIConfig.RetryDelay, MaxRetryDelay: negative, or the maximum below the first")
	case c.RequestTimeout < 0:
		return errors.New("OpenAIConfig.RequestTimeout: negative")
	}
	return nil
}

// OpenAIClient is a Model served by an OpenAI-compatible /v1/chat/completions endpoint
// (vLLM, hosted APIs), through the official openai-go client. It is safe for concurrent
// use; MaxConcurrent holds for all callers together, and a request waiting to be retried
// does not hold a slot.
type OpenAIClient struct {
	cfg    OpenAIConfig
	client openai.Client
	sem    chan struct{}
	http   *http.Client
}

// NewOpenAIClient returns a client for cfg.
func NewOpenAIClient(cfg OpenAIConfig) (*OpenAIClient, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	hc := cfg.HTTPClient
	if hc == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConnsPerHost = cfg.MaxConcurrent
		hc = &http.Client{Transport: tr}
	}
	key := cfg.APIKey
	if key == "" {
		key = "EMPTY"
	}
	c := &OpenAIClient{cfg: cfg, sem: make(chan struct{}, cfg.MaxConcurrent), http: hc,
		client: openai.NewClient(option.WithBaseURL(cfg.BaseURL), option.WithAPIKey(key),
			option.WithHTTPClient(hc), option.WithMaxRetries(0), option.WithRequestTimeout(cfg.RequestTimeout))}
	return c, nil
}

// Name returns the served model's name.
func (c *OpenAIClient) Name() string { return c.cfg.Model }

// Close releases idle connections.
func (c *OpenAIClient) Close() { c.http.CloseIdleConnections() }

// Complete sends req, retrying 429s, 408s, 5xx answers and connection failures with
// backoff (package retry).
func (c *OpenAIClient) Complete(ctx context.Context, req *Request) (*Reply, error) {
	params, err := c.params(req)
	if err != nil {
		return nil, err
	}
	p := retry.Policy{Attempts: c.cfg.MaxRetries + 1, Min: c.cfg.RetryDelay, Max: c.cfg.MaxRetryDelay, Retryable: retryable}
	attempts := 0
	var resp *openai.ChatCompletion
	err = p.Do(ctx, func(ctx context.Context) error {
		attempts++
		select {
		case c.sem <- struct{}{}:
		case <-ctx.Done():
			return context.Cause(ctx)
		}
		defer func() { <-c.sem }()
		var err error
		resp, err = c.client.Chat.Completions.New(ctx, params)
		return err
	})
	if err != nil {
		if ctx.Err() != nil {
			return nil, context.Cause(ctx)
		}
		return nil, c.redact(err)
	}
	r, err := reply(resp)
	if err != nil {
		return nil, err
	}
	r.Attempts = attempts
	return r, nil
}

// retryable says whether err is worth another attempt and how long the server asked to
// wait: a 429, a 408 or a 5xx answer, or a failure of the connection.
func retryable(err error) (bool, time.Duration) {
	var apiErr *openai.Error
	if errors.As(err, &apiErr) {
		code := apiErr.StatusCode
		if code != http.StatusTooManyRequests && code != http.StatusRequestTimeout && code < 500 {
			return false, 0
		}
		if apiErr.Response != nil {
			if d, ok := retry.ParseRetryAfter(apiErr.Response.Header, time.Now()); ok {
				return true, d
			}
		}
		return true, 0
	}
	return retry.ConnectionFailure(err), 0
}

// redact turns a client error into one that names the failure (and for a context-length
// refusal, wraps ErrContextLength) and never contains the API key.
func (c *OpenAIClient) redact(err error) error {
	var apiErr *openai.Error
	if errors.As(err, &apiErr) {
		msg := apiErr.Message
		if msg == "" {
			msg = strings.TrimSpace(clipText(apiErr.RawJSON(), 300))
		}
		msg = c.scrub(msg)
		if apiErr.StatusCode == http.StatusBadRequest || apiErr.StatusCode == http.StatusRequestEntityTooLarge {
			lower := strings.ToLower(msg)
			if strings.Contains(lower, "context length") || strings.Contains(lower, "context window") ||
				strings.Contains(lower, "maximum context") || strings.Contains(lower, "too long") ||
				strings.Contains(lower, "too many tokens") {
				return fmt.Errorf("%w: %s", ErrContextLength, msg)
			}
		}
		return fmt.Errorf("calling model %s: HTTP %d: %s", c.cfg.Model, apiErr.StatusCode, msg)
	}
	return fmt.Errorf("calling model %s: %s", c.cfg.Model, c.scrub(err.Error()))
}

func (c *OpenAIClient) scrub(s string) string {
	if c.cfg.APIKey != "" {
		s = strings.ReplaceAll(s, c.cfg.APIKey, "[redacted]")
	}
	return s
}

func (c *OpenAIClient) params(req *Request) (openai.ChatCompletionNewParams, error) {
	p := openai.ChatCompletionNewParams{
		Model:       shared.ChatModel(c.cfg.Model),
		Temperature: openai.Float(req.Sampling.Temperature),
		TopP:        openai.Float(req.Sampling.TopP),
		Seed:        openai.Int(req.Sampling.Seed),
	}
	if req.Sampling.MaxTokens > 0 {
		p.MaxTokens = openai.Int(int64(req.Sampling.MaxTokens))
	}
	if len(req.Stop) > 0 {
		p.Stop = openai.ChatCompletionNewParamsStopUnion{OfStringArray: req.Stop}
	}
	for _, m := range req.Messages {
		p.Messages = append(p.Messages, wireMessage(m))
	}
	if len(req.Tools) > 0 {
		tools, err := wireTools(req.Tools)
		if err != nil {
			return p, err
		}
		p.Tools = tools
	}
	return p, nil
}

func wireMessage(m pipeline.Message) openai.ChatCompletionMessageParamUnion {
	switch m.Role {
	case "system":
		return openai.SystemMessage(m.Content)
	case "tool":
		return openai.ToolMessage(m.Content, m.ToolCallID)
	case "assistant":
		if len(m.ToolCalls) == 0 {
			return openai.AssistantMessage(m.Content)
		}
		a := openai.ChatCompletionAssistantMessageParam{}
		if m.Content != "" {
			a.Content = openai.ChatCompletionAssistantMessageParamContentUnion{OfString: param.NewOpt(m.Content)}
		}
		for _, tc := range m.ToolCalls {
			a.ToolCalls = append(a.ToolCalls, openai.ChatCompletionMessageToolCallUnionParam{
				OfFunction: &openai.ChatCompletionMessageFunctionToolCallParam{ID: tc.ID,
					Function: openai.ChatCompletionMessageFunctionToolCallFunctionParam{Name: tc.Function.Name, Arguments: tc.Function.Arguments}}})
		}
		return openai.ChatCompletionMessageParamUnion{OfAssistant: &a}
	default:
		return openai.UserMessage(m.Content)
	}
}

// wireTools converts an OpenAI-form tool list, keeping each schema's key order.
func wireTools(data json.RawMessage) ([]openai.ChatCompletionToolUnionParam, error) {
	var tools []struct {
		Function struct {
			Name        string          `json:"name"`
			Description string          `json:"description"`
			Parameters  json.RawMessage `json:"parameters"`
		} `json:"function"`
	}
	if err := json.Unmarshal(data, &tools); err != nil {
		return nil, fmt.Errorf("reading tools: %w", err)
	}
	out := make([]openai.ChatCompletionToolUnionParam, 0, len(tools))
	for _, t := range tools {
		var schema map[string]json.RawMessage
		if err := json.Unmarshal(t.Function.Parameters, &schema); err != nil {
			return nil, fmt.Errorf("reading the parameters of tool %s: %w", t.Function.Name, err)
		}
		params := shared.FunctionParameters{}
		for k, v := range schema {
			params[k] = v
		}
		out = append(out, openai.ChatCompletionFunctionTool(shared.FunctionDefinitionParam{
			Name: t.Function.Name, Description: openai.String(t.Function.Description), Parameters: params}))
	}
	return out, nil
}

func reply(resp *openai.ChatCompletion) (*Reply, error) {
	r := &Reply{PromptTokens: resp.Usage.PromptTokens, CompletionTokens: resp.Usage.CompletionTokens}
	if len(resp.Choices) == 0 {
		return r, nil // an empty answer; the agent corrects it
	}
	ch := resp.Choices[0]
	r.Content, r.FinishReason = ch.Message.Content, ch.FinishReason
	for _, tc := range ch.Message.ToolCalls {
		typ := tc.Type
		if typ == "" {
			typ = "function"
		}
		r.ToolCalls = append(r.ToolCalls, pipeline.ToolCall{ID: tc.ID, Type: typ,
			Function: pipeline.FunctionCall{Name: tc.Function.Name, Arguments: tc.Function.Arguments}})
	}
	return r, nil
}
