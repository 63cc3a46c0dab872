package export

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"swemill/pipeline"
	"swemill/swebench"
	"swemill/testlog"
)

// Size estimates: every string costs its bytes, a 4-byte offset and a byte for validity and
// Parquet levels; every fixed-width value its width plus that byte; every list a 4-byte
// offset plus that byte. A string of a column with statistics counts three times, since a
// page header may copy it as the page's min and max. With rowGroupOverhead this is at least
// the Arrow in-memory size and the Parquet uncompressed size, so row groups cut on it stay
// under the limit.
const (
	strCost  = 5
	listCost = 5
	// leafOverhead bounds what a column chunk adds besides its values: the data and
	// dictionary page headers (statistics aside) and the level-length prefixes.
	leafOverhead = 256
)

// strSize is the estimate of a long-text string (no statistics); keySize of any other.
func strSize(s string) int64 { return int64(len(s)) + strCost }
func keySize(s string) int64 { return 3*int64(len(s)) + strCost }

// rowGroupOverhead is the estimated size of a row group of schema before any value.
func rowGroupOverhead(schema *arrow.Schema) int64 {
	var leaves func(t arrow.DataType) int64
	leaves = func(t arrow.DataType) int64 {
		switch t := t.(type) {
		case *arrow.ListType:
			return leaves(t.Elem())
		case *arrow.StructType:
			var n int64
			for _, f := range t.Fields() {
				n += leaves(f.Type)
			}
			return n
		}
		return 1
	}
	var n int64
	for _, f := range schema.Fields() {
		n += leaves(f.Type)
	}
	return n * leafOverhead
}

// taskRow is one row of the tasks config, in taskColumns order.
type taskRow [23]string

func jsonText(v any) (string, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return "", err
	}
	return strings.TrimSuffix(b.String(), "\n"), nil
}

// jsonList encodes a test list as SWE-bench does: a JSON array, "[]" when empty.
func jsonList(l []string) (string, error) {
	if l == nil {
		l = []string{}
	}
	return jsonText(l)
}

func newTaskRow(t *Task) (taskRow, error) {
	in, env, val := &t.Instance, &t.Environment, &t.Validation
	f2p, err := jsonList(val.FailToPass)
	if err != nil {
		return taskRow{}, fmt.Errorf("encoding FAIL_TO_PASS: %w", err)
	}
	p2p, err := jsonList(val.PassToPass)
	if err != nil {
		return taskRow{}, fmt.Errorf("encoding PASS_TO_PASS: %w", err)
	}
	recipe, err := jsonText(env.Recipe)
	if err != nil {
		return taskRow{}, fmt.Errorf("encoding install_config: %w", err)
	}
	created := ""
	if !in.CreatedAt.IsZero() {
		created = in.CreatedAt.UTC().Format(time.RFC3339)
	}
	setup := in.EnvironmentSetupCommit
	if setup == "" {
		setup = in.BaseCommit
	}
	parser := val.LogParser
	if parser == "" {
		parser = env.Recipe.LogParser
	}
	lang := in.Language
	if lang == "" {
		lang = env.Recipe.Language
	}
	// SWE-bench's harness grades the row only with a parser that yields its ids; where none
	// does, log_parser stays empty and log_parser_note says why.
	sweParser, note := testlog.SWEbenchParser(parser, append(slices.Clone(val.FailToPass), val.PassToPass...), riskyForSWEbench(val))
	script, err := swebench.EvalScript(swebench.Task{
		WorkDir: cmp.Or(env.WorkDir, "/testbed"), BaseCommit: in.BaseCommit, TestPatch: in.TestPatch,
		Parser: parser, TestCmd: env.Recipe.TestCmd, TestFiles: val.TestFiles, Env: env.Recipe.Env,
	})
	if err != nil {
		// Not a reason to leave the task out: its other columns stand; SWE-bench's harness
		// cannot grade it, and the note says why.
		sweParser, note = "", err.Error()
	}
	// A pushed image is named by its digest in the registry: what a user pulls is exactly the
	// image the task was validated in.
	image := cmp.Or(env.ImageRef, env.ImageName)
	return taskRow{
		in.InstanceID, in.Repo, in.BaseCommit, in.Patch, in.TestPatch, in.ProblemStatement,
		in.HintsText, created, in.Version, setup,
		f2p, p2p,
		image, sweParser, swebench.EvalPassAndFail, script,
		image, recipe, env.Recipe.TestCmd, parser, note, lang, in.License,
	}, nil
}

