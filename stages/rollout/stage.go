package rollout

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/sourcegraph/conc/panics"
	"github.com/sourcegraph/conc/pool"

	"swemill/envbuild/sandbox"
	"swemill/grade"
	"swemill/pipeline"
)

// Scaffold is recorded in every trajectory: what of OpenHands 0.32's CodeAct agent the
// rollout matches. The tools (names, parameters, allowed values), the text protocol, the
// observation forms (status lines, stripping, refusals, timeouts that leave commands
// running, input to running commands, error observations in place of malformed replies) and
// the workspace path are OpenHands 0.32's; the wording of the prompts, tool descriptions and
// the few messages without a fixed form is the prompt directory's (swemill's own by
// default), so it is not claimed.
const Scaffold = "openhands-codeact-v0.32-forms"

// Backends.
const (
	BackendOpenAI = "openai"
	BackendOracle = "oracle"
)

// Config configures the rollout stage. The CLI fills it from flags and the environment
// (the API key from OPENAI_API_KEY); the library reads neither.
type Config struct {
	// Backend is "openai" (an OpenAI-compatible server: vLLM, a hosted API) or "oracle" (the
	// built-in gold-patch policy, recorded as model "oracle"). Default "openai".
	Backend string
	// Protocol is the wire protocol: "text" (tools described in the system prompt,
	// <function=...> calls, stop at "</function") or "native" (tools and tool_calls).
	// Default "text".
	Protocol string
	// Model is the served model's name (required for the openai backend); it is recorded in
	// every trajectory.
	Model string
	// BaseURL is the server's API root, e.g. "http://localhost:8000/v1" (openai backend).
	BaseURL string
	// APIKey is sent as a bearer token; it never reaches a log, an error or an artifact.
	APIKey string
	// Temperature (default 0) and TopP (0 means 1) are the sampling parameters.
	Temperature float64
	TopP        float64
	// Seed is the first sample's seed; sample k of an instance uses Seed+k.
	Seed int64
	// MaxOutputTokens caps each reply (max_tokens). Default 8192.
	MaxOutputTokens int
	// MaxConcurrentRequests caps the model requests in flight, across every rollout of the
	// stage. Default 8.
	MaxConcurrentRequests int
	// MaxRetries, RetryDelay, MaxRetryDelay and RequestTimeout shape the retries of 429s,
	// 5xx answers and connection failures (see OpenAIConfig); defaults 8, 1 s, 1 min, 10 min.
	MaxRetries                int
	RetryDelay, MaxRetryDelay time.Duration
	RequestTimeout            time.Duration
	// Samples is how many trajectories each instance gets (N). Default 1.
	Samples int
	// Parallel is how many samples of one instance run at once. Default 1.
	Parallel int
	// MaxIterations caps the model calls of a rollout. Default 100.
	MaxIterations int
	// ContextTokens is the context budget: a rollout ends with context_limit when the last
	// call's prompt plus completion tokens (the server's usage counts), plus an estimate of
	// what was added since, reach it, or when the server refuses a request as too long.
	// Default 32768.
	ContextTokens int
	// CommandTimeout is the per-command limit of execute_bash: past it the command is
	// killed. Default 3 minutes.
	CommandTimeout time.Duration
	// NoChangeTimeout returns execute_bash early, the command still running, once it has
	// printed nothing new for this long (OpenHands' no-change timeout; its SWE-bench setup
	// uses 30 s): the agent then waits with an empty command or interrupts with C-c.
	// Default 30 s; negative turns it off.
	NoChangeTimeout time.Duration
	// RolloutTimeout is the wall clock of one rollout, from the moment its workspace is ready
	// to the last model call or command; taking the patch and grading are not counted.
	// Default 1 hour.
	RolloutTimeout time.Duration
	// MaxObservationChars middle-truncates each tool result (OpenHands' max_message_chars).
	// Default 32768.
	MaxObservationChars int
	// MaxFormatErrors ends a rollout with format_error after this many replies in a row that
	// had to be corrected (empty, malformed, unknown tool). Default 3.
	MaxFormatErrors int
	// NoExample leaves out the worked example that the text protocol puts around the first
	// user message.
	NoExample bool
	// Prompts is a directory of prompt templates (Go text/template files executed with a
	// PromptData): system.tmpl, instruction.tmpl, example.tmpl, no_call.tmpl, give_up.tmpl,
	// empty_reply.tmpl, format_error.tmpl, format_rules.tmpl, and the tools' descriptions,
	// tool_<tool>.tmpl and tool_<tool>.<parameter>.tmpl (see PromptSystem and ToolPromptFile).
	// Each file it lacks takes the built-in text. A template that does not parse or execute is
	// refused by Validate, with its file and line. Empty: the built-in prompts.
	Prompts string
	// Workspace is a text/template (executed with a PromptData) of the repository's directory
	// in the agent's workspace. When it is not the image's work directory, the repository is
	// copied there before the agent starts and the work directory becomes a link to the copy
	// (see WorkspaceSpec.Path); grading is not affected. Default DefaultWorkspace, OpenHands'
	// /workspace/<repo>__<version>; "/testbed" keeps swemill's images' own.
	Workspace string
}

