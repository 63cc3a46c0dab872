package pipeline

import (
	"encoding/json"
	"time"
)

// Instance is one task: a merged pull request that fixes linked issues, split into the code
// change (Patch) and the test change (TestPatch). It is what the mine stage produces and what
// every later stage reads. Field names follow SWE-bench's columns.
type Instance struct {
	// InstanceID is "owner__repo-PR", SWE-bench's form.
	InstanceID string `json:"instance_id"`
	// Repo is "owner/name".
	Repo string `json:"repo"`
	// PullNumber is the pull request's number in Repo.
	PullNumber int `json:"pull_number"`
	// BaseCommit is the commit the pull request was based on; both patches apply to it.
	BaseCommit string `json:"base_commit"`
	// Patch is the non-test part of the pull request's diff (the gold fix).
	Patch string `json:"patch"`
	// TestPatch is the test part of the pull request's diff.
	TestPatch string `json:"test_patch"`
	// ProblemStatement is the linked issues' titles and bodies.
	ProblemStatement string `json:"problem_statement"`
	// HintsText is the issue comments made before the pull request's first commit.
	HintsText string `json:"hints_text"`
	// CreatedAt is when the pull request was created.
	CreatedAt time.Time `json:"created_at"`
	// Version is the repository version the instance belongs to (e.g. the nearest release tag).
	Version string `json:"version"`
	// EnvironmentSetupCommit is the commit whose dependencies the environment installs; empty
	// means BaseCommit.
	EnvironmentSetupCommit string `json:"environment_setup_commit,omitempty"`
	// Issues are the linked issues with the evidence that linked each.
	Issues []LinkedIssue `json:"issues,omitempty"`
	// Language is the repository's main language as the recipe sees it ("python", "go").
	Language string `json:"language,omitempty"`
	// License is the repository's SPDX licence identifier, when known.
	License string `json:"license,omitempty"`
	// Source names where the instance came from: "github", "snapshot" or "import".
	Source string `json:"source,omitempty"`
	// FailToPass and PassToPass are known test lists from an imported dataset; validate
	// recomputes them and never trusts these.
	FailToPass []string `json:"FAIL_TO_PASS,omitempty"`
	PassToPass []string `json:"PASS_TO_PASS,omitempty"`
	// Extra keeps columns of an imported dataset that swemill does not know, unchanged.
	Extra map[string]json.RawMessage `json:"extra,omitempty"`
}

// LinkedIssue is an issue a pull request resolves.
type LinkedIssue struct {
	// Repo is "owner/name" of the issue's repository.
	Repo string `json:"repo"`
	// Number is the issue number.
	Number int `json:"number"`
	// Evidence lists what linked it: "title", "body", "commit" (where the closing keyword is), "imported"
	Evidence []string `json:"evidence"`
}

// Recipe says how to install a repository and run its tests. It is stored with every instance
// (SWE-rebench's install_config) so anyone can rebuild the environment.
type Recipe struct {
	// Language is "python" or "go".
	Language string `json:"language"`
	// LanguageVersion is e.g. "3.11" or "1.22"; empty means the base image's.
	LanguageVersion string `json:"language_version,omitempty"`
	// SystemPackages are Debian packages installed into the environment layer.
	SystemPackages []string `json:"system_packages,omitempty"`
	// PreInstall runs before Install, in the work directory.
	PreInstall []string `json:"pre_install,omitempty"`
	// Install installs the repository and its dependencies.
	Install []string `json:"install,omitempty"`
	// TestCmd runs the tests; the test files to run are appended to it.
	TestCmd string `json:"test_cmd"`
	// LogParser names the parser of TestCmd's output ("pytest", "unittest", "django",
	// "sympy", "gotest").
	LogParser string `json:"log_parser"`
	// Env holds environment variables set in the image.
	Env map[string]string `json:"env,omitempty"`
	// Skipped lists what recipe inference found but left out (documentation requirements,
	// and with build.offline every install that needs a package index), each with the reason.
	// It is a record for people: nothing runs from it.
	Skipped []SkippedStep `json:"skipped,omitempty"`
}

// SkippedStep is one install step that recipe inference left out of a Recipe.
type SkippedStep struct {
	// What is the command that was left out (as an online build would run it), or the file
	// that was never installed (e.g. "docs/requirements.txt").
	What string `json:"what" yaml:"what"`
	// Reason says why, e.g. "documentation requirements" or "offline: needs a package index".
	Reason string `json:"reason" yaml:"reason"`
}

