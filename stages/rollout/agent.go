package rollout

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"swemill/codeact"
	"swemill/pipeline"
)

// Exit statuses: why a rollout ended.
const (
	ExitFinish        = "finish"
	ExitMaxIterations = "max_iterations"
	ExitContextLimit  = "context_limit"
	ExitFormatError   = "format_error"
	ExitRuntimeError  = "runtime_error"
	ExitTimeout       = "timeout"
)

// Protocols.
const (
	ProtocolText   = "text"
	ProtocolNative = "native"
)

// errRolloutTimeout is the cause of a rollout's context when its wall clock runs out.
var errRolloutTimeout = errors.New("rollout wall clock exceeded")

// agent runs one conversation: model turns and tool calls until an exit status.
type agent struct {
	model    Model
	ws       Workspace
	ed       *editor
	leaks    *leakWatch
	log      zerolog.Logger
	protocol string
	prompts  *prompts
	tools    []codeact.Tool
	toolJSON json.RawMessage
	sampling Sampling
	workDir  string
	limits   agentLimits

	msgs             []pipeline.Message
	steps            []pipeline.Step
	promptTokens     int64
	completionTokens int64
	lastTotal        int64 // prompt + completion tokens of the last call
	pendingChars     int   // characters added to the conversation since the last call
	calls            int
	turns            int
	note             string // why the rollout ended, when not obvious (a runtime error)
	running          bool   // the last command returned on the no-change timeout and goes on
	nudges           int    // replies answered with the no-call or the empty-reply message
}

type agentLimits struct {
	maxIterations   int
	contextTokens   int
	commandTimeout  time.Duration
	noChangeTimeout time.Duration
	maxObservation  int
	maxFormatErrors int
	example         bool
}

// run drives the conversation. It returns the exit status; errors are infrastructure
// failures (the model server unreachable after its retries, the engine failing).
func (a *agent) run(ctx context.Context, system, task string) (string, error) {
	a.msgs = []pipeline.Message{{Role: "system", Content: system}, {Role: "user", Content: task}}
	formatErrors := 0
	for iter := 0; ; iter++ {
		if iter >= a.limits.maxIterations {
			return ExitMaxIterations, nil
		}
		if a.overBudget() {
			return ExitContextLimit, nil
		}
		req := a.request()
		start := time.Now()
		rep, err := a.model.Complete(ctx, req)
		modelSec := time.Since(start).Seconds()
		if err != nil {
			switch {
			case errors.Is(err, ErrContextLength):
				a.note = err.Error()
				return ExitContextLimit, nil
			case errors.Is(context.Cause(ctx), errRolloutTimeout):
				return ExitTimeout, nil
			}
			return "", err
		}
		step := pipeline.Step{ModelSeconds: modelSec, PromptTokens: rep.PromptTokens, CompletionTokens: rep.CompletionTokens}
		a.promptTokens += rep.PromptTokens
		a.completionTokens += rep.CompletionTokens
		a.lastTotal = rep.PromptTokens + rep.CompletionTokens
		a.pendingChars = 0
		a.turns++

		toolStart := time.Now()
		acted, finished, status, err := a.handle(ctx, rep)
		step.ToolSeconds = time.Since(toolStart).Seconds()
		a.steps = append(a.steps, step)
		switch {
		case err != nil && errors.Is(context.Cause(ctx), errRolloutTimeout):
			return ExitTimeout, nil
		case err != nil:
			return "", err
		case status != "":
			return status, nil
		case finished:
			return ExitFinish, nil
		}
		if acted {
			formatErrors = 0
		} else if formatErrors++; formatErrors >= a.limits.maxFormatErrors {
			return ExitFormatError, nil
		}
	}
}

// overBudget says the next request would not fit the context: the last call's tokens (the
// server's count) plus what was added since, estimated at one token per 3 characters.
func (a *agent) overBudget() bool {
	if a.lastTotal == 0 {
		return false
	}
	return a.lastTotal+int64(a.pendingChars/3) >= int64(a.limits.contextTokens)
}

func (a *agent) request() *Request {
	r := &Request{Sampling: a.sampling}
	if a.protocol == ProtocolText {
		o := codeact.RenderOptions{FormatRules: a.prompts.formats}
		if a.limits.example {
			// The first user message is the instruction the example was executed with.
			o.WrapTask = func(string) string { return a.prompts.example }
		}
		r.Messages = codeact.RenderText(a.msgs, a.tools, o)
		r.Stop = []string{codeact.Stop}
	} else {
		r.Messages = a.msgs
		r.Tools = a.toolJSON
	}
	return r
}

func (a *agent) add(m pipeline.Message) {
	a.msgs = append(a.msgs, m)
	a.pendingChars += len(m.Content)
	for _, c := range m.ToolCalls {
		a.pendingChars += len(c.Function.Arguments)
	}
}

func (a *agent) nextCallID() string {
	a.calls++
	return "call_" + strconv.Itoa(a.calls)
}