func (c Config) withDefaults() Config {
	if c.Backend == "" {
		c.Backend = BackendOpenAI
	}
	if c.Protocol == "" {
		c.Protocol = ProtocolText
	}
	if c.Backend == BackendOracle && c.Model == "" {
		c.Model = OracleModel
	}
	if c.TopP == 0 {
		c.TopP = 1
	}
	if c.MaxOutputTokens == 0 {
		c.MaxOutputTokens = 8192
	}
	if c.MaxConcurrentRequests == 0 {
		c.MaxConcurrentRequests = 8
	}
	if c.Samples == 0 {
		c.Samples = 1
	}
	if c.Parallel == 0 {
		c.Parallel = 1
	}
	if c.MaxIterations == 0 {
		c.MaxIterations = 100
	}
	if c.ContextTokens == 0 {
		c.ContextTokens = 32768
	}
	if c.NoChangeTimeout == 0 {
		c.NoChangeTimeout = 30 * time.Second
	}
	if c.CommandTimeout == 0 {
		c.CommandTimeout = 3 * time.Minute
	}
	if c.RolloutTimeout == 0 {
		c.RolloutTimeout = time.Hour
	}
	if c.MaxObservationChars == 0 {
		c.MaxObservationChars = 32768
	}
	if c.MaxFormatErrors == 0 {
		c.MaxFormatErrors = 3
	}
	return c
}

// Validate reports the first field that is not usable.
func (c Config) Validate() error {
	c = c.withDefaults()
	switch {
	case c.Backend != BackendOpenAI && c.Backend != BackendOracle:
		return fmt.Errorf("Config.Backend: %q: want openai or oracle", c.Backend)
	case c.Protocol != ProtocolText && c.Protocol != ProtocolNative:
		return fmt.Errorf("Config.Protocol: %q: want text or native", c.Protocol)
	case c.Backend == BackendOracle && c.Model != OracleModel:
		return fmt.Errorf("Config.Model: the oracle backend is recorded as %q, not %q", OracleModel, c.Model)
	case c.Temperature < 0 || c.Temperature > 2:
		return errors.New("Config.Temperature: want 0 to 2")
	case c.TopP < 0 || c.TopP > 1:
		return errors.New("Config.TopP: want 0 (meaning 1) to 1")
	case c.MaxOutputTokens < 1:
		return errors.New("Config.MaxOutputTokens: below 1")
	case c.Samples < 1 || c.Parallel < 1:
		return errors.New("Config.Samples, Parallel: below 1")
	case c.MaxIterations < 1:
		return errors.New("Config.MaxIterations: below 1")
	case c.ContextTokens < 1024:
		return errors.New("Config.ContextTokens: below 1024")
	case c.CommandTimeout < time.Second:
		return errors.New("Config.CommandTimeout: below 1 s")
	case c.NoChangeTimeout > 0 && c.NoChangeTimeout < time.Second:
		return errors.New("Config.NoChangeTimeout: below 1 s (negative turns it off)")
	case c.RolloutTimeout < time.Second:
		return errors.New("Config.RolloutTimeout: below 1 s")
	case c.MaxObservationChars < 1024:
		return errors.New("Config.MaxObservationChars: below 1024")
	case c.MaxFormatErrors < 1:
		return errors.New("Config.MaxFormatErrors: below 1")
	}
	if c.Backend == BackendOpenAI {
		if err := c.openAI().Validate(); err != nil {
			return fmt.Errorf("Config: %w", err)
		}
	}
	_, err := loadPrompts(c.Prompts, c.Workspace)
	return err
}

