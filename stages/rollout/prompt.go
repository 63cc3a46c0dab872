package rollout

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"text/template"

	"swemill/codeact"
	"swemill/pipeline"
)

// The prompt files. A prompt directory (Config.Prompts) may hold any of them; each one it
// lacks takes the built-in text, swemill's own wording (the prompts directory of this
// package). Every file is a Go text/template executed with a PromptData; one final newline
// of a file is dropped (editors add one), so a piece that must end with a newline ends the
// file with two.
const (
	// PromptSystem is the system prompt. In the text protocol the tool block (the tools'
	// descriptions, then the format rules) follows it, in the stored trajectory too.
	PromptSystem = "system.tmpl"
	// PromptInstruction is the first user message: the task.
	PromptInstruction = "instruction.tmpl"
	// PromptExample is the first user message of text-protocol requests: an in-context
	// example around the task (PromptData.Instruction). Config.NoExample leaves it out; the
	// stored trajectory keeps the instruction alone.
	PromptExample = "example.tmpl"
	// PromptNoCall answers a reply that calls no function.
	PromptNoCall = "no_call.tmpl"
	// PromptGiveUp is appended to the no-call message once an earlier reply of the rollout
	// was answered with the no-call or the empty-reply message (OpenHands' SWE-bench harness
	// adds its give-up hint from its second answer on). Built in: empty.
	PromptGiveUp = "give_up.tmpl"
	// PromptEmptyReply answers an empty reply.
	PromptEmptyReply = "empty_reply.tmpl"
	// PromptFormatError answers a text-protocol reply whose call cannot be run
	// (PromptData.Error says why).
	PromptFormatError = "format_error.tmpl"
	// PromptBashIdle answers execute_bash's empty command or is_input when no command runs
	// (PromptData.Input says which).
	PromptBashIdle = "bash_idle.tmpl"
	// PromptBashNotRun follows the output of the running command when another command
	// (PromptData.Command) came without is_input: it was not run.
	PromptBashNotRun = "bash_not_run.tmpl"
	// PromptBashMultiple answers an execute_bash call of several commands
	// (PromptData.Commands), which is refused; the error suffix follows it.
	PromptBashMultiple = "bash_multiple.tmpl"
	// PromptFormatRules, when present, replaces the rules that end the text protocol's tool
	// block. Built in: codeact.FormatRules, which the sft export renders too.
	PromptFormatRules = "format_rules.tmpl"
)

// ToolPromptFile names the file of a tool's description, "tool_<tool>.tmpl", or with a
// parameter, of the parameter's: "tool_<tool>.<param>.tmpl" (e.g.
// "tool_execute_bash.command.tmpl"). The tools are codeact's: their names, parameters and
// allowed values are fixed; only their descriptions are templates.
func ToolPromptFile(tool, param string) string {
	if param == "" {
		return "tool_" + tool + ".tmpl"
	}
	return "tool_" + tool + "." + param + ".tmpl"
}

// DefaultWorkspace is Config.Workspace's default: where OpenHands' SWE-bench harness puts the
// repository, /workspace/<repo>__<version> with every "/" written "__" (django/django at 3.0:
// /workspace/django__django__3.0).
const DefaultWorkspace = `/workspace/{{print .Repo "__" .Version | replace "/" "__"}}`

