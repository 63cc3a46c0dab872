package validate

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/containerd/errdefs"

	"swemill/envbuild/sandbox"
	"swemill/pipeline"
	"swemill/testlog"
)

// stagingDir is where a run's patches are copied in its container, before it starts; the
// sandbox user owns it. (/tmp is a tmpfs mounted at start, so it cannot be used.)
const stagingDir = "/var/tmp/swemill"

// Exit codes of runScript itself; any other is the test command's.
const (
	exitNoWorkDir   = 96
	exitApplyFailed = 97
)

// resultsDir is where a run's result streams are written (testlog.Streams): the test
// command's whole output, and the pytest plugin's records.
const resultsDir = stagingDir + "/results"

// pluginDir holds the pytest plugin (testlog.PytestPlugin) during a run.
const pluginDir = stagingDir + "/py"

// runScript is what a run's container executes: bash -c runScript swemill WORKDIR TESTCMD
// STEP... . In the work directory it takes the steps in order, then runs the test command
// with its standard error merged into its standard output, both written to the file
// $SWEMILL_RESULTS/output (read whole after the run: labels never come from a capped
// stream), and exits with the command's code. The script's own messages, the patch tools'
// output among them, go to standard error, each line starting "swemill: ". Steps:
//
//	apply NAME FILE  apply the patch FILE: `git apply`; failing that, `git apply` with less
//	                 context and whitespace ignored; failing that `patch --fuzz=3`, checked
//	                 with --dry-run first. Each attempt changes nothing unless it succeeds. A
//	                 patch none applies stops the run: "swemill: apply NAME: FAILED", exit 97.
//	reset FILE       restore each NUL-terminated path listed in FILE to HEAD, removing those
//	                 that HEAD does not have (a test file a model patch created).
//	pytest DIR       load the pytest plugin found in DIR: it writes $SWEMILL_RESULTS/pytest.jsonl.
//	hashseed N       set PYTHONHASHSEED to N.
//	shuffle N        add -shuffle=N to GOFLAGS: go test runs the tests of each package in the
//	                 order seed N gives (and prints "-test.shuffle N").
//	surefire         remove the Surefire reports the tree holds; after the test command,
//	                 collect those it wrote and its output into $SWEMILL_RESULTS/surefire.tar.
const runScript = `set -u
work=$1 cmd=$2
shift 2
say() { printf 'swemill: %s\n' "$*" >&2; }
mkdir -p "$SWEMILL_RESULTS" || { say "cannot create $SWEMILL_RESULTS"; exit 96; }
cd "$work" || { say "cannot enter the work directory $work"; exit 96; }
apply() {
	name=$1 f=$2
	if [ ! -s "$f" ]; then say "apply $name: empty, nothing to do"; return 0; fi
	if out=$(git apply --verbose "$f" 2>&1); then
		printf '%s\n' "$out" | sed 's/^/swemill:   /' >&2
		say "apply $name: ok (git apply)"; return 0
	fi
	printf '%s\n' "$out" | sed 's/^/swemill:   /' >&2
	if out=$(git apply --verbose --recount --ignore-whitespace -C1 "$f" 2>&1); then
		printf '%s\n' "$out" | sed 's/^/swemill:   /' >&2
		say "apply $name: ok (git apply -C1 --ignore-whitespace)"; return 0
	fi
	printf '%s\n' "$out" | sed 's/^/swemill:   /' >&2
	if command -v patch >/dev/null 2>&1 && patch --dry-run --batch --forward --fuzz=3 -p1 -i "$f" >/dev/null 2>&1; then
		if out=$(patch --batch --forward --fuzz=3 -p1 --no-backup-if-mismatch -i "$f" 2>&1); then
			printf '%s\n' "$out" | sed 's/^/swemill:   /' >&2
			say "apply $name: ok (patch --fuzz=3)"; return 0
		fi
		printf '%s\n' "$out" | sed 's/^/swemill:   /' >&2
	fi
	say "apply $name: FAILED"
	exit 97
}
reset() {
	while IFS= read -r -d '' p; do
		if git cat-file -e "HEAD:$p" 2>/dev/null; then
			git checkout -q HEAD -- "$p" && say "reset $p"
		elif [ -e "$p" ]; then
			rm -rf -- "$p" && say "removed $p"
		fi
	done < "$1"
}
while [ $# -gt 0 ]; do
	case $1 in
	apply) apply "$2" "$3"; shift 3 ;;
	reset) reset "$2"; shift 2 ;;
	pytest)
		export PYTHONPATH="${PYTHONPATH:+$PYTHONPATH:}$2"
		export PYTEST_PLUGINS="${PYTEST_PLUGINS:+$PYTEST_PLUGINS,}` + testlog.PytestPluginModule + `"
		export SWEMILL_PYTEST_RESULTS="$SWEMILL_RESULTS/` + testlog.StreamPytest + `"
		shift 2 ;;
	hashseed) export PYTHONHASHSEED="$2"; say "PYTHONHASHSEED=$2"; shift 2 ;;
	shuffle) export GOFLAGS="${GOFLAGS:+$GOFLAGS }-shuffle=$2"; say "go test -shuffle=$2"; shift 2 ;;
	surefire) surefire=1; ` + testlog.SurefireClean + `; shift ;;
	*) say "unknown step $1"; exit 96 ;;
	esac
done
say "running: $cmd"
bash -c "$cmd" > "$SWEMILL_RESULTS/` + testlog.StreamOutput + `" 2>&1 </dev/null
rc=$?
if [ -n "${surefire:-}" ]; then ` + testlog.SurefireCollect + ` || say "collecting the Surefire reports failed"; fi
say "test command exited with code $rc"
oom=$(sed -n 's/^oom_kill //p' /sys/fs/cgroup/memory.events /sys/fs/cgroup/memory/memory.oom_control 2>/dev/null | head -n 1)
if [ -n "$oom" ]; then say "oom_kill $oom"; fi
exit $rc
`