// Environment is what the build stage produces: the instance's runtime image.
type Environment struct {
	// ImageName is the instance image's reference, carrying its content hash.
	ImageName string `json:"image_name"`
	// ImageID is the engine's image id ("sha256:...").
	ImageID string `json:"image_id"`
	// EnvImage and BaseImage are the shared layers the instance image was built on.
	EnvImage  string `json:"env_image"`
	BaseImage string `json:"base_image"`
	// ImageRef is the instance image in the run's registry by digest
	// (HOST[:PORT]/PATH@sha256:...), when the build pushed it; EnvImageRef the env image's.
	// Workers whose engine lacks the image pull it from there.
	ImageRef    string `json:"image_ref,omitempty"`
	EnvImageRef string `json:"env_image_ref,omitempty"`
	// Recipe is the recipe actually used.
	Recipe Recipe `json:"recipe"`
	// WorkDir is where the repository is checked out inside the image (e.g. "/testbed").
	WorkDir string `json:"workdir"`
	// SizeBytes is the size the instance layer adds on top of the environment image.
	SizeBytes int64 `json:"size_bytes"`
	// BuildSeconds is the wall time spent building; zero on a cache hit.
	BuildSeconds float64 `json:"build_seconds"`
	// CacheHit is true when the image already existed.
	CacheHit bool `json:"cache_hit"`
}

// TestStatus is one test's outcome in one run.
type TestStatus string

// Test outcomes as the log parsers report them.
const (
	TestPassed  TestStatus = "PASSED"
	TestFailed  TestStatus = "FAILED"
	TestError   TestStatus = "ERROR"
	TestSkipped TestStatus = "SKIPPED"
	TestXFail   TestStatus = "XFAIL"
	TestXPass   TestStatus = "XPASS"
)

// TestRun is one execution of the test command on one side of validation.
type TestRun struct {
	// Side is "before" (base + test_patch) or "after" (base + test_patch + patch).
	Side string `json:"side"`
	// Index counts the runs of a side from 0, the re-runs after the full runs.
	Index int `json:"index"`
	// Rerun marks a re-run of the FAIL_TO_PASS tests alone (Validation.Rerun), whose
	// results hold only those tests.
	Rerun bool `json:"rerun,omitempty"`
	// Seed is the run's seed: its PYTHONHASHSEED (unless the recipe sets one) and, for go
	// test with validate's shuffle on, its -shuffle seed. 0 when none was set.
	Seed     uint32  `json:"seed,omitempty"`
	ExitCode int     `json:"exit_code"`
	Seconds  float64 `json:"seconds"`
	TimedOut bool    `json:"timed_out,omitempty"`
	OOM      bool    `json:"oom,omitempty"`
	// Log points at the run's log for people: the harness's messages and the head and tail
	// of the test output.
	Log ArtifactRef `json:"log"`
	// Results maps test ids to their status in this run, read from the run's whole result
	// stream (Stream), never from the capped log.
	Results map[string]TestStatus `json:"results"`
	// Stream names the result stream Results were read from: "output" (the test command's
	// whole output) or "pytest.jsonl" (swemill's pytest plugin); empty when the run left
	// none (a patch that did not apply).
	Stream string `json:"stream,omitempty"`
	// Incomplete, when set, says why Results are not the whole story (a stream over its
	// limit, a test binary that died mid-test...); such a run is never graded.
	Incomplete string `json:"incomplete,omitempty"`
	// Warnings change no result: test ids stored escaped, for instance.
	Warnings []string `json:"warnings,omitempty"`
}

// FlakyTest is a test that did not behave the same in every run of a side.
type FlakyTest struct {
	Name     string  `json:"name"`
	Side     string  `json:"side"`
	PassRate float64 `json:"pass_rate"`
	Runs     int     `json:"runs"`
}

// Validation is what the validate stage produces.
type Validation struct {
	FailToPass []string `json:"FAIL_TO_PASS"`
	PassToPass []string `json:"PASS_TO_PASS"`
	// PassToFail lists tests that passed before the fix and fail after it.
	PassToFail []string    `json:"pass_to_fail,omitempty"`
	Flaky      []FlakyTest `json:"flaky,omitempty"`
	// LogParser is the parser that read the runs.
	LogParser string `json:"log_parser"`
	// TestFiles are the files test_patch touches, which the runs were restricted to.
	TestFiles []string  `json:"test_files"`
	Runs      []TestRun `json:"runs"`
	// Rerun, when set, says how the FAIL_TO_PASS tests were re-run alone after the full
	// runs found them.
	Rerun *Rerun `json:"rerun,omitempty"`
	// Warnings change no label but qualify one: tests that could not be selected by id.
	Warnings []string `json:"warnings,omitempty"`
}

// Rerun describes the re-runs of a validation's FAIL_TO_PASS tests.
type Rerun struct {
	// Runs is how many re-runs each side had.
	Runs int `json:"runs"`
	// Command is the test command of the re-runs.
	Command string `json:"command"`
	// ByID says Command selects the tests by id; otherwise it runs their test files.
	ByID bool `json:"by_id"`
}

