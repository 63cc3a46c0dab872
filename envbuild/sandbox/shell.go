package sandbox

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"
)

// A shell is one long-lived bash process whose standard input and output are a stream (a
// Docker exec attachment). Commands are sent escaped, written to a file and sourced with
// stdin from the shell's input FIFO (InputPath), so that they run in the shell itself (cd
// and export persist), can never read the protocol's own input, and a syntax error in one
// cannot leave the shell waiting for more input. While the command runs the shell holds no
// writing end of the FIFO: a command that reads its input gets end-of-file at once, unless
// another process holds the FIFO open for writing, and then it reads what that process
// writes (text sent to a running command) until the process closes it. After each command the shell prints a marker line with the exit
// status, the python on PATH and the directory; the marker is random per shell and printed
// from two halves, so no command output can fake it.
type shell struct {
	stdin io.Writer
	dir   string // the shell's scratch directory
	m1    string // marker halves
	m2    string
	limit int // bytes of output kept per command (head and tail, half each)

	mu      sync.Mutex
	buf     []byte
	dropped int64 // bytes cut from the middle of buf
	scan    int   // where the next marker search starts
	eof     bool
	notify  chan struct{}
	pid     int
	readErr error
}

// newShell wraps a started bash: stdin is its input; out its output stream, which
// readLoop (started by the caller in a goroutine) consumes.
func newShell(stdin io.Writer, limit int) *shell {
	return &shell{
		stdin: stdin, limit: limit, notify: make(chan struct{}, 1),
		m1: "__SWEMILL_" + randHex(6), m2: randHex(6) + "_DONE__",
		dir: "/tmp/.swemill-" + randHex(6),
	}
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Write receives the shell's output (the exec stream's copy loop writes here).
func (s *shell) Write(p []byte) (int, error) {
	s.mu.Lock()
	s.buf = append(s.buf, p...)
	// Keep memory bounded for commands that print without end: cut the middle, keeping the
	// head and enough of the tail to hold the marker line.
	if max := 2*s.limit + 64<<10; len(s.buf) > max {
		head := s.limit / 2
		tail := s.limit/2 + 32<<10
		cut := len(s.buf) - head - tail
		if s.scan > head { // never cut what the marker search has yet to see
			cut = min(cut, s.scan-head)
		} else {
			cut = 0
		}
		if cut > 0 {
			copy(s.buf[head:], s.buf[head+cut:])
			s.buf = s.buf[:len(s.buf)-cut]
			s.dropped += int64(cut)
			s.scan -= cut
		}
	}
	s.mu.Unlock()
	s.signal()
	return len(p), nil
}

// closeOutput marks the end of the output stream (the shell exited).
func (s *shell) closeOutput(err error) {
	s.mu.Lock()
	s.eof = true
	if err != nil && !errors.Is(err, io.EOF) {
		s.readErr = err
	}
	s.mu.Unlock()
	s.signal()
}

func (s *shell) signal() {
	select {
	case s.notify <- struct{}{}:
	default:
	}
}

// Marker is what a Shell reported after a command: its exit status, the shell's directory
// and the python on PATH ("" if none).
type Marker struct {
	Status int
	Python string
	Cwd    string
}

// ErrShellExited says the shell's output ended before a command's marker.
var ErrShellExited = errors.New("shell exited")

// init starts the protocol: output merged into one stream, the scratch directory made, and a
// first marker that carries the shell's pid.
func (s *shell) init(ctx context.Context, timeout time.Duration) error {
	script := "exec 2>&1\ntrap 'return 130' INT\n" +
		"__swemill_m1=" + s.m1 + "; __swemill_m2=" + s.m2 + "; __swemill_d=" + s.dir + "\n" +
		"mkdir -p \"$__swemill_d\" && chmod 700 \"$__swemill_d\" && mkfifo -m 600 \"$__swemill_d/in\"\n" +
		"__swemill_rc=$$; " + markerCmd + "\n"
	if _, err := io.WriteString(s.stdin, script); err != nil {
		return fmt.Errorf("starting shell: %w", err)
	}
	_, m, timedOut, err := s.wait(ctx, timeout)
	if err != nil {
		return fmt.Errorf("starting shell: %w", err)
	}
	if timedOut {
		return errors.New("starting shell: no answer")
	}
	s.pid = m.Status
	return nil
}