// handle records the reply, runs its calls and answers it. acted is false when the reply
// needed correcting (empty, malformed, unknown tool: a format error) — a reply that only
// talks is answered but is not a format error. status, when set, ends the rollout.
func (a *agent) handle(ctx context.Context, rep *Reply) (acted, finished bool, status string, err error) {
	if a.protocol == ProtocolText {
		return a.handleText(ctx, rep)
	}
	return a.handleNative(ctx, rep)
}

func (a *agent) handleText(ctx context.Context, rep *Reply) (bool, bool, string, error) {
	thought, call, perr := codeact.ParseText(rep.Content, a.tools)
	switch {
	case perr == nil:
		tc := pipeline.ToolCall{ID: a.nextCallID(), Type: "function", Function: call}
		a.add(pipeline.Message{Role: "assistant", Content: thought, ToolCalls: []pipeline.ToolCall{tc}})
		fin, status, err := a.execute(ctx, tc)
		return true, fin, status, err
	case errors.Is(perr, codeact.ErrNoCall) && strings.TrimSpace(rep.Content) == "":
		a.add(pipeline.Message{Role: "assistant", Content: rep.Content})
		a.add(pipeline.Message{Role: "user", Content: a.emptyReply()})
		return false, false, "", nil
	case errors.Is(perr, codeact.ErrNoCall):
		a.add(pipeline.Message{Role: "assistant", Content: rep.Content})
		a.add(pipeline.Message{Role: "user", Content: a.noCall()})
		return true, false, "", nil
	default:
		return false, false, "", a.malformed(perr)
	}
}

// errorSuffix ends the observation of an action that failed (OpenHands' ErrorObservation).
const errorSuffix = "\n[Error occurred in processing last action]"

// malformed answers a reply whose calls cannot be run as OpenHands 0.32 does: the reply is
// left out of the history and a user message says why (the format-error message and the
// error suffix), marked FormatError so that SFT exports leave it out too.
func (a *agent) malformed(cause error) error {
	msg, err := a.prompts.formatError(cause.Error())
	if err != nil {
		return err
	}
	a.add(pipeline.Message{Role: "user", Content: msg + errorSuffix, FormatError: true})
	return nil
}

// noCall is the answer to a reply that calls no function: the no-call message, with the
// give-up hint once an earlier reply was answered too.
func (a *agent) noCall() string {
	msg := a.prompts.noCall
	if a.nudges > 0 {
		msg += a.prompts.giveUp
	}
	a.nudges++
	return msg
}

// emptyReply is the answer to an empty reply.
func (a *agent) emptyReply() string {
	a.nudges++
	return a.prompts.emptyReply
}

func (a *agent) handleNative(ctx context.Context, rep *Reply) (bool, bool, string, error) {
	if len(rep.ToolCalls) == 0 {
		a.add(pipeline.Message{Role: "assistant", Content: rep.Content})
		if strings.TrimSpace(rep.Content) == "" {
			a.add(pipeline.Message{Role: "user", Content: a.emptyReply()})
			return false, false, "", nil
		}
		a.add(pipeline.Message{Role: "user", Content: a.noCall()})
		return true, false, "", nil
	}
	calls := make([]pipeline.ToolCall, len(rep.ToolCalls))
	for i, tc := range rep.ToolCalls {
		if tc.ID == "" {
			tc.ID = a.nextCallID()
		}
		tc.Type = "function"
		norm, err := codeact.NormalizeArgs(a.tools, tc.Function.Name, tc.Function.Arguments)
		if err != nil {
			// One call that cannot be run spoils the reply: none of its calls runs.
			return false, false, "", a.malformed(err)
		}
		tc.Function.Arguments = norm
		calls[i] = tc
	}
	a.add(pipeline.Message{Role: "assistant", Content: rep.Content, ToolCalls: calls})
	for _, tc := range calls {
		fin, status, err := a.execute(ctx, tc)
		if err != nil || status != "" || fin {
			return true, fin, status, err
		}
	}
	return true, false, "", nil
}

// execute runs one valid call and adds its result. finish ends the rollout (with no result
// message).
func (a *agent) execute(ctx context.Context, tc pipeline.ToolCall) (finished bool, status string, err error) {
	name := tc.Function.Name
	var obs string
	switch name {
	case codeact.Finish:
		return true, "", nil
	case codeact.Think:
		obs = "Your thought has been logged."
	case codeact.Bash:
		var args struct {
			Command string `json:"command"`
			IsInput string `json:"is_input"`
		}
		_ = json.Unmarshal([]byte(tc.Function.Arguments), &args)
		obs, status, err = a.bash(ctx, strings.TrimSpace(args.Command), args.IsInput == "true")
	case codeact.Editor:
		var args editorArgs
		_ = json.Unmarshal([]byte(tc.Function.Arguments), &args)
		a.leaks.path(args.Path)
		obs, err = a.ed.run(ctx, args)
		var fail *toolFailure
		switch {
		case errors.As(err, &fail):
			obs, err = "ERROR:\n"+fail.msg, nil
		case errors.Is(err, ErrWorkspaceGone):
			a.note = err.Error()
			return false, ExitRuntimeError, nil
		}
	}
	if err != nil {
		return false, "", fmt.Errorf("running %s: %w", name, err)
	}
	a.add(pipeline.Message{Role: "tool", ToolCallID: tc.ID, Name: name, Content: truncateMiddle(obs, a.limits.maxObservation)})
	return false, status, nil
}