// Message is one chat message in canonical OpenAI form, whichever wire protocol produced it.
type Message struct {
	Role       string     `json:"role"`
	Content    string     `json:"content"`
	Name       string     `json:"name,omitempty"`
	ToolCallID string     `json:"tool_call_id,omitempty"`
	ToolCalls  []ToolCall `json:"tool_calls,omitempty"`
	// FormatError marks the message the agent sent in place of a malformed reply (a call it
	// could not parse or validate): the reply itself is not kept, as OpenHands drops it, and
	// SFT exports leave this message out. Not a column of the trajectories config.
	FormatError bool `json:"format_error,omitempty"`
}

// ToolCall is an assistant's call of a tool.
type ToolCall struct {
	ID       string       `json:"id"`
	Type     string       `json:"type"`
	Function FunctionCall `json:"function"`
}

// FunctionCall names the tool and carries its arguments as a JSON object text.
type FunctionCall struct {
	Name      string `json:"name"`
	Arguments string `json:"arguments"`
}

// Step records one agent turn's cost.
type Step struct {
	// ModelSeconds is the time spent waiting for the model.
	ModelSeconds float64 `json:"model_seconds"`
	// ToolSeconds is the time spent running the tool call.
	ToolSeconds      float64 `json:"tool_seconds"`
	PromptTokens     int64   `json:"prompt_tokens"`
	CompletionTokens int64   `json:"completion_tokens"`
}

// Trajectory is one agent rollout on one instance, graded in a fresh container.
type Trajectory struct {
	TrajectoryID string `json:"trajectory_id"`
	InstanceID   string `json:"instance_id"`
	Repo         string `json:"repo"`
	RolloutIndex int    `json:"rollout_index"`
	// Model is the served model's name, or "oracle" for the gold-patch policy.
	Model string `json:"model"`
	// Scaffold names the agent ("openhands-codeact-v0.32").
	Scaffold string `json:"scaffold"`
	// PromptFormat is the wire protocol: "text" or "native".
	PromptFormat string    `json:"prompt_format"`
	Messages     []Message `json:"messages"`
	// Tools is the tool schema list as JSON.
	Tools      json.RawMessage `json:"tools"`
	ModelPatch string          `json:"model_patch"`
	Resolved   bool            `json:"resolved"`
	F2PPassed  int             `json:"f2p_passed"`
	F2PTotal   int             `json:"f2p_total"`
	P2PPassed  int             `json:"p2p_passed"`
	P2PTotal   int             `json:"p2p_total"`
	// ExitStatus says why the rollout ended: finish, max_iterations, context_limit,
	// format_error, runtime_error or timeout.
	ExitStatus       string    `json:"exit_status"`
	NumTurns         int       `json:"num_turns"`
	PromptTokens     int64     `json:"prompt_tokens"`
	CompletionTokens int64     `json:"completion_tokens"`
	Temperature      float64   `json:"temperature"`
	TopP             float64   `json:"top_p"`
	Seed             int64     `json:"seed"`
	CreatedAt        time.Time `json:"created_at"`
	Steps            []Step    `json:"steps,omitempty"`
	// Flags marks trajectories that edited test files or read the answer.
	Flags []string `json:"flags,omitempty"`
}

// ArtifactRef points at a content-addressed file under the run directory.
type ArtifactRef struct {
	// Name says what the artifact is ("build.log", "validate/before-0.log", ...).
	Name string `json:"name"`
	// Digest is "sha256:<hex>" of the content.
	Digest string `json:"digest"`
	Size   int64  `json:"size"`
}

// Rollouts is what the rollout stage produces for an instance: its trajectories, each stored
// in full (as Trajectory JSON) in an artifact.
type Rollouts struct {
	Trajectories []TrajectoryRef `json:"trajectories"`
}

// TrajectoryRef summarises one stored trajectory.
type TrajectoryRef struct {
	TrajectoryID     string `json:"trajectory_id"`
	RolloutIndex     int    `json:"rollout_index"`
	Model            string `json:"model"`
	Resolved         bool   `json:"resolved"`
	ExitStatus       string `json:"exit_status"`
	NumTurns         int    `json:"num_turns"`
	PromptTokens     int64  `json:"prompt_tokens"`
	CompletionTokens int64  `json:"completion_tokens"`
	// Trajectory points at the full Trajectory, as JSON.
	Trajectory ArtifactRef `json:"trajectory"`
	// Artifacts are other files of the rollout (the grading log, ...).
	Artifacts []ArtifactRef `json:"artifacts,omitempty"`
}