// markerCmd prints the marker line "\n<marker> <status> <cwd>\x1f<python>\n" with builtins
// only: no process is started for it.
const markerCmd = `printf '\n%s%s %d %s\037' "$__swemill_m1" "$__swemill_m2" "$__swemill_rc" "$PWD"; type -P python || echo`

// inputCmd chooses the sourced command's input: the FIFO (made again if a command removed
// it; /dev/null when it cannot be), opened for reading (__swemill_r) while the shell holds it
// open for writing too, so that the opening does not block, and then closed for writing: the
// shell must hold no writing end while the command runs (a builtin such as read would never
// see end-of-file), so only other processes' writing ends keep the input open.
const inputCmd = `__swemill_i="$__swemill_d/in"; [ -p "$__swemill_i" ] || mkfifo -m 600 "$__swemill_i" 2>/dev/null || __swemill_i=/dev/null; ` +
	`exec {__swemill_h}<>"$__swemill_i" {__swemill_r}<"$__swemill_i" {__swemill_h}>&-`

// send writes a command for the shell to source. The command travels as a printf %b
// argument and is written with builtins only, so no process is started but the command's
// own.
func (s *shell) send(command string) error {
	line := `[ -d "$__swemill_d" ] || mkdir -p "$__swemill_d"; printf '%b' '` + EscapePrintf(command) + `' > "$__swemill_d/cmd"` + "\n" +
		inputCmd + "\n" +
		`. "$__swemill_d/cmd" <&$__swemill_r` + "\n" +
		`__swemill_rc=$?; exec {__swemill_r}<&-; ` + markerCmd + "\n"
	_, err := io.WriteString(s.stdin, line)
	return err
}