// SampleOverhead bounds what one sample takes beyond its rollout's wall clock and its
// grading: starting the workspace and its shells, taking the patch (at most 5 minutes),
// removing the container and storing the trajectory.
const SampleOverhead = 10 * time.Minute

// SampleTimeout returns the longest one sample may take when its grading takes at most
// grade: RolloutTimeout + grade + SampleOverhead. A stage attempt shorter than this may
// never finish a sample.
func (c Config) SampleTimeout(grade time.Duration) time.Duration {
	return c.withDefaults().RolloutTimeout + grade + SampleOverhead
}

// AttemptTimeout returns how long one attempt of the stage needs to roll out every sample of
// an instance, Parallel at a time: ceil(Samples/Parallel) rounds of SampleTimeout(grade).
func (c Config) AttemptTimeout(grade time.Duration) time.Duration {
	c = c.withDefaults()
	return time.Duration(c.Rounds()) * c.SampleTimeout(grade)
}

// Rounds returns how many samples one instance's rollouts run one after another:
// ceil(Samples/Parallel).
func (c Config) Rounds() int {
	c = c.withDefaults()
	return (c.Samples + c.Parallel - 1) / c.Parallel
}

func (c Config) openAI() OpenAIConfig {
	return OpenAIConfig{BaseURL: c.BaseURL, Model: c.Model, APIKey: c.APIKey, MaxConcurrent: c.MaxConcurrentRequests,
		MaxRetries: c.MaxRetries, RetryDelay: c.RetryDelay, MaxRetryDelay: c.MaxRetryDelay, RequestTimeout: c.RequestTimeout}
}

// Stage is the rollout stage: for a validated instance it runs Config.Samples agent
// rollouts, each in its own workspace, takes each final patch, grades it in a fresh
// container and stores every trajectory (resolved or not, whatever its exit status) as an
// artifact. It is safe for concurrent use; the model request cap is shared by all calls.
type Stage struct {
	cfg     Config
	rt      Runtime
	grader  Grader
	client  *OpenAIClient
	prompts *promptSet
}

var _ pipeline.Processor = (*Stage)(nil)

// New returns the stage. rt runs the workspaces (NewDockerRuntime); g grades patches.
func New(cfg Config, rt Runtime, g Grader) (*Stage, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if rt == nil || g == nil {
		return nil, errors.New("rollout.New: a Runtime and a Grader are required")
	}
	cfg = cfg.withDefaults()
	s := &Stage{cfg: cfg, rt: rt, grader: g}
	var err error
	if s.prompts, err = loadPrompts(cfg.Prompts, cfg.Workspace); err != nil {
		return nil, err
	}
	if cfg.Backend == BackendOpenAI {
		c, err := NewOpenAIClient(cfg.openAI())
		if err != nil {
			return nil, err
		}
		s.client = c
	}
	return s, nil
}

// Close releases the model client's idle connections.
func (s *Stage) Close() {
	if s.client != nil {
		s.client.Close()
	}
}