// oomKillRe finds the run's count of out-of-memory kills in its cgroup, as runScript reports
// it (cgroup v2 memory.events, v1 memory.oom_control): the kernel's own account, which holds
// when an engine misses the event.
var oomKillRe = regexp.MustCompile(`(?m)^swemill: oom_kill ([0-9]+)$`)

// applyFailedRe finds the patch that did not apply in the script's messages.
var applyFailedRe = regexp.MustCompile(`(?m)^swemill: apply (\S+): FAILED$`)

// patchFile is one patch a run applies, in order.
type patchFile struct {
	name string // "test_patch", "patch", "model_patch"
	text string
}

// runSpec says what one container run does.
type runSpec struct {
	image, workDir string
	command        string // the test command with its arguments
	parser         string
	patches        []patchFile
	reset          []string // paths restored to HEAD after the patches before the last one
	env            []string
	timeout        time.Duration
	labels         map[string]string
	// resultsLimit caps each result stream (0: no cap); a longer one is incomplete.
	resultsLimit int64
	// seed, when not 0, is the run's PYTHONHASHSEED (if hashSeed) and, for go test with
	// shuffle, its -shuffle seed.
	seed              uint32
	hashSeed, shuffle bool
}

// runResult is what one run did.
type runResult struct {
	res sandbox.Result
	// log is the run's record for people: the script's messages, then the head and tail of
	// the test output (capped by the sandbox's OutputLimit).
	log []byte
	// applyFailed names the patch that did not apply; the tests did not run.
	applyFailed string
	// parsed is read from the run's result streams, whole.
	parsed testlog.Result
	// stream names the result stream parsed came from ("" when the run left none).
	stream string
	// checkErr is the parse's disagreement with the exit code (testlog.Result.Check).
	checkErr error
	// oomKills is the run's cgroup count of out-of-memory kills (0 when it could not be read).
	oomKills int
}

// oomKilled says the kernel killed a process of the run for memory: the engine says so, or
// the run's cgroup counted an OOM kill.
func (r runResult) oomKilled() bool {
	return r.res.OOMKilled || r.oomKills > 0
}

// suiteOOM says the run was killed for memory as a whole: the kernel's kill took the test
// command down (exit 137) or left output that cannot be trusted. A test's subprocess killed
// for memory while the suite went on and reported is a test failure.
func (r runResult) suiteOOM() bool {
	return r.oomKilled() && (r.res.ExitCode == 137 || r.checkErr != nil)
}

// suiteKilled says the test command died of a SIGKILL that neither the run's timeout nor the
// OOM killer sent: something outside the run killed it.
func (r runResult) suiteKilled() bool {
	return r.res.ExitCode == 137 && !r.res.TimedOut && !r.oomKilled()
}