// PromptData is what the prompt templates, and Config.Workspace, are executed with.
type PromptData struct {
	// InstanceID, Repo ("owner/name"), Version, BaseCommit, ProblemStatement (as mined; the
	// built-in instruction trims it), HintsText and Language ("python", "go") are the
	// instance's.
	InstanceID, Repo, Version, BaseCommit, ProblemStatement, HintsText, Language string
	// Workspace is the repository's directory in the agent's workspace (Config.Workspace
	// executed); empty while Config.Workspace itself is executed.
	Workspace string
	// Protocol is "text" or "native".
	Protocol string
	// MaxIterations caps the model calls of the rollout. CommandTimeout is execute_bash's
	// limit in seconds; NoChangeTimeout how many seconds of silence return a command still
	// running (0: never).
	MaxIterations, CommandTimeout, NoChangeTimeout int
	// Instruction is the executed instruction.tmpl; set for example.tmpl only.
	Instruction string
	// Error says why the reply's call cannot be run; set for format_error.tmpl only.
	Error string
	// Command is the command that was not run (bash_not_run.tmpl); Commands the commands
	// of a refused call (bash_multiple.tmpl); Input says the idle call had is_input set
	// (bash_idle.tmpl).
	Command  string
	Commands []string
	Input    bool
}

// promptFuncs are the functions templates may call besides text/template's own: trim
// (strings.TrimSpace), replace OLD NEW S (strings.ReplaceAll, arguments in the order that
// suits a pipeline: {{.Repo | replace "/" "__"}}) and inc (N+1, to number from one).
var promptFuncs = template.FuncMap{
	"trim":    strings.TrimSpace,
	"inc":     func(n int) int { return n + 1 },
	"replace": func(old, new, s string) string { return strings.ReplaceAll(s, old, new) },
}

//go:embed prompts/*.tmpl
var builtinPrompts embed.FS

// promptSet is the parsed prompt files and workspace template of a configuration.
type promptSet struct {
	pieces    map[string]*template.Template // by file name; format_rules.tmpl only when supplied
	workspace *template.Template
}

// promptFiles lists the files a prompt directory may hold.
func promptFiles() []string {
	files := []string{PromptSystem, PromptInstruction, PromptExample, PromptNoCall, PromptGiveUp, PromptEmptyReply, PromptFormatError,
		PromptBashIdle, PromptBashNotRun, PromptBashMultiple}
	for _, t := range codeact.Tools() {
		files = append(files, ToolPromptFile(t.Name, ""))
		for _, p := range t.Params {
			files = append(files, ToolPromptFile(t.Name, p.Name))
		}
	}
	return files
}

// loadPrompts parses the prompt files of dir (the built-in ones where dir is empty or lacks
// them) and the workspace template, and executes each on sample data: parse errors, unknown
// fields and functions and failing executions are found here, named by file and line. A file
// of dir ending in .tmpl whose name is not a prompt file's is refused too (a misspelt name
// would otherwise leave the built-in text in place unnoticed); other files are ignored.
func loadPrompts(dir, workspace string) (*promptSet, error) {
	ps := &promptSet{pieces: map[string]*template.Template{}}
	known := promptFiles()
	var supplied map[string]bool
	if dir != "" {
		entries, err := os.ReadDir(dir)
		if err != nil {
			return nil, fmt.Errorf("Config.Prompts: reading the prompt directory: %w", err)
		}
		supplied = map[string]bool{}
		for _, e := range entries {
			name := e.Name()
			if e.IsDir() || !strings.HasSuffix(name, ".tmpl") {
				continue
			}
			if !contains(known, name) && name != PromptFormatRules {
				return nil, fmt.Errorf("Config.Prompts: %s is not a prompt file (they are %s, %s and the tool files such as %s)",
					filepath.Join(dir, name), strings.Join(known[:10], ", "), PromptFormatRules, ToolPromptFile(codeact.Bash, "command"))
			}
			supplied[name] = true
		}
	}
	files := append(known, PromptFormatRules)
	for _, name := range files {
		var text []byte
		var shown string
		var err error
		switch {
		case supplied[name]:
			shown = filepath.Join(dir, name)
			text, err = os.ReadFile(shown)
		case name == PromptFormatRules:
			continue
		default:
			shown = "built-in prompts/" + name
			text, err = fs.ReadFile(builtinPrompts, "prompts/"+name)
		}
		if err != nil {
			return nil, fmt.Errorf("Config.Prompts: %w", err)
		}
		t, err := template.New(shown).Funcs(promptFuncs).Option("missingkey=error").Parse(strings.TrimSuffix(string(text), "\n"))
		if err != nil {
			return nil, fmt.Errorf("Config.Prompts: %w", err)
		}
		ps.pieces[name] = t
	}
	if workspace == "" {
		workspace = DefaultWorkspace
	}
	t, err := template.New("Config.Workspace").Funcs(promptFuncs).Option("missingkey=error").Parse(workspace)
	if err != nil {
		return nil, fmt.Errorf("Config.Workspace: %w", err)
	}
	ps.workspace = t

	sample := samplePromptData()
	ws, err := ps.workspacePath(sample)
	if err != nil {
		return nil, err
	}
	sample.Workspace = ws
	for _, protocol := range []string{ProtocolText, ProtocolNative} {
		sample.Protocol = protocol
		if _, err := ps.render(sample, true); err != nil {
			return nil, err
		}
	}
	return ps, nil
}