// riskyForSWEbench tells the tests whose summary line parse_log_pytest_v2 may misread: XFAIL
// in a run after the fix, ERROR in a run before it (testlog.SWEbenchParser).
func riskyForSWEbench(v *pipeline.Validation) func(string) bool {
	risky := map[string]bool{}
	for _, r := range v.Runs {
		for id, st := range r.Results {
			if r.Side == "after" && st == pipeline.TestXFail || r.Side == "before" && st == pipeline.TestError {
				risky[id] = true
			}
		}
	}
	return func(id string) bool { return risky[id] }
}

func (r *taskRow) size() int64 {
	var n int64
	for i, s := range r {
		if longColumns[taskColumns[i]] {
			n += strSize(s)
		} else {
			n += keySize(s)
		}
	}
	return n
}

// badUTF8 returns the columns of r that are not valid UTF-8.
func (r *taskRow) badUTF8() []string {
	var bad []string
	for i, s := range r {
		if !utf8.ValidString(s) {
			bad = append(bad, taskColumns[i])
		}
	}
	return bad
}

func (r *taskRow) repair() {
	for i, s := range r {
		r[i] = repairUTF8(s)
	}
}

func repairUTF8(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}

func appendTask(rb *array.RecordBuilder, r *taskRow) {
	for i, s := range r {
		rb.Field(i).(*array.StringBuilder).Append(s)
	}
}

// trajectoryRow is a trajectory with its tools column ready to write.
type trajectoryRow struct {
	t     *pipeline.Trajectory
	tools string // compact JSON; "" writes null
}

func newTrajectoryRow(t *pipeline.Trajectory) (trajectoryRow, error) {
	r := trajectoryRow{t: t}
	raw := bytes.TrimSpace(t.Tools)
	if len(raw) > 0 && !bytes.Equal(raw, []byte("null")) {
		var b bytes.Buffer
		if err := json.Compact(&b, raw); err != nil {
			return r, fmt.Errorf("compacting tools: %w", err)
		}
		r.tools = b.String()
	}
	return r, nil
}

func (r *trajectoryRow) size() int64 {
	t := r.t
	n := int64(4*strCost+8*9+10) + // rollout_index, counts, tokens, floats, seed, created_at, resolved
		keySize(t.TrajectoryID) + keySize(t.InstanceID) + keySize(t.Repo) + keySize(t.Model) +
		keySize(t.Scaffold) + keySize(t.PromptFormat) + strSize(r.tools) + strSize(t.ModelPatch) +
		keySize(t.ExitStatus) + listCost
	for i := range t.Messages {
		n += messageSize(&t.Messages[i])
	}
	return n
}

func messageSize(m *pipeline.Message) int64 {
	n := 1 + keySize(m.Role) + strSize(m.Content) + keySize(m.Name) + keySize(m.ToolCallID) + listCost
	for _, c := range m.ToolCalls {
		n += 2 + keySize(c.ID) + keySize(c.Type) + keySize(c.Function.Name) + strSize(c.Function.Arguments)
	}
	return n
}

// badUTF8 returns the columns of r that are not valid UTF-8 ("messages[3].content").
func (r *trajectoryRow) badUTF8() []string {
	t := r.t
	var bad []string
	for _, c := range []struct{ name, v string }{
		{"trajectory_id", t.TrajectoryID}, {"instance_id", t.InstanceID}, {"repo", t.Repo},
		{"model", t.Model}, {"scaffold", t.Scaffold}, {"prompt_format", t.PromptFormat},
		{"tools", r.tools}, {"model_patch", t.ModelPatch}, {"exit_status", t.ExitStatus},
	} {
		if !utf8.ValidString(c.v) {
			bad = append(bad, c.name)
		}
	}
	for i, m := range t.Messages {
		for _, c := range []struct{ name, v string }{
			{"role", m.Role}, {"content", m.Content}, {"name", m.Name}, {"tool_call_id", m.ToolCallID},
		} {
			if !utf8.ValidString(c.v) {
				bad = append(bad, fmt.Sprintf("messages[%d].%s", i, c.name))
			}
		}
		for j, tc := range m.ToolCalls {
			for _, c := range []struct{ name, v string }{
				{"id", tc.ID}, {"type", tc.Type}, {"function.name", tc.Function.Name}, {"function.arguments", tc.Function.Arguments},
			} {
				if !utf8.ValidString(c.v) {
					bad = append(bad, fmt.Sprintf("messages[%d].tool_calls[%d].%s", i, j, c.name))
				}
			}
		}
	}
	return bad
}