// problem returns the drop reason of a run whose results cannot be used, or "".
func (r runResult) problem() (reason, detail string) {
	var incomplete *testlog.IncompleteError
	switch {
	case r.applyFailed != "":
		return r.applyFailed + "_does_not_apply", tail(r.res.Stderr, 2000)
	case r.res.TimedOut:
		return "suite_timeout", "the tests ran out of time"
	case r.res.DiskLimited:
		return ReasonDiskLimit, fmt.Sprintf("the run wrote %s to its container, past the sandbox's disk limit, and was killed", sandbox.FormatBytes(r.res.DiskUsed))
	case r.suiteOOM():
		return "suite_oom", fmt.Sprintf("the tests were killed for memory (exit code %d)", r.res.ExitCode)
	case r.suiteKilled():
		return ReasonKilled, "the tests were killed (SIGKILL, exit code 137) from outside the run: not by its timeout, and neither the engine nor the cgroup recorded an out-of-memory kill"
	case errors.As(r.checkErr, &incomplete):
		return ReasonIncomplete, fmt.Sprintf("exit code %d; %s", r.res.ExitCode, incomplete.Evidence)
	case errors.Is(r.checkErr, testlog.ErrUnparsed):
		return "unparseable_log", fmt.Sprintf("exit code %d, and the output holds no test result: %s", r.res.ExitCode, tail(r.log, 1500))
	case r.checkErr != nil:
		return "log_exit_mismatch", r.checkErr.Error()
	}
	return "", ""
}

// ReasonIncomplete is the drop reason (and grading problem) of a run whose results are not
// complete: a result stream over its limit or cut mid-line, a test binary that died with
// tests running, a session that never finished. Such a run is never graded.
const ReasonIncomplete = "results_incomplete"

// ReasonKilled is the drop reason (and grading problem) of a run whose test command was
// killed from outside: a SIGKILL neither its timeout nor the OOM killer sent.
const ReasonKilled = "suite_killed"

// ReasonDiskLimit is the drop reason (and grading problem) of a run the sandbox's disk
// watchdog killed (sandbox.Config.DiskLimit).
const ReasonDiskLimit = "suite_disk_limit"

// ReasonNoTestsRan drops an instance none of whose runs reported a single test result.
const ReasonNoTestsRan = "no_tests_ran"

