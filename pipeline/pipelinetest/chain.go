// Package pipelinetest provides deterministic stages that do real work through the chain (they
// hash, write artifacts, drop, fail and retry on fixed rules), for tests and benchmarks of the
// runner. Whatever order or process runs them, and however often they are interrupted, the
// same repositories give the same final tables.
package pipelinetest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"swemill/pipeline"
)

// Config shapes the fake work.
type Config struct {
	// PRs is how many pull requests each repository has; zero means 12.
	PRs int
	// PageSize is how many the miner returns per call; zero means 5.
	PageSize int
	// Work is how long each item's stage work takes (spent hashing, so it is real CPU work
	// and a kill can land in the middle of it); zero means none.
	Work time.Duration
	// FlakyEvery makes the first attempt of every Nth instance fail in build (then it
	// succeeds on retry); zero means never.
	FlakyEvery int
	// NoWork turns off the hashing and the artifacts, for measuring the runner alone.
	NoWork bool
	// Languages gives repositories' languages (as GitHub names them), recorded on their
	// instances; a repository not in it has none.
	Languages map[string]string
}

func (c Config) prs() int {
	if c.PRs == 0 {
		return 12
	}
	return c.PRs
}

func (c Config) pageSize() int {
	if c.PageSize == 0 {
		return 5
	}
	return c.PageSize
}

// Miner returns a miner whose repository "o/r" has PRs pull requests numbered 1..PRs.
// Every 4th PR has no linked issue and is dropped. A repository whose owner is "excluded" is
// dropped whole.
func Miner(c Config) pipeline.Miner {
	return pipeline.MinerFunc(func(ctx context.Context, job *pipeline.RepoJob) (pipeline.MineResult, error) {
		if strings.HasPrefix(job.Repo, "excluded/") {
			return pipeline.MineResult{Drop: pipeline.Drop("decontaminated", "on the exclude list"), Cursor: "checked"}, nil
		}
		next := 1
		if job.Cursor != "" {
			n, err := strconv.Atoi(job.Cursor)
			if err != nil {
				return pipeline.MineResult{}, fmt.Errorf("bad cursor %q", job.Cursor)
			}
			next = n
		}
		var res pipeline.MineResult
		for n := next; n <= c.prs() && n < next+c.pageSize(); n++ {
			if err := work(ctx, c, job.Repo, n); err != nil {
				return res, err
			}
			inst := pipeline.Instance{
				InstanceID: strings.ReplaceAll(job.Repo, "/", "__") + "-" + strconv.Itoa(n),
				Repo:       job.Repo,
				PullNumber: n,
				Language:   c.Languages[job.Repo],
				BaseCommit: digest(job.Repo, "base", n)[:40],
				Patch:      "diff --git a/x.py b/x.py\n",
				TestPatch:  "diff --git a/test_x.py b/test_x.py\n",
				CreatedAt:  time.Date(2024, 1, n%28+1, 0, 0, 0, 0, time.UTC),
			}
			m := pipeline.Mined{Instance: inst}
			if n%4 == 0 {
				m.Drop = pipeline.Drop("no_linked_issue", "pull request #%d names no issue", n)
			}
			res.Instances = append(res.Instances, m)
		}
		last := next + len(res.Instances)
		res.Cursor = strconv.Itoa(last)
		res.More = last <= c.prs()
		return res, nil
	})
}

