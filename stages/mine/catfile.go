package mine

import (
	"bufio"
	"bytes"
	"container/heap"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"swemill/gitexec"
)

// catFile reads commits through one `git cat-file --batch` process, so a Mine call spends one
// process on the commits of all its pull requests instead of several per pull request. It is
// not safe for concurrent use; Close ends the process.
type catFile struct {
	cmd   *exec.Cmd
	in    io.WriteCloser
	out   *bufio.Reader
	cache map[string]*commitObj
}

// commitObj is a parsed commit.
type commitObj struct {
	sha       string
	parents   []string
	author    time.Time
	committer time.Time
	message   string
}

var errMissing = errors.New("object missing")

func startCatFile(ctx context.Context, gitDir string) (*catFile, error) {
	cmd := gitexec.Command(ctx, gitDir, "cat-file", "--batch")
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting git cat-file in %s: %w", gitDir, err)
	}
	return &catFile{cmd: cmd, in: in, out: bufio.NewReaderSize(out, 1<<16), cache: map[string]*commitObj{}}, nil
}

// Close ends the process and waits for it.
func (c *catFile) Close() error {
	if c == nil || c.cmd == nil {
		return nil
	}
	c.in.Close()
	err := c.cmd.Wait()
	c.cmd = nil
	return err
}

// commit reads a commit; errMissing when the repository does not have it.
func (c *catFile) commit(sha string) (*commitObj, error) {
	if o, ok := c.cache[sha]; ok {
		return o, nil
	}
	if strings.ContainsAny(sha, " \t\n") || sha == "" {
		return nil, errMissing
	}
	if _, err := io.WriteString(c.in, sha+"\n"); err != nil {
		return nil, fmt.Errorf("reading commit %s: %w", sha, err)
	}
	header, err := c.out.ReadString('\n')
	if err != nil {
		return nil, fmt.Errorf("reading commit %s: %w", sha, err)
	}
	f := strings.Fields(header)
	if len(f) == 2 && f[1] == "missing" {
		return nil, errMissing
	}
	if len(f) != 3 {
		return nil, fmt.Errorf("reading commit %s: unexpected header %q", sha, header)
	}
	size, err := strconv.Atoi(f[2])
	if err != nil {
		return nil, fmt.Errorf("reading commit %s: %w", sha, err)
	}
	body := make([]byte, size+1) // the object and a newline
	if _, err := io.ReadFull(c.out, body); err != nil {
		return nil, fmt.Errorf("reading commit %s: %w", sha, err)
	}
	if f[1] != "commit" {
		return nil, errMissing
	}
	o := parseCommit(f[0], body[:size])
	c.cache[sha] = o
	c.cache[o.sha] = o
	return o, nil
}

func parseCommit(sha string, b []byte) *commitObj {
	o := &commitObj{sha: sha}
	head, msg, _ := bytes.Cut(b, []byte("\n\n"))
	o.message = string(msg)
	for _, line := range strings.Split(string(head), "\n") {
		k, v, _ := strings.Cut(line, " ")
		switch k {
		case "parent":
			o.parents = append(o.parents, v)
		case "author":
			o.author = signatureTime(v)
		case "committer":
			o.committer = signatureTime(v)
		}
	}
	return o
}

// signatureTime reads the time of "Name <mail> 1700000000 +0100".
func signatureTime(sig string) time.Time {
	i := strings.LastIndexByte(sig, '>')
	if i < 0 {
		return time.Time{}
	}
	f := strings.Fields(sig[i+1:])
	if len(f) < 1 {
		return time.Time{}
	}
	s, err := strconv.ParseInt(f[0], 10, 64)
	if err != nil {
		return time.Time{}
	}
	return time.Unix(s, 0).UTC()
}

// has reports whether the repository has the commit.
func (c *catFile) has(sha string) (bool, error) {
	_, err := c.commit(sha)
	if errors.Is(err, errMissing) {
		return false, nil
	}
	return err == nil, err
}

// between returns the commits reachable from head but not from base, oldest first (what
// `git log --reverse base..head` lists, in committer-date order). It walks both histories
// newest first, as git does, and stops once every commit still queued is reachable from base.
func (c *catFile) between(base, head string) ([]*commitObj, error) {
	const (
		fromHead = 1
		fromBase = 2
	)
	flags := map[string]int{}
	q := &commitQueue{}
	push := func(sha string, flag int) error {
		old := flags[sha]
		if old&flag == flag {
			return nil
		}
		o, err := c.commit(sha)
		if err != nil {
			return err
		}
		flags[sha] = old | flag
		heap.Push(q, queued{o: o, flag: flags[sha]})
		return nil
	}
	if err := push(head, fromHead); err != nil {
		return nil, err
	}
	if err := push(base, fromBase); err != nil {
		return nil, err
	}
	var out []*commitObj
	for q.Len() > 0 {
		// Stop when nothing queued can still be only from head.
		onlyBase := true
		for _, it := range *q {
			if flags[it.o.sha]&fromBase == 0 {
				onlyBase = false
				break
			}
		}
		if onlyBase {
			break
		}
		it := heap.Pop(q).(queued)
		f := flags[it.o.sha]
		if f != it.flag {
			continue // a stale entry: the commit was pushed again with more flags
		}
		if f == fromHead {
			out = append(out, it.o)
		}
		for _, p := range it.o.parents {
			if err := push(p, f); err != nil {
				if errors.Is(err, errMissing) {
					continue // a shallow or partial history
				}
				return nil, err
			}
		}
	}
	// A commit first seen from head may later turn out to be reachable from base.
	keep := out[:0]
	for _, o := range out {
		if flags[o.sha]&fromBase == 0 {
			keep = append(keep, o)
		}
	}
	for i, j := 0, len(keep)-1; i < j; i, j = i+1, j-1 {
		keep[i], keep[j] = keep[j], keep[i]
	}
	return keep, nil
}

type queued struct {
	o    *commitObj
	flag int
}

// commitQueue orders commits newest (committer date) first.
type commitQueue []queued

func (q commitQueue) Len() int { return len(q) }
func (q commitQueue) Less(i, j int) bool {
	if !q[i].o.committer.Equal(q[j].o.committer) {
		return q[i].o.committer.After(q[j].o.committer)
	}
	return q[i].o.sha < q[j].o.sha
}
func (q commitQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *commitQueue) Push(x any)   { *q = append(*q, x.(queued)) }
func (q *commitQueue) Pop() any {
	old := *q
	it := old[len(old)-1]
	*q = old[:len(old)-1]
	return it
}
