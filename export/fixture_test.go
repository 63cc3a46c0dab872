package export

import (
	"context"
	"encoding/json"
	"fmt"
	"iter"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"swemill/pipeline"
)

// fakeSource is a slice-backed Source.
type fakeSource struct {
	tasks    []Task
	rollouts []Rollout
	funnel   Funnel
	run      RunInfo
	// TasksFunc and RolloutsFunc, when set, replace the slices.
	TasksFunc    func(ctx context.Context) iter.Seq2[*Task, error]
	RolloutsFunc func(ctx context.Context) iter.Seq2[*Rollout, error]
}

func (s *fakeSource) Tasks(ctx context.Context) iter.Seq2[*Task, error] {
	if s.TasksFunc != nil {
		return s.TasksFunc(ctx)
	}
	return func(yield func(*Task, error) bool) {
		for i := range s.tasks {
			if !yield(&s.tasks[i], nil) {
				return
			}
		}
	}
}

func (s *fakeSource) Rollouts(ctx context.Context) iter.Seq2[*Rollout, error] {
	if s.RolloutsFunc != nil {
		return s.RolloutsFunc(ctx)
	}
	return func(yield func(*Rollout, error) bool) {
		for i := range s.rollouts {
			if !yield(&s.rollouts[i], nil) {
				return
			}
		}
	}
}

func (s *fakeSource) Funnel(context.Context) (Funnel, error) { return s.funnel, nil }
func (s *fakeSource) Run(context.Context) (RunInfo, error)   { return s.run, nil }

const toolsJSON = `[
 {"type":"function","function":{"name":"execute_bash","description":"Run a bash command.","parameters":{"type":"object","properties":{"command":{"type":"string","description":"The command."},"is_input":{"type":"string","description":"Send input to the running process.","enum":["true","false"]}},"required":["command"]}}},
 {"type":"function","function":{"name":"str_replace_editor","description":"View and edit files.","parameters":{"type":"object","properties":{"command":{"type":"string","description":"The command.","enum":["view","create","str_replace","insert","undo_edit"]},"path":{"type":"string","description":"Absolute path."},"view_range":{"type":"array","items":{"type":"integer"},"description":"Lines to show."}},"required":["command","path"]}}},
 {"type":"function","function":{"name":"finish","description":"Finish the task.","parameters":{"type":"object","properties":{"message":{"type":"string","description":"Final message."}},"required":["message"]}}}
]`

var words = strings.Fields(`the a def return if else for while import from class self test assert value error
	patch file line path self.assertEqual None True False raise except try with open print len range
	résumé naïve 数据 テスト emoji 🚀 ünïcödé`)

// text returns about n bytes of word salad.
func text(r *rand.Rand, n int) string {
	var b strings.Builder
	for b.Len() < n {
		b.WriteString(words[r.IntN(len(words))])
		if r.IntN(12) == 0 {
			b.WriteByte('\n')
		} else {
			b.WriteByte(' ')
		}
	}
	return b.String()
}

