package retry_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"swemill/retry"
)

// sleeps records the waits asked for, without waiting.
type sleeps []time.Duration

func (s *sleeps) sleep(_ context.Context, d time.Duration) error {
	*s = append(*s, d)
	return nil
}

var (
	errTransient = errors.New("transient")
	errFinal     = errors.New("final")
)

// serverWait is a failure whose server asked for a wait.
type serverWait struct{ d time.Duration }

func (e serverWait) Error() string { return fmt.Sprintf("wait %s", e.d) }

func classify(err error) (bool, time.Duration) {
	var sw serverWait
	if errors.As(err, &sw) {
		return true, sw.d
	}
	return errors.Is(err, errTransient), 0
}

func TestDoBacksOffWithJitterUpToTheCap(t *testing.T) {
	t.Parallel()
	var s sleeps
	var calls []string
	p := retry.Policy{Attempts: 6, Min: time.Second, Max: 5 * time.Second, Retryable: classify, Sleep: s.sleep,
		OnRetry: func(try int, wait time.Duration, err error) { calls = append(calls, fmt.Sprintf("%d %v", try, err)) }}
	tries := 0
	err := p.Do(t.Context(), func(context.Context) error {
		tries++
		return errTransient
	})
	var gu *retry.GiveUpError
	require.ErrorAs(t, err, &gu)
	assert.Equal(t, 6, gu.Tries)
	assert.ErrorIs(t, err, errTransient)
	assert.Equal(t, "giving up after 6 tries: transient", err.Error())
	assert.Equal(t, 6, tries)
	require.Len(t, s, 5)
	for i, want := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 5 * time.Second, 5 * time.Second} {
		assert.LessOrEqual(t, s[i], want, "wait %d", i)
		assert.GreaterOrEqual(t, s[i], want*3/4, "wait %d", i)
	}
	assert.Equal(t, []string{"1 transient", "2 transient", "3 transient", "4 transient", "5 transient"}, calls)
}

func TestDoStopsAtAFinalError(t *testing.T) {
	t.Parallel()
	var s sleeps
	p := retry.Policy{Attempts: 5, Min: time.Second, Retryable: classify, Sleep: s.sleep}
	tries := 0
	err := p.Do(t.Context(), func(context.Context) error {
		tries++
		if tries == 2 {
			return errFinal
		}
		return errTransient
	})
	assert.Same(t, errFinal, err, "a final error comes back as it is")
	assert.Equal(t, 2, tries)
	assert.Len(t, s, 1)

	// One attempt: the retryable error comes back as it is too.
	err = retry.Policy{Attempts: 1, Retryable: classify, Sleep: s.sleep}.Do(t.Context(), func(context.Context) error { return errTransient })
	assert.Same(t, errTransient, err)
}

func TestDoHonoursTheServersWaitUpToTheCap(t *testing.T) {
	t.Parallel()
	var s sleeps
	p := retry.Policy{Attempts: 4, Min: time.Second, Max: time.Minute, Retryable: classify, Sleep: s.sleep}
	waits := []time.Duration{7 * time.Second, time.Hour, 0}
	tries := 0
	err := p.Do(t.Context(), func(context.Context) error {
		tries++
		if tries > len(waits) {
			return nil
		}
		return serverWait{waits[tries-1]}
	})
	require.NoError(t, err)
	require.Len(t, s, 3)
	assert.Equal(t, 7*time.Second, s[0], "Retry-After is not jittered")
	assert.Equal(t, time.Minute, s[1], "Retry-After is capped")
	assert.InDelta(t, float64(4*time.Second), float64(s[2]), float64(time.Second), "a wait of 0 is the backoff of the third retry")
}

func TestDoEndsWithTheContext(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancelCause(t.Context())
	stop := errors.New("stopped")
	waiting := make(chan struct{})
	p := retry.Policy{Attempts: 10, Min: time.Hour, Retryable: classify,
		OnRetry: func(int, time.Duration, error) { close(waiting) }}
	done := make(chan error, 1)
	go func() {
		done <- p.Do(ctx, func(context.Context) error { return errTransient })
	}()
	select {
	case <-waiting:
	case <-time.After(time.Minute):
		t.Fatal("Do never waited")
	}
	cancel(stop)
	select {
	case err := <-done:
		assert.ErrorIs(t, err, stop)
	case <-time.After(time.Minute):
		t.Fatal("Do kept waiting after its context ended")
	}

	// A try that fails because the context ended is not retried.
	tries := 0
	err := p.Do(ctx, func(ctx context.Context) error {
		tries++
		return ctx.Err()
	})
	assert.ErrorIs(t, err, context.Canceled)
	assert.Equal(t, 1, tries)
}