// EscapePrintf escapes s for a single-quoted argument of printf %b: backslashes, quotes, newlines
// and control bytes become escapes, so the argument is one line and printf writes s back
// byte for byte (NUL included).
func EscapePrintf(s string) string {
	var b strings.Builder
	b.Grow(len(s) + len(s)/8)
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\':
			b.WriteString(`\\`)
		case c == '\n':
			b.WriteString(`\n`)
		case c == '\'' || c < 0x20 || c == 0x7f:
			fmt.Fprintf(&b, `\0%03o`, c)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// wait waits for the next marker, at most timeout. It returns the output before the marker
// (head and tail when it was too long, with the number of bytes left out), the marker, and
// timedOut when none came in time. When the shell exits first it returns the output so far
// and ErrShellExited.
func (s *shell) wait(ctx context.Context, timeout time.Duration) (out ShellOutput, m Marker, timedOut bool, err error) {
	out, m, st, err := s.waitUntil(ctx, time.Now().Add(timeout), 0)
	return out, m, st == WaitTimedOut, err
}

// WaitStatus says how Shell.WaitUntil returned.
type WaitStatus int

const (
	WaitDone     WaitStatus = iota // the marker came (or the shell exited: see the error)
	WaitTimedOut                   // the deadline passed first
	WaitQuiet                      // nothing new for quiet: the output so far is returned
)

// waitUntil waits for the next marker until deadline. When quiet is positive and no output
// arrives for that long, it returns what the command printed so far (holding back what may
// be the start of the marker line) with WaitQuiet; the command goes on, and a later call
// returns the rest.
func (s *shell) waitUntil(ctx context.Context, deadline time.Time, quiet time.Duration) (out ShellOutput, m Marker, st WaitStatus, err error) {
	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	var quietC <-chan time.Time
	var quietT *time.Timer
	if quiet > 0 {
		quietT = time.NewTimer(quiet)
		defer quietT.Stop()
		quietC = quietT.C
	}
	for {
		s.mu.Lock()
		if end, mk, ok := s.findMarker(); ok {
			out = s.take(end.start)
			s.buf = s.buf[end.next:]
			s.scan = 0
			s.mu.Unlock()
			return out, mk, WaitDone, nil
		}
		if s.eof {
			out = s.take(len(s.buf))
			s.buf, s.scan = nil, 0
			rerr := s.readErr
			s.mu.Unlock()
			if rerr != nil {
				return out, m, WaitDone, fmt.Errorf("%w: reading output: %v", ErrShellExited, rerr)
			}
			return out, m, WaitDone, ErrShellExited
		}
		s.mu.Unlock()
		select {
		case <-s.notify:
			if quietT != nil {
				quietT.Reset(quiet)
			}
		case <-quietC:
			s.mu.Lock()
			n := s.safeEnd()
			out = s.take(n)
			s.buf, s.scan = s.buf[n:], 0
			s.mu.Unlock()
			return out, m, WaitQuiet, nil
		case <-timer.C:
			return ShellOutput{}, m, WaitTimedOut, nil
		case <-ctx.Done():
			return ShellOutput{}, m, WaitDone, context.Cause(ctx)
		}
	}
}

// safeEnd is how much of buf can be handed out before the marker came: all of it but a
// last line that may be the start of the marker (the marker's first write is one printf, so
// a lone newline is the command's own). Called with mu held.
func (s *shell) safeEnd() int {
	pat := []byte("\n" + s.m1 + s.m2 + " ")
	i := bytes.LastIndexByte(s.buf, '\n')
	if i >= 0 && len(s.buf)-i >= 2 && (bytes.HasPrefix(pat, s.buf[i:]) || bytes.HasPrefix(s.buf[i:], pat)) {
		return i
	}
	return len(s.buf)
}

type markerPos struct{ start, next int }

// findMarker looks for a complete marker line in buf from scan on. Called with mu held.
func (s *shell) findMarker() (markerPos, Marker, bool) {
	pat := "\n" + s.m1 + s.m2 + " "
	from := max(0, s.scan)
	i := bytes.Index(s.buf[from:], []byte(pat))
	if i < 0 {
		s.scan = max(0, len(s.buf)-len(pat))
		return markerPos{}, Marker{}, false
	}
	start := from + i
	nl := bytes.IndexByte(s.buf[start+len(pat):], '\n')
	if nl < 0 {
		s.scan = start // the line is not complete yet
		return markerPos{}, Marker{}, false
	}
	line := string(s.buf[start+len(pat) : start+len(pat)+nl])
	next := start + len(pat) + nl + 1
	var mk Marker
	status, rest, _ := strings.Cut(line, " ")
	mk.Status, _ = strconv.Atoi(status)
	mk.Cwd, mk.Python, _ = strings.Cut(rest, "\x1f")
	return markerPos{start: start, next: next}, mk, true
}

// poll returns what the command printed since the last call without waiting, and done when
// it ended (then with its marker).
func (s *shell) poll() (out ShellOutput, m Marker, done bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if end, mk, ok := s.findMarker(); ok {
		out = s.take(end.start)
		s.buf = s.buf[end.next:]
		s.scan = 0
		return out, mk, true
	}
	n := s.safeEnd()
	out = s.take(n)
	s.buf, s.scan = s.buf[n:], 0
	return out, m, false
}

// ShellOutput is a command's output as a Shell kept it: all of it (Head), or its head and
// tail with the number of bytes left out between them (Dropped).
type ShellOutput struct {
	Head, Tail []byte
	Dropped    int64
}

// take returns buf[:n] as an output, at most limit bytes, and resets the count of dropped
// bytes. Called with mu held.
func (s *shell) take(n int) ShellOutput {
	half := s.limit / 2
	var o ShellOutput
	switch {
	case s.dropped > 0: // Write already cut the middle, right after the head
		o.Head = append([]byte(nil), s.buf[:min(half, n)]...)
		rest := s.buf[min(half, n):n]
		o.Dropped = s.dropped
		if len(rest) > half {
			o.Dropped += int64(len(rest) - half)
			rest = rest[len(rest)-half:]
		}
		o.Tail = append([]byte(nil), rest...)
	case n > s.limit:
		o.Head = append([]byte(nil), s.buf[:half]...)
		o.Tail = append([]byte(nil), s.buf[n-half:n]...)
		o.Dropped = int64(n - 2*half)
	default:
		o.Head = append([]byte(nil), s.buf[:n]...)
	}
	s.dropped = 0
	return o
}

// Text renders the output, marking where bytes were left out, and says whether any were.
func (o ShellOutput) Text() (string, bool) {
	if o.Dropped == 0 {
		return string(o.Head) + string(o.Tail), false
	}
	return string(o.Head) + fmt.Sprintf("\n[... %d bytes of output left out ...]\n", o.Dropped) + string(o.Tail), true
}
