// Package hub pushes a local dataset directory to a Hugging Face Hub dataset repository
// through the Hub's HTTP API, as the huggingface_hub Python client does without Xet: create
// the repository if missing, preupload (which files go to LFS), LFS batch upload (single
// PUT or multipart with completion) of the objects the Hub does not have yet, then one NDJSON
// commit. A push that is interrupted resumes: objects already stored are not sent again.
package hub

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"swemill/retry"
)

// DefaultEndpoint is the public Hub.
const DefaultEndpoint = "https://huggingface.co"

// Config configures Push.
type Config struct {
	// Endpoint is the Hub's base URL, with any path prefix. Default DefaultEndpoint.
	Endpoint string
	// Token is a Hub access token with write access (the CLI reads HF_TOKEN). Required. It is
	// sent only to the Hub's API, never logged and never part of an error.
	Token string
	// Repo is the dataset repository, "owner/name". Required.
	Repo string
	// Revision is the branch committed to. Default "main".
	Revision string
	// CreatePR opens a pull request with the commit instead of committing to Revision.
	CreatePR bool
	// Private makes the repository private when Push creates it; without it the namespace's
	// default visibility applies. An existing repository's visibility is left alone.
	Private bool
	// CommitMessage is the commit's summary. Default "Upload dataset with swemill".
	CommitMessage string
	// CommitDescription is the commit's description. May be empty.
	CommitDescription string
	// HTTPClient sends the requests. Default a client with no overall timeout (uploads are
	// long), relying on ctx.
	HTTPClient *http.Client
	// MaxAttempts bounds the tries of one request that fails with a 5xx, a 429 or a
	// transport error. Default 6.
	MaxAttempts int
	// MinBackoff and MaxBackoff bound the wait between tries, which doubles from MinBackoff
	// (default 1s) up to MaxBackoff (default 1m), each wait shortened at random by up to a
	// quarter; a Retry-After header wins, up to MaxBackoff (see package retry).
	MinBackoff, MaxBackoff time.Duration
	// MaxServerWait caps a wait the Hub asks for: Retry-After, or the reset of a spent rate
	// limit window (RateLimit header; the Hub's windows are 5 minutes). Default 6m.
	MaxServerWait time.Duration
	// Wait waits d or until ctx ends; tests replace it. Default a timer.
	Wait func(ctx context.Context, d time.Duration) error
	// Log receives one line per step and one debug line per request. The zero value logs
	// nothing.
	Log zerolog.Logger
}

func (c *Config) setDefaults() {
	if c.Endpoint == "" {
		c.Endpoint = DefaultEndpoint
	}
	c.Endpoint = strings.TrimRight(c.Endpoint, "/")
	if c.Revision == "" {
		c.Revision = "main"
	}
	if c.CommitMessage == "" {
		c.CommitMessage = "Upload dataset with swemill"
	}
	if c.HTTPClient == nil {
		c.HTTPClient = &http.Client{}
	}
	if c.MaxAttempts == 0 {
		c.MaxAttempts = 6
	}
	if c.MinBackoff == 0 {
		c.MinBackoff = time.Second
	}
	if c.MaxBackoff == 0 {
		c.MaxBackoff = time.Minute
	}
	if c.MaxServerWait == 0 {
		c.MaxServerWait = 6 * time.Minute
	}
	if c.Wait == nil {
		c.Wait = retry.Sleep
	}
}

// Validate reports the first invalid field, after defaults are applied.
func (c Config) Validate() error {
	c.setDefaults()
	owner, name, ok := strings.Cut(c.Repo, "/")
	switch {
	case c.Token == "":
		return errors.New("hub config: Token is required (set HF_TOKEN)")
	case !ok || owner == "" || name == "" || strings.Contains(name, "/"):
		return fmt.Errorf("hub config: Repo %q must be owner/name", c.Repo)
	case c.MaxAttempts < 1:
		return fmt.Errorf("hub config: MaxAttempts %d is below 1", c.MaxAttempts)
	case c.MinBackoff < 0 || c.MaxBackoff < c.MinBackoff:
		return fmt.Errorf("hub config: MinBackoff %s and MaxBackoff %s are not a range", c.MinBackoff, c.MaxBackoff)
	case c.MaxServerWait < 0:
		return fmt.Errorf("hub config: MaxServerWait %s is negative", c.MaxServerWait)
	}
	if u, err := url.Parse(c.Endpoint); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("hub config: Endpoint %q is not an http(s) URL", c.Endpoint)
	}
	return nil
}

// ErrUnauthorized is matched (errors.Is) by a *StatusError for a 401: the token is missing,
// wrong or expired. ErrForbidden by one for a 403: the token may not write to the repository.
var (
	ErrUnauthorized = errors.New("hub: unauthorized")
	ErrForbidden    = errors.New("hub: forbidden")
)

// StatusError is an HTTP error answer from the Hub or its storage.
type StatusError struct {
	// Op names the step ("creating repo", "preupload", ...).
	Op string
	// Method and URL are the request's; URL has no query (presigned URLs carry
	// signatures).
	Method, URL string
	StatusCode  int
	// Message is the Hub's error message, if it gave one.
	Message string
}

// Error says which step failed, with the status and the Hub's message.
func (e *StatusError) Error() string {
	s := fmt.Sprintf("%s: %s %s: %d %s", e.Op, e.Method, e.URL, e.StatusCode, http.StatusText(e.StatusCode))
	if e.Message != "" {
		s += ": " + e.Message
	}
	return s
}

// Is matches ErrUnauthorized for 401 and ErrForbidden for 403.
func (e *StatusError) Is(target error) bool {
	return (target == ErrUnauthorized && e.StatusCode == http.StatusUnauthorized) ||
		(target == ErrForbidden && e.StatusCode == http.StatusForbidden)
}

