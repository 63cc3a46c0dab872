// Package retry tries an operation again after transient failures, the one way swemill's
// clients (GitHub, the model server, the Hub) do it: exponential backoff from Policy.Min,
// capped at Policy.Max, each wait shortened at random by up to a quarter (jitter, so that
// clients failing together do not come back together), and a wait the server asked for
// (Retry-After, a rate limit's reset) honoured, up to Policy.MaxWait, in place of the
// backoff.
//
// The runner's retries of a whole item (pipeline's River policy) are another matter: this
// package retries one request inside one item's attempt.
package retry

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Policy says which failures are tried again, how often and after how long. The zero value
// tries once.
type Policy struct {
	// Attempts is the most tries of one operation, the first included; below 1 means 1 (no
	// retry).
	Attempts int
	// Min is the backoff before the first retry; it doubles for each next retry, up to Max.
	// Max 0 means no cap.
	Min, Max time.Duration
	// MaxWait caps a wait the server asked for (Retry-After, a rate limit's reset); 0 means
	// Max.
	MaxWait time.Duration
	// Retryable says whether a failure is worth another try and, when the server asked for
	// a wait (Retry-After), how long; a wait of 0 means the backoff. Nil retries every error.
	Retryable func(err error) (retry bool, wait time.Duration)
	// OnRetry, when set, is called before each wait with the number of the try that failed
	// (from 1), the wait and the error: for logs and counters.
	OnRetry func(try int, wait time.Duration, err error)
	// Sleep waits d or until ctx ends (returning ctx's cause); nil means a timer. Tests
	// replace it.
	Sleep func(ctx context.Context, d time.Duration) error
}

// GiveUpError is the last error of an operation that was tried more than once and failed
// every time with a retryable error.
type GiveUpError struct {
	// Tries counts the tries made.
	Tries int
	// Err is the last try's error.
	Err error
}

func (e *GiveUpError) Error() string {
	return fmt.Sprintf("giving up after %d tries: %v", e.Tries, e.Err)
}

// Unwrap returns the last try's error.
func (e *GiveUpError) Unwrap() error { return e.Err }

// Do calls op until it succeeds, fails with an error that Retryable refuses (returned as
// is), or the attempts are used up (the last error, in a *GiveUpError when there was more
// than one try). When ctx ends, Do returns op's error as op returned it, or the error of the
// wait (ctx's cause); callers that want ctx's cause check ctx themselves.
func (p Policy) Do(ctx context.Context, op func(ctx context.Context) error) error {
	attempts := max(p.Attempts, 1)
	for try := 1; ; try++ {
		err := op(ctx)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return err
		}
		again, wait := true, time.Duration(0)
		if p.Retryable != nil {
			again, wait = p.Retryable(err)
		}
		if !again {
			return err
		}
		if try >= attempts {
			if try > 1 {
				return &GiveUpError{Tries: try, Err: err}
			}
			return err
		}
		if wait <= 0 {
			wait = Jitter(p.Backoff(try))
			if p.Max > 0 {
				wait = min(wait, p.Max)
			}
		} else if cap := cmp.Or(p.MaxWait, p.Max); cap > 0 {
			wait = min(wait, cap)
		}
		if p.OnRetry != nil {
			p.OnRetry(try, wait, err)
		}
		if err := p.sleep(ctx, wait); err != nil {
			return err
		}
	}
}

// Backoff returns the wait before retry n (1 for the first), without jitter: Min doubled
// n-1 times, at most Max.
func (p Policy) Backoff(n int) time.Duration {
	d := p.Min
	for i := 1; i < n && d > 0; i++ {
		if p.Max > 0 && d >= p.Max {
			break
		}
		if d > time.Duration(1<<62) {
			break // doubling would overflow
		}
		d *= 2
	}
	if p.Max > 0 {
		d = min(d, p.Max)
	}
	return d
}

func (p Policy) sleep(ctx context.Context, d time.Duration) error {
	if p.Sleep != nil {
		return p.Sleep(ctx, d)
	}
	return Sleep(ctx, d)
}

// Sleep waits d, or until ctx ends (then it returns ctx's cause).
func Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return context.Cause(ctx)
	case <-t.C:
		return nil
	}
}

// Jitter returns d shortened by a random amount of up to a quarter of it.
func Jitter(d time.Duration) time.Duration {
	if d <= 0 {
		return d
	}
	return d - rand.N(d/4+1)
}

// ParseRetryAfter reads how long a response asks its client to wait before trying again:
// Retry-After-Ms (milliseconds, as OpenAI-compatible servers send it), else Retry-After in
// seconds (an integer or a decimal) or as an HTTP date (from now). A date in the past is a
// wait of 0.
func ParseRetryAfter(h http.Header, now time.Time) (time.Duration, bool) {
	if v := h.Get("Retry-After-Ms"); v != "" {
		if ms, err := strconv.ParseFloat(v, 64); err == nil && ms >= 0 && ms < 1e12 {
			return time.Duration(ms * float64(time.Millisecond)), true
		}
	}
	v := h.Get("Retry-After")
	if v == "" {
		return 0, false
	}
	if s, err := strconv.ParseFloat(v, 64); err == nil && s >= 0 && s < 1e9 {
		return time.Duration(s * float64(time.Second)), true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0), true
	}
	return 0, false
}

// ParseRateLimitReset reads the RateLimit header of the IETF draft the Hugging Face Hub
// follows (`"api";r=0;t=55`: r requests remain in the window, which resets in t seconds) and
// returns the wait until the window of a spent quota resets (of any quota, when none is
// spent). It says false when the header is absent or unreadable.
func ParseRateLimitReset(h http.Header) (time.Duration, bool) {
	var spent, any time.Duration
	found, foundSpent := false, false
	for _, v := range h.Values("RateLimit") {
		for _, item := range strings.Split(v, ",") {
			remaining, reset := int64(-1), int64(-1)
			for _, param := range strings.Split(item, ";")[1:] {
				k, val, ok := strings.Cut(strings.TrimSpace(param), "=")
				n, err := strconv.ParseInt(strings.TrimSpace(val), 10, 64)
				if !ok || err != nil || n < 0 {
					continue
				}
				switch strings.TrimSpace(k) {
				case "r":
					remaining = n
				case "t":
					reset = n
				}
			}
			if reset < 0 || reset > 1e9 {
				continue
			}
			d := time.Duration(reset) * time.Second
			found, any = true, max(any, d)
			if remaining == 0 {
				foundSpent, spent = true, max(spent, d)
			}
		}
	}
	if foundSpent {
		return spent, true
	}
	return any, found
}

// ConnectionFailure reports whether err is a failure to reach a server or to read its whole
// answer: a network error (every *url.Error from an http.Client is one), a closed
// connection, a reset or refused connection, a broken pipe, or an answer cut short (EOF).
func ConnectionFailure(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) || errors.Is(err, net.ErrClosed) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, syscall.ECONNABORTED) || errors.Is(err, syscall.EPIPE)
}
