package export

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"regexp"
	"slices"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"

	"swemill/pipeline"
)

// stats are what the card says about the rows, gathered while they stream.
type stats struct {
	repos, languages, licenses map[string]int64
	// sweParsers counts the tasks by the SWE-bench parser they name ("" for none).
	sweParsers map[string]int64
	models     map[string]*modelStats
	// scaffolds counts the trajectories by their scaffold label.
	scaffolds map[string]int64
	problems  map[string]int64
	// registries counts the tasks whose image was pushed, by registry host; local those whose
	// image was not.
	registries map[string]int64
	local      int64
}

type modelStats struct{ rollouts, resolved int64 }

func newStats() *stats {
	return &stats{
		repos: map[string]int64{}, languages: map[string]int64{}, licenses: map[string]int64{},
		sweParsers: map[string]int64{}, models: map[string]*modelStats{}, scaffolds: map[string]int64{}, problems: map[string]int64{},
		registries: map[string]int64{},
	}
}

func (s *stats) addTask(t *Task, r *taskRow) {
	if ref := t.Environment.ImageRef; ref != "" {
		host, _, _ := strings.Cut(ref, "/")
		s.registries[host]++
	} else {
		s.local++
	}
	s.repos[r[taskIndex["repo"]]]++
	s.languages[cmp.Or(r[taskIndex["language"]], "unknown")]++
	s.licenses[cmp.Or(r[taskIndex["license"]], "unknown")]++
	s.sweParsers[r[taskIndex["log_parser"]]]++
}

func (s *stats) addTrajectory(t *pipeline.Trajectory) {
	s.scaffolds[t.Scaffold]++
	m := s.models[t.Model]
	if m == nil {
		m = &modelStats{}
		s.models[t.Model] = m
	}
	m.rollouts++
	if t.Resolved {
		m.resolved++
	}
}

type count struct {
	name string
	n    int64
}

// sorted orders counts by count descending, then name.
func sorted(m map[string]int64) []count {
	out := make([]count, 0, len(m))
	for k, v := range m {
		out = append(out, count{k, v})
	}
	slices.SortFunc(out, func(a, b count) int {
		return cmp.Or(cmp.Compare(b.n, a.n), strings.Compare(a.name, b.name))
	})
	return out
}

var configSchemas = map[string]*arrow.Schema{
	ConfigTasks: TaskSchema, ConfigTrajectories: TrajectorySchema, ConfigSFT: SFTSchema,
	ConfigSFTNative: SFTNativeSchema,
}

// configSummary is one config as the card shows it.
type configSummary struct {
	name                         string
	rows, numBytes, downloadSize int64
	files                        int
}

// cardConfigs returns the configs that have rows, the default first, then by name.
func cardConfigs(rep *Report) []configSummary {
	byName := map[string]*configSummary{}
	for _, f := range rep.Files {
		if f.Config == "" {
			continue
		}
		c := byName[f.Config]
		if c == nil {
			c = &configSummary{name: f.Config}
			byName[f.Config] = c
		}
		c.rows += f.Rows
		c.numBytes += f.UncompressedBytes
		c.downloadSize += f.Size
		c.files++
	}
	var out []configSummary
	for _, c := range byName {
		out = append(out, *c)
	}
	def := defaultConfig(out)
	slices.SortFunc(out, func(a, b configSummary) int {
		if (a.name == def) != (b.name == def) {
			if a.name == def {
				return -1
			}
			return 1
		}
		return strings.Compare(a.name, b.name)
	})
	return out
}

