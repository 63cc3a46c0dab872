package testlog

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
)

// Result streams: the files a test run leaves in its results directory, written inside the
// container and read whole (up to a limit of their own) once the run is over. Labels come
// from them, never from the capped log a human reads.
const (
	// StreamOutput is the test command's whole output, standard error merged in. For Go it
	// is the `go test -json` event stream; for the other frameworks, their verbose text.
	StreamOutput = "output"
	// StreamPytest holds the records of swemill's pytest plugin (PytestPlugin), one JSON
	// object a line.
	StreamPytest = "pytest.jsonl"
	// StreamSurefire (maven.go) holds Surefire's XML reports and Maven's output.
	// StreamJest (jest.go) is Jest's JSON report.
)

// Streams returns the result streams the named parser reads, the preferred first: a run
// is read from the first of them that it left. Unknown parsers have none.
func Streams(parser string) []string {
	switch parser {
	case Pytest:
		return []string{StreamPytest, StreamOutput}
	case Unittest, Django, Sympy, GoTest, Cargo:
		return []string{StreamOutput}
	case Maven:
		return []string{StreamSurefire, StreamOutput}
	case Jest:
		return []string{StreamJest, StreamOutput}
	}
	return nil
}

// ErrUnknownStream says that a parser does not read the named stream.
var ErrUnknownStream = errors.New("the parser does not read this stream")

// ReadStream reads the result stream called name (see Streams) with the named parser,
// taking at most limit bytes from r (limit <= 0: no limit). A longer stream gives a result
// whose Incomplete says so: what was read may be right, but it is not all. Go's event
// stream and the pytest plugin's records are read as they come, a line at a time; the
// frameworks' text is read whole (within limit), then parsed. Errors are r's, or an unknown
// parser or stream; what the stream says is in the Result.
func ReadStream(parser, name string, r io.Reader, limit int64) (Result, error) {
	if _, ok := Lookup(parser); !ok {
		return Result{}, &UnknownParserError{Name: parser}
	}
	lr := &limitReader{r: r, left: limit, unlimited: limit <= 0}
	var (
		res Result
		err error
	)
	switch {
	case name == StreamOutput && parser == GoTest:
		res, err = readGoTest(lr)
	case name == StreamPytest && parser == Pytest:
		res, err = readPytestRecords(lr)
	case name == StreamSurefire && parser == Maven:
		res, err = readSurefireTar(lr)
	case name == StreamJest && parser == Jest:
		var data []byte
		if data, err = io.ReadAll(lr); err == nil {
			res = ParseJestReport(data)
		}
	case name == StreamOutput:
		var data []byte
		if data, err = io.ReadAll(lr); err == nil {
			res, err = Parse(parser, data)
		}
	default:
		return Result{}, fmt.Errorf("reading stream %q with parser %s: %w", name, parser, ErrUnknownStream)
	}
	if err != nil {
		return res, err
	}
	if lr.over {
		// The cut explains whatever else looked wrong.
		res.Incomplete = fmt.Sprintf("the %s stream holds more than its limit of %d bytes; it was read no further", name, limit)
	}
	return res, nil
}

// limitReader reads at most left bytes and notes whether r had more.
type limitReader struct {
	r         io.Reader
	left      int64
	unlimited bool
	over      bool
}

func (l *limitReader) Read(p []byte) (int, error) {
	if l.unlimited {
		return l.r.Read(p)
	}
	if l.over {
		return 0, io.EOF
	}
	if l.left <= 0 {
		var one [1]byte
		for {
			n, err := l.r.Read(one[:])
			if n > 0 {
				l.over = true
				return 0, io.EOF
			}
			if err != nil {
				return 0, err
			}
		}
	}
	if int64(len(p)) > l.left {
		p = p[:l.left]
	}
	n, err := l.r.Read(p)
	l.left -= int64(n)
	return n, err
}

// eachLine calls fn with every line of r, without its line ending ("\n" or "\r\n"); the
// slice is valid only during the call. It reports whether the last line was whole: ended by
// a newline (true for an empty stream), so that a writer killed mid-line is seen.
func eachLine(r io.Reader, fn func(line []byte)) (whole bool, err error) {
	br := bufio.NewReaderSize(r, 64<<10)
	var long []byte
	whole = true
	for {
		chunk, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			long = append(long, chunk...)
			continue
		}
		line := chunk
		if long != nil {
			line = append(long, chunk...)
			long = nil
		}
		if len(line) > 0 {
			whole = line[len(line)-1] == '\n'
			line = bytes.TrimSuffix(line, []byte("\n"))
			fn(bytes.TrimSuffix(line, []byte("\r")))
		}
		if err == io.EOF {
			return whole, nil
		}
		if err != nil {
			return whole, err
		}
	}
}