// bash runs a command in the agent's shell and renders the observation in OpenHands 0.32's
// forms: the output stripped of surrounding whitespace, a line saying how the command ended
// and, once it ended, the working directory, the Python interpreter and the exit code. A
// command that prints nothing new for the no-change timeout, or runs past the hard timeout,
// returns while it goes on running; then an empty command waits for more of its output,
// is_input sends text to its standard input (C-d ends its input; C-c and C-z interrupt it:
// the shell has no job control), and another command is not run. Several commands in one
// call are refused. The sentences that are not OpenHands' status lines come from the
// prompt templates.
func (a *agent) bash(ctx context.Context, command string, isInput bool) (string, string, error) {
	if !a.running && (command == "" || isInput) {
		return a.prompts.observation(PromptBashIdle, PromptData{Input: isInput})
	}
	if cmds := splitCommands(command); len(cmds) > 1 {
		obs, _, err := a.prompts.observation(PromptBashMultiple, PromptData{Commands: cmds})
		return obs + errorSuffix, "", err
	}
	req := ShellRequest{Command: command, Timeout: a.limits.commandTimeout, NoChange: a.limits.noChangeTimeout}
	key := ""
	switch {
	case isInput && (command == "C-c" || command == "C-z"):
		req.Command, req.Interrupt, key = "", true, command
	case isInput && command == "C-d":
		req.Command, req.EOF, key = "", true, command
	case isInput:
		req.Input = true
	case command != "":
		a.leaks.command(command)
	}
	continued := a.running
	res, err := a.ws.Shell(ctx, req)
	switch {
	case errors.Is(err, ErrNothingRunning):
		a.running = false
		return a.prompts.observation(PromptBashIdle, PromptData{Input: isInput})
	case errors.Is(err, ErrStillRunning):
		note, _, err := a.prompts.observation(PromptBashNotRun, PromptData{Command: command})
		return continuedPrefix + strings.TrimSpace(res.Output) + "\n" + note, "", err
	case errors.Is(err, ErrWorkspaceGone):
		a.note = err.Error()
		return "", ExitRuntimeError, nil
	case err != nil:
		return "", "", err
	}
	a.running = res.Running
	var b strings.Builder
	if continued && res.Running {
		b.WriteString(continuedPrefix)
	}
	b.WriteString(strings.TrimSpace(res.Output))
	switch {
	case res.TimedOut:
		fmt.Fprintf(&b, "\n[The command timed out after %d seconds. %s]", int(a.limits.commandTimeout.Seconds()), stillRunningHelp)
		return b.String(), "", nil
	case res.Running:
		fmt.Fprintf(&b, "\n[The command has no new output after %d seconds. %s]", int(a.limits.noChangeTimeout.Seconds()), stillRunningHelp)
		return b.String(), "", nil
	case res.Restarted:
		fmt.Fprintf(&b, "\n[The shell exited with code %d; a new shell was started in %s.]", res.ExitCode, a.workDir)
	case key != "":
		fmt.Fprintf(&b, "\n[The command completed with exit code %d. CTRL+%s was sent.]", res.ExitCode, strings.ToUpper(key[2:]))
	default:
		fmt.Fprintf(&b, "\n[The command completed with exit code %d.]", res.ExitCode)
	}
	if res.Cwd != "" {
		b.WriteString("\n[Current working directory: " + res.Cwd + "]")
	}
	if res.PythonPath != "" {
		b.WriteString("\n[Python interpreter: " + res.PythonPath + "]")
	}
	fmt.Fprintf(&b, "\n[Command finished with exit code %d]", res.ExitCode)
	return b.String(), "", nil
}

// continuedPrefix starts the observation of a command that was already running when the
// call came and still runs after it.
const continuedPrefix = "[Below is the output of the previous command.]\n"

// stillRunningHelp ends the lines of a command left running (the no-change and the hard
// timeout).
const stillRunningHelp = "You may wait longer to see additional output by sending empty command '', " +
	"send other commands to interact with the current process, or send keys to interrupt/kill the command."

// truncateMiddle keeps the first and last halves of s when it is longer than n characters
// (bytes, cut on rune boundaries), joined by OpenHands' marker.
func truncateMiddle(s string, n int) string {
	if n <= 0 || len(s) <= n {
		return s
	}
	half := n / 2
	head, tail := half, len(s)-half
	for head > 0 && head < len(s) && !isRuneStart(s[head]) {
		head--
	}
	for tail < len(s) && !isRuneStart(s[tail]) {
		tail++
	}
	return s[:head] + "\n[... Observation truncated due to length ...]\n" + s[tail:]
}

func isRuneStart(b byte) bool { return b&0xC0 != 0x80 }