// Process rolls item out Config.Samples times, Config.Parallel at a time. The record is a
// pipeline.Rollouts; each trajectory is stored as TrajectoryArtifact(k) and its grading log
// as GradeLogArtifact(k).
//
// Samples are independent: one that fails (the model server or the engine failing past
// their retries, a panic) does not stop the others, which finish and are stored. The item
// then fails with every sample's error, and its Output still carries the stored samples'
// artifacts, which the runner records; the retry finds them in item.Recorded and rolls out
// only the samples that are missing (a stored sample is reused when its trajectory was made
// with this configuration's model, protocol, sampling and prompts). When ctx is done,
// samples not started yet are not started.
func (s *Stage) Process(ctx context.Context, item *pipeline.Item) (pipeline.Output, error) {
	var out pipeline.Output
	if item.Environment == nil || item.Validation == nil {
		return out, fmt.Errorf("rolling out %s: the item has no environment or validation", item.Instance.InstanceID)
	}
	if item.Artifacts == nil {
		return out, fmt.Errorf("rolling out %s: the item has no artifact store", item.Instance.InstanceID)
	}
	type result struct {
		ref  pipeline.TrajectoryRef
		arts []pipeline.ArtifactRef
		err  error
	}
	results := make([]result, s.cfg.Samples)
	reused := 0
	p := pool.New().WithMaxGoroutines(s.cfg.Parallel)
	for k := range s.cfg.Samples {
		if ref, arts, ok := s.storedSample(item, k); ok {
			results[k] = result{ref: ref, arts: arts}
			reused++
			continue
		}
		p.Go(func() {
			if err := ctx.Err(); err != nil {
				results[k].err = fmt.Errorf("sample %d not started: %w", k, context.Cause(ctx))
				return
			}
			var r result
			if rec := panics.Try(func() { r.ref, r.arts, r.err = s.Sample(ctx, item, k) }); rec != nil {
				r.err = fmt.Errorf("rolling out %s sample %d: %w", item.Instance.InstanceID, k, rec.AsError())
			}
			results[k] = r
		})
	}
	p.Wait()
	if reused > 0 {
		item.Log.Info().Int("reused", reused).Int("samples", s.cfg.Samples).Msg("kept the samples an earlier attempt stored")
	}
	var rec pipeline.Rollouts
	var errs []error
	var failed []string
	for k, r := range results {
		if r.err != nil {
			errs = append(errs, r.err)
			failed = append(failed, strconv.Itoa(k))
			continue
		}
		rec.Trajectories = append(rec.Trajectories, r.ref)
		out.Artifacts = append(out.Artifacts, r.arts...)
	}
	if len(errs) > 0 {
		which := "sample " + failed[0]
		if len(failed) > 1 {
			which = "samples " + strings.Join(failed, ", ")
		}
		return out, fmt.Errorf("rolling out %s: %s of %d failed, %d stored and kept for the retry: %w",
			item.Instance.InstanceID, which, s.cfg.Samples, len(rec.Trajectories), sampleErrors(errs))
	}
	out.Record = rec
	return out, nil
}

// sampleErrors are the errors of the samples that failed; errors.Is and errors.As see each.
type sampleErrors []error

func (e sampleErrors) Error() string {
	msgs := make([]string, len(e))
	for i, err := range e {
		msgs[i] = err.Error()
	}
	return strings.Join(msgs, "; ")
}

func (e sampleErrors) Unwrap() []error { return e }

// TrajectoryArtifact and GradeLogArtifact name the artifacts of sample k.
func TrajectoryArtifact(k int) string { return "rollout/trajectory-" + strconv.Itoa(k) + ".json" }
func GradeLogArtifact(k int) string   { return "rollout/grade-" + strconv.Itoa(k) + ".log" }

// storedSample returns sample k of item when an earlier attempt of this generation stored it
// (item.Recorded) with this stage's model, protocol, sampling and prompts.
func (s *Stage) storedSample(item *pipeline.Item, k int) (pipeline.TrajectoryRef, []pipeline.ArtifactRef, bool) {
	var ref pipeline.TrajectoryRef
	var ta, ga *pipeline.ArtifactRef
	for i := range item.Recorded {
		switch item.Recorded[i].Name {
		case TrajectoryArtifact(k):
			ta = &item.Recorded[i]
		case GradeLogArtifact(k):
			ga = &item.Recorded[i]
		}
	}
	if ta == nil {
		return ref, nil, false
	}
	log := item.Log.With().Int("sample", k).Logger()
	data, err := item.Artifacts.Read(*ta)
	var traj pipeline.Trajectory
	if err == nil {
		err = json.Unmarshal(data, &traj)
	}
	if err != nil {
		log.Warn().Err(err).Msg("rolling out again a sample whose stored trajectory cannot be read")
		return ref, nil, false
	}
	if traj.InstanceID != item.Instance.InstanceID || traj.RolloutIndex != k || traj.Model != s.cfg.Model ||
		traj.PromptFormat != s.cfg.Protocol || traj.Seed != s.cfg.Seed+int64(k) ||
		traj.Temperature != s.cfg.Temperature || traj.TopP != s.cfg.TopP || !s.samePrompts(item, &traj) {
		log.Info().Msg("rolling out again a sample stored under another configuration")
		return ref, nil, false
	}
	ref = trajectoryRef(&traj, k, *ta)
	arts := []pipeline.ArtifactRef{*ta}
	if ga != nil {
		ref.Artifacts = []pipeline.ArtifactRef{*ga}
		arts = append(arts, *ga)
	}
	return ref, arts, true
}