func TestBackoff(t *testing.T) {
	t.Parallel()
	p := retry.Policy{Min: time.Second, Max: time.Minute}
	assert.Equal(t, time.Second, p.Backoff(1))
	assert.Equal(t, 16*time.Second, p.Backoff(5))
	assert.Equal(t, time.Minute, p.Backoff(7))
	assert.Equal(t, time.Minute, p.Backoff(1000))
	uncapped := retry.Policy{Min: time.Second}
	assert.Positive(t, uncapped.Backoff(1000), "no overflow")
}

func TestParseRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	for name, tc := range map[string]struct {
		header http.Header
		want   time.Duration
		ok     bool
	}{
		"seconds":           {http.Header{"Retry-After": {"7"}}, 7 * time.Second, true},
		"decimal":           {http.Header{"Retry-After": {"1.5"}}, 1500 * time.Millisecond, true},
		"zero":              {http.Header{"Retry-After": {"0"}}, 0, true},
		"date":              {http.Header{"Retry-After": {"Sat, 01 Mar 2025 12:00:30 GMT"}}, 30 * time.Second, true},
		"past date":         {http.Header{"Retry-After": {"Sat, 01 Mar 2025 11:00:00 GMT"}}, 0, true},
		"milliseconds":      {http.Header{"Retry-After-Ms": {"250"}, "Retry-After": {"9"}}, 250 * time.Millisecond, true},
		"negative":          {http.Header{"Retry-After": {"-3"}}, 0, false},
		"garbage":           {http.Header{"Retry-After": {"soon"}}, 0, false},
		"absent":            {http.Header{}, 0, false},
		"bad ms, fall back": {http.Header{"Retry-After-Ms": {"x"}, "Retry-After": {"2"}}, 2 * time.Second, true},
	} {
		got, ok := retry.ParseRetryAfter(tc.header, now)
		assert.Equal(t, tc.ok, ok, name)
		assert.Equal(t, tc.want, got, name)
	}
}

func TestConnectionFailure(t *testing.T) {
	t.Parallel()
	for _, err := range []error{
		&url.Error{Op: "Post", URL: "http://x", Err: io.EOF},
		&net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED},
		fmt.Errorf("error reading response body: %w", io.ErrUnexpectedEOF),
		fmt.Errorf("reading: %w", syscall.ECONNRESET),
		net.ErrClosed,
	} {
		assert.True(t, retry.ConnectionFailure(err), "%v", err)
	}
	for _, err := range []error{errors.New("connection refused, said no one"), context.Canceled, errFinal} {
		assert.False(t, retry.ConnectionFailure(err), "%v", err)
	}
}

func TestDoLetsTheServersWaitPastTheBackoffCap(t *testing.T) {
	var s sleeps
	p := retry.Policy{Attempts: 3, Min: time.Second, Max: time.Minute, MaxWait: 5 * time.Minute, Sleep: s.sleep,
		Retryable: func(error) (bool, time.Duration) { return true, 200 * time.Second }}
	calls := 0
	err := p.Do(context.Background(), func(context.Context) error {
		calls++
		if calls < 3 {
			return errors.New("429")
		}
		return nil
	})
	require.NoError(t, err)
	assert.Equal(t, sleeps{200 * time.Second, 200 * time.Second}, s, "a rate limit's reset is waited out whole, past Max")
	s = nil
	p.Retryable = func(error) (bool, time.Duration) { return true, time.Hour }
	calls = 0
	require.NoError(t, p.Do(context.Background(), func(context.Context) error {
		calls++
		if calls < 2 {
			return errors.New("429")
		}
		return nil
	}))
	assert.Equal(t, sleeps{5 * time.Minute}, s, "MaxWait caps it")
}

func TestParseRateLimitReset(t *testing.T) {
	for _, tc := range []struct {
		header []string
		want   time.Duration
		ok     bool
	}{
		{nil, 0, false},
		{[]string{`"api";r=0;t=55`}, 55 * time.Second, true},
		{[]string{`"api";r=12;t=240`}, 240 * time.Second, true},
		{[]string{`"api";r=3;t=10, "resolvers";r=0;t=200`}, 200 * time.Second, true},
		{[]string{`"api";r=0;t=20`, `"pages";r=5;t=290`}, 20 * time.Second, true},
		{[]string{`"api";r=0`}, 0, false},
		{[]string{`garbage`}, 0, false},
		{[]string{`"api";r=0;t=-4`}, 0, false},
	} {
		h := http.Header{}
		for _, v := range tc.header {
			h.Add("RateLimit", v)
		}
		got, ok := retry.ParseRateLimitReset(h)
		assert.Equal(t, tc.ok, ok, "%q", tc.header)
		assert.Equal(t, tc.want, got, "%q", tc.header)
	}
}