// writeSWEbench says which tasks SWE-bench's evaluation harness can grade as they are: those
// whose log_parser names a parser of its registry that yields their test ids.
func writeSWEbench(b *strings.Builder, st *stats, tasks int64) {
	if tasks == 0 {
		return
	}
	named := tasks - st.sweParsers[""]
	fmt.Fprintf(b, "For SWE-bench's evaluation harness (its test-spec columns `image`, `log_parser`, `eval_type` and "+
		"`eval_script`, read by its current release), %d of %d tasks name a parser of its registry whose reading of "+
		"the eval script's output yields their test ids", named, tasks)
	var names []string
	for k := range st.sweParsers {
		if k != "" {
			names = append(names, k)
		}
	}
	slices.Sort(names)
	for i, k := range names {
		sep := ", "
		if i == 0 {
			sep = " ("
		}
		fmt.Fprintf(b, "%s`%s`: %d", sep, k, st.sweParsers[k])
	}
	if len(names) > 0 {
		b.WriteString(")")
	}
	b.WriteString(". ")
	if st.sweParsers[""] > 0 {
		fmt.Fprintf(b, "The other %d have an empty `log_parser`, and `log_parser_note` says why; the harness cannot grade them. ", st.sweParsers[""])
	}
	writeImages(b, st)
}

// writeImages says where the tasks' images are: in a registry, by digest, or only on the
// machine that built them.
func writeImages(b *strings.Builder, st *stats) {
	hosts := slices.Sorted(maps.Keys(st.registries))
	for i, h := range hosts {
		if i == 0 {
			b.WriteString("The images of ")
		} else {
			b.WriteString("; of ")
		}
		fmt.Fprintf(b, "%d tasks are in the registry `%s`", st.registries[h], h)
	}
	if len(hosts) > 0 {
		b.WriteString(", named by digest in `image` and `image_name`: `docker pull <image>` gets exactly the image the task was validated in. ")
	}
	switch {
	case st.local > 0 && len(hosts) > 0:
		fmt.Fprintf(b, "The images of the other %d tasks were not pushed: `image` names them as the engine that built them has them.\n\n", st.local)
	case st.local > 0:
		b.WriteString("The images named in `image` were not pushed to a registry: they are on the engine that built them (`swemill images push` pushes them and records where).\n\n")
	default:
		b.WriteString("\n\n")
	}
}

// writeSFT describes the SFT configs: what was cleaned or left out, and how to read
// sft_native with a chat template.
func writeSFT(b *strings.Builder, rep *Report, configs []configSummary) {
	b.WriteString("## SFT data\n\n")
	fmt.Fprintf(b, "`%s` and `%s` hold the same trajectories as training data, without what a model should not "+
		"learn: the messages that answered a malformed reply are removed (the malformed reply itself is not "+
		"stored), and a trajectory with a turn that is still malformed (a tool call that names no tool or whose "+
		"arguments do not fit the tool's parameters, or a function call written in the text of a message that "+
		"calls nothing) is left out of both. The `%s` config keeps every message, those answers included.\n\n",
		ConfigSFT, ConfigSFTNative, ConfigTrajectories)
	b.WriteString("| | count |\n|---|---:|\n")
	fmt.Fprintf(b, "| `%s` rows | %d |\n| `%s` rows | %d |\n", ConfigSFT, rep.SFT, ConfigSFTNative, rep.SFTNative)
	fmt.Fprintf(b, "| trajectories cleaned | %d |\n| messages removed from them | %d |\n", rep.SFTCleaned, rep.SFTMessagesRemoved)
	fmt.Fprintf(b, "| trajectories left out for a malformed turn | %d |\n\n", rep.SFTExcluded)
	fmt.Fprintf(b, "In `%s` each message has `role` and `content` only: the tools are described at the end of the "+
		"system message, each assistant message makes one call written "+
		"`<function=NAME><parameter=KEY>VALUE</parameter></function>`, and each tool result is a user message "+
		"starting `EXECUTION RESULT of [NAME]:`.\n\n", ConfigSFT)
	fmt.Fprintf(b, "In `%s`, `messages` is a JSON array of OpenAI chat messages (`role` and `content`; `tool_calls` on "+
		"assistant messages that call tools; `tool_call_id` and `name` on tool results) in which each call's "+
		"`function.arguments` is a JSON object, and `tools` is a JSON array of "+
		"`{\"type\": \"function\", \"function\": {\"name\", \"description\", \"parameters\"}}`: the forms Hugging Face "+
		"chat templates take. They are JSON texts rather than nested columns because a nested column would need the "+
		"union of every tool's parameter names and would give a template `null` for each parameter a call leaves "+
		"out. The system message holds no text-protocol tool block; the chat template describes the tools from "+
		"`tools`.\n\n", ConfigSFTNative)
	for _, c := range configs {
		if c.name != ConfigSFTNative {
			continue
		}
		fmt.Fprintf(b, "```python\nimport json\n\nfrom transformers import AutoTokenizer\n\n"+
			"tokenizer = AutoTokenizer.from_pretrained(\"<a model whose chat template takes tools>\")\n"+
			"row = %s[0]\n"+
			"text = tokenizer.apply_chat_template(json.loads(row[\"messages\"]), tools=json.loads(row[\"tools\"]), tokenize=False)\n"+
			"```\n\n", ConfigSFTNative)
	}
}