// repair replaces r's trajectory with a copy whose strings are valid UTF-8; the source's
// value is not modified.
func (r *trajectoryRow) repair() {
	t := *r.t
	for _, p := range []*string{&t.TrajectoryID, &t.InstanceID, &t.Repo, &t.Model, &t.Scaffold, &t.PromptFormat, &t.ModelPatch, &t.ExitStatus} {
		*p = repairUTF8(*p)
	}
	r.tools = repairUTF8(r.tools)
	t.Messages = make([]pipeline.Message, len(r.t.Messages))
	for i, m := range r.t.Messages {
		m.Role, m.Content, m.Name, m.ToolCallID = repairUTF8(m.Role), repairUTF8(m.Content), repairUTF8(m.Name), repairUTF8(m.ToolCallID)
		calls := make([]pipeline.ToolCall, len(m.ToolCalls))
		for j, c := range m.ToolCalls {
			c.ID, c.Type = repairUTF8(c.ID), repairUTF8(c.Type)
			c.Function.Name, c.Function.Arguments = repairUTF8(c.Function.Name), repairUTF8(c.Function.Arguments)
			calls[j] = c
		}
		if m.ToolCalls == nil {
			calls = nil
		}
		m.ToolCalls = calls
		t.Messages[i] = m
	}
	r.t = &t
}

// trajectoryBuilders caches the typed builders of a trajectories record builder.
type trajectoryBuilders struct {
	rb                                                       *array.RecordBuilder
	strs                                                     map[int]*array.StringBuilder
	msgs                                                     *array.ListBuilder
	msg                                                      *array.StructBuilder
	role, content, name, callID                              *array.StringBuilder
	calls                                                    *array.ListBuilder
	call                                                     *array.StructBuilder
	callIDb, callType                                        *array.StringBuilder
	fn                                                       *array.StructBuilder
	fnName, fnArgs                                           *array.StringBuilder
	rollout, f2pPassed, f2pTotal, p2pPassed, p2pTotal, turns *array.Int32Builder
	promptTok, complTok, seed                                *array.Int64Builder
	temp, topP                                               *array.Float64Builder
	resolved                                                 *array.BooleanBuilder
	created                                                  *array.TimestampBuilder
}

func newTrajectoryBuilders(rb *array.RecordBuilder) *trajectoryBuilders {
	b := &trajectoryBuilders{rb: rb, strs: map[int]*array.StringBuilder{}}
	for _, i := range []int{tjTrajectoryID, tjInstanceID, tjRepo, tjModel, tjScaffold, tjPromptFormat, tjTools, tjModelPatch, tjExitStatus} {
		b.strs[i] = rb.Field(i).(*array.StringBuilder)
	}
	b.msgs = rb.Field(tjMessages).(*array.ListBuilder)
	b.msg = b.msgs.ValueBuilder().(*array.StructBuilder)
	b.role = b.msg.FieldBuilder(0).(*array.StringBuilder)
	b.content = b.msg.FieldBuilder(1).(*array.StringBuilder)
	b.name = b.msg.FieldBuilder(2).(*array.StringBuilder)
	b.callID = b.msg.FieldBuilder(3).(*array.StringBuilder)
	b.calls = b.msg.FieldBuilder(4).(*array.ListBuilder)
	b.call = b.calls.ValueBuilder().(*array.StructBuilder)
	b.callIDb = b.call.FieldBuilder(0).(*array.StringBuilder)
	b.callType = b.call.FieldBuilder(1).(*array.StringBuilder)
	b.fn = b.call.FieldBuilder(2).(*array.StructBuilder)
	b.fnName = b.fn.FieldBuilder(0).(*array.StringBuilder)
	b.fnArgs = b.fn.FieldBuilder(1).(*array.StringBuilder)
	b.rollout = rb.Field(tjRolloutIndex).(*array.Int32Builder)
	b.f2pPassed = rb.Field(tjF2PPassed).(*array.Int32Builder)
	b.f2pTotal = rb.Field(tjF2PTotal).(*array.Int32Builder)
	b.p2pPassed = rb.Field(tjP2PPassed).(*array.Int32Builder)
	b.p2pTotal = rb.Field(tjP2PTotal).(*array.Int32Builder)
	b.turns = rb.Field(tjNumTurns).(*array.Int32Builder)
	b.promptTok = rb.Field(tjPromptTokens).(*array.Int64Builder)
	b.complTok = rb.Field(tjCompletionTokens).(*array.Int64Builder)
	b.seed = rb.Field(tjSeed).(*array.Int64Builder)
	b.temp = rb.Field(tjTemperature).(*array.Float64Builder)
	b.topP = rb.Field(tjTopP).(*array.Float64Builder)
	b.resolved = rb.Field(tjResolved).(*array.BooleanBuilder)
	b.created = rb.Field(tjCreatedAt).(*array.TimestampBuilder)
	return b
}