// fixture builds a small run: tasks in three repositories, two or three trajectories per
// task with tool calls, unicode, optional fields left empty and a few large messages, so
// that small limits give several shards and row groups.
func fixture() *fakeSource {
	r := rand.New(rand.NewPCG(1, 2))
	base := time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)
	repos := []struct{ repo, lang, license string }{
		{"acme/widgets", "python", "MIT"}, {"acme/gears", "go", "Apache-2.0"}, {"zeta/calc", "python", ""},
	}
	src := &fakeSource{
		run: RunInfo{Version: "v0.1.0-test", Config: json.RawMessage(`{"repos":["acme/widgets","acme/gears","zeta/calc"],"validate":{"runs":3},"rollout":{"model":"Skywork-SWE-32B","samples":3}}`)},
		funnel: Funnel{
			{Stage: "validate", States: map[string]int64{"done": 12, "dropped": 5, "failed": 1}, Drops: map[string]int64{"no_fail_to_pass": 4, "all_flaky": 1}},
			{Stage: "mine", States: map[string]int64{"done": 25, "dropped": 40}, Drops: map[string]int64{"no_linked_issue": 30, "no_test_change": 10}},
			{Stage: "build", States: map[string]int64{"done": 18, "dropped": 7}, Drops: map[string]int64{"install_failed": 7}},
			{Stage: "rollout", States: map[string]int64{"done": 12, "pending": 0}},
		},
	}
	for i := 0; i < 12; i++ {
		rp := repos[i%3]
		id := fmt.Sprintf("%s-%d", strings.ReplaceAll(rp.repo, "/", "__"), 100+i)
		parser := "pytest"
		if rp.lang == "go" {
			parser = "gotest"
		}
		in := pipeline.Instance{
			InstanceID: id, Repo: rp.repo, PullNumber: 100 + i,
			BaseCommit:       fmt.Sprintf("%040x", 1000+i),
			Patch:            "diff --git a/x.py b/x.py\n" + text(r, 5000+r.IntN(30000)),
			TestPatch:        "diff --git a/test_x.py b/test_x.py\n" + text(r, 2000+r.IntN(10000)),
			ProblemStatement: "Bug: <widget> & \"gear\" fail\n" + text(r, 100+r.IntN(1500)),
			CreatedAt:        base.Add(time.Duration(i) * 36 * time.Hour),
			Version:          fmt.Sprintf("1.%d", i%4),
			Language:         rp.lang,
			License:          rp.license,
		}
		if i%4 != 0 {
			in.HintsText = text(r, r.IntN(300))
		}
		if i%5 == 0 {
			in.EnvironmentSetupCommit = fmt.Sprintf("%040x", 5000+i)
		}
		imageRef := ""
		if i%3 == 1 { // a third of the images were pushed to a registry
			imageRef = fmt.Sprintf("registry.example:5000/swemill/instance@sha256:%064x", 4000+i)
		}
		task := Task{
			Instance: in,
			Environment: pipeline.Environment{
				ImageName: "swemill/instance:" + fmt.Sprintf("%012x", 77+i),
				ImageID:   fmt.Sprintf("sha256:%064x", 99+i),
				ImageRef:  imageRef,
				EnvImage:  "swemill/env:abc", BaseImage: "swemill/base:py311",
				WorkDir: "/testbed",
				Recipe: pipeline.Recipe{
					Language: rp.lang, LanguageVersion: "3.11", Install: []string{"pip install -e ."},
					TestCmd: "pytest -rA", LogParser: parser, Env: map[string]string{"B": "2", "A": "1"},
				},
			},
			Validation: pipeline.Validation{
				FailToPass: []string{fmt.Sprintf("tests/test_x.py::test_bug_%d", i), "tests/test_x.py::TestY::test_z[a-<b>]"},
				LogParser:  parser,
				TestFiles:  []string{"tests/test_x.py"},
				Runs: []pipeline.TestRun{
					{Side: "after", Index: 0, Seed: uint32(5000 + i), Log: pipeline.ArtifactRef{Name: "validate/after-0.log", Digest: fmt.Sprintf("sha256:%064x", 3000+i), Size: 120}},
					{Side: "after", Index: 1, Rerun: true, Seed: uint32(6000 + i), Log: pipeline.ArtifactRef{Name: "validate/after-1.log", Digest: fmt.Sprintf("sha256:%064x", 3001+i), Size: 90}},
					{Side: "before", Index: 1, Log: pipeline.ArtifactRef{Name: "validate/before-1.log", Digest: fmt.Sprintf("sha256:%064x", 2001+i), Size: 130}},
					{Side: "before", Index: 0, Log: pipeline.ArtifactRef{Name: "validate/before-0.log", Digest: fmt.Sprintf("sha256:%064x", 2000+i), Size: 110}},
				},
			},
			Artifacts: []pipeline.ArtifactRef{{Name: "build.log", Digest: fmt.Sprintf("sha256:%064x", 4000+i), Size: 999}},
		}
		if i%3 != 1 {
			task.Validation.PassToPass = []string{"tests/test_x.py::test_ok", "tests/test_x.py::test_other"}
		}
		src.tasks = append(src.tasks, task)
		for k := 0; k < 2+i%2; k++ {
			src.rollouts = append(src.rollouts, Rollout{
				Trajectory: trajectory(r, id, rp.repo, k, base.Add(time.Duration(i*10+k)*time.Minute), i == 3 && k == 1),
				Artifacts:  []pipeline.ArtifactRef{{Name: "grade.log", Digest: fmt.Sprintf("sha256:%064x", 6000+i*10+k), Size: 42}},
			})
		}
	}
	// The store yields in the documented order.
	slices.SortFunc(src.tasks, func(a, b Task) int { return strings.Compare(a.Instance.InstanceID, b.Instance.InstanceID) })
	slices.SortFunc(src.rollouts, func(a, b Rollout) int { return rolloutLess(&a.Trajectory, &b.Trajectory) })
	return src
}