// samePrompts says traj began with the system prompt and instruction this configuration
// gives item.
func (s *Stage) samePrompts(item *pipeline.Item, traj *pipeline.Trajectory) bool {
	_, p, err := s.instancePrompts(item)
	return err == nil && len(traj.Messages) >= 2 && traj.Messages[0].Content == p.system && traj.Messages[1].Content == p.instruction
}

func trajectoryRef(traj *pipeline.Trajectory, k int, ta pipeline.ArtifactRef) pipeline.TrajectoryRef {
	return pipeline.TrajectoryRef{TrajectoryID: traj.TrajectoryID, RolloutIndex: k, Model: traj.Model,
		Resolved: traj.Resolved, ExitStatus: traj.ExitStatus, NumTurns: traj.NumTurns,
		PromptTokens: traj.PromptTokens, CompletionTokens: traj.CompletionTokens, Trajectory: ta}
}

// Sample runs rollout k of item, grades it and stores it: the grading log first, the
// trajectory last, so that a stored trajectory means a finished sample. It returns the
// stored trajectory's reference and the artifacts written.
func (s *Stage) Sample(ctx context.Context, item *pipeline.Item, k int) (pipeline.TrajectoryRef, []pipeline.ArtifactRef, error) {
	var ref pipeline.TrajectoryRef
	traj, gradeLog, err := s.rollout(ctx, item, k)
	if err != nil {
		return ref, nil, err
	}
	var arts, gradeArts []pipeline.ArtifactRef
	if len(gradeLog) > 0 {
		ga, err := item.Artifacts.Put(GradeLogArtifact(k), gradeLog)
		if err != nil {
			return ref, nil, fmt.Errorf("storing %s sample %d: %w", item.Instance.InstanceID, k, err)
		}
		gradeArts = []pipeline.ArtifactRef{ga}
	}
	data, err := json.Marshal(traj)
	if err != nil {
		return ref, nil, err
	}
	ta, err := item.Artifacts.Put(TrajectoryArtifact(k), data)
	if err != nil {
		return ref, nil, fmt.Errorf("storing %s sample %d: %w", item.Instance.InstanceID, k, err)
	}
	ref = trajectoryRef(traj, k, ta)
	ref.Artifacts = gradeArts
	arts = append(append(arts, ta), gradeArts...)
	return ref, arts, nil
}

