// Package rollout is the rollout stage: it runs agent trajectories on validated instances
// against an OpenAI-compatible served model, grades each final patch in a fresh container
// and records every trajectory, resolved or not.
//
// The agent follows OpenHands CodeAct v0.32, which Skywork-SWE-32B was trained and
// evaluated with: the tools execute_bash, think, finish and str_replace_editor with the same
// names, parameters and observation conventions (package codeact), over one of two wire
// protocols: "text" (tools described in the system prompt, <function=...> calls, stop at
// "</function", results as "EXECUTION RESULT of [NAME]:" user messages) or "native" (tools
// and tool_calls). Whatever the protocol, the trajectory is stored in canonical OpenAI
// message form (role, content, tool_calls, tool_call_id, name).
//
// Wiring, in the CLI:
//
//	rt, _ := rollout.NewDockerRuntime(cli, rollout.DockerConfig{Sandbox: sandbox.Config{RunID: run}}, log) // cli: envbuild.Connect's
//	rt.Sweep(ctx)                    // once per run: removes what a killed process left
//	stage, _ := rollout.New(rollout.Config{
//		Backend: "openai", Protocol: "text",
//		BaseURL: "http://localhost:8000/v1", Model: "Skywork-SWE-32B",
//		APIKey:  os.Getenv("OPENAI_API_KEY"),
//		Samples: 4, Temperature: 0.5, Seed: 1,
//	}, rt, grader)                   // grader: validate's, behind the Grader interface
//	defer stage.Close()
//	// stage is a pipeline.Processor for pipeline.StageRollout.
//
// Every text the agent is given (system prompt, instruction, in-context example, tool
// descriptions, the answers to replies that call nothing) is a text/template: swemill's own
// wording in the prompts directory, or a team's, file by file (Config.Prompts, PromptSystem).
//
// One rollout: a workspace of the sandbox (sandbox.Sandbox.StartWorkspace: a container of
// the instance image in the sandbox's limits, the repository copied to Config.Workspace,
// OpenHands' /workspace/<repo>__<version> by default) with two persistent bash sessions
// (sandbox.Shell: the agent's, and a private one for file operations and the diff) is
// started; the model is called until it calls finish or a limit ends the rollout (exit
// status finish, max_iterations, context_limit, format_error, runtime_error or timeout);
// the patch is `git add -A && git diff --cached <base_commit>` without binary sections; the
// container is removed; the Grader runs FAIL_TO_PASS and PASS_TO_PASS in a fresh container;
// the trajectory is resolved iff every one passes. Trajectories that edit test files, or
// read outside the work directory a copy of a file the gold patch changes, are flagged. The
// stage makes no Engine call itself: containers, execs and shells are the sandbox's.
//
// Samples are independent: one failing leaves the others to finish and be stored, and the
// item's retry (same generation) reuses every stored sample and rolls out only the missing
// ones. Config.AttemptTimeout says how long an attempt needs for all of them.
//
// The oracle backend solves each task with its gold patch through the same tools; it is
// the harness's self-check and the offline demo's model.
package rollout