func trajectory(r *rand.Rand, instanceID, repo string, k int, created time.Time, zeroTime bool) pipeline.Trajectory {
	msgs := []pipeline.Message{
		{Role: "system", Content: "You are a helpful coding agent."},
		{Role: "user", Content: "<uploaded_files>\n/testbed\n</uploaded_files>\n" + text(r, 300)},
	}
	turns := 2 + r.IntN(6)
	for j := 0; j < turns; j++ {
		id := fmt.Sprintf("toolu_%02d", j)
		var calls []pipeline.ToolCall
		if j%3 == 2 { // two calls in one message
			calls = []pipeline.ToolCall{
				{ID: id + "a", Type: "function", Function: pipeline.FunctionCall{Name: "execute_bash", Arguments: `{"command":"ls -la\ncat setup.py"}`}},
				{ID: id + "b", Type: "function", Function: pipeline.FunctionCall{Name: "str_replace_editor", Arguments: `{"command":"view","path":"/testbed/x.py","view_range":[1, 20]}`}},
			}
		} else {
			calls = []pipeline.ToolCall{{ID: id, Type: "function", Function: pipeline.FunctionCall{Name: "execute_bash", Arguments: `{"command":"python -m pytest -q"}`}}}
		}
		content := ""
		if j%2 == 0 {
			content = "Let me look. " + text(r, 50)
		}
		msgs = append(msgs, pipeline.Message{Role: "assistant", Content: content, ToolCalls: calls})
		for ci, c := range calls {
			size := 200 + r.IntN(2000)
			if r.IntN(8) == 0 {
				size = 8000 + r.IntN(20000)
			}
			m := pipeline.Message{Role: "tool", Content: text(r, size), ToolCallID: c.ID}
			if ci == 0 {
				m.Name = c.Function.Name
			}
			msgs = append(msgs, m)
		}
	}
	msgs = append(msgs, pipeline.Message{Role: "assistant", ToolCalls: []pipeline.ToolCall{{ID: "toolu_99", Type: "function", Function: pipeline.FunctionCall{Name: "finish", Arguments: `{"message":"done"}`}}}})
	resolved := r.IntN(2) == 0
	f2p := 2
	t := pipeline.Trajectory{
		TrajectoryID: fmt.Sprintf("%s.r%d", instanceID, k),
		InstanceID:   instanceID, Repo: repo, RolloutIndex: k,
		Model: "Skywork-SWE-32B", Scaffold: "openhands-codeact-v0.32", PromptFormat: "text",
		Messages: msgs, Tools: json.RawMessage(toolsJSON),
		ModelPatch: "diff --git a/x.py b/x.py\n" + text(r, 400),
		Resolved:   resolved, F2PTotal: f2p, P2PTotal: 2, P2PPassed: 2,
		ExitStatus: "finish", NumTurns: turns + 1,
		PromptTokens: int64(1000 + r.IntN(50000)), CompletionTokens: int64(100 + r.IntN(5000)),
		Temperature: 0.7, TopP: 0.95, Seed: int64(k),
		CreatedAt: created,
	}
	if resolved {
		t.F2PPassed = f2p
	}
	if zeroTime {
		t.CreatedAt = time.Time{}
		t.Tools = nil
	}
	return t
}