// Processors returns build, validate and rollout stages.
//   - build stores a build log artifact; PR numbers divisible by 7 drop with
//     "install_failed"; with FlakyEvery, the first attempt of every Nth PR fails.
//   - validate stores a log; PR numbers divisible by 5 drop with "no_fail_to_pass".
//   - rollout stores one resolved trajectory and records it.
func Processors(c Config) map[string]pipeline.Processor {
	return map[string]pipeline.Processor{
		pipeline.StageBuild: pipeline.ProcessorFunc(func(ctx context.Context, item *pipeline.Item) (pipeline.Output, error) {
			n := item.Instance.PullNumber
			if err := work(ctx, c, item.Instance.InstanceID, 1); err != nil {
				return pipeline.Output{}, err
			}
			if c.FlakyEvery > 0 && n%c.FlakyEvery == 0 && item.Attempt == 1 {
				return pipeline.Output{}, errors.New("daemon hiccup (first attempt fails)")
			}
			if n%7 == 0 {
				return pipeline.Output{}, pipeline.Drop("install_failed", "pip install exited 1")
			}
			out := pipeline.Output{Record: pipeline.Environment{
				ImageName: "swemill/test:" + digest(item.Instance.InstanceID, "image", 0)[:12],
				WorkDir:   "/testbed",
				Recipe:    pipeline.Recipe{Language: "python", TestCmd: "pytest -rA", LogParser: "pytest"},
			}}
			return withArtifact(c, item, out, "build.log", "built "+item.Instance.InstanceID)
		}),
		pipeline.StageValidate: pipeline.ProcessorFunc(func(ctx context.Context, item *pipeline.Item) (pipeline.Output, error) {
			if item.Environment == nil {
				return pipeline.Output{}, errors.New("validate got no environment")
			}
			if err := work(ctx, c, item.Instance.InstanceID, 2); err != nil {
				return pipeline.Output{}, err
			}
			if item.Instance.PullNumber%5 == 0 {
				return pipeline.Output{}, pipeline.Drop("no_fail_to_pass", "every test passed before the fix")
			}
			out := pipeline.Output{Record: pipeline.Validation{
				FailToPass: []string{"tests/test_x.py::test_fix"},
				PassToPass: []string{"tests/test_x.py::test_old"},
				LogParser:  item.Environment.Recipe.LogParser,
				TestFiles:  []string{"tests/test_x.py"},
			}}
			return withArtifact(c, item, out, "validate/before-0.log", "FAILED tests/test_x.py::test_fix "+item.Instance.InstanceID)
		}),
		pipeline.StageRollout: pipeline.ProcessorFunc(func(ctx context.Context, item *pipeline.Item) (pipeline.Output, error) {
			if item.Validation == nil {
				return pipeline.Output{}, errors.New("rollout got no validation")
			}
			if err := work(ctx, c, item.Instance.InstanceID, 3); err != nil {
				return pipeline.Output{}, err
			}
			traj := pipeline.Trajectory{
				TrajectoryID: item.Instance.InstanceID + "-0", InstanceID: item.Instance.InstanceID,
				Repo: item.Instance.Repo, Model: "oracle", Scaffold: "pipelinetest", PromptFormat: "native",
				Messages: []pipeline.Message{
					{Role: "system", Content: "You are a test."},
					{Role: "user", Content: "Fix the bug."},
					{Role: "assistant", Content: "Done.", ToolCalls: []pipeline.ToolCall{{ID: "c1", Type: "function",
						Function: pipeline.FunctionCall{Name: "finish", Arguments: `{"message":"done"}`}}}},
				},
				Tools: []byte(`[]`), ModelPatch: item.Instance.Patch, Resolved: true,
				F2PPassed: len(item.Validation.FailToPass), F2PTotal: len(item.Validation.FailToPass),
				P2PPassed: len(item.Validation.PassToPass), P2PTotal: len(item.Validation.PassToPass),
				ExitStatus: "finish", NumTurns: 1, CreatedAt: item.Instance.CreatedAt,
			}
			ref := pipeline.TrajectoryRef{TrajectoryID: traj.TrajectoryID, Model: traj.Model, Resolved: true, ExitStatus: "finish", NumTurns: 1}
			var out pipeline.Output
			if !c.NoWork {
				a, err := item.Artifacts.Put("trajectory-0.json", []byte(mustJSON(traj)))
				if err != nil {
					return out, err
				}
				ref.Trajectory = a
				out.Artifacts = []pipeline.ArtifactRef{a}
			}
			out.Record = pipeline.Rollouts{Trajectories: []pipeline.TrajectoryRef{ref}}
			return out, nil
		}),
	}
}

func withArtifact(c Config, item *pipeline.Item, out pipeline.Output, name, content string) (pipeline.Output, error) {
	if c.NoWork {
		return out, nil
	}
	ref, err := item.Artifacts.Put(name, []byte(content))
	if err != nil {
		return out, err
	}
	out.Artifacts = append(out.Artifacts, ref)
	return out, nil
}

// work spends c.Work hashing, checking ctx between rounds.
func work(ctx context.Context, c Config, key string, salt int) error {
	if c.NoWork || c.Work <= 0 {
		return ctx.Err()
	}
	deadline := time.Now().Add(c.Work)
	sum := []byte(key + strconv.Itoa(salt))
	for time.Now().Before(deadline) {
		if err := ctx.Err(); err != nil {
			return err
		}
		for range 200 {
			h := sha256.Sum256(sum)
			sum = h[:]
		}
	}
	return nil
}

func digest(parts ...any) string {
	h := sha256.New()
	for _, p := range parts {
		fmt.Fprint(h, p, "\x00")
	}
	return hex.EncodeToString(h.Sum(nil))
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}