// samplePromptData is the data templates are checked with at start-up.
func samplePromptData() PromptData {
	return PromptData{InstanceID: "owner__name-1", Repo: "owner/name", Version: "1.0", BaseCommit: strings.Repeat("0", 40),
		ProblemStatement: "A sample issue\n\nSomething does not work.\n", HintsText: "A sample hint.", Language: "python",
		MaxIterations: 100, CommandTimeout: 180, NoChangeTimeout: 30}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// workspacePathRE is what a workspace path may hold: plain names, no spaces, quotes or shell
// syntax.
var workspacePathRE = regexp.MustCompile(`^(/[A-Za-z0-9._+@-]+)+$`)

// workspacePath executes the workspace template for d and checks the result: a clean
// absolute path of plain names.
func (ps *promptSet) workspacePath(d PromptData) (string, error) {
	d.Workspace = ""
	var b bytes.Buffer
	if err := ps.workspace.Execute(&b, d); err != nil {
		return "", fmt.Errorf("Config.Workspace: %w", err)
	}
	p := b.String()
	if !workspacePathRE.MatchString(p) || path.Clean(p) != p {
		return "", fmt.Errorf("Config.Workspace: %q (for %s) is not a clean absolute path of plain names (letters, digits, . _ + @ -)", p, d.InstanceID)
	}
	return p, nil
}

// checkWorkspace refuses a workspace path that holds the image's work directory or lies
// inside it: the repository cannot be copied into itself.
func checkWorkspace(ws, workDir string) error {
	workDir = path.Clean(workDir)
	if ws == workDir {
		return nil
	}
	if strings.HasPrefix(ws+"/", workDir+"/") || strings.HasPrefix(workDir+"/", ws+"/") {
		return fmt.Errorf("Config.Workspace: %s and the image's work directory %s are inside one another", ws, workDir)
	}
	return nil
}

// prompts are the pieces executed for one rollout.
type prompts struct {
	set                                 *promptSet
	data                                PromptData
	system, instruction, example        string
	noCall, giveUp, emptyReply, formats string // formats: "" for codeact's rules
	tools                               []codeact.Tool
	toolsJSON                           json.RawMessage
}

func (ps *promptSet) exec(name string, d PromptData) (string, error) {
	var b strings.Builder
	if err := ps.pieces[name].Execute(&b, d); err != nil {
		return "", fmt.Errorf("Config.Prompts: %w", err)
	}
	return b.String(), nil
}

// render executes every piece for d (d.Workspace set). checkAll executes format_error.tmpl
// too, with a sample error (a rollout executes it when it needs it).
func (ps *promptSet) render(d PromptData, checkAll bool) (*prompts, error) {
	p := &prompts{set: ps, data: d}
	var err error
	for _, x := range []struct {
		name string
		dst  *string
	}{
		{PromptSystem, &p.system}, {PromptInstruction, &p.instruction}, {PromptNoCall, &p.noCall},
		{PromptGiveUp, &p.giveUp}, {PromptEmptyReply, &p.emptyReply},
	} {
		if *x.dst, err = ps.exec(x.name, d); err != nil {
			return nil, err
		}
	}
	if d.Protocol == ProtocolText || checkAll {
		ed := d
		ed.Instruction = p.instruction
		if p.example, err = ps.exec(PromptExample, ed); err != nil {
			return nil, err
		}
		if ps.pieces[PromptFormatRules] != nil {
			if p.formats, err = ps.exec(PromptFormatRules, d); err != nil {
				return nil, err
			}
		}
	}
	if checkAll {
		if _, err := p.formatError("Missing required parameter \"command\" of function execute_bash."); err != nil {
			return nil, err
		}
		for _, x := range []struct {
			name string
			d    PromptData
		}{
			{PromptBashIdle, PromptData{Input: true}}, {PromptBashIdle, PromptData{}},
			{PromptBashNotRun, PromptData{Command: "ls"}},
			{PromptBashMultiple, PromptData{Commands: []string{"ls", "pwd"}}},
		} {
			if _, _, err := p.observation(x.name, x.d); err != nil {
				return nil, err
			}
		}
	}
	p.tools = codeact.Tools()
	for i := range p.tools {
		t := &p.tools[i]
		if t.Description, err = ps.exec(ToolPromptFile(t.Name, ""), d); err != nil {
			return nil, err
		}
		for j := range t.Params {
			if t.Params[j].Description, err = ps.exec(ToolPromptFile(t.Name, t.Params[j].Name), d); err != nil {
				return nil, err
			}
		}
	}
	p.toolsJSON = codeact.ToolsJSON(p.tools)
	if d.Protocol == ProtocolText {
		// The system message is stored as the model reads it: with the tool block and the
		// format rules, which the SFT exports then keep as they are.
		p.system = codeact.RenderText([]pipeline.Message{{Role: "system", Content: p.system}}, p.tools,
			codeact.RenderOptions{FormatRules: p.formats})[0].Content
	}
	return p, nil
}

// formatError is the answer to a reply whose call cannot be run: msg says why.
func (p *prompts) formatError(msg string) (string, error) {
	d := p.data
	d.Error = msg
	return p.set.exec(PromptFormatError, d)
}

// observation executes an observation template: the rollout's data with the fields of d
// that the template is about (Command, Commands, Input). The second result is an empty exit
// status, for the tool functions that return one.
func (p *prompts) observation(name string, d PromptData) (string, string, error) {
	full := p.data
	full.Command, full.Commands, full.Input = d.Command, d.Commands, d.Input
	text, err := p.set.exec(name, full)
	return text, "", err
}

// promptData is the data of item's prompts (Workspace not set yet).
func (s *Stage) promptData(inst *pipeline.Instance) PromptData {
	return PromptData{InstanceID: inst.InstanceID, Repo: inst.Repo, Version: inst.Version, BaseCommit: inst.BaseCommit,
		ProblemStatement: inst.ProblemStatement, HintsText: inst.HintsText, Language: inst.Language,
		Protocol: s.cfg.Protocol, MaxIterations: s.cfg.MaxIterations,
		CommandTimeout: int(s.cfg.CommandTimeout.Seconds()), NoChangeTimeout: int(max(s.cfg.NoChangeTimeout, 0).Seconds())}
}

// instancePrompts returns where the repository is in the workspace of item's rollouts and
// their prompts.
func (s *Stage) instancePrompts(item *pipeline.Item) (string, *prompts, error) {
	d := s.promptData(&item.Instance)
	ws, err := s.prompts.workspacePath(d)
	if err != nil {
		return "", nil, err
	}
	if err := checkWorkspace(ws, item.Environment.WorkDir); err != nil {
		return "", nil, err
	}
	d.Workspace = ws
	p, err := s.prompts.render(d, false)
	if err != nil {
		return "", nil, err
	}
	return ws, p, nil
}