// rollout runs, grades and records one sample.
func (s *Stage) rollout(ctx context.Context, item *pipeline.Item, k int) (*pipeline.Trajectory, []byte, error) {
	inst, env := &item.Instance, item.Environment
	workDir, prompts, err := s.instancePrompts(item)
	if err != nil {
		return nil, nil, fmt.Errorf("rolling out %s sample %d: %w", inst.InstanceID, k, err)
	}
	seed := s.cfg.Seed + int64(k)
	traj := &pipeline.Trajectory{
		TrajectoryID: uuid.NewString(), InstanceID: inst.InstanceID, Repo: inst.Repo, RolloutIndex: k,
		Model: s.cfg.Model, Scaffold: Scaffold, PromptFormat: s.cfg.Protocol, Tools: prompts.toolsJSON,
		Temperature: s.cfg.Temperature, TopP: s.cfg.TopP, Seed: seed, CreatedAt: time.Now().UTC(),
	}
	log := item.Log.With().Int("sample", k).Logger()
	var model Model = s.client
	if s.cfg.Backend == BackendOracle {
		o, err := newOracle(inst, workDir)
		if err != nil {
			return nil, nil, err
		}
		model = o
	}

	ws, err := s.rt.Start(ctx, WorkspaceSpec{Image: env.ImageName, WorkDir: env.WorkDir, Path: workDir,
		Lifetime: s.cfg.RolloutTimeout + 15*time.Minute,
		Labels:   map[string]string{sandbox.LabelInstance: inst.InstanceID, LabelSample: strconv.Itoa(k)}})
	if err != nil {
		return nil, nil, fmt.Errorf("starting the workspace of %s sample %d: %w", inst.InstanceID, k, err)
	}
	defer ws.Close(ctx)
	// The wall clock runs from the moment the workspace is ready.
	rctx, cancel := context.WithTimeoutCause(ctx, s.cfg.RolloutTimeout, errRolloutTimeout)
	defer cancel()
	a := &agent{
		model: model, ws: ws, ed: newEditor(ws, workDir), leaks: newLeakWatch(inst.Patch, workDir, env.WorkDir), log: log,
		protocol: s.cfg.Protocol, prompts: prompts, tools: prompts.tools, toolJSON: prompts.toolsJSON, workDir: workDir,
		sampling: Sampling{Temperature: s.cfg.Temperature, TopP: s.cfg.TopP, Seed: seed, MaxTokens: s.cfg.MaxOutputTokens},
		limits: agentLimits{maxIterations: s.cfg.MaxIterations, contextTokens: s.cfg.ContextTokens,
			commandTimeout: s.cfg.CommandTimeout, noChangeTimeout: max(s.cfg.NoChangeTimeout, 0), maxObservation: s.cfg.MaxObservationChars,
			maxFormatErrors: s.cfg.MaxFormatErrors, example: !s.cfg.NoExample},
	}
	start := time.Now()
	status, err := a.run(rctx, prompts.system, prompts.instruction)
	if err != nil {
		if ctx.Err() != nil {
			return nil, nil, fmt.Errorf("rolling out %s sample %d: %w", inst.InstanceID, k, context.Cause(ctx))
		}
		return nil, nil, fmt.Errorf("rolling out %s sample %d: %w", inst.InstanceID, k, err)
	}
	traj.Messages, traj.Steps, traj.NumTurns = a.msgs, a.steps, a.turns
	traj.PromptTokens, traj.CompletionTokens, traj.ExitStatus = a.promptTokens, a.completionTokens, status

	// The patch is taken whatever the exit status, even after the wall clock ran out.
	dctx, dcancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Minute)
	diff, derr := ws.Diff(dctx, inst.BaseCommit)
	dcancel()
	if cerr := ws.Close(ctx); cerr != nil {
		log.Warn().Err(cerr).Msg("removing the rollout workspace")
	}
	if ctx.Err() != nil {
		return nil, nil, fmt.Errorf("rolling out %s sample %d: %w", inst.InstanceID, k, context.Cause(ctx))
	}
	var flags []string
	if dl, ok := ws.(interface{ DiskExceeded() int64 }); ok && dl.DiskExceeded() > 0 {
		flags = append(flags, FlagDiskLimit)
	}
	if derr != nil {
		if !errors.Is(derr, ErrWorkspaceGone) && status != ExitRuntimeError {
			return nil, nil, fmt.Errorf("taking the patch of %s sample %d: %w", inst.InstanceID, k, derr)
		}
		flags = append(flags, FlagNoPatch)
	}
	patch, paths := cleanPatch(diff)
	traj.ModelPatch = patch
	flags = append(flags, testFlags(paths, item.Validation)...)
	flags = append(flags, a.leaks.flags()...)

	var g Grade // the zero Grade, when there is no patch to grade, fails every test
	if patch == "" {
		if derr == nil {
			flags = append(flags, FlagEmptyPatch)
		}
	} else {
		var err error
		if g, err = s.grader.Grade(ctx, item, patch); err != nil {
			return nil, nil, fmt.Errorf("grading %s sample %d: %w", inst.InstanceID, k, err)
		}
		if g.Problem == FlagUnsafePatch {
			flags = append(flags, FlagUnsafePatch)
		} else if !g.Applied {
			flags = append(flags, FlagPatchRejected)
		} else if g.Problem != "" {
			flags = append(flags, FlagGradeProblem+":"+g.Problem)
		}
	}
	score := grade.Resolve(g, item.Validation.FailToPass, item.Validation.PassToPass)
	sort.Strings(flags)
	traj.Flags = flags
	traj.Resolved = score.Resolved
	traj.F2PPassed, traj.F2PTotal, traj.P2PPassed, traj.P2PTotal = score.Counts()
	ev := log.Info().Str("exit_status", status).Bool("resolved", traj.Resolved).Int("turns", traj.NumTurns).
		Int64("prompt_tokens", traj.PromptTokens).Dur("took", time.Since(start)).Strs("flags", flags)
	if a.note != "" {
		ev = ev.Str("note", a.note)
	}
	ev.Msg("rollout done")
	return traj, g.Log, nil
}
