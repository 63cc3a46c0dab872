package validate

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

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

// runScript is what a run's container executes: bash -c runScript swemill WORKDIR TESTCMD
// STEP... . In the work directory it takes the steps in order, then runs the test command
// with its standard error merged into standard output, and exits with the command's code.
// The script's own messages, the patch tools' output among them, go to standard error, each
// line starting "swemill: ", so the test output on standard output is only the test
// command's. Steps:
//
//	apply NAME FILE  apply the patch FILE: `git apply`; failing that, `git apply` with less
//	                 context and whitespace ignored; failing that `patch --fuzz=3`, checked
//	                 with --dry-run first. Each attempt changes nothing unless it succeeds. A
//	                 patch none applies stops the run: "swemill: apply NAME: FAILED", exit 97.
//	reset FILE       restore each NUL-terminated path listed in FILE to HEAD, removing those
//	                 that HEAD does not have (a test file a model patch created).
const runScript = `set -u
work=$1 cmd=$2
shift 2
say() { printf 'swemill: %s\n' "$*" >&2; }
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
	*) say "unknown step $1"; exit 96 ;;
	esac
done
say "running: $cmd"
bash -c "$cmd" 2>&1
rc=$?
say "test command exited with code $rc"
exit $rc
`

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
}

// runResult is what one run did.
type runResult struct {
	res sandbox.Result
	// log is the run's record: the script's messages, then the test output.
	log []byte
	// applyFailed names the patch that did not apply; the tests did not run.
	applyFailed string
	parsed      testlog.Result
	// checkErr is the parse's disagreement with the exit code (testlog.Result.Check).
	checkErr error
}

// suiteOOM says the run was killed for memory as a whole: the kernel's kill took the test
// command down (exit 137) or left output that cannot be trusted. A test's subprocess killed
// for memory while the suite went on and reported is a test failure.
func (r runResult) suiteOOM() bool {
	return r.res.OOMKilled && (r.res.ExitCode == 137 || r.checkErr != nil)
}

// problem returns the drop reason of a run whose results cannot be used, or "".
func (r runResult) problem() (reason, detail string) {
	switch {
	case r.applyFailed != "":
		return r.applyFailed + "_does_not_apply", tail(r.res.Stderr, 2000)
	case r.res.TimedOut:
		return "suite_timeout", "the tests ran out of time"
	case r.suiteOOM():
		return "suite_oom", fmt.Sprintf("the tests were killed for memory (exit code %d)", r.res.ExitCode)
	case errors.Is(r.checkErr, testlog.ErrUnparsed):
		return "unparseable_log", fmt.Sprintf("exit code %d, and the output holds no test result: %s", r.res.ExitCode, tail(r.res.Stdout, 1500))
	case r.checkErr != nil:
		return "log_exit_mismatch", r.checkErr.Error()
	}
	return "", ""
}

// run runs spec in a fresh sandboxed container. Errors are the engine's (or ctx's); what
// the tests did is in the result.
func run(ctx context.Context, sb *sandbox.Sandbox, spec runSpec) (runResult, error) {
	var out runResult
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
	staged := map[string][]byte{}
	for name, data := range files {
		staged["swemill/"+name] = data
	}
	res, err := sb.Run(ctx, sandbox.Spec{
		Image: spec.image, Cmd: args, Env: spec.env, WorkDir: spec.workDir, Timeout: spec.timeout, Labels: spec.labels,
	}, "/var/tmp", staged)
	if err != nil {
		return out, err
	}
	out.res = res
	var log bytes.Buffer
	log.Write(res.Stderr)
	if res.TimedOut {
		fmt.Fprintf(&log, "swemill: the run timed out after %s and was killed\n", spec.timeout)
	}
	if res.OOMKilled {
		log.WriteString("swemill: the kernel killed a process of the run for memory\n")
	}
	if res.StdoutTruncated {
		log.WriteString("swemill: the test output was cut to its head and tail\n")
	}
	log.WriteString("swemill: ----- test output -----\n")
	log.Write(res.Stdout)
	out.log = log.Bytes()
	if m := applyFailedRe.FindSubmatch(res.Stderr); m != nil && res.ExitCode == exitApplyFailed {
		out.applyFailed = string(m[1])
		return out, nil
	}
	out.parsed, _ = testlog.Parse(spec.parser, res.Stdout)
	out.checkErr = out.parsed.Check(res.ExitCode)
	return out, nil
}

// shellQuote quotes s for a POSIX shell.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-./=:,+@%") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// testCommand is the recipe's test command restricted to args (shell-quoted).
func testCommand(base string, args []string) string {
	var b strings.Builder
	b.WriteString(strings.TrimSpace(base))
	for _, a := range args {
		b.WriteByte(' ')
		b.WriteString(shellQuote(a))
	}
	return b.String()
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