// scaffoldClaims says, per scaffold label a trajectory can carry, what of another agent the
// rollouts match; a label not listed gets no claim.
var scaffoldClaims = map[string]string{
	"openhands-codeact-v0.32-forms": "OpenHands 0.32's CodeAct agent in its tools (names, parameters, allowed values), " +
		"its text function-calling protocol or native tool calls (`prompt_format`), its observation forms (status lines, " +
		"stripped output and parameters, refusals, timeouts that leave a command running, input to a running command) and " +
		"error messages in place of malformed replies, checked against its source at tag 0.32.0. The wording of the system " +
		"prompt, the instruction, the tool descriptions and the few messages without a fixed form is the run's prompt " +
		"templates (swemill's own unless the team supplied others), not OpenHands'",
	"openhands-codeact-v0.32": "OpenHands 0.32's CodeAct tools and text protocol; its observation forms differ from " +
		"OpenHands' in places (output spacing, timeouts, malformed replies kept), and the prompt wording is swemill's",
}

// writeScaffolds states, for the scaffold labels of the trajectories, what each matches.
func writeScaffolds(b *strings.Builder, scaffolds map[string]int64) {
	for _, k := range sorted(scaffolds) {
		claim, ok := scaffoldClaims[k.name]
		if !ok {
			claim = "no claim about other agents is made for it"
		}
		fmt.Fprintf(b, "Scaffold `%s` (%d trajectories): %s.\n\n", strings.ReplaceAll(k.name, "`", "'"), k.n, claim)
	}
}

func defaultConfig(cs []configSummary) string {
	for _, want := range []string{ConfigTasks, ConfigTrajectories, ConfigSFT, ConfigSFTNative} {
		for _, c := range cs {
			if c.name == want {
				return want
			}
		}
	}
	return ""
}