// client sends the requests of one push.
type client struct {
	cfg *Config
	log zerolog.Logger
}

// request describes one HTTP request; body is called once per try.
type request struct {
	op, method, url string
	header          http.Header
	body            func() (io.Reader, int64, error)
	auth            bool // send the token as a bearer token
	basicAuth       bool // send the token as LFS basic auth (verify)
	// once sends the request once, retrying only a 429 (refused before any work): for
	// requests whose repetition is not harmless (a commit).
	once bool
}

func jsonBody(v any) func() (io.Reader, int64, error) {
	b, err := json.Marshal(v)
	return func() (io.Reader, int64, error) {
		if err != nil {
			return nil, 0, err
		}
		return bytes.NewReader(b), int64(len(b)), nil
	}
}

// redactURL drops the query and any user info.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "<unparsable URL>"
	}
	u.RawQuery, u.User, u.Fragment = "", nil, ""
	return u.String()
}

func (c *client) redact(s string) string {
	if c.cfg.Token == "" {
		return s
	}
	return strings.ReplaceAll(s, c.cfg.Token, "[redacted]")
}

func retryable(code int) bool {
	return code == http.StatusTooManyRequests || code >= 500
}

// do sends r, retrying 5xx, 429 and transport errors with backoff (only 429 when r.once),
// and returns the response of a 2xx (the caller closes its body), or an error.
func (c *client) do(ctx context.Context, r request) (*http.Response, error) {
	var resp *http.Response
	var wait time.Duration // try's verdict on its failure
	p := retry.Policy{
		Attempts: c.cfg.MaxAttempts, Min: c.cfg.MinBackoff, Max: c.cfg.MaxBackoff, MaxWait: c.cfg.MaxServerWait, Sleep: c.cfg.Wait,
		Retryable: func(err error) (bool, time.Duration) {
			if r.once {
				var serr *StatusError
				if !errors.As(err, &serr) || serr.StatusCode != http.StatusTooManyRequests {
					return false, 0
				}
			}
			return wait >= 0, wait
		},
		OnRetry: func(try int, d time.Duration, err error) {
			c.log.Warn().Str("op", r.op).Int("attempt", try).Dur("wait", d).Str("error", c.redact(err.Error())).Msg("retrying")
		},
	}
	err := p.Do(ctx, func(ctx context.Context) error {
		var err error
		resp, wait, err = c.try(ctx, r)
		return err
	})
	if err != nil {
		return nil, err
	}
	return resp, nil
}

// try sends r once. wait is -1 when the error is final, 0 to back off, or the server's
// Retry-After.
func (c *client) try(ctx context.Context, r request) (*http.Response, time.Duration, error) {
	var body io.Reader
	var n int64
	if r.body != nil {
		var err error
		if body, n, err = r.body(); err != nil {
			return nil, -1, fmt.Errorf("%s: reading the request body: %w", r.op, err)
		}
	}
	req, err := http.NewRequestWithContext(ctx, r.method, r.url, body)
	if err != nil {
		return nil, -1, fmt.Errorf("%s: building request to %s: %w", r.op, redactURL(r.url), err)
	}
	if body != nil {
		req.ContentLength = n
		if n == 0 {
			req.Body = http.NoBody
		}
	}
	for k, vs := range r.header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	req.Header.Set("User-Agent", "swemill-hub/1")
	if r.auth {
		req.Header.Set("Authorization", "Bearer "+c.cfg.Token)
	}
	if r.basicAuth && req.Header.Get("Authorization") == "" {
		req.SetBasicAuth("USER", c.cfg.Token)
	}
	resp, err := c.cfg.HTTPClient.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, -1, fmt.Errorf("%s: %w", r.op, context.Cause(ctx))
		}
		// *url.Error repeats the URL with its query; keep only the cause.
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err
		}
		return nil, 0, fmt.Errorf("%s: %s %s: %s", r.op, r.method, redactURL(r.url), c.redact(err.Error()))
	}
	c.log.Debug().Str("op", r.op).Str("method", r.method).Str("url", redactURL(r.url)).Int("status", resp.StatusCode).Msg("request")
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return resp, 0, nil
	}
	msg := c.errorMessage(resp)
	serr := &StatusError{Op: r.op, Method: r.method, URL: redactURL(r.url), StatusCode: resp.StatusCode, Message: msg}
	if !retryable(resp.StatusCode) {
		return nil, -1, serr
	}
	wait, ok := retry.ParseRetryAfter(resp.Header, time.Now())
	if reset, limited := retry.ParseRateLimitReset(resp.Header); !ok && limited && resp.StatusCode == http.StatusTooManyRequests {
		wait = reset + time.Second // the window resets within the second after t
	}
	return nil, wait, serr
}

// errorMessage reads the Hub's message from an error response and closes its body.
func (c *client) errorMessage(resp *http.Response) string {
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	msg := resp.Header.Get("X-Error-Message")
	var e struct {
		Error   string `json:"error"`
		Message string `json:"message"`
	}
	if msg == "" && json.Unmarshal(b, &e) == nil {
		msg = cmp.Or(e.Error, e.Message)
	}
	if msg == "" && !strings.HasPrefix(strings.TrimSpace(string(b)), "<") {
		msg = strings.TrimSpace(string(b))
	}
	if len(msg) > 300 {
		msg = msg[:300] + "..."
	}
	return c.redact(msg)
}

// doJSON sends r and decodes a JSON answer into out (when not nil).
func (c *client) doJSON(ctx context.Context, r request, out any) (http.Header, error) {
	resp, err := c.do(ctx, r)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if out == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		return resp.Header, nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return nil, fmt.Errorf("%s: reading the answer of %s: %w", r.op, redactURL(r.url), err)
	}
	return resp.Header, nil
}