func appendOptional(b *array.StringBuilder, s string) {
	if s == "" {
		b.AppendNull()
		return
	}
	b.Append(s)
}

func (b *trajectoryBuilders) append(r *trajectoryRow) {
	t := r.t
	b.strs[tjTrajectoryID].Append(t.TrajectoryID)
	b.strs[tjInstanceID].Append(t.InstanceID)
	b.strs[tjRepo].Append(t.Repo)
	b.rollout.Append(int32(t.RolloutIndex))
	b.strs[tjModel].Append(t.Model)
	b.strs[tjScaffold].Append(t.Scaffold)
	b.strs[tjPromptFormat].Append(t.PromptFormat)
	b.msgs.Append(true)
	for i := range t.Messages {
		m := &t.Messages[i]
		b.msg.Append(true)
		b.role.Append(m.Role)
		b.content.Append(m.Content)
		appendOptional(b.name, m.Name)
		appendOptional(b.callID, m.ToolCallID)
		if len(m.ToolCalls) == 0 {
			b.calls.AppendNull()
			continue
		}
		b.calls.Append(true)
		for _, c := range m.ToolCalls {
			b.call.Append(true)
			b.callIDb.Append(c.ID)
			b.callType.Append(c.Type)
			b.fn.Append(true)
			b.fnName.Append(c.Function.Name)
			b.fnArgs.Append(c.Function.Arguments)
		}
	}
	appendOptional(b.strs[tjTools], r.tools)
	b.strs[tjModelPatch].Append(t.ModelPatch)
	b.resolved.Append(t.Resolved)
	b.f2pPassed.Append(int32(t.F2PPassed))
	b.f2pTotal.Append(int32(t.F2PTotal))
	b.p2pPassed.Append(int32(t.P2PPassed))
	b.p2pTotal.Append(int32(t.P2PTotal))
	b.strs[tjExitStatus].Append(t.ExitStatus)
	b.turns.Append(int32(t.NumTurns))
	b.promptTok.Append(t.PromptTokens)
	b.complTok.Append(t.CompletionTokens)
	b.temp.Append(t.Temperature)
	b.topP.Append(t.TopP)
	b.seed.Append(t.Seed)
	if t.CreatedAt.IsZero() {
		b.created.AppendNull()
	} else {
		b.created.Append(arrow.Timestamp(t.CreatedAt.UnixMicro()))
	}
}

// sftRow is one row of the sft config.
type sftRow struct {
	trajectoryID, instanceID string
	messages                 []textMessage
}

func (r *sftRow) size() int64 {
	n := keySize(r.trajectoryID) + keySize(r.instanceID) + listCost
	for _, m := range r.messages {
		n += 1 + keySize(m.Role) + strSize(m.Content)
	}
	return n
}

func appendSFT(rb *array.RecordBuilder, r *sftRow) {
	rb.Field(0).(*array.StringBuilder).Append(r.trajectoryID)
	rb.Field(1).(*array.StringBuilder).Append(r.instanceID)
	lb := rb.Field(2).(*array.ListBuilder)
	sb := lb.ValueBuilder().(*array.StructBuilder)
	role := sb.FieldBuilder(0).(*array.StringBuilder)
	content := sb.FieldBuilder(1).(*array.StringBuilder)
	lb.Append(true)
	for _, m := range r.messages {
		sb.Append(true)
		role.Append(m.Role)
		content.Append(m.Content)
	}
}

// sftNativeRow is one row of the sft_native config.
type sftNativeRow struct {
	trajectoryID, instanceID string
	messages, tools          string // JSON (renderNative)
}

func (r *sftNativeRow) size() int64 {
	return keySize(r.trajectoryID) + keySize(r.instanceID) + strSize(r.messages) + strSize(r.tools)
}

func appendSFTNative(rb *array.RecordBuilder, r *sftNativeRow) {
	rb.Field(0).(*array.StringBuilder).Append(r.trajectoryID)
	rb.Field(1).(*array.StringBuilder).Append(r.instanceID)
	rb.Field(2).(*array.StringBuilder).Append(r.messages)
	rb.Field(3).(*array.StringBuilder).Append(r.tools)
}