var plainScalar = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9 ._/-]*$`)

// yamlScalar writes s as a YAML scalar: plain when that is unambiguous, else JSON-quoted
// (a JSON string is a valid YAML double-quoted scalar).
func yamlScalar(s string) string {
	switch strings.ToLower(s) {
	case "", "null", "true", "false", "yes", "no", "on", "off", "~":
		b, _ := json.Marshal(s)
		return string(b)
	}
	if plainScalar.MatchString(s) && !strings.HasSuffix(s, " ") && strings.Trim(s, "0123456789.-") != "" {
		return s
	}
	b, _ := json.Marshal(s)
	return string(b)
}

// featureDtype maps a primitive Arrow type to the datasets dtype.
func featureDtype(t arrow.DataType) (string, error) {
	switch t := t.(type) {
	case *arrow.StringType:
		return "string", nil
	case *arrow.LargeStringType:
		return "large_string", nil
	case *arrow.BooleanType:
		return "bool", nil
	case *arrow.Int32Type:
		return "int32", nil
	case *arrow.Int64Type:
		return "int64", nil
	case *arrow.Float64Type:
		return "float64", nil
	case *arrow.TimestampType:
		unit := map[arrow.TimeUnit]string{arrow.Second: "s", arrow.Millisecond: "ms", arrow.Microsecond: "us", arrow.Nanosecond: "ns"}[t.Unit]
		if t.TimeZone == "" {
			return "timestamp[" + unit + "]", nil
		}
		return "timestamp[" + unit + ", tz=" + t.TimeZone + "]", nil
	}
	return "", fmt.Errorf("no datasets feature for Arrow type %s", t)
}

// writeFeatures writes fields in the YAML form of datasets' features (features.py
// _to_yaml_list): {name, dtype}, {name, list: dtype | [fields]}, {name, struct: [fields]}.
func writeFeatures(b *strings.Builder, indent string, fields []arrow.Field) error {
	for _, f := range fields {
		fmt.Fprintf(b, "%s- name: %s\n", indent, yamlScalar(f.Name))
		if err := writeFeatureType(b, indent+"  ", f.Type); err != nil {
			return fmt.Errorf("field %s: %w", f.Name, err)
		}
	}
	return nil
}

func writeFeatureType(b *strings.Builder, indent string, t arrow.DataType) error {
	switch t := t.(type) {
	case *arrow.ListType:
		switch e := t.Elem().(type) {
		case *arrow.StructType:
			b.WriteString(indent + "list:\n")
			return writeFeatures(b, indent, e.Fields())
		default:
			d, err := featureDtype(e)
			if err != nil {
				return err
			}
			b.WriteString(indent + "list: " + d + "\n")
			return nil
		}
	case *arrow.StructType:
		b.WriteString(indent + "struct:\n")
		return writeFeatures(b, indent, t.Fields())
	}
	d, err := featureDtype(t)
	if err != nil {
		return err
	}
	b.WriteString(indent + "dtype: " + d + "\n")
	return nil
}

var configDescriptions = map[string]string{
	ConfigTasks:        "validated task instances, SWE-bench columns plus the runtime image and recipe",
	ConfigTrajectories: "agent trajectories in OpenAI chat form (`messages` with `tool_calls`), graded by the task's tests",
	ConfigSFT:          "the same trajectories rendered in the OpenHands text function-calling protocol (`role`, `content` only)",
	ConfigSFTNative:    "the same trajectories in OpenAI chat form for chat templates: `messages` and `tools` as JSON texts, each tool call's `arguments` a JSON object",
}

func mdCell(s string) string {
	return strings.NewReplacer("|", `\|`, "\n", " ").Replace(s)
}

// renderCard returns README.md: the Hub's YAML header, then prose generated from the run.
func renderCard(cfg *Config, run RunInfo, funnel Funnel, rep *Report, st *stats) ([]byte, error) {
	configs := cardConfigs(rep)
	var b strings.Builder
	b.WriteString("---\n")
	b.WriteString("license: " + yamlScalar(cfg.License) + "\n")
	b.WriteString("pretty_name: " + yamlScalar(cfg.PrettyName) + "\n")
	b.WriteString("task_categories:\n- text-generation\n")
	b.WriteString("tags:\n- code\n- software-engineering\n- swe-bench\n- agent-trajectories\n- swemill\n")
	if len(configs) > 0 {
		b.WriteString("configs:\n")
		for i, c := range configs {
			b.WriteString("- config_name: " + c.name + "\n")
			if i == 0 {
				b.WriteString("  default: true\n")
			}
			b.WriteString("  data_files:\n")
			fmt.Fprintf(&b, "  - split: %s\n    path: data/%s/%s-*\n", cfg.Split, c.name, cfg.Split)
		}
		b.WriteString("dataset_info:\n")
		for _, c := range configs {
			b.WriteString("- config_name: " + c.name + "\n  features:\n")
			if err := writeFeatures(&b, "  ", configSchemas[c.name].Fields()); err != nil {
				return nil, fmt.Errorf("writing the %s features: %w", c.name, err)
			}
			fmt.Fprintf(&b, "  splits:\n  - name: %s\n    num_bytes: %d\n    num_examples: %d\n", cfg.Split, c.numBytes, c.rows)
			fmt.Fprintf(&b, "  download_size: %d\n  dataset_size: %d\n", c.downloadSize, c.numBytes)
		}
	}
	b.WriteString("---\n\n")

	fmt.Fprintf(&b, "# %s\n\n", cfg.PrettyName)
	fmt.Fprintf(&b, "Executable software-engineering tasks milled from merged GitHub pull requests by "+
		"swemill %s. Each task is a repository at `base_commit`, the issue it fixes "+
		"(`problem_statement`), the pull request's code change (`patch`) and test change (`test_patch`), and the "+
		"tests that fail before the fix and pass after it (`FAIL_TO_PASS`) or pass on both sides "+
		"(`PASS_TO_PASS`), as found by running them repeatedly in the task's Docker image (`image`). "+
		"The `tasks` columns keep SWE-bench's names and types.\n\n",
		"`"+cmp.Or(run.Version, "unknown")+"`")
	writeSWEbench(&b, st, rep.Tasks)
	if rep.Trajectories > 0 {
		resolved := int64(0)
		for _, m := range st.models {
			resolved += m.resolved
		}
		fmt.Fprintf(&b, "It also holds %d agent trajectories rolled out on these tasks, each graded in a fresh "+
			"container by the task's tests; %d of them resolved their task.", rep.Trajectories, resolved)
		if cfg.ResolvedOnly {
			fmt.Fprintf(&b, " Only resolved trajectories were exported (%d unresolved left out).", rep.SkippedUnresolved)
		}
		b.WriteString("\n\n")
	}

	b.WriteString("## Configurations\n\n| config | split | rows | files | contents |\n|---|---|---:|---:|---|\n")
	for _, c := range configs {
		fmt.Fprintf(&b, "| `%s` | %s | %d | %d | %s |\n", c.name, cfg.Split, c.rows, c.files, configDescriptions[c.name])
	}
	b.WriteString("\n```python\nfrom datasets import load_dataset\n\n")
	for _, c := range configs {
		fmt.Fprintf(&b, "%s = load_dataset(\"<this repository>\", %q, split=%q)\n", c.name, c.name, cfg.Split)
	}
	b.WriteString("```\n\n")
	if cfg.SFT {
		writeSFT(&b, rep, configs)
	}

	writeFunnel(&b, funnel)

	fmt.Fprintf(&b, "## Repositories\n\n%d tasks from %d repositories.\n\n", rep.Tasks, len(st.repos))
	writeCounts(&b, "repository", "tasks", sorted(st.repos), 30, "see `manifest.json` and the `repo` column")
	b.WriteString("## Languages\n\n")
	writeCounts(&b, "language", "tasks", sorted(st.languages), 0, "")
	fmt.Fprintf(&b, "## Licences\n\nThe card's licence is `%s`; each task keeps its repository's licence in the `license` column:\n\n", cfg.License)
	writeCounts(&b, "licence", "tasks", sorted(st.licenses), 0, "")

	if len(st.models) > 0 {
		b.WriteString("## Trajectories\n\n| model | trajectories | resolved | rate |\n|---|---:|---:|---:|\n")
		names := make([]string, 0, len(st.models))
		for k := range st.models {
			names = append(names, k)
		}
		slices.Sort(names)
		for _, k := range names {
			m := st.models[k]
			fmt.Fprintf(&b, "| %s | %d | %d | %.1f%% |\n", mdCell(k), m.rollouts, m.resolved, 100*float64(m.resolved)/float64(m.rollouts))
		}
		b.WriteString("\n")
		writeScaffolds(&b, st.scaffolds)
	}

	b.WriteString("## Data quality\n\n")
	if rep.ProblemCount == 0 {
		b.WriteString("Every row was written as produced: no invalid UTF-8, no row over the row-group limit.\n\n")
	} else {
		fmt.Fprintf(&b, "%d rows were repaired or left out; `manifest.json` lists each with its instance id.\n\n", rep.ProblemCount)
		writeCounts(&b, "problem", "rows", sorted(st.problems), 0, "")
	}

	b.WriteString("## Provenance\n\n")
	fmt.Fprintf(&b, "- Pipeline: swemill `%s`.\n", cmp.Or(run.Version, "unknown"))
	fmt.Fprintf(&b, "- Export: split `%s`, resolved only: %t, sft: %t, shards up to %d bytes and row groups up to %d bytes uncompressed, zstd level %d, page index; invalid UTF-8: %s.\n",
		cfg.Split, cfg.ResolvedOnly, cfg.SFT, cfg.MaxShardBytes, cfg.MaxRowGroupBytes, cfg.ZstdLevel, cfg.InvalidUTF8)
	b.WriteString("- `manifest.json` ties every row to its image digest, its recipe, its validation logs and the swemill version that produced it, and lists every Parquet file with its size and SHA-256.\n\n")
	if len(bytes.TrimSpace(run.Config)) > 0 {
		var cfgJSON bytes.Buffer
		if err := json.Indent(&cfgJSON, run.Config, "", "  "); err != nil {
			return nil, fmt.Errorf("reading the run config: %w", err)
		}
		b.WriteString("Run configuration:\n\n```json\n" + cfgJSON.String() + "\n```\n")
	}
	return []byte(b.String()), nil
}