// run runs spec in a fresh sandboxed container, then reads its result streams out of it.
// Errors are the engine's (or ctx's); what the tests did is in the result.
func run(ctx context.Context, sb *sandbox.Sandbox, spec runSpec) (out runResult, err error) {
	files := map[string][]byte{}
	args := []string{"/bin/bash", "-c", runScript, "swemill", spec.workDir, spec.command}
	for i, p := range spec.patches {
		if i == len(spec.patches)-1 && len(spec.reset) > 0 {
			var list bytes.Buffer
			for _, r := range spec.reset {
				list.WriteString(r)
				list.WriteByte(0)
			}
			files["reset.list"] = list.Bytes()
			args = append(args, "reset", stagingDir+"/reset.list")
		}
		name := fmt.Sprintf("%d-%s.diff", i, p.name)
		files[name] = []byte(p.text)
		args = append(args, "apply", p.name, stagingDir+"/"+name)
	}
	if slices.Contains(testlog.Streams(spec.parser), testlog.StreamPytest) {
		files["py/"+testlog.PytestPluginModule+".py"] = testlog.PytestPlugin
		args = append(args, "pytest", pluginDir)
	}
	if slices.Contains(testlog.Streams(spec.parser), testlog.StreamSurefire) {
		args = append(args, "surefire")
	}
	if spec.seed != 0 {
		n := strconv.FormatUint(uint64(spec.seed), 10)
		if spec.hashSeed {
			args = append(args, "hashseed", n)
		}
		if spec.shuffle && spec.parser == testlog.GoTest {
			args = append(args, "shuffle", n)
		}
	}
	staged := map[string][]byte{}
	for name, data := range files {
		staged["swemill/"+name] = data
	}
	c, err := sb.Create(ctx, sandbox.Spec{
		Image: spec.image, Cmd: args, Env: append([]string{"SWEMILL_RESULTS=" + resultsDir}, spec.env...),
		WorkDir: spec.workDir, Timeout: spec.timeout, Labels: spec.labels,
	})
	if err != nil {
		return out, err
	}
	defer func() {
		if rerr := c.Remove(ctx); rerr != nil && err == nil {
			err = rerr
		}
	}()
	if err := c.CopyIn(ctx, "/var/tmp", staged); err != nil {
		return out, err
	}
	res, err := c.Run(ctx)
	if err != nil {
		return out, err
	}
	out.res = res
	if m := applyFailedRe.FindSubmatch(res.Stderr); m != nil && res.ExitCode == exitApplyFailed {
		out.applyFailed = string(m[1])
	}
	human := sandbox.NewHeadTail(sb.OutputLimit())
	if out.applyFailed == "" {
		if err := readResults(ctx, c, spec, &out, human); err != nil {
			return out, err
		}
	}
	var log bytes.Buffer
	log.Write(res.Stderr)
	log.Write(res.Stdout)
	if res.TimedOut {
		fmt.Fprintf(&log, "swemill: the run timed out after %s and was killed\n", spec.timeout)
	}
	if res.DiskLimited {
		fmt.Fprintf(&log, "swemill: the run wrote %s to its container, past the disk limit, and was killed\n", sandbox.FormatBytes(res.DiskUsed))
	}
	if m := oomKillRe.FindSubmatch(res.Stderr); m != nil {
		out.oomKills, _ = strconv.Atoi(string(m[1]))
	}
	if out.oomKilled() {
		log.WriteString("swemill: the kernel killed a process of the run for memory\n")
	} else if out.suiteKilled() {
		log.WriteString("swemill: the test command was killed (SIGKILL) from outside the run\n")
	}
	testOut, cut := human.Bytes()
	if cut {
		fmt.Fprintf(&log, "swemill: the test output (%d bytes) is shown cut to its head and tail; results were read from the whole %s stream\n", human.Total(), out.stream)
	}
	if out.parsed.Incomplete != "" {
		fmt.Fprintf(&log, "swemill: incomplete results: %s\n", out.parsed.Incomplete)
	}
	log.WriteString("swemill: ----- test output -----\n")
	log.Write(testOut)
	out.log = log.Bytes()
	if out.applyFailed == "" {
		out.checkErr = out.parsed.Check(res.ExitCode)
	}
	return out, nil
}

// readResults reads the run's result streams out of its container: the first one the
// parser reads that the run left (testlog.Streams) gives out.parsed, whole and up to
// spec.resultsLimit; the test output also goes to human, capped. A run that left no stream
// has an unparsed result.
func readResults(ctx context.Context, c *sandbox.Container, spec runSpec, out *runResult, human io.Writer) error {
	parseFrom := func(name string, r io.Reader) error {
		res, err := testlog.ReadStream(spec.parser, name, r, spec.resultsLimit)
		if err != nil {
			return fmt.Errorf("reading the %s result stream: %w", name, err)
		}
		out.parsed, out.stream = res, name
		return nil
	}
	for _, name := range testlog.Streams(spec.parser) {
		if name == testlog.StreamOutput {
			break // read below, with the human log
		}
		err := c.ReadFiles(ctx, resultsDir+"/"+name, func(_ string, _ int64, r io.Reader) error {
			return parseFrom(name, r)
		})
		if errdefs.IsNotFound(err) {
			continue
		}
		if err != nil {
			return err
		}
		break
	}
	err := c.ReadFiles(ctx, resultsDir+"/"+testlog.StreamOutput, func(_ string, _ int64, r io.Reader) error {
		tee := io.TeeReader(r, human)
		if out.stream == "" {
			if err := parseFrom(testlog.StreamOutput, tee); err != nil {
				return err
			}
		}
		// What the parse left (all of it, or what lies past the limit) is for people.
		_, err := io.Copy(io.Discard, tee)
		return err
	})
	if errdefs.IsNotFound(err) {
		return nil
	}
	return err
}

// tail returns about the last n bytes of b as text.
func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return strings.TrimSpace(string(bytes.ToValidUTF8(b, []byte("?"))))
}

// resultStatuses returns a copy of a parse's statuses, never nil.
func resultStatuses(r testlog.Result) map[string]pipeline.TestStatus {
	out := make(map[string]pipeline.TestStatus, len(r.Tests))
	for k, v := range r.Tests {
		out[k] = v
	}
	return out
}