func writeFunnel(b *strings.Builder, funnel Funnel) {
	if len(funnel) == 0 {
		return
	}
	stages := slices.Clone(funnel)
	slices.SortStableFunc(stages, func(a, c StageFunnel) int {
		ia, ic := pipeline.StageIndex(a.Stage), pipeline.StageIndex(c.Stage)
		if ia < 0 {
			ia = len(pipeline.Stages)
		}
		if ic < 0 {
			ic = len(pipeline.Stages)
		}
		return cmp.Or(cmp.Compare(ia, ic), strings.Compare(a.Stage, c.Stage))
	})
	b.WriteString("## Funnel\n\nInstances per stage, by state, and the reasons instances were dropped.\n\n")
	b.WriteString("| stage | instances | by state | drop reasons |\n|---|---:|---|---|\n")
	for _, s := range stages {
		var total int64
		var states, drops []string
		for _, c := range sorted(s.States) {
			if c.n == 0 {
				continue
			}
			total += c.n
			states = append(states, fmt.Sprintf("%s %d", mdCell(c.name), c.n))
		}
		for _, c := range sorted(s.Drops) {
			if c.n == 0 {
				continue
			}
			drops = append(drops, fmt.Sprintf("`%s` %d", mdCell(c.name), c.n))
		}
		fmt.Fprintf(b, "| %s | %d | %s | %s |\n", mdCell(s.Stage), total, strings.Join(states, ", "), cmp.Or(strings.Join(drops, ", "), "none"))
	}
	b.WriteString("\n")
}

// writeCounts writes a two-column table; limit > 0 shows the first limit rows and says how
// many more there are.
func writeCounts(b *strings.Builder, what, unit string, cs []count, limit int, more string) {
	if len(cs) == 0 {
		b.WriteString("None.\n\n")
		return
	}
	fmt.Fprintf(b, "| %s | %s |\n|---|---:|\n", what, unit)
	for i, c := range cs {
		if limit > 0 && i == limit {
			break
		}
		fmt.Fprintf(b, "| %s | %d |\n", mdCell(c.name), c.n)
	}
	if limit > 0 && len(cs) > limit {
		fmt.Fprintf(b, "\nand %d more (%s).\n", len(cs)-limit, more)
	}
	b.WriteString("\n")
}

func sha256File(r io.Reader) (string, int64, error) {
	h := sha256.New()
	n, err := io.Copy(h, r)
	if err != nil {
		return "", 0, err
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}
